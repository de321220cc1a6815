#!/usr/bin/python3
"""attend against its PyTorch twin on the grid of issue 5, case by case, in one run.

    /usr/bin/python3 bench/run_comparison.py                 # full grid -> bench/results.md
    /usr/bin/python3 bench/run_comparison.py --quick --out /tmp/quick.md
    /usr/bin/python3 bench/run_comparison.py --attend-only

Every measurement is its own process (so peak RSS is per case and per tool):
- attend: `attend bench ... --json` with --threads 1 and --threads 2;
- PyTorch: bench/torch_bench.py ... --json in three settings — 1 torch thread; 2 torch threads
  with OMP_WAIT_POLICY=PASSIVE; 2 torch threads with OpenMP's default wait policy.
For each tool the run with the highest training throughput is kept (its decoding and memory figures
come from that same run) and the table says which setting it was. The runs of one case follow each
other, so the ratios of a case are measured close together in time.
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

TOY = dict(batch=64, src_len=12, tgt_len=12, vocab=40, emb=32, hidden=128)
SMALL = dict(batch=64, src_len=16, tgt_len=16, vocab=8000, emb=256, hidden=256)


def grid(quick):
    if quick:
        return [("toy", "gru", "luong-general", TOY), ("small-real", "gru", "luong-general", SMALL)]
    cases = [("toy", c, a, TOY) for c in ("rnn", "lstm", "gru")
             for a in ("none", "bahdanau", "luong-dot", "luong-general", "local-p")]
    cases += [("small-real", c, a, SMALL) for c in ("gru", "lstm")
              for a in ("none", "bahdanau", "luong-general")]
    return cases


# Issue 5's floors: (training throughput ratio, greedy batch-1 ratio) per shape.
FLOORS = {"toy": (4.0, 10.0), "small-real": (2.0, 2.0)}

TORCH_SETTINGS = [
    ("1 torch thread (OpenBLAS keeps its own 2)", 1, {}),
    ("2 threads, OMP_WAIT_POLICY=PASSIVE", 2, {"OMP_WAIT_POLICY": "PASSIVE"}),
    ("2 threads, default wait policy", 2, None),  # None: OMP_WAIT_POLICY removed from the env
]


def case_flags(cell, attention, shape, warmup, iters):
    flags = ["--cell", cell, "--attention", attention]
    for k, v in shape.items():
        flags += ["--" + k.replace("_", "-"), str(v)]
    return flags + ["--warmup", str(warmup), "--iters", str(iters), "--json"]


def run_json(cmd, env, timeout):
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr.strip()}")
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    if not lines:
        raise RuntimeError(f"{' '.join(cmd)} printed no JSON:\n{p.stdout}\n{p.stderr}")
    return json.loads(lines[-1])


def best(runs, key="train_tokens_per_s"):
    """The run (setting, result) with the highest value of `key`."""
    return max(runs, key=lambda r: r[1][key])


DECODE_KEYS = ("greedy_b1_sents_per_s", "greedy_batch_sents_per_s", "beam5_b1_sents_per_s")


def best_of_each(runs):
    """(setting, result) with training figures and RSS from the fastest training setting and each
    decoding figure from that tool's fastest setting for it; `decode_settings` names them."""
    setting, r = best(runs)
    r = dict(r)
    r["decode_settings"] = {}
    for k in DECODE_KEYS:
        s, d = best(runs, k)
        r[k] = d[k]
        r["decode_settings"][k] = s
    return setting, r


def measure(args, shape_name, cell, attention, shape):
    warmup = args.warmup if args.warmup is not None else (10 if shape_name == "toy" else 2)
    iters = args.iters if args.iters is not None else (20 if shape_name == "toy" else 5)
    flags = case_flags(cell, attention, shape, warmup, iters)
    out = {"shape": shape_name, "cell": cell, "attention": attention, "warmup": warmup,
           "iters": iters, "attend_runs": [], "torch_runs": []}
    for threads in (1, 2):
        r = run_json([args.attend, "bench", *flags, "--threads", str(threads)], dict(os.environ),
                     args.timeout)
        out["attend_runs"].append((f"{threads} thread" + ("s" if threads > 1 else ""), r))
    if not args.attend_only:
        for name, threads, extra in TORCH_SETTINGS:
            env = dict(os.environ)
            if extra is None:
                env.pop("OMP_WAIT_POLICY", None)
            else:
                env.update(extra)
            r = run_json([args.python, str(HERE / "torch_bench.py"), *flags, "--threads", str(threads)],
                         env, args.timeout)
            out["torch_runs"].append((name, r))
    out["attend"] = best_of_each(out["attend_runs"])
    out["torch"] = best_of_each(out["torch_runs"]) if out["torch_runs"] else None
    out["torch_plain"] = None
    if out["torch_runs"]:
        name = out["torch"][0]
        _, threads, extra = next(s for s in TORCH_SETTINGS if s[0] == name)
        env = dict(os.environ)
        if extra is None:
            env.pop("OMP_WAIT_POLICY", None)
        else:
            env.update(extra)
        r = run_json([args.python, str(HERE / "torch_bench.py"), *flags, "--threads", str(threads),
                      "--form", "plain"], env, args.timeout)
        out["torch_plain"] = (name, r)
    return out


