#!/usr/bin/python3
"""`attend bench` for the PyTorch twin (bench/torch_twin.py): the same flags, the same synthetic
batch, the same timed work and the same --json fields, so the two can be compared case by case.

    /usr/bin/python3 bench/torch_bench.py --cell gru --attention luong-general \
        --batch 64 --src-len 16 --tgt-len 16 --vocab 8000 --emb 256 --hidden 256 --json

What is timed (median over --iters after --warmup untimed repetitions), exactly as attend does:
- training step: zero_grad, forward, mean cross-entropy over the real target tokens, backward,
  clip_grad_norm_(5.0), Adam(lr 1e-3) step;
- greedy decoding of example 0 (batch 1) and of the whole batch (batch B): exactly T steps, no
  stop at </s>, the encoder included;
- beam 5 on example 0: exactly T steps, the 5 hypotheses decoded as a batch of 5.

PyTorch gets its best reasonable form (the model and its parameters are the twin's; only the order
of the work differs, and the loss is checked once against twin.loss):
- the output layer runs once over all decoder steps, cross-entropy with ignore_index = <pad>;
- attention keys (W_k H for bahdanau, W_a H for general scores) are computed once per batch, not
  once per step;
- without attention the decoder RNN runs over the whole target sequence in one call.
`--form plain` times the training step as the twin's module is written instead (twin.loss: output
layer and keys once per step), the way a PyTorch user would first write the equations.
"""
import argparse
import json
import math
import os
import resource
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_twin import (BOS, EOS, PAD, AttendTwin, LocalAttention, ScoredAttention,  # noqa: E402
                        decoder_style, full_config, masked_softmax)

GATES = {"rnn": 1, "lstm": 4, "gru": 3}


# ----------------------------------------------------------------------------- attend's rules

