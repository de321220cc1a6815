"""attend from Python: translate with a trained model and get its attention as numpy arrays,
score sentence pairs, train and compare models with the command line's options, BLEU.

    import attend
    result = attend.train(task="reverse", steps=300, hidden=64, model="/tmp/m.safetensors",
                          on_validation=lambda step, loss, bleu: print(step, loss, bleu))
    t = attend.Translator(result.model)
    r = t.translate(["a b c d"], attention=True)[0]
    r.text, r.tokens, r.score, r.attention   # attention: numpy, target tokens x source tokens
    attend.plot_attention(r)                  # matplotlib, imported only here

The heavy work runs in C++ with the GIL released. Library errors raise ValueError (bad options
or input) or OSError (files). See docs/python.md.
"""

import json as _json
import os as _os

import numpy as _np

from . import _attend
from ._attend import BleuScore, model_options, set_threads

__all__ = [
    "Translator", "Result", "Hypothesis", "TrainResult", "train", "train_options", "compare",
    "bleu", "BleuScore", "model_options", "set_threads", "plot_attention", "plot_attention_pair",
]

EOS = "</s>"


class Hypothesis:
    """One translation of a source: text, tokens (without </s>), score (log-probability divided
    by the length penalty), log_prob, finished (ended with </s>) and, when translated with
    attention=True, `attention`: a float32 array with one row per output token (</s> included
    when finished: see `target_tokens`) and one column per source token, each row summing to 1 (local-p: less, by its Gaussian).
    For a Transformer decoder `views` maps "layer L head H" to the same kind of array (the
    default `attention` is the mean over the last layer's heads); for a self-attention encoder
    `encoder_views` maps "encoder layer L head H" to source x source arrays."""

    def __init__(self, d, source_tokens):
        self.text = d["text"]
        self.tokens = list(d["tokens"])
        self.score = d["score"]
        self.log_prob = d["log_prob"]
        self.finished = d["finished"]
        self.source_tokens = source_tokens
        self.attention = d.get("attention")
        self.views = d.get("views", {})
        self.encoder_views = d.get("encoder_views", {})

    @property
    def target_tokens(self):
        """The labels of the attention rows: the tokens, then </s> when the hypothesis finished."""
        return self.tokens + ([EOS] if self.finished else [])

    def view(self, name="mean"):
        """The attention rows of one view: "mean" (the default, `attention`) or "layer L head H"."""
        if name == "mean":
            if self.attention is None:
                raise ValueError("no attention kept: translate with attention=True")
            return self.attention
        if name in self.views:
            return self.views[name]
        raise ValueError("unknown attention view '%s' (valid: %s)"
                         % (name, ", ".join(["mean"] + list(self.views))))

    def __repr__(self):
        return "Hypothesis(text=%r, score=%.4f)" % (self.text, self.score)


class Result(Hypothesis):
    """The translation of one line: its best hypothesis (text, tokens, score, attention, ... as
    Hypothesis) plus `source` (the line after the model's text options), `source_tokens` and
    `nbest` (every hypothesis, best first; empty for an empty line)."""

    def __init__(self, d):
        self.source = d["source"]
        self.source_tokens = list(d["source_tokens"])
        self.nbest = [Hypothesis(h, self.source_tokens) for h in d["hypotheses"]]
        best = d["hypotheses"][0] if d["hypotheses"] else {
            "text": "", "tokens": [], "score": 0.0, "log_prob": 0.0, "finished": False}
        Hypothesis.__init__(self, best, self.source_tokens)

    def __repr__(self):
        return "Result(text=%r, score=%.4f, nbest=%d)" % (self.text, self.score, len(self.nbest))


class Score:
    """Teacher-forced log-probabilities of one target given its source: `tokens` (the target's
    tokens and </s>), `token_log_probs` (numpy, one per token) and `log_prob`, their sum (what
    `attend score` prints)."""

    def __init__(self, d):
        self.tokens = list(d["tokens"])
        self.token_log_probs = d["token_log_probs"]
        self.log_prob = d["log_prob"]

    def __repr__(self):
        return "Score(log_prob=%.4f, tokens=%d)" % (self.log_prob, len(self.tokens))


class Translator:
    """A trained model file (written by `attend train` or attend.train). threads: BLAS threads
    for its products (0 = the library's default). Raises OSError (FileNotFoundError for a missing
    path) when the file cannot be loaded, with the library's message."""

    def __init__(self, path, threads=0):
        self._t = _attend._Translator(_os.fspath(path), int(threads))

    @property
    def path(self):
        return self._t.path

    @property
    def config(self):
        """The model's configuration: the checkpoint's model keys with typed values."""
        return self._t.config()

    @property
    def info(self):
        """What training recorded in the file (task, seed, steps, ...), as strings."""
        return self._t.info()

    @property
    def view_names(self):
        """The attention views beyond "mean" (a Transformer decoder's "layer L head H")."""
        return list(self._t.view_names())

    def translate(self, lines, beam=1, nbest=1, length_penalty=0.0, attention=False,
                  max_len_ratio=2.0, batch=64):
        """Translates a list of lines (or one string) as `attend translate` does: greedy for
        beam=1, else beam search keeping `nbest` hypotheses. Returns one Result per line (a
        single Result for a single string). attention=True keeps the attention weights."""
        single = isinstance(lines, str)
        items = [lines] if single else list(lines)
        for i, line in enumerate(items):
            if not isinstance(line, str):
                raise TypeError("line %d is %s, not str" % (i + 1, type(line).__name__))
        raw = self._t.translate(items, int(beam), int(nbest), float(length_penalty),
                                float(max_len_ratio), bool(attention), int(batch))
        results = [Result(d) for d in raw]
        return results[0] if single else results

    def score(self, src, tgt):
        """ln p(tgt | src) per target token, as `attend score` (which prints the sum). src and
        tgt are strings (one Score) or lists of strings of the same length (a list)."""
        single = isinstance(src, str)
        if single != isinstance(tgt, str):
            raise TypeError("src and tgt must both be strings or both be lists")
        raw = self._t.score([src] if single else list(src), [tgt] if single else list(tgt))
        scores = [Score(d) for d in raw]
        return scores[0] if single else scores

    def __repr__(self):
        return "attend.Translator(%r)" % self.path


