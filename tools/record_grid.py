#!/usr/bin/env python3
"""Copies a compare grid's run records into a record directory, without corpus text.

Usage: tools/record_grid.py GRID_DIR RECORD_DIR

Copies GRID_DIR/grid.json as it is and, for each finished run (metrics.json complete and not
failed), its metrics.json with the attention samples emptied: they quote source and reference
sentences. model.safetensors is not copied; a grid that resumes does not read it. compare run
with --out set to a copy of RECORD_DIR skips every recorded run (docs/records/README.md). Only the
standard library.
"""
import json
import os
import shutil
import sys


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().splitlines()[2])
    grid, record = sys.argv[1], sys.argv[2]
    if not os.path.isfile(os.path.join(grid, "grid.json")):
        sys.exit(f"record_grid: {grid}: no grid.json; not a compare output directory")
    os.makedirs(record, exist_ok=True)
    shutil.copyfile(os.path.join(grid, "grid.json"), os.path.join(record, "grid.json"))
    for run in sorted(os.listdir(grid)):
        metrics = os.path.join(grid, run, "metrics.json")
        if not os.path.isfile(metrics):
            continue
        try:
            with open(metrics) as f:
                j = json.load(f)
        except json.JSONDecodeError as e:
            print(f"skipped {run}: {metrics}: {e}")  # compare trains such a run again
            continue
        if not j.get("complete") or j.get("status") == "failed":
            continue
        j["samples"] = []
        os.makedirs(os.path.join(record, run), exist_ok=True)
        out = os.path.join(record, run, "metrics.json")
        with open(out + ".tmp", "w") as f:
            json.dump(j, f, separators=(",", ":"))
        os.replace(out + ".tmp", out)
        print("recorded", run)


if __name__ == "__main__":
    main()
