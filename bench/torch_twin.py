"""A PyTorch twin of attend's seq2seq model (DESIGN.md §4-§6, §5's self-attention encoders, §6b).

`AttendTwin(config)` builds, from a dict with attend's ModelConfig keys, an nn.Module whose
`state_dict()` has exactly the names and shapes of an attend checkpoint's `/state_dict` group
(docs/checkpoint.md, "Parameter names and shapes"), and whose forward pass follows the equations
of DESIGN.md. So weights move both ways between PyTorch and attend, and the two must agree on
every log-probability.

    from torch_twin import AttendTwin, save_attend_checkpoint
    twin = AttendTwin({"cell": "gru", "attention": "bahdanau", "src_vocab": 11, "tgt_vocab": 12})
    lp = twin.log_probs(src, src_len, tgt_in, tgt_out, tgt_len)   # (B,) summed log p
    save_attend_checkpoint("model.safetensors", twin, src_tokens, tgt_tokens)

Tensors are time-major like attend's batches: src (S, B), tgt_in / tgt_out (T, B), int64, <pad> = 0
after each sequence; src_len / tgt_len (B,) with tgt_len counting the </s>.
Dropout is not modelled in the recurrent parts (evaluation mode only); the self-attention layers
and the Transformer decoder are PyTorch's own modules with the configured dropout, so the twin
matches attend exactly with dropout 0 (as the fixtures use) or in eval() mode.

Encoders: `rnn` (the recurrent encoder), `transformer` (encoder.embedding V_s x H scaled by sqrt(H)
plus sinusoidal positions, dropout, self_layers nn.TransformerEncoderLayer under
encoder.transformer.layers.{l}, no final norm; the final state handed to a recurrent decoder's
bridge is the mean of the top layer over the real positions, c = 0 for LSTM) and `rnn+self` (the
recurrent encoder, then self_layers nn.TransformerEncoderLayer under encoder.transformer.layers.{l};
final states from the recurrent part). Decoders: the recurrent styles of §6 and `transformer`
(§6b: decoder_layers nn.TransformerDecoderLayer under decoder.transformer.layers.{l}, cross-attention
with `heads` heads, a final decoder.transformer.norm with norm_first, decoder.out; tie_embeddings
shares decoder.embedding.weight as the output matrix, stored once).
"""
import json
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

PAD, BOS, EOS, UNK = 0, 1, 2, 3
SPECIALS = ["<pad>", "<s>", "</s>", "<unk>"]

# ModelConfig's keys and defaults (include/attend/config.hpp), in to_map's order.
DEFAULTS = {
    "cell": "gru",
    "attention": "bahdanau",
    "decoder": "auto",
    "luong_output": "tanh",
    "score": "general",
    "bridge": "copy",
    "layers": 1,
    "bidirectional": False,
    "emb": 64,
    "hidden": 128,
    "dropout": 0.0,
    "window": 5,
    "heads": 4,
    "max_src_len": 64,
    "reverse_source": False,
    "src_vocab": 0,
    "tgt_vocab": 0,
    "encoder": "rnn",
    "self_layers": 1,
    "self_heads": 4,
    "ffn": 512,
    "norm_first": False,
    "activation": "relu",
    "decoder_layers": 0,
    "tie_embeddings": False,
    "attention_fn": "softmax",
}

ENCODERS = ["rnn", "transformer", "rnn+self"]

_RNN = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
ATTENTIONS = ["none", "bahdanau", "luong-dot", "luong-general", "luong-concat", "location",
              "scaled-dot", "local-m", "local-p", "multihead"]


