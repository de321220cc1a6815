"""examples/python_attention.py runs headless (Agg) top to bottom and draws two heatmaps side by
side into its PNG."""

import os
import subprocess
import sys
import unittest

from helpers import SOURCE_DIR, TempDir


class ExampleTest(unittest.TestCase):
    def test_example_draws_two_heatmaps(self):
        tmp = TempDir()
        try:
            png = tmp.file("attention.png")
            env = dict(os.environ, MPLBACKEND="Agg", MPLCONFIGDIR=tmp.file("mpl"))
            done = subprocess.run(
                [sys.executable, os.path.join(SOURCE_DIR, "examples", "python_attention.py"),
                 "--out", png, "--steps", "300"],
                capture_output=True, text=True, env=env, cwd=tmp.path, timeout=600)
            self.assertEqual(done.returncode, 0, done.stderr)
            self.assertIn("saved " + png, done.stdout)
            self.assertEqual(os.listdir(tmp.path) and sorted(f for f in os.listdir(tmp.path) if f != "mpl"),
                             ["attention.png"])  # no model file left behind
            with open(png, "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.image
            image = matplotlib.image.imread(png)
            height, width = image.shape[:2]
            self.assertGreater(width, 1.5 * height)  # two panels side by side
            # Both halves hold a drawn heatmap: dark cells on each side.
            gray = image[..., :3].mean(axis=2)
            for half in (gray[:, : width // 2], gray[:, width // 2:]):
                self.assertGreater((half < 0.3).mean(), 0.005)
        finally:
            tmp.cleanup()


if __name__ == "__main__":
    unittest.main()
