"""Shared by the Python tests (tests/python): run by ctest with PYTHONPATH=build/python and
ATTEND_CLI (the attend binary) set by CMake (python/CMakeLists.txt)."""

import json
import os
import subprocess
import tempfile

import attend

CLI = os.environ.get("ATTEND_CLI", "attend")
SOURCE_DIR = os.environ.get(
    "ATTEND_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

# Letters of the reverse task (a..t); sentences the small models translate.
SENTENCES = ["abcde", "tsrqpon", "hgfedcbatsrq", "kkkkllll", "a"]


def small_model(path, **options):
    """Trains a small reverse-task model at `path` (seconds); returns attend.train's result."""
    settings = dict(task="reverse", hidden=32, emb=16, steps=150, eval_every=50, batch=32,
                    seed=3, threads=1, model=path)
    settings.update(options)
    return attend.train(**settings)


def transformer_options():
    return dict(encoder="transformer", decoder="transformer", self_layers=1, decoder_layers=2,
                heads=2, self_heads=2, ffn=64)


def cli(*args, input=None):
    """Runs the attend binary; returns its stdout (fails the test on a non-zero exit)."""
    done = subprocess.run([CLI] + list(args), input=input, capture_output=True, text=True,
                          env=dict(os.environ, OPENBLAS_NUM_THREADS="1"))
    if done.returncode != 0:
        raise AssertionError("attend %s failed (%d): %s" % (" ".join(args), done.returncode, done.stderr))
    return done.stdout


def cli_attention_json(model, lines, *extra):
    """`attend translate --show-attention --attention-format json`: per line its text and the
    parsed JSON export."""
    out = cli("translate", "--model", model, "--show-attention", "--attention-format", "json",
              *extra, input="".join(line + "\n" for line in lines))
    decoder = json.JSONDecoder()
    results, pos = [], 0
    while pos < len(out):
        end = out.index("\n", pos)
        text = out[pos:end]
        pos = end + 1
        obj, pos = decoder.raw_decode(out, pos)
        while pos < len(out) and out[pos] == "\n":
            pos += 1
        results.append((text, obj))
    return results


class TempDir:
    def __init__(self):
        self._dir = tempfile.TemporaryDirectory(prefix="attend-python-test-")
        self.path = self._dir.name

    def file(self, name):
        return os.path.join(self.path, name)

    def cleanup(self):
        self._dir.cleanup()