def full_config(config):
    """config with every ModelConfig key, values converted from text where needed."""
    c = dict(DEFAULTS)
    for k, v in config.items():
        if k not in DEFAULTS:
            raise ValueError(f"unknown configuration key '{k}'")
        c[k] = v
    for k in ("layers", "emb", "hidden", "window", "heads", "max_src_len", "src_vocab", "tgt_vocab",
              "self_layers", "self_heads", "ffn", "decoder_layers"):
        c[k] = int(c[k])
    for k in ("bidirectional", "reverse_source", "norm_first", "tie_embeddings"):
        c[k] = c[k] not in (False, 0, "0", "false")
    c["dropout"] = float(c["dropout"])
    if c["cell"] not in _RNN:
        raise ValueError(f"unknown cell '{c['cell']}'")
    if c["attention"] not in ATTENTIONS:
        raise ValueError(f"unknown attention '{c['attention']}'")
    if c["luong_output"] not in ("tanh", "linear"):
        raise ValueError(f"unknown luong output '{c['luong_output']}'")
    if c["luong_output"] != "tanh" and decoder_style(c) != "luong":
        raise ValueError("luong_output linear needs the luong decoder style")
    if c["bidirectional"] and c["hidden"] % 2:
        raise ValueError("bidirectional needs an even hidden size")
    if c["encoder"] not in ENCODERS:
        raise ValueError(f"unknown encoder '{c['encoder']}'")
    if c["attention_fn"] not in NORMALIZERS:
        raise ValueError(f"unknown attention_fn '{c['attention_fn']}'")
    if c["attention_fn"] != "softmax" and c["attention"] in ("none", "multihead"):
        raise ValueError("the twin normalises with sparsemax / entmax15 in the scored strategies only")
    transformer_decoder = c["decoder"] == "transformer"
    if c["encoder"] != "rnn" or transformer_decoder:
        if c["self_heads"] < 1 or c["hidden"] % c["self_heads"]:
            raise ValueError("self_heads must divide hidden")
        if c["activation"] not in ("relu", "gelu"):
            raise ValueError(f"unknown activation '{c['activation']}'")
    if c["encoder"] == "transformer" and c["bidirectional"]:
        raise ValueError("bidirectional applies to recurrent encoders")
    if transformer_decoder:
        if c["attention"] != "multihead":
            raise ValueError("the twin's Transformer decoder has the multihead cross-attention only")
        if c["heads"] < 1 or c["hidden"] % c["heads"]:
            raise ValueError("heads must divide hidden")
    elif c["tie_embeddings"]:
        raise ValueError("tie_embeddings needs the transformer decoder")
    return c


def decoder_style(c):
    if c["decoder"] == "transformer":
        return "transformer"
    if c["attention"] == "none":
        return "none"
    if c["decoder"] == "auto":
        return "bahdanau" if c["attention"] == "bahdanau" else "luong"
    return c["decoder"]


def config_to_map(config):
    """The text values attend's ModelConfig::to_map writes (checkpoint /config, prefixed "model.")."""
    c = full_config(config)
    out = {}
    for k in DEFAULTS:
        v = c[k]
        if isinstance(v, bool):
            out[k] = "1" if v else "0"
        elif k == "dropout":
            out[k] = f"{v:.6f}"  # std::to_string(double)
        else:
            out[k] = str(v)
    return out


def sinusoidal_positions(H, S, dtype=torch.float32):
    """(S, H): PE(t, 2i) = sin(t / 10000^(2i/H)), PE(t, 2i+1) = cos(..), computed in float64 as
    attend::sinusoidal_positions does, then cast."""
    pe = torch.zeros(S, H, dtype=torch.float64)
    t = torch.arange(S, dtype=torch.float64)
    for i in range(0, H, 2):
        freq = math.exp(-math.log(10000.0) * i / H)
        pe[:, i] = torch.sin(t * freq)
        if i + 1 < H:
            pe[:, i + 1] = torch.cos(t * freq)
    return pe.to(dtype)


def reverse_sources(src, src_len):
    """Each source's real tokens in reverse order (reverse_source), padding left in place."""
    src = src.clone()
    for b, n in enumerate(src_len.tolist()):
        src[:n, b] = src[:n, b].flip(0)
    return src


def masked_softmax(e, mask):
    """Softmax over dim 0 of e (S, B) where mask (S, B) is True; exactly 0 elsewhere."""
    e = e.masked_fill(~mask, float("-inf"))
    return torch.softmax(e, dim=0).masked_fill(~mask, 0.0)


