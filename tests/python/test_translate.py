"""attend.Translator against the command line on the same models: translations, n-best scores,
attention (rows sum to 1, equal to `attend translate --show-attention` JSON export, Transformer
views per layer and head), scoring (`attend score`), the configuration."""

import math
import os
import unittest

import numpy as np

import attend
from helpers import (SENTENCES, TempDir, cli, cli_attention_json, small_model,
                     transformer_options)


class TranslatorTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = TempDir()
        cls.validations = []
        cls.rnn = small_model(cls.tmp.file("rnn.safetensors"), attention="bahdanau",
                              on_validation=lambda *v: cls.validations.append(v))
        cls.progress = []
        cls.tf = small_model(cls.tmp.file("tf.safetensors"), on_progress=lambda *p: cls.progress.append(p),
                             **transformer_options())

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_train_reports_validations_and_metrics(self):
        self.assertTrue(os.path.exists(self.rnn.model))
        self.assertEqual(self.rnn.model, self.tmp.file("rnn.safetensors"))
        self.assertEqual([v[0] for v in self.validations], [50, 100, 150])
        self.assertEqual(self.validations, self.rnn.validations)
        for step, loss, bleu in self.validations:
            self.assertTrue(math.isfinite(loss) and loss > 0)
            self.assertTrue(0.0 <= bleu <= 100.0)
        self.assertEqual(self.rnn.metrics["steps"], 150)
        self.assertEqual(self.rnn.metrics["config"]["hidden"], 32)
        self.assertIn("exact_match", self.rnn.metrics["test"])
        self.assertEqual(len(self.rnn.metrics["valid_curve"]), 3)
        self.assertTrue(self.progress)
        step, total, loss, lr = self.progress[-1]
        self.assertEqual((step, total), (150, 150))
        self.assertTrue(math.isfinite(loss) and lr > 0)

    def test_greedy_equals_cli(self):
        for model in (self.rnn.model, self.tf.model):
            t = attend.Translator(model)
            ours = [r.text for r in t.translate(SENTENCES)]
            theirs = cli("translate", "--model", model, input="\n".join(SENTENCES) + "\n").splitlines()
            self.assertEqual(ours, theirs)

    def test_beam_nbest_equals_cli(self):
        t = attend.Translator(self.rnn.model)
        results = t.translate(SENTENCES, beam=4, nbest=3, length_penalty=0.6)
        out = cli("translate", "--model", self.rnn.model, "--beam", "4", "--nbest", "3",
                  "--length-penalty", "0.6", input="\n".join(SENTENCES) + "\n").splitlines()
        ours = []
        for r in results:
            self.assertEqual(len(r.nbest), 3)
            self.assertEqual(r.text, r.nbest[0].text)
            self.assertGreaterEqual(r.nbest[0].score, r.nbest[1].score)
            ours += ["%.6f\t%s" % (h.score, h.text) for h in r.nbest]
        self.assertEqual(ours, out)

    def test_single_string_and_empty_line(self):
        t = attend.Translator(self.rnn.model)
        one = t.translate("abcde")
        self.assertIsInstance(one, attend.Result)
        self.assertEqual(one.text, t.translate(["abcde"])[0].text)
        empty = t.translate([""])[0]
        self.assertEqual((empty.text, empty.nbest), ("", []))

    def test_attention_rows_sum_to_one_and_equal_cli_export(self):
        t = attend.Translator(self.rnn.model)
        results = t.translate(SENTENCES, attention=True)
        exported = cli_attention_json(self.rnn.model, SENTENCES)
        for r, (text, j) in zip(results, exported):
            self.assertEqual(r.text, text)
            self.assertIsInstance(r.attention, np.ndarray)
            self.assertEqual(r.attention.shape, (len(r.target_tokens), len(r.source_tokens)))
            np.testing.assert_allclose(r.attention.sum(axis=1), 1.0, atol=1e-5)
            self.assertEqual(r.source_tokens, j["source"])
            self.assertEqual(r.target_tokens, j["output"])
            np.testing.assert_allclose(r.attention, np.array(j["weights"]), atol=1e-5)
            self.assertEqual(r.views, {})

    def test_transformer_views_per_layer_and_head(self):
        t = attend.Translator(self.tf.model)
        names = ["layer %d head %d" % (l, h) for l in range(2) for h in range(2)]
        self.assertEqual(t.view_names, names)
        results = t.translate(SENTENCES[:3], attention=True)
        exported = cli_attention_json(self.tf.model, SENTENCES[:3])
        for r, (text, j) in zip(results, exported):
            self.assertEqual(r.text, text)
            self.assertEqual(list(r.views), names)
            self.assertEqual(j["view_names"], names)
            for name in names:
                view = r.views[name]
                self.assertEqual(view.shape, r.attention.shape)
                np.testing.assert_allclose(view.sum(axis=1), 1.0, atol=1e-5)
                np.testing.assert_allclose(view, np.array(j["views"][name]), atol=1e-5)
            # The default view is the mean over the last layer's heads.
            np.testing.assert_allclose(
                r.attention, (r.views["layer 1 head 0"] + r.views["layer 1 head 1"]) / 2, atol=1e-5)
            self.assertEqual(list(r.encoder_views), ["encoder layer 0 head 0", "encoder layer 0 head 1"])
            n = len(r.source_tokens)
            self.assertEqual(r.encoder_views["encoder layer 0 head 0"].shape, (n, n))
        # One view as the CLI's --attention-view prints it.
        single = cli_attention_json(self.tf.model, SENTENCES[:1], "--attention-view", "layer 0 head 1")
        np.testing.assert_allclose(results[0].view("layer 0 head 1"), np.array(single[0][1]["weights"]),
                                   atol=1e-5)
        with self.assertRaises(ValueError):
            results[0].view("layer 9 head 9")

    def test_nbest_hypotheses_carry_attention(self):
        t = attend.Translator(self.rnn.model)
        r = t.translate(["abcdefg"], beam=3, nbest=3, attention=True)[0]
        for h in r.nbest:
            self.assertEqual(h.attention.shape, (len(h.target_tokens), len(r.source_tokens)))
            np.testing.assert_allclose(h.attention.sum(axis=1), 1.0, atol=1e-5)

    def test_score_equals_cli(self):
        t = attend.Translator(self.rnn.model)
        src = ["abcde", "tsrqpon", "hgf"]
        tgt = ["edcba", "nopqrst", "xyz"]  # x, y, z are not in the vocabulary: <unk>
        scores = t.score(src, tgt)
        tmp = TempDir()
        try:
            with open(tmp.file("src"), "w") as f:
                f.write("\n".join(src) + "\n")
            with open(tmp.file("tgt"), "w") as f:
                f.write("\n".join(tgt) + "\n")
            theirs = [float(x) for x in
                      cli("score", "--model", self.rnn.model, "--src", tmp.file("src"), "--tgt", tmp.file("tgt")).split()]
        finally:
            tmp.cleanup()
        for s, target, expected in zip(scores, tgt, theirs):
            self.assertEqual(len(s.token_log_probs), len(target) + 1)
            self.assertEqual(s.tokens[-1], "</s>")
            self.assertTrue(np.all(s.token_log_probs <= 0))
            self.assertAlmostEqual(float(s.token_log_probs.sum()), s.log_prob, places=4)
            self.assertAlmostEqual(s.log_prob, expected, places=4)
        self.assertEqual(scores[2].tokens[:3], ["<unk>"] * 3)
        one = t.score("abcde", "edcba")
        self.assertAlmostEqual(one.log_prob, scores[0].log_prob, places=6)

    def test_config_and_info(self):
        rnn = attend.Translator(self.rnn.model).config
        self.assertEqual(rnn["attention"], "bahdanau")
        self.assertEqual(rnn["hidden"], 32)
        self.assertIsInstance(rnn["hidden"], int)
        self.assertIsInstance(rnn["dropout"], float)
        self.assertIs(rnn["bidirectional"], False)
        self.assertEqual(rnn["bridge"], "copy")
        tf = attend.Translator(self.tf.model)
        self.assertEqual(tf.config["decoder"], "transformer")
        self.assertEqual(tf.config["decoder_layers"], 2)
        self.assertEqual(tf.info["task"], "reverse")

    def test_threads_argument(self):
        t = attend.Translator(self.rnn.model, threads=1)
        self.assertEqual([r.text for r in t.translate(SENTENCES)],
                         [r.text for r in attend.Translator(self.rnn.model).translate(SENTENCES)])

    def test_train_on_files_writes_the_checkpoint_averages(self):
        # The options attend train declares beyond the shared groups (--average-last,
        # --average-best) bind the same way here: the averages exist and load.
        lines = ["a b c", "d e f g", "h i", "j k l m n", "o p q", "r s t a b"]
        for side, text in (("src", lines), ("tgt", [" ".join(reversed(l.split())) for l in lines])):
            with open(self.tmp.file("files." + side), "w") as f:
                f.write("\n".join(text * 4) + "\n")
        model = self.tmp.file("files.safetensors")
        attend.train(train_src=self.tmp.file("files.src"), train_tgt=self.tmp.file("files.tgt"),
                     valid_src=self.tmp.file("files.src"), valid_tgt=self.tmp.file("files.tgt"),
                     tokenizer="space", hidden=16, emb=8, steps=40, bleu_every=10, batch=8, seed=1,
                     threads=1, average_last=2, average_best=2, model=model)
        for suffix in (".avg-last", ".avg-best"):
            averaged = attend.Translator(model + suffix)
            self.assertEqual(averaged.config["hidden"], 16)


if __name__ == "__main__":
    unittest.main()
