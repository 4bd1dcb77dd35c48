"""VAEOutlierDetector: scikit-learn's estimator checks and IsolationForest's conventions."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from vaekit.sklearn import VAEOutlierDetector

FAST = {"epochs": 2, "hidden": (8,), "latent_dim": 2, "batch_size": 32, "k": 4}

pytestmark = pytest.mark.usefixtures("one_thread")


@parametrize_with_checks([VAEOutlierDetector(**FAST), VAEOutlierDetector(method="elbo", **FAST)])
def test_sklearn_estimator_checks(estimator, check) -> None:
    check(estimator)


def test_an_obvious_outlier_is_predicted_and_scores_lowest() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 6)) * 0.3 + 5.0
    det = VAEOutlierDetector(
        epochs=30, hidden=(32,), latent_dim=2, contamination=0.05, random_state=0
    ).fit(x)
    far = np.full((1, 6), 50.0)
    s = det.score_samples(np.vstack([x[:50], far]))
    assert s.argmin() == 50
    assert det.predict(far)[0] == -1
    assert np.mean(det.predict(x) == -1) == pytest.approx(0.05, abs=0.01)
    np.testing.assert_allclose(
        det.decision_function(x[:10]), det.score_samples(x[:10]) - det.offset_
    )


@pytest.mark.parametrize("bad", [0.0, 0.6, "often"])
def test_bad_contamination_is_refused(bad) -> None:
    with pytest.raises(ValueError, match="contamination"):
        VAEOutlierDetector(contamination=bad, **FAST).fit(np.zeros((10, 3)))