def sparsemax(z):
    """Sparsemax of a vector (Martins & Astudillo 2016), closed form by sorting."""
    zs, _ = torch.sort(z, descending=True)
    k = torch.arange(1, z.numel() + 1, dtype=z.dtype)
    cum = torch.cumsum(zs, dim=0)
    kstar = int(((1 + k * zs) > cum).nonzero().max()) + 1
    return torch.clamp(z - (cum[kstar - 1] - 1) / kstar, min=0)


def entmax15(z):
    """1.5-entmax of a vector (Peters, Niculae & Martins 2019), exact by sorting: [z/2 - tau]_+^2."""
    x = (z - z.max()) / 2
    xs, _ = torch.sort(x, descending=True)
    k = torch.arange(1, z.numel() + 1, dtype=z.dtype)
    mean = torch.cumsum(xs, dim=0) / k
    delta = 1 / k - (torch.cumsum(xs * xs, dim=0) / k - mean * mean)
    tau = mean - torch.sqrt(torch.clamp(delta, min=0))
    ok = (delta >= 0) & (xs > tau)
    kstar = 1
    while kstar < z.numel() and bool(ok[kstar]):
        kstar += 1
    return torch.clamp(x - tau[kstar - 1], min=0) ** 2


NORMALIZERS = {"softmax": None, "sparsemax": sparsemax, "entmax15": entmax15}


def masked_normalize(e, mask, fn):
    """attend's --attention-fn over dim 0 of e (S, B) where mask is True; exactly 0 elsewhere."""
    if fn == "softmax":
        return masked_softmax(e, mask)
    cols = []
    for b in range(e.shape[1]):
        idx = mask[:, b].nonzero().squeeze(1)
        col = torch.zeros_like(e[:, b])
        cols.append(col.index_put((idx,), NORMALIZERS[fn](e[idx, b])))
    return torch.stack(cols, dim=1)


# ----------------------------------------------------------------------------- attention

class _Scores(nn.Module):
    """Score functions e_j(q, h_j) with their parameters (DESIGN.md §5). memory: (S, B, H), q: (B, H)."""

    def __init__(self, kind, H):
        super().__init__()
        self.kind, self.H = kind, H
        if kind == "bahdanau":
            self.W_q = nn.Linear(H, H, bias=False)
            self.W_k = nn.Linear(H, H, bias=False)
            self.b = nn.Parameter(torch.zeros(H))
            self.v = nn.Linear(H, 1, bias=False)
        elif kind == "general":
            self.W_a = nn.Linear(H, H, bias=False)
        elif kind == "concat":
            self.W_a = nn.Linear(2 * H, H, bias=False)
            self.v = nn.Linear(H, 1, bias=False)
        elif kind not in ("dot", "scaled-dot"):
            raise ValueError(kind)

    def scores(self, q, memory):
        k = self.kind
        if k == "dot":
            return torch.einsum("bh,sbh->sb", q, memory)
        if k == "scaled-dot":
            return torch.einsum("bh,sbh->sb", q, memory) / math.sqrt(self.H)
        if k == "general":
            return torch.einsum("bh,sbh->sb", q, self.W_a(memory))
        if k == "concat":
            qq = q.unsqueeze(0).expand_as(memory)
            return self.v(torch.tanh(self.W_a(torch.cat([qq, memory], dim=2)))).squeeze(2)
        # bahdanau (additive)
        return self.v(torch.tanh(self.W_q(q).unsqueeze(0) + self.W_k(memory) + self.b)).squeeze(2)


class ScoredAttention(_Scores):
    """bahdanau, luong-dot, luong-general, luong-concat, scaled-dot: a = masked softmax(e)."""

    KIND = {"bahdanau": "bahdanau", "luong-dot": "dot", "luong-general": "general",
            "luong-concat": "concat", "scaled-dot": "scaled-dot"}

    def __init__(self, name, c):
        super().__init__(self.KIND[name], c["hidden"])
        self.fn = c["attention_fn"]

    def forward(self, q, memory, mask, src_len, t):
        a = masked_normalize(self.scores(q, memory), mask, self.fn)
        return torch.einsum("sb,sbh->bh", a, memory), a


