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

import copy
import csv
import functools
import io
import math
import multiprocessing
import os
import threading
import warnings
from collections.abc import Iterable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from joblib import parallel_config
from matplotlib.figure import Figure
from sklearn.base import BaseEstimator, clone
from sklearn.model_selection import GridSearchCV, KFold, ParameterGrid
from tqdm import tqdm

from vaekit import api, runs
from vaekit.data import DataConfig, Dataset
from vaekit.errors import ConfigError, TrainingError, VaekitError
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


def loglik_score(estimator: Any, x: np.ndarray, y: Any = None, *, k: int) -> float:
    """Scorer: mean importance-sampled log p(x) per example of ``x`` (nats), ``k`` samples."""
    return float(estimator.log_likelihood(x, k=k).mean())


class Candidate(BaseEstimator):
    """One setting of a search: fits a clone of ``estimator``, whose parameters it takes under
    their own names (``latent_dim``, as the grid names them), so that a fit that fails raises its
    vaekit error once, naming the setting by the parameters ``searched``."""

    def __init__(self, estimator: Any = None, searched: tuple[str, ...] = ()) -> None:
        self.estimator = estimator
        self.searched = searched

    def set_params(self, **params: Any) -> Candidate:
        own = {name: params.pop(name) for name in ("estimator", "searched") if name in params}
        super().set_params(**own)
        if params:  # the setting: the estimator's own parameters
            self.estimator.set_params(**params)
        return self

    def fit(self, x: Any, y: Any = None) -> Candidate:
        """Fit a clone of the estimator on ``x``; a vaekit error names the setting."""
        if multiprocessing.parent_process() is not None:
            # a worker: tqdm's own lock is a semaphore shared between processes, which the
            # resource tracker reports as leaked when a failed fit stops the other workers
            tqdm.set_lock(threading.RLock())
        self.fitted_ = clone(self.estimator)
        try:
            self.fitted_.fit(x)
        except VaekitError as e:
            where = in_setting(self.estimator.get_params(), self.searched)
            raise reworded(e, f"{e}{where or ' (in a cross-validation fit)'}") from e
        return self

    def score(self, x: Any, y: Any = None) -> float:
        return float(self.fitted_.score(x))

    def log_likelihood(self, x: Any, k: int = 100) -> np.ndarray:
        return np.asarray(self.fitted_.log_likelihood(x, k=k))


def in_setting(params: Mapping[str, Any], names: Sequence[str]) -> str:
    """`` (search setting latent_dim=2 beta=0.5)``: the values of ``names`` in ``params`` as
    :func:`show` spells them, for an error message; empty without names."""
    values = " ".join(f"{name}={show(params[name])}" for name in names)
    return f" (search setting {values})" if values else ""


def reworded(e: VaekitError, message: str) -> VaekitError:
    """A copy of the error ``e`` (same class) that says ``message``."""
    new = copy.copy(e)
    new.args = (message,)
    return new


def check_grid(base: Any, grid: Mapping[str, Iterable[Any]]) -> dict[str, list[Any]]:
    """``grid`` as lists of candidates, every setting checked before any fit: each is built
    into the configs it stands for, whose own checks refuse a bad value. :class:`ConfigError`
    for an unknown parameter, no candidates, or a setting refused (named when it varies)."""
    known = base.get_params()
    unknown = sorted(set(grid) - set(known))
    if unknown:
        raise ConfigError(
            f"unknown search parameter {', '.join(unknown)}; the estimator's parameters are "
            f"{', '.join(sorted(known))}"
        )
    lists: dict[str, list[Any]] = {}
    for name, values in grid.items():
        if isinstance(values, str | bytes | Mapping) or not isinstance(values, Iterable):
            raise ConfigError(f"{name}: expected a list of candidates, got {values!r}")
        lists[name] = list(values)
        if not lists[name]:
            raise ConfigError(f"{name}: no candidates to search")
    varying = [name for name, values in lists.items() if len(values) > 1]
    for point in ParameterGrid(lists):
        try:
            clone(base).set_params(**point).configs()
        except (ValueError, TypeError) as e:  # a ConfigError, or a value of a wrong type
            raise ConfigError(f"{e}{in_setting(point, varying)}") from None
    return lists