def ratio(a, b):
    return a / b if b else float("nan")


def floors_missed(c):
    """The issue's floors this case misses (empty: all met)."""
    a, t = c["attend"][1], c["torch"][1]
    train_floor, greedy_floor = FLOORS[c["shape"]]
    missed = []
    if ratio(a["train_tokens_per_s"], t["train_tokens_per_s"]) < train_floor:
        missed.append(f"train < {train_floor:g}×")
    if ratio(a["greedy_b1_sents_per_s"], t["greedy_b1_sents_per_s"]) < greedy_floor:
        missed.append(f"greedy b1 < {greedy_floor:g}×")
    if a["peak_rss_mb"] > t["peak_rss_mb"]:
        missed.append("RSS > PyTorch")
    return missed


def table(cases, attend_only):
    """Markdown table rows (header first)."""
    if attend_only:
        head = ["case", "attend tok/s", "threads", "attend GFLOP/s", "ms/step", "greedy b1 sent/s",
                "greedy B sent/s", "beam5 b1 sent/s", "peak RSS MB"]
        rows = [head]
        for c in cases:
            s, a = c["attend"]
            rows.append([f"{c['shape']} {c['cell']} {c['attention']}", f"{a['train_tokens_per_s']:.0f}", s,
                         f"{a['train_gflops']:.1f}", f"{a['train_ms_per_step']:.2f}",
                         f"{a['greedy_b1_sents_per_s']:.0f}", f"{a['greedy_batch_sents_per_s']:.0f}",
                         f"{a['beam5_b1_sents_per_s']:.0f}", f"{a['peak_rss_mb']:.0f}"])
        return rows
    head = ["case", "attend tok/s", "PyTorch tok/s", "ratio", "attend GFLOP/s", "PyTorch GFLOP/s",
            "greedy b1 attend", "greedy b1 PyTorch", "ratio", "greedy B attend", "greedy B PyTorch",
            "ratio", "beam5 attend", "beam5 PyTorch", "ratio", "RSS MB attend", "RSS MB PyTorch",
            "attend setting", "PyTorch setting", "PyTorch plain tok/s", "ratio to plain", "floors"]
    rows = [head]
    for c in cases:
        sa, a = c["attend"]
        st, t = c["torch"]

        def trio(key, fmt="{:.0f}"):
            return [fmt.format(a[key]), fmt.format(t[key]), f"{ratio(a[key], t[key]):.2f}"]

        missed = floors_missed(c)
        rows.append([f"{c['shape']} {c['cell']} {c['attention']}", *trio("train_tokens_per_s"),
                     f"{a['train_gflops']:.1f}", f"{t['train_gflops']:.1f}",
                     *trio("greedy_b1_sents_per_s"), *trio("greedy_batch_sents_per_s"),
                     *trio("beam5_b1_sents_per_s"), f"{a['peak_rss_mb']:.0f}", f"{t['peak_rss_mb']:.0f}",
                     sa, st, f"{c['torch_plain'][1]['train_tokens_per_s']:.0f}",
                     f"{ratio(a['train_tokens_per_s'], c['torch_plain'][1]['train_tokens_per_s']):.2f}",
                     "met" if not missed else "; ".join(missed)])
    return rows


def all_settings(cases):
    """Training throughput of every setting tried (thread scaling at a glance)."""
    names = [f"attend {n}" for n, _ in cases[0]["attend_runs"]]
    names += [f"PyTorch {n}" for n, _ in cases[0]["torch_runs"]]
    rows = [["case (train tok/s)", *names]]
    for c in cases:
        rows.append([f"{c['shape']} {c['cell']} {c['attention']}",
                     *(f"{r['train_tokens_per_s']:.0f}" for _, r in c["attend_runs"] + c["torch_runs"])])
    return rows


def markdown(rows):
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "|".join("---" for _ in rows[0]) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(lines)


def plain(rows):
    w = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(x.ljust(w[i]) if i == 0 else x.rjust(w[i]) for i, x in enumerate(r))
                     for r in rows)