class LocationAttention(nn.Module):
    """e = W_a q, rows 0..S-1 (S = padded length of the batch), masked softmax over real positions."""

    def __init__(self, c):
        super().__init__()
        self.W_a = nn.Linear(c["hidden"], c["max_src_len"], bias=False)
        self.fn = c["attention_fn"]

    def forward(self, q, memory, mask, src_len, t):
        S = memory.shape[0]
        if S > self.W_a.out_features:
            raise ValueError(f"source length {S} exceeds max_src_len {self.W_a.out_features}")
        e = self.W_a(q)[:, :S].t()
        a = masked_normalize(e, mask, self.fn)
        return torch.einsum("sb,sbh->bh", a, memory), a


class LocalAttention(_Scores):
    """local-m / local-p (Luong et al. 2015) on the base score dot | general | concat."""

    def __init__(self, name, c):
        super().__init__(c["score"], c["hidden"])
        self.predictive = name == "local-p"
        self.D = c["window"]
        self.fn = c["attention_fn"]
        if self.predictive:
            H = c["hidden"]
            self.W_p = nn.Linear(H, H, bias=False)
            self.v_p = nn.Linear(H, 1, bias=False)

    def forward(self, q, memory, mask, src_len, t):
        S, B = memory.shape[0], memory.shape[1]
        e = self.scores(q, memory)
        last = (src_len - 1).to(e.dtype)                             # S_b - 1, (B,)
        j = torch.arange(S, dtype=e.dtype).unsqueeze(1)              # (S, 1)
        if self.predictive:
            p = last * torch.sigmoid(self.v_p(torch.tanh(self.W_p(q))).squeeze(1))
            lo = torch.clamp(torch.ceil(p - self.D), min=0)
            hi = torch.minimum(torch.floor(p + self.D), last)
        else:
            p = torch.minimum(torch.full_like(last, float(t)), last)
            lo = torch.clamp(p - self.D, min=0)
            hi = torch.minimum(p + self.D, last)
        window = mask & (j >= lo.detach()) & (j <= hi.detach())
        a = masked_normalize(e, window, self.fn)  # the normalizer in the window, then the Gaussian
        if self.predictive:
            sigma = self.D / 2.0
            a = a * torch.exp(-((j - p) ** 2) / (2 * sigma * sigma))
        return torch.einsum("sb,sbh->bh", a, memory), a


class MultiheadAttention(nn.MultiheadAttention):
    """nn.MultiheadAttention(H, heads): query = decoder state, key = value = memory."""

    def __init__(self, c):
        super().__init__(c["hidden"], c["heads"])

    def forward(self, q, memory, mask, src_len, t):
        out, w = super().forward(q.unsqueeze(0), memory, memory, key_padding_mask=~mask.t(),
                                 need_weights=True, average_attn_weights=True)
        return out.squeeze(0), w.squeeze(1).t()


def make_attention(c):
    name = c["attention"]
    if name in ScoredAttention.KIND:
        return ScoredAttention(name, c)
    if name == "location":
        return LocationAttention(c)
    if name in ("local-m", "local-p"):
        if c["score"] not in ("dot", "general", "concat"):
            raise ValueError(f"unknown score '{c['score']}' for local attention")
        return LocalAttention(name, c)
    if name == "multihead":
        return MultiheadAttention(c)
    raise ValueError(name)


# ----------------------------------------------------------------------------- model parts

class Encoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.embedding = nn.Embedding(c["src_vocab"], c["emb"])
        Hd = c["hidden"] // 2 if c["bidirectional"] else c["hidden"]
        self.rnn = _RNN[c["cell"]](c["emb"], Hd, num_layers=c["layers"],
                                   bidirectional=c["bidirectional"])

    def forward(self, src, src_len):
        """memory (S, B, H), final h and c per layer: lists of (B, H) ([fwd_last; bwd_first])."""
        if self.c["reverse_source"]:
            src = reverse_sources(src, src_len)
        S, B = src.shape
        packed = pack_padded_sequence(self.embedding(src), src_len.cpu(), enforce_sorted=False)
        out, state = self.rnn(packed)
        memory, _ = pad_packed_sequence(out, total_length=S)
        h_n, c_n = state if isinstance(state, tuple) else (state, None)
        dirs = 2 if self.c["bidirectional"] else 1

        def per_layer(x):
            if x is None:
                return None
            return [torch.cat([x[l * dirs + d] for d in range(dirs)], dim=1)
                    for l in range(self.c["layers"])]

        return memory, per_layer(h_n), per_layer(c_n)


