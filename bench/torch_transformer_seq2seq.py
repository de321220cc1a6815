#!/usr/bin/python3
"""PyTorch 1.13 reference timing of a Transformer seq2seq (nn.Transformer), the work
`attend bench --encoder transformer --decoder transformer --attention multihead` times.

    /usr/bin/python3 bench/torch_transformer_seq2seq.py --d 256 --enc-layers 3 --dec-layers 3 \
        --heads 4 --ffn 1024 --vocab 8000 --batch 64 --src-len 16 --tgt-len 16 --threads 1 --json

The model: source and target embeddings (V x d) scaled by sqrt(d) plus sinusoidal positions
(PE(t,2i) = sin(t / 10000^(2i/d)), PE(t,2i+1) = cos(..)), nn.Transformer(d, heads, enc, dec, ffn,
dropout, activation, batch_first=False, norm_first) and an output nn.Linear(d, V). The stacks'
final LayerNorms follow attend's model (DESIGN §6b): the encoder has none, the decoder has one
only with --norm-first (nn.Transformer always builds both; the others are removed).
Masks: src_key_padding_mask = memory_key_padding_mask = padded source positions,
tgt_key_padding_mask = padded target positions, a causal tgt_mask.

The batch is `attend bench`'s (bench/torch_bench.py synthetic_batch): src_len[b] = S − (7b) mod
(S//2+1), tgt_len[b] = T − (5b) mod (T//2+1), </s> counted, target input starting with <s>.

What is timed (median over --iters after --warmup untimed repetitions; attend's median: element
n/2 of the sorted times):
- training step: zero_grad, forward, F.cross_entropy over all real target positions at once
  (ignore_index = <pad>, mean over the real tokens, --label-smoothing), backward,
  clip_grad_norm_(5.0), Adam(lr 1e-3) step. Throughput in real target tokens (</s> included)/s.
- greedy decoding the way PyTorch's translation tutorial does it: the encoder once, then at every
  step the decoder re-run over the whole prefix with a causal mask, the output layer on the last
  position, argmax, append. Exactly N steps, no stop at </s>, the encoder included in the time.
  Batch 1 (example 0) and the whole batch (memory_key_padding_mask for the padded sources).
  Reported as ms per output token (batch 1: time / N; whole batch: time / N, i.e. per step of the
  batch, plus sentences/s) at N = --decode-len (default 50) and at every N of --decode-lens
  (default 25,50,100): the prefix is re-run, so the per-token cost grows with N.
  Decoding uses --decode-iters (default --iters) and --decode-warmup (default 1) repetitions:
  the whole-batch decode of 100 tokens takes tens of seconds on one core.
- peak RSS (ru_maxrss) right after the training steps, and again at the end.

Threads: --threads N sets OMP_NUM_THREADS, OPENBLAS_NUM_THREADS and MKL_NUM_THREADS before torch
is imported (torch.set_num_threads alone leaves the BLAS pool its own threads), then
torch.set_num_threads(N). OMP_WAIT_POLICY is taken from the environment and reported.
"""
import argparse
import json
import math
import os
import resource
import sys
import time

PAD, BOS, EOS = 0, 1, 2


def parse(argv):
    p = argparse.ArgumentParser(description="PyTorch nn.Transformer seq2seq: training and greedy decoding speed")
    p.add_argument("--d", type=int, default=256, help="d_model")
    p.add_argument("--enc-layers", type=int, default=3)
    p.add_argument("--dec-layers", type=int, default=3)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--ffn", type=int, default=1024)
    p.add_argument("--vocab", type=int, default=8000, help="source and target vocabulary")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--src-len", type=int, default=16)
    p.add_argument("--tgt-len", type=int, default=16, help="longest target, </s> included")
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--norm-first", action="store_true", help="pre-norm layers (and a final decoder LayerNorm)")
    p.add_argument("--activation", choices=("relu", "gelu"), default="relu")
    p.add_argument("--tie-embeddings", action="store_true", help="output weight = target embedding")
    p.add_argument("--label-smoothing", type=float, default=0.0)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--decode-len", type=int, default=50, help="greedy steps of the headline decoding figures")
    p.add_argument("--decode-lens", default="25,50,100",
                   help="comma-separated greedy lengths for the per-token cost curve ('' = none)")
    p.add_argument("--decode-iters", type=int, default=0, help="timed decoding repetitions (0 = --iters)")
    p.add_argument("--decode-warmup", type=int, default=1)
    p.add_argument("--no-batch-decode", action="store_true", help="time batch-1 decoding only")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    a = p.parse_args(argv)
    if (a.vocab < 5 or a.batch < 1 or a.src_len < 1 or a.tgt_len < 2 or a.iters < 1 or a.decode_len < 1
            or a.d % a.heads or a.d % 2):
        p.error("needs --vocab ≥ 5, --batch ≥ 1, --src-len ≥ 1, --tgt-len ≥ 2, --iters ≥ 1, "
                "--decode-len ≥ 1, --d even and divisible by --heads")
    a.lens = sorted({int(x) for x in a.decode_lens.split(",") if x.strip()} | {a.decode_len})
    if a.decode_iters < 1:
        a.decode_iters = a.iters
    return a


