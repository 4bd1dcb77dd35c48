"""Histograms of anomaly scores: normal examples against the examples being judged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from vaekit.runs import atomic_write


def scores_figure(
    groups: dict[str, np.ndarray], method: str, threshold: float | None = None, bins: int = 50
) -> Figure:
    """One histogram per group of scores (N_g,) on shared bins, densities, with the decision
    ``threshold`` as a dashed line when given. Higher scores are more anomalous."""
    values = np.concatenate([np.asarray(v, dtype=np.float64) for v in groups.values()])
    lo, hi = (
        np.quantile(values, [0.0, 0.995]) if len(values) > 200 else (values.min(), values.max())
    )
    hi = max(hi, lo + 1e-9)
    edges = np.linspace(lo, hi, bins + 1)
    fig = Figure(figsize=(6.4, 3.6))
    ax = fig.add_subplot()
    for name, v in groups.items():
        v = np.clip(np.asarray(v, dtype=np.float64), lo, hi)  # the top 0.5% in the last bin
        ax.hist(v, bins=edges.tolist(), density=True, alpha=0.55, label=f"{name} (n={len(v)})")
    if threshold is not None:
        ax.axvline(threshold, color="black", linestyle="--", label=f"threshold {threshold:.4g}")
    ax.set_xlabel(f"{method} score (higher = more anomalous)")
    ax.set_ylabel("density")
    ax.legend(frameon=False)
    fig.tight_layout()
    return fig


def save_scores_png(
    groups: dict[str, np.ndarray], method: str, path: str | Path, threshold: float | None = None
) -> Path:
    """Write :func:`scores_figure` as a PNG file at ``path``."""
    path = Path(path)
    figure = scores_figure(groups, method, threshold)
    return atomic_write(path, lambda tmp: figure.savefig(tmp, format="png", dpi=100))
