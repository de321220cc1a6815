#!/usr/bin/python3
"""attend's Transformer seq2seq against PyTorch's nn.Transformer, every run in its own process.

    /usr/bin/python3 bench/transformer_vs_torch.py [--out FILE] [--torch-only | --attend-only]

attend: `attend bench --encoder transformer --decoder transformer --attention multihead ... --json`
at --threads 1 and 2. PyTorch: bench/torch_transformer_seq2seq.py --json at 1 and 2 threads and at 2
threads under OMP_WAIT_POLICY=PASSIVE (--no-passive drops it). The same shapes on both sides
(default d 256, 3 + 3 layers, 4 heads, ffn 1024, V 8000, B 64, S = T = 16).

The markdown table gives same-run ratios, attend at 1 thread and at 2 threads against PyTorch's
faster setting of each measure, as "attend's speed-up" (> 1: attend is faster):
- training: real target tokens/s (attend / PyTorch);
- greedy decoding of exactly --decode-len (50) tokens, batch 1: ms per token (PyTorch / attend),
  and of the whole batch: ms per step of the batch (PyTorch / attend);
- peak RSS after training (as measured, no ratio).
Then the per-token decoding cost at 25/50/100 output tokens on both sides.

Decoding length: `attend bench` decodes exactly --tgt-len steps. If its --help lists
--decode-len, the driver uses that (training shape unchanged); otherwise each decoding length
is its own `attend bench --tgt-len N` run, of which only the greedy fields are read (the
training step of that run is at T = N and is ignored; --iters --decode-iters for those runs).
"""
import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TORCH_SCRIPT = os.path.join(HERE, "torch_transformer_seq2seq.py")


class RunError(Exception):
    pass


def parse(argv):
    p = argparse.ArgumentParser(description="attend bench (Transformer seq2seq) vs PyTorch nn.Transformer")
    p.add_argument("--attend", default="build/attend", help="the attend binary")
    p.add_argument("--python", default="/usr/bin/python3", help="Python with torch 1.13")
    p.add_argument("--d", type=int, default=256)
    p.add_argument("--enc-layers", type=int, default=3)
    p.add_argument("--dec-layers", type=int, default=3)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--ffn", type=int, default=1024)
    p.add_argument("--vocab", type=int, default=8000)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--src-len", type=int, default=16)
    p.add_argument("--tgt-len", type=int, default=16)
    p.add_argument("--norm-first", action="store_true")
    p.add_argument("--activation", choices=("relu", "gelu"), default="relu")
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--decode-iters", type=int, default=3, help="timed decoding repetitions, both tools")
    p.add_argument("--decode-len", type=int, default=50)
    p.add_argument("--decode-lens", default="25,50,100")
    p.add_argument("--threads", default="1,2", help="thread counts for both tools")
    p.add_argument("--no-passive", dest="passive", action="store_false",
                   help="skip PyTorch at the largest thread count with OMP_WAIT_POLICY=PASSIVE (run by default, "
                        "as in run_comparison.py: OpenMP's spinning threads collapse when a core is busy)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--torch-only", action="store_true")
    g.add_argument("--attend-only", action="store_true")
    p.add_argument("--timeout", type=float, default=None, help="seconds allowed per process (default: no limit)")
    p.add_argument("--out", help="write the markdown here (default: stdout)")
    p.add_argument("--json-out", help="write every run's raw JSON here")
    a = p.parse_args(argv)
    a.lens = sorted({int(x) for x in a.decode_lens.split(",") if x.strip()} | {a.decode_len})
    a.thread_list = [int(x) for x in a.threads.split(",") if x.strip()]
    return a


def log(msg):
    print(msg, file=sys.stderr, flush=True)


TIMEOUT = None  # seconds per process (--timeout)


def run_json(cmd, env=None, what=""):
    """Run one benchmark process; its last stdout line is one JSON object."""
    log(f"[{time.strftime('%H:%M:%S')}] {what}: {' '.join(cmd)}")
    try:
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    except OSError as e:
        raise RunError(f"{what}: cannot start {cmd[0]!r}: {e}")
    except subprocess.TimeoutExpired:
        raise RunError(f"{what} took longer than --timeout {TIMEOUT} s:\n  {' '.join(cmd)}")
    if out.returncode != 0:
        tail = "\n".join((out.stderr or out.stdout).strip().splitlines()[-15:])
        raise RunError(f"{what} failed (exit {out.returncode}):\n  {' '.join(cmd)}\n{tail}")
    lines = [ln for ln in out.stdout.strip().splitlines() if ln.strip()]
    try:
        return json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        raise RunError(f"{what} printed no JSON object:\n  {' '.join(cmd)}\n{out.stdout[-2000:]}")


# ----------------------------------------------------------------------------- attend