def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main(argv=None):
    a = parse(argv)
    if a.threads > 0:  # before torch is imported: the OpenMP and BLAS pools size themselves then
        for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[k] = str(a.threads)
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    if a.threads > 0:
        torch.set_num_threads(a.threads)

    # attend bench's batch and timing rule, shared with the recurrent benchmark; imported once
    # the thread settings above are in place.
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from torch_bench import median_seconds, synthetic_batch  # noqa: E402

    class Seq2Seq(nn.Module):
        def __init__(self, V, d, heads, enc, dec, ffn, dropout, activation, norm_first, tie, max_len):
            super().__init__()
            self.d = d
            self.src_emb = nn.Embedding(V, d)
            self.tgt_emb = nn.Embedding(V, d)
            self.transformer = nn.Transformer(d, heads, enc, dec, ffn, dropout, activation,
                                              batch_first=False, norm_first=norm_first)
            self.transformer.encoder.norm = None          # attend's encoder: no final norm
            if not norm_first:
                self.transformer.decoder.norm = None      # decoder: a final norm only when pre-norm
            self.out = nn.Linear(d, V)
            if tie:
                self.out.weight = self.tgt_emb.weight
            self.drop = nn.Dropout(dropout)
            pos = torch.arange(max_len, dtype=torch.float32).unsqueeze(1)
            rate = torch.pow(10000.0, -torch.arange(0, d, 2, dtype=torch.float32) / d)
            pe = torch.zeros(max_len, 1, d)
            pe[:, 0, 0::2] = torch.sin(pos * rate)
            pe[:, 0, 1::2] = torch.cos(pos * rate)
            self.register_buffer("pe", pe)
            self.scale = math.sqrt(d)

        def embed(self, emb, ids):  # ids (L, B) -> (L, B, d)
            return self.drop(emb(ids) * self.scale + self.pe[:ids.shape[0]])

        def encode(self, src, src_pad):
            return self.transformer.encoder(self.embed(self.src_emb, src), src_key_padding_mask=src_pad)

        def decode(self, ys, memory, src_pad, tgt_pad=None):
            L = ys.shape[0]
            causal = self.transformer.generate_square_subsequent_mask(L)
            return self.transformer.decoder(self.embed(self.tgt_emb, ys), memory, tgt_mask=causal,
                                            tgt_key_padding_mask=tgt_pad, memory_key_padding_mask=src_pad)

    torch.manual_seed(1)
    max_len = max(a.src_len, a.tgt_len, max(a.lens)) + 1
    model = Seq2Seq(a.vocab, a.d, a.heads, a.enc_layers, a.dec_layers, a.ffn, a.dropout, a.activation,
                    a.norm_first, a.tie_embeddings, max_len).float()
    src, src_len, tgt_in, tgt_out, tgt_len = synthetic_batch(a.batch, a.src_len, a.tgt_len, a.vocab)
    src_pad = (src == PAD).t()        # (B, S): True = padded, as nn.Transformer wants it
    tgt_pad = (tgt_in == PAD).t()
    params = list(model.parameters())
    opt = torch.optim.Adam(params, lr=1e-3)
    model.train()

    def train_step():
        opt.zero_grad()
        memory = model.encode(src, src_pad)
        y = model.decode(tgt_in, memory, src_pad, tgt_pad)               # (T, B, d)
        logits = model.out(y.reshape(-1, a.d))                           # all positions at once
        loss = F.cross_entropy(logits, tgt_out.reshape(-1), ignore_index=PAD,
                               label_smoothing=a.label_smoothing)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        opt.step()
        return loss

    train_s = median_seconds(a.warmup, a.iters, train_step)
    rss_train = rss_mb()
    tokens = int(tgt_len.sum())
    if not a.json:  # before the (long) decoding runs
        print(f"train step {1000 * train_s:.2f} ms (median of {a.iters}), {tokens / train_s:.0f} target tokens/s, "
              f"peak RSS {rss_train:.1f} MB", flush=True)

    @torch.no_grad()
    def greedy(s, s_pad, steps):
        """The tutorial's greedy_decode: encoder once; each step the decoder over the whole prefix."""
        memory = model.encode(s, s_pad)
        ys = torch.full((1, s.shape[1]), BOS, dtype=torch.long)
        for _ in range(steps):
            y = model.decode(ys, memory, s_pad)                          # (len, B, d)
            nxt = model.out(y[-1]).argmax(1)                             # last position only
            ys = torch.cat([ys, nxt.unsqueeze(0)])
        return ys[1:]

    model.eval()
    src1, pad1 = src[:int(src_len[0]), :1], src_pad[:1, :int(src_len[0])]
    decode = {}
    for n in a.lens:
        row = {"tokens": n}
        s1 = median_seconds(a.decode_warmup, a.decode_iters, lambda: greedy(src1, pad1, n))
        row["b1_ms_per_token"] = 1000 * s1 / n
        row["b1_sents_per_s"] = 1 / s1
        if not a.no_batch_decode:
            sb = median_seconds(a.decode_warmup, a.decode_iters, lambda: greedy(src, src_pad, n))
            row["batch_ms_per_token"] = 1000 * sb / n                    # per step of the whole batch
            row["batch_ms_per_sentence_token"] = 1000 * sb / (n * a.batch)
            row["batch_sents_per_s"] = a.batch / sb
        decode[n] = row
        if not a.json:
            print(f"greedy {n:4d} tokens: batch 1 {row['b1_ms_per_token']:8.3f} ms/token"
                  + ("" if a.no_batch_decode else
                     f", batch {a.batch} {row['batch_ms_per_token']:9.3f} ms/step"
                     f" ({row['batch_sents_per_s']:.1f} sentences/s)"), flush=True)

    head = decode[a.decode_len]
    j = {"tool": "pytorch", "model": "nn.Transformer", "torch": torch.__version__,
         "torch_threads": torch.get_num_threads(), "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""),
         "d": a.d, "enc_layers": a.enc_layers, "dec_layers": a.dec_layers, "heads": a.heads, "ffn": a.ffn,
         "vocab": a.vocab, "batch": a.batch, "src_len": a.src_len, "tgt_len": a.tgt_len,
         "norm_first": a.norm_first, "activation": a.activation, "dropout": a.dropout,
         "tie_embeddings": a.tie_embeddings, "label_smoothing": a.label_smoothing,
         "parameters": sum(p.numel() for p in {id(p): p for p in params}.values()),
         "iters": a.iters, "warmup": a.warmup, "decode_iters": a.decode_iters, "decode_warmup": a.decode_warmup,
         "train_ms_per_step": 1000 * train_s, "train_tokens_per_s": tokens / train_s,
         "train_real_tokens": tokens,
         "decode_len": a.decode_len,
         "greedy_b1_ms_per_token": head["b1_ms_per_token"], "greedy_b1_sents_per_s": head["b1_sents_per_s"],
         "greedy_batch_ms_per_token": head.get("batch_ms_per_token"),
         "greedy_batch_sents_per_s": head.get("batch_sents_per_s"),
         "greedy_by_len": [decode[n] for n in a.lens],
         "peak_rss_mb": rss_train, "peak_rss_mb_end": rss_mb()}
    if a.json:
        print(json.dumps(j))
        return 0
    print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads: nn.Transformer d={a.d} "
          f"enc={a.enc_layers} dec={a.dec_layers} heads={a.heads} ffn={a.ffn} V={a.vocab}, "
          f"B={a.batch} S={a.src_len} T={a.tgt_len}, {j['parameters']} parameters")
    print(f"train step        {1000 * train_s:9.2f} ms (median of {a.iters})")
    print(f"train throughput  {tokens / train_s:9.0f} target tokens/s")
    print(f"greedy {a.decode_len} tokens, batch 1   {head['b1_ms_per_token']:9.3f} ms/token")
    if not a.no_batch_decode:
        print(f"greedy {a.decode_len} tokens, batch {a.batch} {head['batch_ms_per_token']:9.3f} ms/step "
              f"({head['batch_sents_per_s']:.1f} sentences/s)")
    print(f"peak RSS          {rss_train:9.1f} MB (after training steps), {j['peak_rss_mb_end']:.1f} MB at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
