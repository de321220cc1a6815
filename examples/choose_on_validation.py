#!/usr/bin/python3
"""Single models, ensembles and the length penalty, every choice made on the validation set.

    examples/choose_on_validation.py --attend build/attend --valid-src V.src --valid-ref V.ref \
        --test-src T.src --test-ref T.ref --beam 5 --out DIR MODEL [MODEL ...]

For the candidate models given (single checkpoints, or checkpoint averages written by
`attend train --average-last/--average-best`), in this order:
  1. each candidate on the validation files, with `attend eval --length-penalty-grid`;
  2. the candidates ranked by validation BLEU at alpha 0; the ensembles of the best 2, 3, … of
     them (`attend eval -m A -m B …`) on the validation files, with the same grid;
  3. every system (candidate or ensemble) on the test files twice: at alpha 0 and at the alpha its
     validation run chose.
It prints a Markdown table and writes DIR/choices.json, and each test decoding's translations to
DIR/testN-alpha0.hyp and DIR/testN-chosen.hyp (for `attend bleu --paired-bootstrap`). The test
files play no part in any choice.
"""

import argparse
import json
import os
import subprocess
import sys


def run_eval(args, models, src, ref, extra, tag):
    cmd = [args.attend, "eval", "--src", src, "--ref", ref, "--beam", str(args.beam),
           "--threads", str(args.threads)]
    for m in models:
        cmd += ["-m", m]
    if args.lc:
        cmd.append("--lc")
    metrics = os.path.join(args.out, tag + ".json")
    cmd += extra + ["--metrics-json", metrics]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit("attend eval failed (%d): %s\n%s" % (done.returncode, " ".join(cmd), done.stderr))
    with open(os.path.join(args.out, tag + ".txt"), "w") as f:
        f.write(" ".join(cmd) + "\n" + done.stdout)
    if done.stderr:  # e.g. a best length penalty at an end of --alphas
        sys.stderr.write("%s: %s" % (tag, done.stderr))
    with open(metrics) as f:
        return json.load(f)


def at_alpha(grid, alpha):
    for row in grid["length_penalty_grid"]:
        if row["length_penalty"] == alpha:
            return row
    raise KeyError(alpha)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--attend", default="attend")
    p.add_argument("--valid-src", required=True)
    p.add_argument("--valid-ref", required=True)
    p.add_argument("--test-src", required=True)
    p.add_argument("--test-ref", required=True)
    p.add_argument("--beam", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--lc", action="store_true", help="lower-cased BLEU (as attend eval --lc)")
    p.add_argument("--alphas", default="0,0.2,0.4,0.6,0.8,1,1.2")
    p.add_argument("--max-ensemble", type=int, default=4)
    p.add_argument("--out", required=True)
    p.add_argument("models", nargs="+")
    args = p.parse_args()
    if "0" not in args.alphas.split(","):
        sys.exit("--alphas must include 0 (the reference point)")
    os.makedirs(args.out, exist_ok=True)
    grid = ["--length-penalty-grid", args.alphas]

    systems = []  # (name, [model files], validation metrics)
    for i, m in enumerate(args.models):
        systems.append({"name": m, "models": [m],
                        "valid": run_eval(args, [m], args.valid_src, args.valid_ref, grid, "valid-single%d" % i)})
    ranked = sorted(systems, key=lambda s: -at_alpha(s["valid"], 0)["bleu"])
    for k in range(2, min(args.max_ensemble, len(ranked)) + 1):
        members = [s["models"][0] for s in ranked[:k]]
        systems.append({"name": "ensemble of the best %d: " % k + ", ".join(members),
                        "models": members,
                        "valid": run_eval(args, members, args.valid_src, args.valid_ref, grid, "valid-ensemble%d" % k)})
    for i, s in enumerate(systems):
        s["valid_alpha0"] = at_alpha(s["valid"], 0)
        s["alpha"] = s["valid"]["length_penalty"]
        for key, alpha in (("test_alpha0", 0), ("test_chosen", s["alpha"])):
            tag = "test%d-%s" % (i, "alpha0" if key == "test_alpha0" else "chosen")
            s[key] = run_eval(args, s["models"], args.test_src, args.test_ref,
                              ["--length-penalty", repr(alpha), "--out", os.path.join(args.out, tag + ".hyp")], tag)
            s[key + "_hyp"] = os.path.join(args.out, tag + ".hyp")

    print("| system | valid BLEU (α 0) | α chosen on valid | valid BLEU (α) | test BLEU (α 0) | test chrF2 (α 0) "
          "| BP (α 0) | test BLEU (α chosen) | test chrF2 (α chosen) | BP (α chosen) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for s in systems:
        a0, ch = s["test_alpha0"], s["test_chosen"]
        print("| %s | %.2f | %g | %.2f | %.2f | %.2f | %.3f | %.2f | %.2f | %.3f |" % (
            s["name"], s["valid_alpha0"]["bleu"], s["alpha"], s["valid"]["bleu"], a0["bleu"], a0["chrf"], a0["bp"],
            ch["bleu"], ch["chrf"], ch["bp"]))
    with open(os.path.join(args.out, "choices.json"), "w") as f:
        json.dump(systems, f, indent=1)


if __name__ == "__main__":
    main()
