"""The GIL is released while C++ translates: another Python thread keeps running during a long
translate() call, and two threads translating at once both finish with the results each gets
alone."""

import threading
import time
import unittest

import attend
from helpers import TempDir, small_model

LINES = ["abcdefghijklmnopqrst"[i % 7: i % 7 + 8 + i % 5] for i in range(200)]


class GilTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = TempDir()
        cls.model = small_model(cls.tmp.file("m.safetensors"), steps=30, eval_every=30).model

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_other_threads_run_during_translate(self):
        t = attend.Translator(self.model, threads=1)
        stamps, stop = [], threading.Event()

        def count():
            n = 0
            while not stop.is_set():
                n += 1
                if n % 200 == 0:
                    stamps.append(time.perf_counter())

        worker = threading.Thread(target=count)
        worker.start()
        try:
            time.sleep(0.05)
            lines = LINES
            for _ in range(8):  # a call long enough to tell: at least 0.2 s
                start = time.perf_counter()
                t.translate(lines, beam=4)
                end = time.perf_counter()
                if end - start >= 0.2:
                    break
                lines = lines * 2
        finally:
            stop.set()
            worker.join()
        # The middle half of the call: with the GIL held throughout, the counter could not run.
        lo, hi = start + 0.25 * (end - start), start + 0.75 * (end - start)
        middle = sum(1 for s in stamps if lo <= s <= hi)
        self.assertGreater(end - start, 0.2, "the call is too short to tell")
        self.assertGreater(middle, 10, "no Python thread ran while C++ translated (%.3f s)" % (end - start))

    def test_two_threads_translate_at_once(self):
        t = attend.Translator(self.model, threads=1)
        alone = [r.text for r in t.translate(LINES, beam=3)]
        results, errors = {}, []

        def run(name, translator):
            try:
                results[name] = [r.text for r in translator.translate(LINES, beam=3)]
            except Exception as e:  # reported below
                errors.append(e)

        other = attend.Translator(self.model, threads=1)
        threads = [threading.Thread(target=run, args=("a", t)), threading.Thread(target=run, args=("b", t)),
                   threading.Thread(target=run, args=("c", other))]
        start = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=300)
        self.assertFalse(any(th.is_alive() for th in threads))
        self.assertEqual(errors, [])
        self.assertEqual(results, {"a": alone, "b": alone, "c": alone})
        print("three concurrent translations: %.2f s" % (time.perf_counter() - start))


if __name__ == "__main__":
    unittest.main()
