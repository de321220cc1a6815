#!/usr/bin/env python3
"""Damages copies of a model file at random and runs `attend score` on each.

Usage: tools/damage_models.py ATTEND MODEL SRC TGT [COPIES] [SEED]

Four kinds of damage, in turn: flipped bytes, a zeroed block, truncation, a splice (a block
copied from elsewhere in the file). Each copy must give exit 0 (damage the checks cannot see
changes no value the command uses) or exit 2 with "attend: error:" within 10 s; a signal, any
other exit status or a timeout is a failure. Prints one line per outcome class and exits 1 on
any failure. Only the standard library: it needs no numpy or torch.
"""
import os
import random
import subprocess
import sys
import tempfile


def damage(data: bytes, kind: int, rng: random.Random) -> bytes:
    b = bytearray(data)
    n = len(b)
    if kind == 0:  # flipped bytes
        for _ in range(rng.randint(1, 16)):
            b[rng.randrange(n)] ^= 1 << rng.randrange(8)
    elif kind == 1:  # a zeroed block
        start = rng.randrange(n)
        length = rng.randint(1, 4096)
        b[start:start + length] = bytes(min(length, n - start))
    elif kind == 2:  # truncation
        b = b[:rng.randrange(n)]
    else:  # a splice
        length = rng.randint(1, 4096)
        src = rng.randrange(max(1, n - length))
        dst = rng.randrange(max(1, n - length))
        b[dst:dst + length] = data[src:src + length]
    return bytes(b)


def main() -> int:
    attend, model, src, tgt = sys.argv[1:5]
    copies = int(sys.argv[5]) if len(sys.argv) > 5 else 300
    rng = random.Random(int(sys.argv[6]) if len(sys.argv) > 6 else 1)
    data = open(model, "rb").read()
    outcomes = {}
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "damaged.safetensors")
        for i in range(copies):
            kind = i % 4
            with open(path, "wb") as f:
                f.write(damage(data, kind, rng))
            try:
                p = subprocess.run([attend, "score", "--model", path, "--src", src, "--tgt", tgt,
                                    "--threads", "1"], capture_output=True, timeout=10)
                code = p.returncode
                err = p.stderr.decode("utf-8", "replace")
                if code == 0:
                    cls = "exit 0"
                elif code == 2 and err.startswith("attend: error:"):
                    cls = "exit 2 with attend: error:"
                else:
                    cls = f"FAILURE: exit {code}"
                    failures.append((i, kind, code, err[-300:]))
            except subprocess.TimeoutExpired:
                cls = "FAILURE: timeout"
                failures.append((i, kind, "timeout", ""))
            key = (cls, ["flipped bytes", "zeroed block", "truncation", "splice"][kind])
            outcomes[key] = outcomes.get(key, 0) + 1
    for (cls, kind), count in sorted(outcomes.items()):
        print(f"{count:5d}  {kind:14s} {cls}")
    for f in failures[:10]:
        print("failure:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
