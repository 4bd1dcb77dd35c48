"""Cross-validated choice of a VAE's settings: :func:`search` (``vaekit search`` calls it).

The search is scikit-learn's ``GridSearchCV`` over :class:`~vaekit.sklearn.VAETransformer`
with ``KFold`` splits of the training rows: any estimator parameter can be searched (latent size,
beta, hidden sizes, and the regularizers weight decay, L1 and early-stopping patience). Each
setting is scored on its held-out folds by the ELBO, or the importance-sampled log-likelihood,
in nats per example. The results become a table (mean and standard deviation per setting),
``results.csv`` and ``search.png`` (score against latent size), and the best setting is trained
again on all training rows as a normal run folder (config.json, metrics.jsonl,
model.safetensors)::

    vaekit search --dataset mnist --latent-dims 2,5,10,20,50 --folds 3 --out runs/search
"""

from __future__ import annotations

import csv
import functools
import io
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from joblib import parallel_config
from matplotlib.figure import Figure
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, KFold

from vaekit import api, runs
from vaekit.data import DataConfig, Dataset
from vaekit.model.vae import VAE
from vaekit.sklearn import VAETransformer

SCORES = {"elbo": "held-out ELBO", "loglik": "held-out log-likelihood"}
RESULTS_FILE, PLOT_FILE = "results.csv", "search.png"
Row = dict[str, Any]  #: one setting: its parameters, mean, std, rank, fit_seconds, folds
SCORE_COLUMNS = ("mean", "std", "rank", "fit_seconds")


@dataclass(frozen=True)
class SearchResult:
    """What :func:`search` found: ``rows`` (one per setting, sorted by parameter values), the
    ``best`` parameters, the retrained best ``model`` and the run folder ``out`` (or None)."""

    rows: list[Row]
    best: dict[str, Any]
    scoring: str
    model: VAE
    out: Path | None

    @property
    def table(self) -> str:
        """The rows as text: one line per setting, mean ± std of the held-out score."""
        return format_table(self.rows, self.scoring)


def loglik_score(estimator: VAETransformer, x: np.ndarray, y: Any = None, *, k: int) -> float:
    """Scorer: mean importance-sampled log p(x) per example of ``x`` (nats), ``k`` samples."""
    return float(estimator.log_likelihood(x, k=k).mean())


def search(
    data: Dataset | str | Path | np.ndarray,
    grid: Mapping[str, Sequence[Any]],
    *,
    estimator: VAETransformer | None = None,
    folds: int = 3,
    scoring: str = "elbo",
    k: int = 100,
    n_jobs: int | None = -1,
    data_config: DataConfig | None = None,
    out: str | Path | None = None,
    seed: int = 0,
    progress: bool = False,
) -> SearchResult:
    """K-fold cross-validated grid search over ``grid`` (estimator parameter -> candidates).

    ``data``: as for :func:`vaekit.api.fit`; its training split (N, ...) is searched, flattened
    to rows. ``estimator`` holds the settings not searched (default: ``VAETransformer`` with
    ``random_state=seed``). ``scoring``: ``elbo`` or ``loglik`` (``k`` importance samples).
    ``n_jobs`` fits run in parallel processes, one torch thread each (-1: all cores). With
    ``out``, writes results.csv and search.png there and the best setting's run folder.
    """
    if scoring not in SCORES:
        raise ValueError(f"scoring must be one of {sorted(SCORES)}, got {scoring!r}")
    dataset, data_config = api.as_dataset(data, data_config)
    x = dataset.x_train.flatten(1).numpy()  # (N, D), the data's own units
    base = estimator if estimator is not None else VAETransformer(random_state=seed)
    scorer = functools.partial(loglik_score, k=k) if scoring == "loglik" else None
    cv = GridSearchCV(
        base,
        {name: list(values) for name, values in grid.items()},
        scoring=scorer,
        cv=KFold(folds, shuffle=True, random_state=seed),
        n_jobs=n_jobs,
        refit=False,
        verbose=3 if progress else 0,
        error_score=np.nan,
    )
    if out is not None:  # before the long search, not after it
        runs.RunFolder(out).check()
    parallel = n_jobs is not None and n_jobs != 1
    with parallel_config(backend="loky", inner_max_num_threads=1) if parallel else nullcontext():
        cv.fit(x)
    rows = table_rows(cv.cv_results_, list(grid), folds)
    if out is not None:
        Path(out).mkdir(parents=True, exist_ok=True)
        write_csv(rows, Path(out) / RESULTS_FILE)
        if "latent_dim" in grid:
            plot_scores(rows, Path(out) / PLOT_FILE, SCORES[scoring], folds)
    best = {name: cv.best_params_[name] for name in grid}
    model_config, train_config = clone(base).set_params(**best).configs()
    bar = None if progress else False  # the training bar only on a terminal
    model = api.fit(
        dataset, model_config, train_config, data_config=data_config, out=out, progress=bar
    )
    return SearchResult(rows, best, scoring, model, Path(out) if out else None)


