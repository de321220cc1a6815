#!/usr/bin/env python3
"""Two attention mechanisms on the same sentence, from Python (docs/python.md).

Trains two small models on the built-in `reverse` task (reverse a string of letters), one with
Bahdanau's additive attention and one with Luong's local-p (predictive, Gaussian-windowed)
attention, translates one sentence with each, and draws both attention matrices side by side.
A model that has learned to reverse looks at the source from its end to its start: an
anti-diagonal.

Run from the repository after building (about a minute on 2 cores):

    PYTHONPATH=build/python /usr/bin/python3 examples/python_attention.py --out attention.png

Options: --out PNG (default attention.png), --steps N (training updates per model, default 800),
--sentence TEXT (letters a..t, default "hgfedcbatsrq").
"""

import argparse
import os
import tempfile

import attend


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="attention.png", help="where to save the PNG")
    parser.add_argument("--steps", type=int, default=800, help="training updates per model")
    parser.add_argument("--sentence", default="hgfedcbatsrq", help="letters a..t to reverse")
    args = parser.parse_args()

    results, titles = [], []
    with tempfile.TemporaryDirectory() as tmp:  # the models live only as long as the example
        for attention in ("bahdanau", "local-p"):
            curve = []
            trained = attend.train(
                task="reverse", attention=attention, cell="gru", hidden=64, emb=32,
                steps=args.steps, eval_every=max(args.steps // 4, 1), seed=1, threads=1,
                model=os.path.join(tmp, attention + ".safetensors"),
                on_validation=lambda step, loss, bleu: curve.append((step, loss, bleu)))
            step, loss, bleu = curve[-1]
            print("%-9s step %4d  validation loss %.3f  BLEU %5.1f" % (attention, step, loss, bleu))

            model = attend.Translator(trained.model)
            result = model.translate([args.sentence], attention=True)[0]
            print("%-9s %s -> %s  (rows sum to %s)" % (
                attention, args.sentence, result.text,
                ", ".join("%.2f" % s for s in result.attention.sum(axis=1)[:3]) + ", ..."))
            results.append(result)
            exact = result.text == args.sentence[::-1]
            titles.append("%s: %s%s" % (attention, result.text, "" if exact else " (wrong)"))

    attend.plot_attention_pair(results[0], results[1], titles=titles, path=args.out)
    print("saved", args.out)


if __name__ == "__main__":
    main()
