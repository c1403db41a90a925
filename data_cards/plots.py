"""Length histograms of a release as PNG bytes (matplotlib, Agg backend: no display needed).

Reads/writes nothing: token counts in, PNG bytes out. The one idea: one plot per kind, tokens per
document on log-spaced bins, each document counted once per copy in the release, with the
median and the 99th percentile marked; the PNG carries no timestamp, so equal data gives equal
bytes.
"""

from __future__ import annotations

import io

import numpy as np


def length_histogram(kind: str, n_tokens: np.ndarray, copies: np.ndarray, bins: int = 40, dpi: int = 100) -> bytes:
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure  # the object API: no global pyplot state across threads

    n = np.asarray(n_tokens, dtype=np.int64)
    w = np.asarray(copies, dtype=np.int64)
    fig = Figure(figsize=(6.4, 3.6), dpi=dpi)
    ax = fig.add_subplot()
    if len(n) and w.sum():
        lo, hi = max(1, int(n.min())), max(2, int(n.max()))
        edges = np.unique(np.geomspace(lo, hi * 1.0001, bins + 1).round().astype(np.int64))
        if len(edges) < 2:
            edges = np.array([lo, hi + 1])
        ax.hist(n, bins=edges, weights=w, color="#3b6ea5", edgecolor="white", linewidth=0.3)
        ax.set_xscale("log")
        order = np.argsort(n, kind="stable")
        cum = np.cumsum(w[order])
        for q, style in ((0.5, "--"), (0.99, ":")):
            v = int(n[order][np.searchsorted(cum, q * cum[-1])])
            ax.axvline(v, color="#b03a2e", linestyle=style, linewidth=1, label=f"p{int(q * 100)} = {v:,}")
        ax.legend(loc="upper right", fontsize=8)
    ax.set_title(f"{kind}: tokens per document ({int(w.sum()):,} documents)", fontsize=10)
    ax.set_xlabel("tokens (log scale)")
    ax.set_ylabel("documents")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()
