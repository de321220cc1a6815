#!/usr/bin/python3
"""Wall time of one small `attend compare` grid three ways: 1 process with 1 thread, `mpirun -np 2`
with 1 thread per rank, and 1 process with --jobs 2 (1 BLAS thread per run).

    nice -n 19 /usr/bin/python3 bench/compare_ranks.py                    # dates, 4 runs x 300 steps
    nice -n 19 /usr/bin/python3 bench/compare_ranks.py --repeats 3 --steps 500

Each setting writes its own grid under --work; the script prints, per setting and repeat, the wall
time of the whole command (mpirun's start included), the sum of the runs' training seconds (their
metrics.json) and whether results.json equals the first grid's with the timing fields removed
(it must: each run is the same computation wherever it trains). The load average before and after
is printed too: on a shared machine it says how much of the two cores the grid had.
"""
import argparse
import glob
import json
import os
import shutil
import subprocess
import time


def without_timing(x):
    if isinstance(x, dict):
        return {k: without_timing(v) for k, v in x.items() if "seconds" not in k and "tokens_per_s" not in k}
    if isinstance(x, list):
        return [without_timing(v) for v in x]
    return x


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--attend", default="build/attend")
    p.add_argument("--mpirun", default="mpirun")
    p.add_argument("--work", default="/tmp/attend-compare-ranks")
    p.add_argument("--task", default="dates")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--repeats", type=int, default=2)
    a = p.parse_args()
    attend = os.path.abspath(a.attend)
    grid = ["compare", "--task", a.task, "--cells", "gru", "--attention", "none,bahdanau", "--seeds", "2",
            "--steps", str(a.steps), "--estimate-steps", "0", "--quiet"]
    settings = [
        ("1 process, 1 thread", [attend] + grid + ["--threads", "1", "--jobs", "1"]),
        ("mpirun -np 2, 1 thread each", [a.mpirun, "--allow-run-as-root", "--oversubscribe", "-np", "2", attend] + grid +
         ["--threads", "1", "--jobs", "1"]),
        ("1 process, --jobs 2", [attend] + grid + ["--threads", "2", "--jobs", "2"]),
    ]
    shutil.rmtree(a.work, ignore_errors=True)
    os.makedirs(a.work)
    print("load average before:", open("/proc/loadavg").read().strip())
    reference = None
    for repeat in range(1, a.repeats + 1):
        for i, (name, command) in enumerate(settings):
            out = os.path.join(a.work, "grid%d-%d" % (i, repeat))
            start = time.monotonic()
            subprocess.run(command + ["--out", out], check=True, stdout=subprocess.DEVNULL)
            wall = time.monotonic() - start
            train = sum(json.load(open(f))["seconds"] for f in glob.glob(out + "/*/metrics.json"))
            results = without_timing(json.load(open(out + "/results.json")))
            reference = reference if reference is not None else results
            print("repeat %d | %-28s | wall %6.1f s | runs' training %6.1f s | results as the first grid: %s"
                  % (repeat, name, wall, train, results == reference))
        print("load average:", open("/proc/loadavg").read().strip())


if __name__ == "__main__":
    main()
