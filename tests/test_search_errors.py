"""vaekit.search refuses bad input before any fit (one ConfigError naming the setting), and a fit
that fails or a held-out score that is not finite is one error naming the setting, never a best
chosen among failures."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from vaekit.errors import ConfigError, TrainingError
from vaekit.search import RESULTS_FILE, search
from vaekit.sklearn import VAETransformer

pytestmark = pytest.mark.usefixtures("one_thread")
TINY = {"hidden": (8,), "epochs": 2, "batch_size": 32, "random_state": 0}


@pytest.fixture
def rows(tmp_path: Path) -> Path:
    """(40, 4) real rows: 32 training rows after the default validation and test splits."""
    path = tmp_path / "rows.npy"
    np.save(path, np.random.default_rng(0).normal(size=(40, 4)).astype(np.float32))
    return path


@pytest.fixture
def no_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any fit fails the test: bad input must be refused before the first one."""

    def fit(self: VAETransformer, X: object, y: object = None) -> None:
        raise AssertionError("a fit ran before the input was checked")

    monkeypatch.setattr(VAETransformer, "fit", fit)


BAD = {
    "latent 0": ({"latent_dim": [0]}, {}, "latent_dim must be >= 1, got 0"),
    "latent 0 of two": (
        {"latent_dim": [0, 2]},
        {},
        "latent_dim must be >= 1, got 0 (search setting latent_dim=0)",
    ),
    "beta": ({"beta": [-1.0]}, {}, "beta must be >= 0"),
    "hidden": ({"hidden": [(8,), (8, 0)]}, {}, "(search setting hidden=8,0)"),
    "weight decay": ({"weight_decay": [-1.0]}, {}, "weight_decay must be >= 0"),
    "patience": ({"patience": [None, 0]}, {}, "(search setting patience=0)"),
    "epochs": ({"latent_dim": [2]}, {"epochs": 0}, "epochs must be >= 1, got 0"),
    "batch size": ({"latent_dim": [2]}, {"batch_size": 0}, "batch_size must be >= 1"),
    "lr": ({"latent_dim": [2]}, {"lr": -1.0}, "lr must be > 0"),
    "folds 1": ({"latent_dim": [2]}, {"folds": 1}, "folds must be an integer >= 2, got 1"),
    "folds 0": ({"latent_dim": [2]}, {"folds": 0}, "folds must be an integer >= 2, got 0"),
    "folds > rows": (
        {"latent_dim": [2]},
        {"folds": 33},
        "folds=33 needs at least 33 training examples, and rows.npy has 32",
    ),
    "n_jobs 0": ({"latent_dim": [2]}, {"n_jobs": 0}, "n_jobs must be a nonzero integer"),
    "k 0": ({"latent_dim": [2]}, {"scoring": "loglik", "k": 0}, "k must be an integer >= 1"),
    "scoring": ({"latent_dim": [2]}, {"scoring": "bic"}, "scoring must be one of"),
    "unknown": ({"latent_dims": [2]}, {}, "unknown search parameter latent_dims"),
    "no candidates": ({"latent_dim": []}, {}, "latent_dim: no candidates"),
    "not a list": ({"latent_dim": 2}, {}, "latent_dim: expected a list of candidates"),
}
ESTIMATOR = ("epochs", "batch_size", "lr")


@pytest.mark.parametrize(("grid", "options", "message"), BAD.values(), ids=list(BAD))
@pytest.mark.usefixtures("no_fit")
def test_bad_input_is_one_config_error_before_any_fit(
    rows: Path, tmp_path: Path, grid: dict, options: dict, message: str
) -> None:
    fixed = {name: options.pop(name) for name in ESTIMATOR if name in options}
    estimator = VAETransformer(**(TINY | fixed))
    out = tmp_path / "out"
    kw = {"folds": 2, "n_jobs": 1, **options}
    with pytest.raises(ConfigError, match=re.escape(message)) as caught:
        search(rows, grid, estimator=estimator, out=out, **kw)
    if all(isinstance(v, list) and len(v) <= 1 for v in grid.values()):  # nothing varies
        assert "search setting" not in str(caught.value)
    assert not out.exists()


def test_a_failed_fit_names_its_setting_and_chooses_no_best(rows: Path, tmp_path: Path) -> None:
    estimator = VAETransformer(**(TINY | {"epochs": 3, "lr": 1e30}))  # the loss becomes nan
    out = tmp_path / "out"
    with pytest.raises(TrainingError, match=r"\(search setting latent_dim=1\)$"):
        search(rows, {"latent_dim": [1, 2]}, estimator=estimator, folds=2, n_jobs=1, out=out)
    assert not (out / RESULTS_FILE).exists()


def test_a_score_that_is_not_finite_names_its_setting(
    rows: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def score(self: VAETransformer, X: object, y: object = None) -> float:
        return float("nan") if self.latent_dim == 2 else -1.0

    monkeypatch.setattr(VAETransformer, "score", score)
    out = tmp_path / "out"
    with pytest.raises(TrainingError) as caught:  # warnings are errors: sklearn's stays quiet
        search(rows, {"latent_dim": [1, 2]}, estimator=VAETransformer(**TINY), folds=2,
               n_jobs=1, out=out)  # fmt: skip
    message = str(caught.value)
    assert "held-out ELBO is nan in fold 1 of 2 (search setting latent_dim=2)" in message
    assert "no best setting" in message and not (out / RESULTS_FILE).exists()