def attend_help(a):
    if not os.path.exists(a.attend):
        raise RunError(f"attend binary {a.attend!r} not found (build it: cmake --build build --target attend_cli, "
                       "or pass --attend PATH)")
    out = subprocess.run([a.attend, "bench", "--help"], capture_output=True, text=True)
    text = out.stdout + out.stderr
    if out.returncode != 0 or "--encoder" not in text:
        raise RunError(f"`{a.attend} bench --help` failed or lists no --encoder:\n{text[-1500:]}")
    missing = [f for f in ("--decoder-layers", "--self-heads", "--ffn") if f not in text]
    if missing or "transformer" not in text.split("--decoder ", 1)[-1].split("--", 1)[0]:
        raise RunError("this attend has no Transformer decoder yet (`attend bench --help` lacks "
                       + (", ".join(missing) if missing else "'transformer' among --decoder's values")
                       + "); issue 23's decoder must land first. Use --torch-only meanwhile.")
    return text


def attend_cmd(a, threads, tgt_len, iters, warmup, decode_len=None):
    cmd = [a.attend, "bench", "--encoder", "transformer", "--decoder", "transformer",
           "--attention", "multihead", "--hidden", str(a.d), "--self-layers", str(a.enc_layers),
           "--decoder-layers", str(a.dec_layers), "--self-heads", str(a.heads), "--heads", str(a.heads),
           "--ffn", str(a.ffn), "--activation", a.activation, "--vocab", str(a.vocab),
           "--batch", str(a.batch), "--src-len", str(a.src_len), "--tgt-len", str(tgt_len),
           "--threads", str(threads), "--iters", str(iters), "--warmup", str(warmup), "--json"]
    if a.norm_first:
        cmd.append("--norm-first")
    if decode_len is not None:
        cmd += ["--decode-len", str(decode_len)]
    return cmd


def attend_runs(a):
    """{threads: {"train": json, "decode": {N: {"b1_ms_per_token", "batch_ms_per_token"}}}}"""
    has_decode_len = "--decode-len" in attend_help(a)
    if not has_decode_len:
        log("note: `attend bench` has no --decode-len; decoding lengths are separate --tgt-len N runs")
    res = {}
    for t in a.thread_list:
        main = run_json(attend_cmd(a, t, a.tgt_len, a.iters, a.warmup), what=f"attend, {t} thread(s), training")
        dec = {}
        for n in a.lens:
            if has_decode_len:
                j = run_json(attend_cmd(a, t, a.tgt_len, a.decode_iters, 1, decode_len=n),
                             what=f"attend, {t} thread(s), greedy {n}")
            else:
                j = run_json(attend_cmd(a, t, n, a.decode_iters, 1), what=f"attend, {t} thread(s), greedy {n} (--tgt-len {n})")
            try:
                dec[n] = {"b1_ms_per_token": 1000.0 / (j["greedy_b1_sents_per_s"] * n),
                          "batch_ms_per_token": 1000.0 * a.batch / (j["greedy_batch_sents_per_s"] * n),
                          "raw": j}
            except KeyError as e:
                raise RunError(f"attend bench --json lacks the field {e}")
        for k in ("train_tokens_per_s", "train_ms_per_step", "peak_rss_mb"):
            if k not in main:
                raise RunError(f"attend bench --json lacks the field {k!r}")
        res[t] = {"train": main, "decode": dec}
    return res


# ----------------------------------------------------------------------------- PyTorch

def torch_settings(a):
    s = [(f"{t} thread{'s' if t > 1 else ''}", t, None) for t in a.thread_list]
    if a.passive and max(a.thread_list) > 1:
        t = max(a.thread_list)
        s.append((f"{t} threads, PASSIVE", t, "PASSIVE"))
    return s


def torch_runs(a):
    res = {}
    for name, t, policy in torch_settings(a):
        env = dict(os.environ)
        env.pop("OMP_WAIT_POLICY", None)
        if policy:
            env["OMP_WAIT_POLICY"] = policy
        cmd = [a.python, TORCH_SCRIPT, "--d", str(a.d), "--enc-layers", str(a.enc_layers),
               "--dec-layers", str(a.dec_layers), "--heads", str(a.heads), "--ffn", str(a.ffn),
               "--vocab", str(a.vocab), "--batch", str(a.batch), "--src-len", str(a.src_len),
               "--tgt-len", str(a.tgt_len), "--activation", a.activation, "--threads", str(t),
               "--iters", str(a.iters), "--warmup", str(a.warmup), "--decode-iters", str(a.decode_iters),
               "--decode-warmup", "1", "--decode-len", str(a.decode_len),
               "--decode-lens", ",".join(map(str, a.lens)), "--json"]
        if a.norm_first:
            cmd.append("--norm-first")
        j = run_json(cmd, env=env, what=f"PyTorch, {name}")
        j["decode"] = {r["tokens"]: r for r in j["greedy_by_len"]}
        res[name] = j
    return res


# ----------------------------------------------------------------------------- tables

def fmt(x, digits=2):
    return "—" if x is None else f"{x:.{digits}f}"


def best(values, higher_is_better):
    """(name, value) of the best setting."""
    items = [(k, v) for k, v in values.items() if v is not None]
    return max(items, key=lambda kv: kv[1] if higher_is_better else -kv[1]) if items else (None, None)


