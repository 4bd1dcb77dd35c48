"""A decision threshold on anomaly scores, set at a chosen false-positive rate on normal data,
and its file in a run folder (``RUN/threshold.json``, written atomically).

An example is an outlier when its score is strictly above the threshold. The threshold is the
order statistic of the normal scores that leaves at most ``fpr`` of them above it, so on the
calibration data the false-positive rate is ``fpr`` (up to ties and rounding of ``fpr * n``), and
on new normal data from the same distribution it is ``fpr`` up to sampling error.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from vaekit import runs
from vaekit.errors import CheckpointError, ConfigError, DataError
from vaekit.evaluation.methods import METHODS

THRESHOLD_FILE = runs.THRESHOLD


@dataclass(frozen=True)
class Threshold:
    """A threshold ``value`` on the scores of ``method`` (with ``k`` samples and ``seed``), set on
    ``n`` examples of the run's ``split`` at false-positive rate ``fpr``."""

    method: str
    k: int
    seed: int
    fpr: float
    value: float
    split: str
    n: int

    def flags(self, scores: np.ndarray) -> np.ndarray:
        """Boolean outlier flags (N,) of ``scores`` (N,): score > value."""
        return np.asarray(scores) > self.value


def calibrate(scores: np.ndarray, fpr: float) -> float:
    """The threshold on normal ``scores`` (N,) above which a fraction ``fpr`` lies: the
    ceil(N (1 - fpr))-th smallest score (the largest one for fpr below 1/N)."""
    if not 0 < fpr < 1:
        raise ConfigError(f"the false-positive rate must lie in (0, 1), got {fpr}")
    s = np.sort(np.asarray(scores, dtype=np.float64).reshape(-1))
    if len(s) == 0:
        raise DataError("no normal examples to set a threshold on")
    if not np.isfinite(s).all():
        bad = int((~np.isfinite(s)).sum())
        raise DataError(
            f"{bad} of the {len(s)} normal examples' scores are not finite: no threshold is set "
            "on them; calibrate on data like the training data"
        )
    j = max(1, math.ceil(len(s) * (1 - fpr) - 1e-9))  # 1-based order statistic
    return float(s[j - 1])


def write(run: str | Path, threshold: Threshold) -> Path:
    """Save ``threshold`` as ``run/threshold.json`` (temp file + fsync + rename)."""
    return runs.RunFolder(run).write_threshold(asdict(threshold))


def read(run: str | Path) -> Threshold | None:
    """The threshold saved in ``run``, or None if there is none."""
    path = Path(run) / THRESHOLD_FILE
    raw = runs.RunFolder(run).threshold()
    if raw is None:
        return None
    threshold: Threshold = runs.checked(Threshold, raw, str(path))
    if threshold.method not in METHODS:
        raise CheckpointError(f"{path}: unknown method {runs.shorten(threshold.method)}")
    if not (0 < threshold.fpr < 1 and threshold.k >= 1 and threshold.n >= 1):
        raise CheckpointError(f"{path}: fpr must lie in (0, 1), and k and n be at least 1")
    return threshold