def check_options(scoring: str, folds: Any, k: Any, n_jobs: Any) -> None:
    """:class:`ConfigError` for a scoring, number of folds (>= 2), of importance samples ``k``
    (>= 1) or of parallel jobs (an integer but 0, or None) the search cannot use."""
    if scoring not in SCORES:
        raise ConfigError(f"scoring must be one of {sorted(SCORES)}, got {scoring!r}")
    for name, value, least in (("folds", folds, 2), ("k", k, 1)):
        if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < least:
            raise ConfigError(f"{name} must be an integer >= {least}, got {value!r}")
    if n_jobs is not None and (
        not isinstance(n_jobs, int | np.integer) or isinstance(n_jobs, bool) or n_jobs == 0
    ):
        raise ConfigError(f"n_jobs must be a nonzero integer (-1: all cores), got {n_jobs!r}")


def check_scores(rows: Sequence[Row], names: Sequence[str], scoring: str, folds: int) -> None:
    """:class:`TrainingError` naming the first setting with a held-out score that is not finite
    (no best setting can be chosen among them)."""
    for row in rows:
        scores = [row[f"fold{j + 1}"] for j in range(folds)]
        bad = [j for j, value in enumerate(scores) if not math.isfinite(value)]
        if bad:
            raise TrainingError(
                f"the held-out {SCORES[scoring]} is {scores[bad[0]]} in fold {bad[0] + 1} of "
                f"{folds}{in_setting(row, names) or ' (in a cross-validation fit)'}: "
                "no best setting can be chosen; change or drop that setting"
            )


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

    Every setting is checked before any fit (:func:`check_grid`), and ``folds`` against the
    number of training rows: bad input is one :class:`~vaekit.errors.ConfigError`. A fit that
    fails raises its error naming the setting, and a held-out score that is not finite a
    :class:`~vaekit.errors.TrainingError` (:func:`check_scores`): no best is chosen among them.
    """
    check_options(scoring, folds, k, n_jobs)
    base = estimator if estimator is not None else VAETransformer(random_state=seed)
    lists = check_grid(base, grid)
    dataset, data_config = api.as_dataset(data, data_config)
    x = dataset.x_train.flatten(1).numpy()  # (N, D), the data's own units
    if folds > len(x):
        raise ConfigError(
            f"folds={folds} needs at least {folds} training examples, and {dataset.name} has "
            f"{len(x)}"
        )
    varying = tuple(name for name, values in lists.items() if len(values) > 1)
    cv = GridSearchCV(
        Candidate(base, varying),
        lists,
        scoring=functools.partial(loglik_score, k=k) if scoring == "loglik" else None,
        cv=KFold(folds, shuffle=True, random_state=seed),
        n_jobs=n_jobs,
        refit=False,
        verbose=3 if progress else 0,
        error_score="raise",
    )
    if out is not None:  # before the long search, not after it
        runs.RunFolder(out).check()
    parallel = n_jobs is not None and n_jobs != 1
    if parallel:  # loky's tracker process (it inherits this) warns of a stopped worker's lock
        quiet = "ignore::UserWarning:joblib.externals.loky.backend.resource_tracker"
        os.environ.setdefault("PYTHONWARNINGS", quiet)
    with parallel_config(backend="loky", inner_max_num_threads=1) if parallel else nullcontext():
        with warnings.catch_warnings():  # check_scores says it, naming the setting
            warnings.filterwarnings("ignore", "One or more of the test scores are non-finite")
            cv.fit(x)
    rows = table_rows(cv.cv_results_, list(grid), folds)
    check_scores(rows, varying, scoring, folds)
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