def markdown(a, att, tor, meta):
    L = []
    L.append(f"Transformer seq2seq, d {a.d}, {a.enc_layers} encoder + {a.dec_layers} decoder layers, "
             f"{a.heads} heads, ffn {a.ffn}, {a.activation}{', pre-norm' if a.norm_first else ''}, V {a.vocab}, "
             f"B {a.batch}, S {a.src_len}, T {a.tgt_len}; training median of {a.iters} after {a.warmup}, "
             f"decoding median of {a.decode_iters} after 1. {meta}")
    L.append("")
    n = a.decode_len
    measures = [  # label, getter(attend run), getter(torch run), higher is better, digits
        ("training, real target tokens/s", lambda r: r["train"]["train_tokens_per_s"],
         lambda j: j["train_tokens_per_s"], True, 0),
        ("training, ms per step", lambda r: r["train"]["train_ms_per_step"], lambda j: j["train_ms_per_step"], False, 1),
        (f"greedy {n} tokens, batch 1, ms/token", lambda r: r["decode"][n]["b1_ms_per_token"],
         lambda j: j["decode"][n]["b1_ms_per_token"], False, 3),
        (f"greedy {n} tokens, batch {a.batch}, ms/step", lambda r: r["decode"][n]["batch_ms_per_token"],
         lambda j: j["decode"][n].get("batch_ms_per_token"), False, 2),
    ]
    tnames = list(tor)
    head = ["measure"] + [f"attend {t}t" for t in (att or {})] + [f"PyTorch {k}" for k in tnames]
    if att:
        head += ["PyTorch best"] + [f"attend {t}t speed-up" for t in att]
    L.append("| " + " | ".join(head) + " |")
    L.append("|" + "---|" * len(head))
    for label, ga, gt, hib, dg in measures:
        row = [label]
        av = {t: ga(r) for t, r in (att or {}).items()}
        tv = {k: gt(j) for k, j in tor.items()}
        row += [fmt(av[t], dg) for t in av] + [fmt(tv[k], dg) for k in tnames]
        if att:
            bk, bv = best(tv, hib)
            row.append(f"{fmt(bv, dg)} ({bk})" if bk else "—")
            for t in av:
                ratio = None if bv is None or not av[t] else (av[t] / bv if hib else bv / av[t])
                row.append(f"**{fmt(ratio)}×**" if ratio is not None else "—")
        L.append("| " + " | ".join(row) + " |")
    row = ["peak RSS after training, MB"] + [fmt(r["train"]["peak_rss_mb"], 0) for r in (att or {}).values()]
    row += [fmt(j["peak_rss_mb"], 0) for j in tor.values()]
    if att:
        row += [""] * (1 + len(att))
    L.append("| " + " | ".join(row) + " |")
    L.append("")
    L.append("Speed-up > 1: attend is faster (tokens/s: attend / PyTorch; times: PyTorch / attend), "
             "against PyTorch's best setting for that measure.")
    L.append("")
    L.append("Greedy decoding cost per output token by length (batch 1: ms per token; "
             f"batch {a.batch}: ms per step of the batch). PyTorch re-runs the decoder over the whole "
             "prefix at every step, as its translation tutorial does.")
    L.append("")
    cols = [f"attend {t}t" for t in (att or {})] + [f"PyTorch {k}" for k in tnames]
    head = ["tokens"] + [f"{c}, b1" for c in cols] + [f"{c}, b{a.batch}" for c in cols]
    L.append("| " + " | ".join(head) + " |")
    L.append("|" + "---|" * len(head))
    for m in a.lens:
        b1 = [r["decode"][m]["b1_ms_per_token"] for r in (att or {}).values()]
        b1 += [j["decode"][m]["b1_ms_per_token"] for j in tor.values()]
        bb = [r["decode"][m]["batch_ms_per_token"] for r in (att or {}).values()]
        bb += [j["decode"][m].get("batch_ms_per_token") for j in tor.values()]
        L.append("| " + " | ".join([str(m)] + [fmt(x, 3) for x in b1] + [fmt(x, 2) for x in bb]) + " |")
    return "\n".join(L) + "\n"


def main(argv=None):
    global TIMEOUT
    a = parse(argv)
    TIMEOUT = a.timeout
    meta = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    try:
        # attend first: if it cannot run the model, fail before the long PyTorch runs.
        att = None if a.torch_only else attend_runs(a)
        tor = {} if a.attend_only else torch_runs(a)
    except RunError as e:
        log(f"error: {e}")
        return 2
    if tor:
        meta += f", torch {next(iter(tor.values()))['torch']}"
    try:
        la = os.getloadavg()
        meta += f", load average at the end {la[0]:.2f}"
    except OSError:
        pass
    text = markdown(a, att, tor, meta)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)
        log(f"wrote {a.out}")
    else:
        sys.stdout.write(text)
    if a.json_out:
        with open(a.json_out, "w") as f:
            json.dump({"attend": {str(t): {"train": r["train"],
                                           "decode": {str(n): d["raw"] for n, d in r["decode"].items()}}
                                  for t, r in (att or {}).items()},
                       "pytorch": tor}, f, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