def source_padding(S, src_len):
    """(B, S) True at padded source positions (PyTorch's key_padding_mask)."""
    return torch.arange(S).unsqueeze(0) >= src_len.unsqueeze(1)


class _Layers(nn.Module):
    """A stack of layers named layers.{l} (and, for the pre-norm decoder, a final norm)."""

    def __init__(self, layers, norm=None):
        super().__init__()
        self.layers = nn.ModuleList(layers)
        if norm is not None:
            self.norm = norm


def encoder_layer(c):
    """nn.TransformerEncoderLayer(H, self_heads, ffn, dropout, activation, norm_first), time-major."""
    return nn.TransformerEncoderLayer(c["hidden"], c["self_heads"], dim_feedforward=c["ffn"],
                                      dropout=c["dropout"], activation=c["activation"],
                                      norm_first=c["norm_first"])


def run_encoder_layers(stack, x, src_len):
    """x (S, B, H) through every layer with the source padding as src_key_padding_mask."""
    pad = source_padding(x.shape[0], src_len)
    for layer in stack.layers:
        x = layer(x, src_key_padding_mask=pad)
    return x


class TransformerEncoder(nn.Module):
    """encoder "transformer" (src/nn/encoder_transformer.cpp): x = E s * sqrt(H) + PE, dropout,
    self_layers encoder layers, no final norm. Final state for a recurrent decoder's bridge: the
    top layer's mean over the real positions, once per decoder layer; c = 0 for LSTM."""

    def __init__(self, c):
        super().__init__()
        self.c = c
        H = c["hidden"]
        self.embedding = nn.Embedding(c["src_vocab"], H)
        self.drop = nn.Dropout(c["dropout"])
        self.transformer = _Layers([encoder_layer(c) for _ in range(c["self_layers"])])

    def forward(self, src, src_len):
        if self.c["reverse_source"]:
            src = reverse_sources(src, src_len)
        S, B = src.shape
        H = self.c["hidden"]
        e = self.embedding(src)
        x = self.drop(e * math.sqrt(H) + sinusoidal_positions(H, S, e.dtype).unsqueeze(1))
        memory = run_encoder_layers(self.transformer, x, src_len)
        real = (~source_padding(S, src_len)).t().unsqueeze(2).to(memory.dtype)    # (S, B, 1)
        pooled = (memory * real).sum(0) / src_len.unsqueeze(1).to(memory.dtype)  # (B, H)
        L = self.c["layers"]
        h = [pooled for _ in range(L)]
        cc = [torch.zeros_like(pooled) for _ in range(L)] if self.c["cell"] == "lstm" else None
        return memory, h, cc


class RecurrentSelfEncoder(Encoder):
    """encoder "rnn+self" (src/nn/encoder_rnn_self.cpp): the recurrent encoder, then self_layers
    encoder layers on its outputs; the final states are the recurrent encoder's."""

    def __init__(self, c):
        super().__init__(c)
        self.transformer = _Layers([encoder_layer(c) for _ in range(c["self_layers"])])

    def forward(self, src, src_len):
        memory, h, cc = super().forward(src, src_len)
        return run_encoder_layers(self.transformer, memory, src_len), h, cc


def make_encoder(c):
    if c["encoder"] == "transformer":
        return TransformerEncoder(c)
    if c["encoder"] == "rnn+self":
        return RecurrentSelfEncoder(c)
    return Encoder(c)