def machine():
    cpu = platform.processor()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} logical CPUs"


def describe(args, cases):
    def git(*a):
        try:
            return subprocess.run(["git", "-C", str(ROOT), *a], capture_output=True, text=True).stdout.strip()
        except OSError:
            return "?"

    torch_version = next((r["torch"] for c in cases for _, r in c["torch_runs"]), "?")
    iters = sorted({(c["shape"], c["warmup"], c["iters"]) for c in cases})
    lines = [
        f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"- machine: {machine()}; load average at the end {os.getloadavg()[0]:.2f}",
        f"- attend: {args.attend} at commit {git('rev-parse', '--short', 'HEAD')}"
        + (" (working tree modified)" if git("status", "--porcelain", "--untracked-files=no") else ""),
        "- repetitions: " + "; ".join(f"{s} warmup {w}, median of {i}" for s, w, i in iters),
        "- attend settings tried: `--threads 1`, `--threads 2` (training: that many data-parallel shards with one BLAS thread each; decoding: that many BLAS threads)",
    ]
    if not args.attend_only:
        lines.append(f"- PyTorch: {torch_version} via {args.python} bench/torch_bench.py")
        lines.append("- PyTorch settings tried: " + "; ".join(n for n, _, _ in TORCH_SETTINGS))
    lines.append("- kept per tool and case: the setting with the highest training throughput for the "
                 "training figures and RSS; for each decoding figure, that tool's fastest setting for it "
                 "(both tools alike; `--json-out` names every choice)")
    if not args.attend_only:
        lines.append("- PyTorch's training form: fused (output layer and attention keys once per batch) "
                     "in the main ratios; 'PyTorch plain' is the twin's textbook per-step module "
                     "(`torch_bench.py --form plain`) in the fused form's best setting")
    lines.append("- tok/s: real target tokens (</s> included) per second of training; GFLOP/s: the "
                 "analytic GEMM count of `attend bench` (the same for both tools) per second")
    if not args.attend_only:
        lines.append("- floors (issue 5): training ≥ 4× PyTorch on toy and ≥ 2× on small-real; greedy "
                     "batch 1 ≥ 10× on toy and ≥ 2× on small-real; peak RSS ≤ PyTorch's")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(HERE / "results.md"), help="Markdown table (default bench/results.md)")
    p.add_argument("--json-out", help="also write every run's JSON here")
    p.add_argument("--iters", type=int, help="timed repetitions (default 20 toy, 5 small-real)")
    p.add_argument("--warmup", type=int, help="untimed repetitions (default 10 toy, 2 small-real)")
    p.add_argument("--quick", action="store_true", help="two cases only (a smoke run)")
    p.add_argument("--attend-only", action="store_true", help="attend alone, no PyTorch")
    p.add_argument("--attend", default=str(ROOT / "build" / "attend"), help="the attend binary")
    p.add_argument("--python", default="/usr/bin/python3", help="a Python with torch")
    p.add_argument("--timeout", type=float, default=3600, help="seconds per run")
    args = p.parse_args(argv)
    if not os.access(args.attend, os.X_OK):
        p.error(f"no attend binary at {args.attend} (cmake --build build -j2 --target attend_cli)")

    cases = []
    todo = grid(args.quick)
    for i, (shape_name, cell, attention, shape) in enumerate(todo, 1):
        print(f"[{i}/{len(todo)}] {shape_name} {cell} {attention}", file=sys.stderr, flush=True)
        c = measure(args, shape_name, cell, attention, shape)
        cases.append(c)
        a = c["attend"][1]["train_tokens_per_s"]
        msg = f"    attend {a:.0f} tok/s ({c['attend'][0]})"
        if c["torch"]:
            t = c["torch"][1]["train_tokens_per_s"]
            msg += f", PyTorch {t:.0f} tok/s ({c['torch'][0]}), ratio {a / t:.2f}"
        print(msg, file=sys.stderr, flush=True)

    rows = table(cases, args.attend_only)
    every = all_settings(cases)
    settings = describe(args, cases)
    print(plain(rows))
    print()
    print(plain(every))
    print()
    print(settings)
    title = "attend bench" + ("" if args.attend_only else " against the PyTorch twin")
    Path(args.out).write_text(f"# {title}{' (quick)' if args.quick else ''}\n\n{markdown(rows)}\n\n"
                              f"Training throughput of every setting tried:\n\n{markdown(every)}\n\n"
                              f"{settings}\n")
    print(f"\nwrote {args.out}", file=sys.stderr)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(cases, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