# ---- training -------------------------------------------------------------------------------

def train_options():
    """The option names attend.train accepts: those of `attend train` (python spelling: - as _)."""
    return [name.replace("-", "_") for name in _attend._train_option_names()]


def _command_words(options, allowed):
    words = []
    for key, value in options.items():
        name = key.replace("_", "-")
        if name not in allowed:
            raise ValueError("unknown option '%s' (valid: %s)"
                             % (key, ", ".join(n.replace("-", "_") for n in allowed)))
        if value is None:
            continue
        if isinstance(value, bool):
            words.append("--%s=%s" % (name, "true" if value else "false"))
        elif isinstance(value, (list, tuple)):
            words.append("--%s=%s" % (name, ",".join(str(v) for v in value)))
        else:
            words.append("--%s=%s" % (name, _os.fspath(value) if isinstance(value, _os.PathLike) else value))
    return words


class TrainResult:
    """What attend.train returns: `model` (the saved file's path), `metrics` (the dict that
    `attend train --metrics-json` writes) and `validations`: (step, loss, BLEU) per validation."""

    def __init__(self, model, metrics, validations):
        self.model = model
        self.metrics = metrics
        self.validations = validations

    def __repr__(self):
        return "TrainResult(model=%r, steps=%s)" % (self.model, self.metrics.get("steps"))


def train(on_validation=None, on_progress=None, **options):
    """Trains a model with the options of `attend train`, spelled as Python names (hidden=64,
    attention="luong", train_src="corpus.de", ...): on a built-in task by default, on parallel
    text files with train_src/train_tgt/valid_src/valid_tgt. model= is where the model is saved.

    on_validation(step, loss, bleu) is called after each validation (loss: mean validation
    cross-entropy; bleu: greedy BLEU of the validation set); on_progress(step, total_steps,
    loss, lr) during training. Returns a TrainResult. Bad options raise ValueError."""
    allowed = _attend._train_option_names()
    words = _command_words(options, allowed)
    validations = []

    def validated(step, loss, bleu):
        validations.append((step, loss, bleu))
        if on_validation is not None:
            on_validation(step, loss, bleu)

    model, metrics = _attend._train(words, validated, on_progress)
    return TrainResult(model, metrics, validations)


def compare(out, **options):
    """Runs `attend compare` with these options (Python spelling: cells="gru,lstm" or
    cells=["gru", "lstm"], attention=[...], seeds=2, ...) and writes its reports under `out`
    (REPORT.md, results.csv, results.json, report.html). Returns results.json as Python data.
    quiet=True (the default here) hides the live display."""
    options.setdefault("quiet", True)
    words = ["--out=%s" % _os.fspath(out)]
    for key, value in options.items():
        name = key.replace("_", "-")
        if value is None or value is False:
            continue
        if value is True:
            words.append("--" + name)
        elif isinstance(value, (list, tuple)):
            words.append("--%s=%s" % (name, ",".join(str(v) for v in value)))
        else:
            words.append("--%s=%s" % (name, value))
    _attend._compare(words)
    with open(_os.path.join(_os.fspath(out), "results.json"), encoding="utf-8") as f:
        return _json.load(f)


def bleu(hyps, refs, lowercase=False):
    """Corpus BLEU of the hypotheses against the references, as `attend bleu` (sacreBLEU's
    default). refs: a list of strings (one reference per hypothesis) or a list of such lists
    (several references). Returns a BleuScore (float(score), str(score) as `attend bleu` prints)."""
    hyps = list(hyps)
    refs = list(refs)
    if refs and isinstance(refs[0], str):
        refs = [refs]
    return _attend._bleu(hyps, [list(r) for r in refs], bool(lowercase))


# ---- plots (matplotlib is imported only when one is drawn) -----------------------------------

def plot_attention(result, ax=None, view="mean", title=None, cmap="Greys"):
    """Draws the attention of a Result (or Hypothesis) as a heatmap: source tokens on the x axis,
    output tokens (</s> included when finished) on the y axis. view: "mean" or "layer L head H"
    (a Transformer decoder). Returns the matplotlib Axes."""
    from .plot import plot_attention as _plot
    return _plot(result, ax=ax, view=view, title=title, cmap=cmap)


def plot_attention_pair(left, right, titles=None, view="mean", path=None, figsize=None):
    """Two heatmaps side by side (e.g. two models on the same sentence). Saves the figure to
    `path` when given; returns the matplotlib Figure."""
    from .plot import plot_attention_pair as _pair
    return _pair(left, right, titles=titles, view=view, path=path, figsize=figsize)