class Bridge(nn.Module):
    """none: zeros; copy: the encoder's final states; dense: tanh(W h + b) (and c for LSTM)."""

    def __init__(self, c):
        super().__init__()
        self.kind = c["bridge"]
        if self.kind not in ("none", "copy", "dense"):
            raise ValueError(f"unknown bridge '{self.kind}'")
        H, L = c["hidden"], c["layers"]
        if self.kind == "dense":
            self.h = nn.ModuleList(nn.Linear(H, H) for _ in range(L))
            if c["cell"] == "lstm":
                self.c = nn.ModuleList(nn.Linear(H, H) for _ in range(L))

    def forward(self, h, c):
        if self.kind == "none":
            return [torch.zeros_like(x) for x in h], (None if c is None else [torch.zeros_like(x) for x in c])
        if self.kind == "copy":
            return h, c
        return ([torch.tanh(f(x)) for f, x in zip(self.h, h)],
                None if c is None else [torch.tanh(f(x)) for f, x in zip(self.c, c)])


class Decoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.style = decoder_style(c)
        if self.style not in ("none", "bahdanau", "luong"):
            raise ValueError(f"unknown decoder style '{self.style}'")
        E, H = c["emb"], c["hidden"]
        self.embedding = nn.Embedding(c["tgt_vocab"], E)
        self.rnn = _RNN[c["cell"]](E if self.style == "none" else E + H, H, num_layers=c["layers"])
        if self.style != "none":
            self.attention = make_attention(c)
        if self.style == "luong":
            self.W_c = nn.Linear(2 * H, H, bias=False)
        self.out = nn.Linear(2 * H + E if self.style == "bahdanau" else H, c["tgt_vocab"])

    def forward(self, tgt_in, memory, src_len, h0, c0, keep_attention=False):
        """Teacher-forced logits (T, B, V) (and attention weights (T, S, B) if asked)."""
        T, B = tgt_in.shape
        S = memory.shape[0]
        mask = torch.arange(S).unsqueeze(1) < src_len.unsqueeze(0)       # (S, B)
        lstm = c0 is not None
        h = torch.stack(h0)                                              # (L, B, H)
        state = (h, torch.stack(c0)) if lstm else h
        emb = self.embedding(tgt_in)
        h_tilde = memory.new_zeros(B, self.c["hidden"])
        logits, weights = [], []
        for t in range(T):
            x = emb[t]
            if self.style == "bahdanau":
                top = (state[0] if lstm else state)[-1]
                ctx, a = self.attention(top, memory, mask, src_len, t)
                _, state = self.rnn(torch.cat([x, ctx], dim=1).unsqueeze(0), state)
                s = (state[0] if lstm else state)[-1]
                logits.append(self.out(torch.cat([s, ctx, x], dim=1)))
            elif self.style == "luong":
                _, state = self.rnn(torch.cat([x, h_tilde], dim=1).unsqueeze(0), state)
                top = (state[0] if lstm else state)[-1]
                ctx, a = self.attention(top, memory, mask, src_len, t)
                h_tilde = self.W_c(torch.cat([ctx, top], dim=1))
                if self.c["luong_output"] == "tanh":
                    h_tilde = torch.tanh(h_tilde)
                logits.append(self.out(h_tilde))
            else:
                _, state = self.rnn(x.unsqueeze(0), state)
                logits.append(self.out((state[0] if lstm else state)[-1]))
                a = None
            if keep_attention and a is not None:
                weights.append(a)
        logits = torch.stack(logits)
        return (logits, torch.stack(weights)) if keep_attention else logits


class TiedOutput(nn.Module):
    """decoder.out with tie_embeddings: logits = y E^T + b, E = decoder.embedding.weight (only the
    bias is out's own parameter, so the state_dict holds the shared matrix once)."""

    def __init__(self, embedding):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(embedding.num_embeddings))
        self._embedding = [embedding]  # a plain list: not a registered submodule

    def forward(self, y):
        return F.linear(y, self._embedding[0].weight, self.bias)


def decoder_layer(c):
    """nn.TransformerDecoderLayer(H, self_heads, ffn, dropout, activation, norm_first); its
    cross-attention multihead_attn replaced by nn.MultiheadAttention(H, heads) when the heads differ."""
    H = c["hidden"]
    layer = nn.TransformerDecoderLayer(H, c["self_heads"], dim_feedforward=c["ffn"],
                                       dropout=c["dropout"], activation=c["activation"],
                                       norm_first=c["norm_first"])
    if c["heads"] != c["self_heads"]:
        layer.multihead_attn = nn.MultiheadAttention(H, c["heads"], dropout=c["dropout"])
    return layer