def synthetic_batch(B, S, T, V, seed=7):
    """attend bench's batch: src_len[b] = S − (7b) mod (S//2+1), tgt_len[b] = T − (5b) mod (T//2+1)
    (</s> counted), tokens from the non-special ids 4..V−1. Time-major tensors as in torch_twin."""
    g = torch.Generator().manual_seed(seed)
    src_len = torch.tensor([S - (7 * b) % (S // 2 + 1) for b in range(B)])
    tgt_len = torch.tensor([T - (5 * b) % (T // 2 + 1) for b in range(B)])
    Sp, Tp = int(src_len.max()), int(tgt_len.max())
    src = torch.full((Sp, B), PAD, dtype=torch.long)
    tgt_in = torch.full((Tp, B), PAD, dtype=torch.long)
    tgt_out = torch.full((Tp, B), PAD, dtype=torch.long)
    for b in range(B):
        sl, tl = int(src_len[b]), int(tgt_len[b])
        src[:sl, b] = torch.randint(4, V, (sl,), generator=g)
        words = torch.randint(4, V, (tl - 1,), generator=g)
        tgt_in[0, b] = BOS
        tgt_in[1:tl, b] = words
        tgt_out[:tl - 1, b] = words
        tgt_out[tl - 1, b] = EOS
    return src, src_len, tgt_in, tgt_out, tgt_len


def gemm_flops(c, B, S, T, G):
    """A line-by-line port of gemm_flops in src/cli/bench.cpp: GEMM FLOPs of one training step on
    the padded shapes, 2·m·n·k per product, three products per weight."""
    Ns, Nt, H, E = float(S * B), float(T * B), float(c["hidden"]), float(c["emb"])
    V = float(c["tgt_vocab"])
    dirs = 2 if c["bidirectional"] else 1
    Hd = H / dirs
    attention = c["attention"] != "none"
    f = 0.0
    for l in range(c["layers"]):
        inp = E if l == 0 else H
        f += dirs * 3 * 2 * G * Hd * (inp + Hd) * Ns                     # encoder layer
        din = E + (H if attention else 0) if l == 0 else H
        f += 3 * 2 * G * H * (din + H) * Nt                              # decoder layer
        if c["bridge"] == "dense":
            f += 3 * 2 * H * H * B * (2 if G == 4 else 1)
    style = decoder_style(c)
    out_in = 2 * H + E if style == "bahdanau" else H
    f += 3 * 2 * V * out_in * Nt                                         # output layer
    if style == "luong":
        f += 3 * 2 * H * 2 * H * Nt                                      # W_c
    a = c["attention"]
    base = c["score"] if a in ("local-m", "local-p") else a
    if base in ("general", "luong-general"):
        f += 3 * 2 * H * H * Ns
    if base in ("bahdanau", "concat", "luong-concat"):
        f += 3 * 2 * H * H * (Ns + Nt)
    if a == "location":
        f += 3 * 2 * float(c["max_src_len"]) * H * Nt
    if a == "local-p":
        f += 3 * 2 * H * H * Nt
    if a == "multihead":
        f += 3 * 2 * 3 * H * H * (Ns + Nt) + 3 * 2 * H * H * Nt
    return f


def median(v):
    """attend's median: the element at index n/2 of the sorted values."""
    v = sorted(v)
    return v[len(v) // 2] if v else 0.0


def median_seconds(warmup, iters, f):
    for _ in range(warmup):
        f()
    t = []
    for _ in range(iters):
        start = time.perf_counter()
        f()
        t.append(time.perf_counter() - start)
    return median(t)


# ----------------------------------------------------------------------------- the fast forward

class Stepper:
    """One decoder step of the twin's Decoder with the attention keys computed once per batch.
    memory (S, B, H), src_len (B,). Returns the output layer's input for the step."""

    def __init__(self, dec, memory, src_len):
        self.dec, self.memory, self.src_len = dec, memory, src_len
        S = memory.shape[0]
        self.mask = torch.arange(S).unsqueeze(1) < src_len.unsqueeze(0)  # (S, B)
        self.att = getattr(dec, "attention", None)
        self.keys = None
        att = self.att
        if isinstance(att, (ScoredAttention, LocalAttention)):
            if att.kind == "general":
                self.keys = att.W_a(memory)
            elif att.kind == "bahdanau":
                self.keys = att.W_k(memory)
        if isinstance(att, LocalAttention):
            self.j = torch.arange(S, dtype=memory.dtype).unsqueeze(1)
            self.last = (src_len - 1).to(memory.dtype)

    def scores(self, q):
        att, m = self.att, self.memory
        k = att.kind
        if k == "dot":
            return torch.einsum("bh,sbh->sb", q, m)
        if k == "scaled-dot":
            return torch.einsum("bh,sbh->sb", q, m) / math.sqrt(att.H)
        if k == "general":
            return torch.einsum("bh,sbh->sb", q, self.keys)
        if k == "bahdanau":
            return att.v(torch.tanh(att.W_q(q).unsqueeze(0) + self.keys + att.b)).squeeze(2)
        return att.scores(q, m)  # concat: no query-independent part worth caching

    def attend(self, q, t):
        att = self.att
        if isinstance(att, ScoredAttention):
            a = masked_softmax(self.scores(q), self.mask)
        elif isinstance(att, LocalAttention):  # the twin's LocalAttention.forward on cached keys
            e, last, j, D = self.scores(q), self.last, self.j, att.D
            if att.predictive:
                p = last * torch.sigmoid(att.v_p(torch.tanh(att.W_p(q))).squeeze(1))
                lo = torch.clamp(torch.ceil(p - D), min=0)
                hi = torch.minimum(torch.floor(p + D), last)
            else:
                p = torch.minimum(torch.full_like(last, float(t)), last)
                lo = torch.clamp(p - D, min=0)
                hi = torch.minimum(p + D, last)
            window = self.mask & (j >= lo.detach()) & (j <= hi.detach())
            a = masked_softmax(e, window)
            if att.predictive:
                sigma = D / 2.0
                a = a * torch.exp(-((j - p) ** 2) / (2 * sigma * sigma))
        else:  # location, multihead: the twin's module as it is
            return att(q, self.memory, self.mask, self.src_len, t)[0]
        return torch.einsum("sb,sbh->bh", a, self.memory)

    def step(self, x, state, h_tilde, t):
        """x (B, E): embedded input. Returns (output-layer input, state, h_tilde)."""
        dec = self.dec
        lstm = isinstance(state, tuple)
        if dec.style == "bahdanau":
            top = (state[0] if lstm else state)[-1]
            ctx = self.attend(top, t)
            _, state = dec.rnn(torch.cat([x, ctx], dim=1).unsqueeze(0), state)
            s = (state[0] if lstm else state)[-1]
            return torch.cat([s, ctx, x], dim=1), state, h_tilde
        if dec.style == "luong":
            _, state = dec.rnn(torch.cat([x, h_tilde], dim=1).unsqueeze(0), state)
            top = (state[0] if lstm else state)[-1]
            ctx = self.attend(top, t)
            h_tilde = torch.tanh(dec.W_c(torch.cat([ctx, top], dim=1)))
            return h_tilde, state, h_tilde
        _, state = dec.rnn(x.unsqueeze(0), state)
        return (state[0] if lstm else state)[-1], state, h_tilde


def start(twin, src, src_len):
    """Encoder, bridge, the decoder's initial state and h̃_0, and a Stepper over the memory."""
    memory, h, c = twin.encoder(src, src_len)
    h0, c0 = twin.bridge(h, c)
    state = (torch.stack(h0), torch.stack(c0)) if c0 is not None else torch.stack(h0)
    h_tilde = memory.new_zeros(src.shape[1], twin.config["hidden"])
    return Stepper(twin.decoder, memory, src_len), state, h_tilde


def fast_loss(twin, src, src_len, tgt_in, tgt_out, tgt_len):
    """twin.loss with the output layer once over all steps and the keys once per batch."""
    stepper, state, h_tilde = start(twin, src, src_len)
    dec = twin.decoder
    emb = dec.embedding(tgt_in)                                          # (T, B, E)
    T, B = tgt_in.shape
    if dec.style == "none":
        outs, _ = dec.rnn(emb, state)                                    # (T, B, H) in one call
    else:
        steps = []
        for t in range(T):
            o, state, h_tilde = stepper.step(emb[t], state, h_tilde, t)
            steps.append(o)
        outs = torch.stack(steps)
    logits = dec.out(outs.reshape(T * B, -1))
    return F.cross_entropy(logits, tgt_out.reshape(-1), ignore_index=PAD)


# ----------------------------------------------------------------------------- decoding

@torch.no_grad()
def greedy(twin, src, src_len, steps):
    stepper, state, h_tilde = start(twin, src, src_len)
    dec = twin.decoder
    y = torch.full((src.shape[1],), BOS, dtype=torch.long)
    out = []
    for t in range(steps):
        o, state, h_tilde = stepper.step(dec.embedding(y), state, h_tilde, t)
        y = dec.out(o).argmax(1)
        out.append(y)
    return torch.stack(out)


@torch.no_grad()
def beam(twin, src, src_len, steps, k=5):
    """One source (S, 1): k hypotheses decoded as a batch of k, exactly `steps` steps."""
    src_k = src.expand(-1, k)
    len_k = src_len.expand(k)
    stepper, state, h_tilde = start(twin, src_k, len_k)  # the k columns are the same source
    dec = twin.decoder
    V = dec.out.out_features
    score = torch.full((k,), float("-inf"))
    score[0] = 0.0                                       # one live hypothesis at the start
    y = torch.full((k,), BOS, dtype=torch.long)
    hist = torch.empty((0, k), dtype=torch.long)
    for t in range(steps):
        o, state, h_tilde = stepper.step(dec.embedding(y), state, h_tilde, t)
        total = (score.unsqueeze(1) + torch.log_softmax(dec.out(o), dim=1)).reshape(-1)
        score, idx = total.topk(k)
        parent, y = idx // V, idx % V
        if isinstance(state, tuple):
            state = (state[0].index_select(1, parent), state[1].index_select(1, parent))
        else:
            state = state.index_select(1, parent)
        if dec.style == "luong":
            h_tilde = h_tilde.index_select(0, parent)
        hist = torch.cat([hist.index_select(1, parent), y.unsqueeze(0)])
    return hist[:, 0], float(score[0])


# ----------------------------------------------------------------------------- main

def parse(argv):
    p = argparse.ArgumentParser(description="attend bench for the PyTorch twin")
    p.add_argument("--cell", default="gru")
    p.add_argument("--attention", default="luong-general")
    p.add_argument("--decoder", default="auto")
    p.add_argument("--score", default="general")
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--bidirectional", action="store_true")
    p.add_argument("--emb", type=int, default=64)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--window", type=int, default=5)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--src-len", type=int, default=12)
    p.add_argument("--tgt-len", type=int, default=12)
    p.add_argument("--vocab", type=int, default=40)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    p.add_argument("--form", choices=("fused", "plain"), default="fused",
                   help="training step: fused (output layer once per batch, keys once per batch) "
                        "or plain (twin.loss: the textbook per-step module)")
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    if a.vocab < 5 or a.batch < 1 or a.src_len < 1 or a.tgt_len < 2 or a.iters < 1:
        p.error("needs --vocab ≥ 5, --batch ≥ 1, --src-len ≥ 1, --tgt-len ≥ 2, --iters ≥ 1")
    return a


def main(argv=None):
    a = parse(argv)
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    config = full_config({
        "cell": a.cell, "attention": a.attention, "decoder": a.decoder, "score": a.score,
        "layers": a.layers, "bidirectional": a.bidirectional, "emb": a.emb, "hidden": a.hidden,
        "heads": a.heads, "window": a.window, "max_src_len": max(64, a.src_len),
        "src_vocab": a.vocab, "tgt_vocab": a.vocab})
    twin = AttendTwin(config).float()
    src, src_len, tgt_in, tgt_out, tgt_len = synthetic_batch(a.batch, a.src_len, a.tgt_len, a.vocab)

    # The fast forward must be the twin's loss.
    with torch.no_grad():
        ref = float(twin.loss(src, src_len, tgt_in, tgt_out, tgt_len))
        fast = float(fast_loss(twin, src, src_len, tgt_in, tgt_out, tgt_len))
    if not math.isclose(ref, fast, rel_tol=1e-5, abs_tol=1e-6):
        raise SystemExit(f"fast loss {fast!r} differs from twin.loss {ref!r}")
    print(f"loss check: fast forward {fast:.7f}, twin.loss {ref:.7f}",
          file=sys.stderr if a.json else sys.stdout)

    params = list(twin.parameters())
    opt = torch.optim.Adam(params, lr=1e-3)

    loss_fn = fast_loss if a.form == "fused" else lambda tw, *b: tw.loss(*b)

    def train_step():
        opt.zero_grad()
        loss = loss_fn(twin, src, src_len, tgt_in, tgt_out, tgt_len)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        opt.step()

    train_s = median_seconds(a.warmup, a.iters, train_step)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    flops = gemm_flops(config, a.batch, src.shape[0], tgt_in.shape[0], GATES[a.cell])
    tokens = int(tgt_len.sum())

    T = a.tgt_len
    src1, len1 = src[:int(src_len[0]), :1], src_len[:1]
    greedy1_s = median_seconds(a.warmup, a.iters, lambda: greedy(twin, src1, len1, T))
    greedyB_s = median_seconds(a.warmup, a.iters, lambda: greedy(twin, src, src_len, T))
    beam_s = median_seconds(a.warmup, a.iters, lambda: beam(twin, src1, len1, T))

    j = {"tool": "pytorch", "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
         "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""), "form": a.form,
         "cell": a.cell, "attention": a.attention, "decoder": decoder_style(config),
         "batch": a.batch, "src_len": a.src_len, "tgt_len": a.tgt_len, "vocab": a.vocab,
         "emb": a.emb, "hidden": a.hidden, "parameters": sum(p.numel() for p in params),
         "loss_check": [fast, ref],
         "train_ms_per_step": 1000 * train_s, "train_tokens_per_s": tokens / train_s,
         "train_gflops": flops / train_s / 1e9, "gemm_gflop_per_step": flops / 1e9,
         "greedy_b1_sents_per_s": 1 / greedy1_s, "greedy_batch_sents_per_s": a.batch / greedyB_s,
         "beam5_b1_sents_per_s": 1 / beam_s, "peak_rss_mb": rss}
    if a.json:
        print(json.dumps(j))
        return 0
    print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads: {a.cell} + {a.attention} "
          f"({j['decoder']} decoder), B={a.batch} S={a.src_len} T={a.tgt_len} V={a.vocab} "
          f"E={a.emb} H={a.hidden}, {j['parameters']} parameters")
    print(f"train step        {1000 * train_s:9.2f} ms (median of {a.iters})")
    print(f"train throughput  {tokens / train_s:9.0f} target tokens/s")
    print(f"GEMM              {flops / train_s / 1e9:9.1f} GFLOP/s ({flops / 1e9:.3f} GFLOP per step)")
    print(f"greedy, batch 1   {1 / greedy1_s:9.1f} sentences/s")
    print(f"greedy, batch {a.batch:<3d} {a.batch / greedyB_s:9.1f} sentences/s")
    print(f"beam 5, batch 1   {1 / beam_s:9.1f} sentences/s")
    print(f"peak RSS          {rss:9.1f} MB (after training steps)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
