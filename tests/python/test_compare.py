"""attend.compare runs `attend compare`: it writes the usual reports and returns results.json as
Python data; bad options raise ValueError with the command line's message."""

import os
import unittest

import attend
from helpers import TempDir


class CompareTest(unittest.TestCase):
    def test_small_grid(self):
        tmp = TempDir()
        try:
            out = tmp.file("grid")
            results = attend.compare(out, task="reverse", cells="gru", attention=["none", "bahdanau"],
                                     seeds=1, steps=40, hidden=16, jobs=1)
            for name in ("REPORT.md", "results.csv", "results.json", "report.html"):
                self.assertTrue(os.path.exists(os.path.join(out, name)), name)
            self.assertIsInstance(results, dict)
            self.assertEqual(results["data"], "task reverse")
            self.assertIn(results["best"], ("gru+none", "gru+bahdanau"))
            with self.assertRaisesRegex(ValueError, "unknown attention 'nonsense'"):
                attend.compare(tmp.file("bad"), task="reverse", attention="nonsense", steps=5)
        finally:
            tmp.cleanup()


if __name__ == "__main__":
    unittest.main()