class TransformerDecoder(nn.Module):
    """decoder "transformer" (DESIGN.md §6b): y = E y_in * sqrt(H) + PE (the encoder's sinusoids),
    dropout; decoder_layers layers with a causal tgt_mask, tgt_key_padding_mask (padded target
    positions) and memory_key_padding_mask (padded source positions); with norm_first a final
    LayerNorm decoder.transformer.norm; logits = decoder.out(y)."""

    def __init__(self, c):
        super().__init__()
        self.c = c
        H, V = c["hidden"], c["tgt_vocab"]
        L = c["decoder_layers"] or c["self_layers"]
        self.embedding = nn.Embedding(V, H)
        self.drop = nn.Dropout(c["dropout"])
        self.transformer = _Layers([decoder_layer(c) for _ in range(L)],
                                   nn.LayerNorm(H) if c["norm_first"] else None)
        self.out = TiedOutput(self.embedding) if c["tie_embeddings"] else nn.Linear(H, V)

    def forward(self, tgt_in, memory, src_len, h0=None, c0=None, keep_attention=False):
        if keep_attention:
            raise NotImplementedError("the twin's Transformer decoder keeps no attention weights")
        T, B = tgt_in.shape
        H = self.c["hidden"]
        e = self.embedding(tgt_in)
        x = self.drop(e * math.sqrt(H) + sinusoidal_positions(H, T, e.dtype).unsqueeze(1))
        causal = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)  # True = not seen
        tgt_pad = (tgt_in == PAD).t()                                         # (B, T)
        src_pad = source_padding(memory.shape[0], src_len)                    # (B, S)
        for layer in self.transformer.layers:
            x = layer(x, memory, tgt_mask=causal, tgt_key_padding_mask=tgt_pad,
                      memory_key_padding_mask=src_pad)
        if self.c["norm_first"]:
            x = self.transformer.norm(x)
        return self.out(x)


class AttendTwin(nn.Module):
    """attend's Seq2Seq in PyTorch; state_dict names and shapes are attend's checkpoint names."""

    def __init__(self, config):
        super().__init__()
        self.config = full_config(config)
        c = self.config
        if c["src_vocab"] < 4 or c["tgt_vocab"] < 4:
            raise ValueError("src_vocab and tgt_vocab must include the four specials")
        self.encoder = make_encoder(c)
        if decoder_style(c) == "transformer":
            # The Transformer decoder starts from no recurrent state: no bridge, whatever `bridge` says.
            self.bridge = None
            self.decoder = TransformerDecoder(c)
        else:
            self.bridge = Bridge(c)  # parameters (bridge.h.{l}.*, bridge.c.{l}.*) only when dense
            self.decoder = Decoder(c)

    def logits(self, src, src_len, tgt_in, keep_attention=False):
        memory, h, c = self.encoder(src, src_len)  # reverses the sources with reverse_source
        if self.bridge is None:
            return self.decoder(tgt_in, memory, src_len, keep_attention=keep_attention)
        h0, c0 = self.bridge(h, c)
        return self.decoder(tgt_in, memory, src_len, h0, c0, keep_attention)

    def forward(self, src, src_len, tgt_in):
        return self.logits(src, src_len, tgt_in)

    def token_log_probs(self, src, src_len, tgt_in, tgt_out, tgt_len):
        """(T, B) log p(tgt_out[t, b]), zero at padded target positions."""
        lp = torch.log_softmax(self.logits(src, src_len, tgt_in), dim=2)
        tok = lp.gather(2, tgt_out.unsqueeze(2)).squeeze(2)
        real = torch.arange(tgt_out.shape[0]).unsqueeze(1) < tgt_len.unsqueeze(0)
        return tok * real

    def log_probs(self, src, src_len, tgt_in, tgt_out, tgt_len):
        """(B,) per-example Σ log p over the real target tokens (</s> included)."""
        return self.token_log_probs(src, src_len, tgt_in, tgt_out, tgt_len).sum(0)

    def loss(self, src, src_len, tgt_in, tgt_out, tgt_len):
        """Mean cross-entropy over the real target tokens of the batch."""
        return -self.token_log_probs(src, src_len, tgt_in, tgt_out, tgt_len).sum() / tgt_len.sum()