def table_rows(results: Mapping[str, Any], names: Sequence[str], folds: int) -> list[Row]:
    """One row per setting from ``GridSearchCV.cv_results_``, sorted by parameter values."""
    rows = []
    for i, params in enumerate(results["params"]):
        row = {name: params[name] for name in names}
        row.update(
            mean=float(results["mean_test_score"][i]),
            std=float(results["std_test_score"][i]),
            rank=int(results["rank_test_score"][i]),
            fit_seconds=float(results["mean_fit_time"][i]),
        )
        row.update(
            {f"fold{j + 1}": float(results[f"split{j}_test_score"][i]) for j in range(folds)}
        )
        rows.append(row)
    return sorted(rows, key=lambda r: [_sort_key(r[name]) for name in names])


def _sort_key(value: Any) -> tuple[bool, Any]:
    return (value is not None, tuple(np.atleast_1d(value)) if value is not None else ())


def show(value: Any) -> str:
    """A parameter value as the CLI spells it: (512, 256) -> 512,256, None -> none."""
    if value is None:
        return "none"
    if isinstance(value, tuple | list):
        return ",".join(str(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def param_names(row: Row) -> list[str]:
    """The parameter columns of a row (the rest are scores and timings)."""
    return [n for n in row if n not in SCORE_COLUMNS and not n.startswith("fold")]


def format_table(rows: Sequence[Row], scoring: str = "elbo") -> str:
    """The rows as a fixed-width text table: parameters, mean +- std (nats), rank, seconds."""
    names = param_names(rows[0])
    head = [*names, f"{SCORES[scoring]} (nats)", "rank", "fit s"]
    body = [
        [*(show(r[n]) for n in names), f"{r['mean']:.2f} ± {r['std']:.2f}", str(r["rank"])]
        + [f"{r['fit_seconds']:.1f}"]
        for r in rows
    ]
    widths = [max(len(line[i]) for line in [head, *body]) for i in range(len(head))]
    lines = [
        "  ".join(c.rjust(w) for c, w in zip(line, widths, strict=True)) for line in [head, *body]
    ]
    return "\n".join(lines)


def write_csv(rows: Sequence[Row], path: Path) -> Path:
    """Write the rows as CSV (parameters as :func:`show` spells them, scores in nats)."""
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=list(rows[0]))
    writer.writeheader()
    for row in rows:
        writer.writerow({key: show(v) if not isinstance(v, float) else v for key, v in row.items()})
    return runs.write_text(path, text.getvalue())


def plot_scores(rows: Sequence[Row], path: Path, label: str, folds: int) -> Path:
    """Mean held-out score (± std over folds) against latent size, one line per other setting."""
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    others = [n for n in param_names(rows[0]) if n != "latent_dim"]
    varying = [n for n in others if len({show(r[n]) for r in rows}) > 1]
    fixed = ", ".join(f"{n}={show(rows[0][n])}" for n in others if n not in varying)
    series: dict[str, list[Row]] = {}
    for row in rows:
        name = ", ".join(f"{n}={show(row[n])}" for n in varying)
        series.setdefault(name or label, []).append(row)
    for name, group in series.items():
        ax.errorbar(
            [r["latent_dim"] for r in group],
            [r["mean"] for r in group],
            yerr=[r["std"] for r in group],
            marker="o",
            capsize=3,
            label=name,
        )
    best = min(rows, key=lambda r: r["rank"])
    ax.plot([best["latent_dim"]], [best["mean"]], "k*", markersize=14, label="best")
    ax.set_xscale("log")
    dims = sorted({r["latent_dim"] for r in rows})
    ax.set_xticks(dims, labels=[str(d) for d in dims])
    ax.minorticks_off()
    ax.set_xlabel("latent size")
    ax.set_ylabel(f"{label} (nats per example)")
    ax.set_title(f"{folds}-fold cross-validation\n{fixed}", fontsize="medium")
    ax.legend(fontsize="small")
    fig.tight_layout()
    return runs.atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))


# -- the command line: ``vaekit search`` ------------------------------------------------------
