#!/usr/bin/python3
"""Training time with subnormal floats flushed to zero and kept (`attend train --flush-denormals`).

The case is the one that produces them: a Transformer whose single cross-attention head scores
with an unscaled dot product at d_k = 256 (luong-dot, --heads 1), trained on the reverse task
until its softmax saturates. Both settings train the same model from the same seed side by side,
one process each (two cores), `--repeats` times; the table gives each setting's training seconds
and tokens/s (median) and the same-run ratio. docs/performance.md, "Subnormal floats".
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("--attend", default="build/attend")
ap.add_argument("--steps", type=int, default=1500)
ap.add_argument("--repeats", type=int, default=3)
ap.add_argument("--attention", default="luong-dot")
ap.add_argument("--heads", default="1")
args = ap.parse_args()

flags = ["train", "--task", "reverse", "--encoder", "transformer", "--decoder", "transformer",
         "--attention", args.attention, "--hidden", "256", "--heads", args.heads, "--self-heads", "4",
         "--self-layers", "1", "--decoder-layers", "1", "--ffn", "512", "--lr", "0.001",
         "--warmup", "400", "--lr-schedule", "inverse-sqrt", "--steps", str(args.steps),
         "--eval-every", str(args.steps), "--threads", "1", "-q"]

results = {1: [], 0: []}
with tempfile.TemporaryDirectory() as tmp:
    for r in range(args.repeats):
        procs = {}
        for flush in (1, 0):
            out = os.path.join(tmp, f"m{flush}-{r}.json")
            cmd = [args.attend] + flags + [f"--flush-denormals={flush}", "--model",
                                           os.path.join(tmp, f"model{flush}"), "--metrics-json", out]
            procs[flush] = (subprocess.Popen(cmd, stdout=subprocess.DEVNULL), out)
        for flush, (p, out) in procs.items():
            if p.wait() != 0:
                sys.exit(f"attend train --flush-denormals={flush} failed with status {p.returncode}")
            with open(out) as f:
                m = json.load(f)
            results[flush].append((m["seconds"], m["tokens_per_s"]))

print(f"{args.attention}, {args.heads} cross-attention head(s), d_model 256, {args.steps} steps, "
      f"{args.repeats} side-by-side repeats (median)\n")
print("| subnormals | training s | tokens/s |")
print("|---|---:|---:|")
med = {}
for flush in (1, 0):
    s = statistics.median(x[0] for x in results[flush])
    t = statistics.median(x[1] for x in results[flush])
    med[flush] = s
    print(f"| {'flushed (default)' if flush else 'kept (--flush-denormals=0)'} | {s:.1f} | {t:,.0f} |")
print(f"\nkept / flushed training time: {med[0] / med[1]:.2f}x")