# ----------------------------------------------------------------------------- batches, checkpoints

def make_batch(pairs):
    """attend::make_batch: pairs of (src ids, tgt ids without </s>) -> time-major padded tensors."""
    B = len(pairs)
    S = max(len(s) for s, _ in pairs)
    T = max(len(t) for _, t in pairs) + 1
    src = torch.full((S, B), PAD, dtype=torch.long)
    tgt_in = torch.full((T, B), PAD, dtype=torch.long)
    tgt_out = torch.full((T, B), PAD, dtype=torch.long)
    for b, (s, t) in enumerate(pairs):
        if not s:
            raise ValueError("empty source")
        src[:len(s), b] = torch.tensor(s)
        tgt_in[:len(t) + 1, b] = torch.tensor([BOS] + list(t))
        tgt_out[:len(t) + 1, b] = torch.tensor(list(t) + [EOS])
    src_len = torch.tensor([len(s) for s, _ in pairs])
    tgt_len = torch.tensor([len(t) + 1 for _, t in pairs])
    return src, src_len, tgt_in, tgt_out, tgt_len


def write_safetensors(path, tensors, metadata):
    """A safetensors file from {name: array} (stored as little-endian float32) and {str: str}."""
    import numpy as np

    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name, array in tensors.items():
        blob = np.ascontiguousarray(array, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)  # the data starts 8-byte aligned
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little") + text + b"".join(blobs))


def read_safetensors(path):
    """({name: float32 array}, metadata) from a safetensors file holding F32 tensors."""
    import numpy as np

    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
        data = f.read()
    metadata = header.pop("__metadata__", {})
    tensors = {name: np.frombuffer(data[e["data_offsets"][0]:e["data_offsets"][1]], dtype="<f4")
               .reshape(e["shape"]) for name, e in header.items()}
    return tensors, metadata


def save_attend_checkpoint(path, twin, src_tokens, tgt_tokens, tokenizer="space", info=None,
                           omit_keys=()):
    """Writes twin's config, vocabularies (tokens after the four specials) and weights as an attend
    checkpoint (docs/checkpoint.md, format version 2: safetensors). omit_keys: configuration keys
    left out, as in a checkpoint written before they existed."""
    src_vocab = SPECIALS + list(src_tokens)
    tgt_vocab = SPECIALS + list(tgt_tokens)
    if len(src_vocab) != twin.config["src_vocab"] or len(tgt_vocab) != twin.config["tgt_vocab"]:
        raise ValueError("vocabulary sizes do not match the configuration")
    metadata = {"format": "attend-checkpoint", "format_version": "2", "tokenizer": tokenizer,
                "list.vocab.src": json.dumps(src_vocab), "list.vocab.tgt": json.dumps(tgt_vocab)}
    metadata.update({"model." + k: v for k, v in config_to_map(twin.config).items() if k not in omit_keys})
    metadata.update({"info." + k: str(v) for k, v in (info or {}).items()})
    tensors = {name: t.detach().to(torch.float32).cpu().numpy() for name, t in twin.state_dict().items()}
    write_safetensors(path, tensors, metadata)


def load_attend_checkpoint(path):
    """(AttendTwin, src vocab, tgt vocab) from an attend checkpoint (format version 2)."""
    tensors, metadata = read_safetensors(path)
    if metadata.get("format") != "attend-checkpoint":
        raise ValueError(f"{path} is not an attend checkpoint")
    cfg = {k[len("model."):]: v for k, v in metadata.items() if k.startswith("model.")}
    twin = AttendTwin(cfg)
    twin.load_state_dict({name: torch.from_numpy(a.copy())
                          for name, a in tensors.items() if not name.startswith("optimizer/")})
    return twin, json.loads(metadata["list.vocab.src"]), json.loads(metadata["list.vocab.tgt"])
