"""Bad input raises Python exceptions with the library's message, never a crash: ValueError for
bad options and input, OSError (FileNotFoundError) for files. Also attend.bleu against
`attend bleu`, and that `import attend` does not import matplotlib."""

import os
import subprocess
import sys
import unittest

import attend
from helpers import TempDir, cli, small_model


class ErrorsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = TempDir()
        cls.model = small_model(cls.tmp.file("m.safetensors"), steps=20, eval_every=20).model

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_missing_model_file(self):
        with self.assertRaises(FileNotFoundError) as e:
            attend.Translator(self.tmp.file("nothing.safetensors"))
        self.assertIn("nothing.safetensors", str(e.exception))

    def test_damaged_model_file(self):
        with open(self.model, "rb") as f:
            data = f.read()
        cases = {"garbage": b"not a model at all" * 10, "truncated": data[: len(data) // 2],
                 "empty": b"", "header only": data[:64]}
        for name, content in cases.items():
            path = self.tmp.file(name.replace(" ", "_"))
            with open(path, "wb") as f:
                f.write(content)
            with self.subTest(name):
                with self.assertRaises(OSError) as e:
                    attend.Translator(path)
                self.assertIn(path, str(e.exception))
        # A corrupted byte in the middle of the tensors: loads or raises, never crashes.
        damaged = bytearray(data)
        damaged[len(damaged) // 3] ^= 0xFF
        path = self.tmp.file("flipped")
        with open(path, "wb") as f:
            f.write(bytes(damaged))
        try:
            attend.Translator(path).translate(["abc"])
        except (OSError, ValueError):
            pass

    def test_bad_search_options(self):
        t = attend.Translator(self.model)
        with self.assertRaisesRegex(ValueError, "--beam"):
            t.translate(["abc"], beam=0)
        with self.assertRaisesRegex(ValueError, "nbest"):
            t.translate(["abc"], beam=2, nbest=3)
        with self.assertRaises(ValueError):
            t.translate(["abc"], max_len_ratio=-1)
        with self.assertRaises(TypeError):
            t.translate([1, 2])
        with self.assertRaises(ValueError):
            t.score(["abc", "def"], ["cba"])
        with self.assertRaisesRegex(ValueError, "empty"):
            t.score([""], ["abc"])
        with self.assertRaises(TypeError):
            t.score("abc", ["cba"])

    def test_bad_training_options(self):
        model = self.tmp.file("never.safetensors")
        with self.assertRaisesRegex(ValueError, "hiden"):
            attend.train(hiden=3, model=model)
        with self.assertRaisesRegex(ValueError, "nonsense"):
            attend.train(attention="nonsense", steps=1, model=model)
        with self.assertRaisesRegex(ValueError, "cell"):
            attend.train(cell="nonsense", steps=1, model=model)
        with self.assertRaisesRegex(ValueError, "task"):
            attend.train(task="nonsense", steps=1, model=model)
        with self.assertRaises(ValueError):
            attend.train(hidden="many", model=model)
        with self.assertRaises(ValueError):
            attend.train(hidden=-3, model=model)
        with self.assertRaisesRegex(ValueError, "--lr"):
            attend.train(lr=-1.0, steps=1, model=model)
        with self.assertRaises(FileNotFoundError):
            attend.train(train_src=self.tmp.file("no.src"), train_tgt=self.tmp.file("no.tgt"),
                         valid_src=self.tmp.file("no.src"), valid_tgt=self.tmp.file("no.tgt"), model=model)
        self.assertFalse(os.path.exists(model))

    def test_callback_exception_propagates(self):
        def stop(step, loss, bleu):
            raise KeyError("stop here")
        with self.assertRaisesRegex(KeyError, "stop here"):
            small_model(self.tmp.file("stopped.safetensors"), steps=20, eval_every=10, on_validation=stop)

    def test_keyboard_interrupt_stops_training(self):
        import _thread
        import threading
        import time
        model = self.tmp.file("interrupted.safetensors")
        timer = threading.Timer(0.5, _thread.interrupt_main)
        start = time.perf_counter()
        timer.start()
        try:
            with self.assertRaises(KeyboardInterrupt):
                small_model(model, steps=1000000, eval_every=1000000)
        finally:
            timer.cancel()
        self.assertLess(time.perf_counter() - start, 60)
        self.assertFalse(os.path.exists(model))

    def test_train_options_are_the_cli_options(self):
        names = attend.train_options()
        for name in ("task", "hidden", "attention", "decoder", "heads", "steps", "lr", "batch",
                     "train_src", "model", "seed", "threads", "tie_embeddings"):
            self.assertIn(name, names)
        for name, _ in attend.model_options():
            self.assertIn(name.replace("-", "_"), names)

    def test_bleu_equals_cli(self):
        hyps = ["The cat sat on the mat.", "a dog barks", "Hello, world!", ""]
        refs = ["The cat sat on a mat.", "A dog is barking", "hello world !", "nothing"]
        refs2 = ["A cat sat on the mat.", "the dog barks", "Hello world!", "nothing here"]
        for name, lines in (("hyp", hyps), ("ref", refs), ("ref2", refs2)):
            with open(self.tmp.file(name), "w") as f:
                f.write("\n".join(lines) + "\n")
        for lc in (False, True):
            extra = ["-lc"] if lc else []
            one = cli("bleu", "--hyp", self.tmp.file("hyp"), "--ref", self.tmp.file("ref"), *extra).strip()
            self.assertEqual(str(attend.bleu(hyps, refs, lowercase=lc)), one)
            two = cli("bleu", "--hyp", self.tmp.file("hyp"), "--ref", self.tmp.file("ref"),
                      "--ref", self.tmp.file("ref2"), *extra).strip()
            score = attend.bleu(hyps, [refs, refs2], lowercase=lc)
            self.assertEqual(str(score), two)
            self.assertAlmostEqual(float(score), score.score)
        with self.assertRaises(ValueError):
            attend.bleu(hyps, refs[:2])

    def test_import_does_not_need_matplotlib(self):
        code = "import sys, attend; print('matplotlib' in sys.modules)"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        self.assertEqual(out.stdout.strip(), "False")


if __name__ == "__main__":
    unittest.main()
