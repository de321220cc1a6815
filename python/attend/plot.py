"""Attention heatmaps with matplotlib (imported by attend.plot_attention and
attend.plot_attention_pair only, so `import attend` does not need matplotlib)."""

import matplotlib.pyplot as plt


def _weights(result, view):
    rows = result.view(view)
    if rows is None or rows.size == 0:
        raise ValueError("no attention to plot: translate with attention=True (a non-empty line)")
    return rows


def plot_attention(result, ax=None, view="mean", title=None, cmap="Greys"):
    weights = _weights(result, view)
    if ax is None:
        _, ax = plt.subplots(figsize=(0.45 * weights.shape[1] + 2.0, 0.45 * weights.shape[0] + 1.5))
    image = ax.imshow(weights, cmap=cmap, vmin=0.0, vmax=1.0, aspect="auto", interpolation="nearest")
    src, out = result.source_tokens, result.target_tokens
    ax.set_xticks(range(len(src)))
    ax.set_xticklabels([t if t.strip() else "\u2423" for t in src], rotation=90)
    ax.set_yticks(range(len(out)))
    ax.set_yticklabels([t if t.strip() else "\u2423" for t in out[:weights.shape[0]]])
    ax.set_xlabel("source")
    ax.set_ylabel("output")
    ax.tick_params(length=0)
    if title is None and view != "mean":
        title = view
    if title:
        ax.set_title(title)
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    return ax


def plot_attention_pair(left, right, titles=None, view="mean", path=None, figsize=None):
    a, b = _weights(left, view), _weights(right, view)
    if figsize is None:
        cols = a.shape[1] + b.shape[1]
        figsize = (0.45 * cols + 5.0, 0.45 * max(a.shape[0], b.shape[0]) + 2.0)
    fig, axes = plt.subplots(1, 2, figsize=figsize)
    titles = titles or (None, None)
    plot_attention(left, ax=axes[0], view=view, title=titles[0])
    plot_attention(right, ax=axes[1], view=view, title=titles[1])
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig
