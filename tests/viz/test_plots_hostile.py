"""The vector-data histograms of the report with values at float32's limits: samples of data of
+-3e38 overflow to +-inf, and ``np.histogram_bin_edges`` used to fail on them (exit 1)."""

from __future__ import annotations

import numpy as np
import pytest

from vaekit.viz.plots import marginals_figure, save_figure


def panel_counts(fig) -> list[int]:
    """The number of bars drawn in each visible panel."""
    return [len(ax.patches) for ax in fig.axes if ax.axison]


def test_non_finite_samples_are_left_out_and_named(tmp_path) -> None:
    x = np.array([[3e38, 1.0], [-3e38, 2.0], [3e38, 3.0]], dtype=np.float32)  # (3, 2)
    samples = np.array([[np.inf, 1.5], [-np.inf, np.nan]], dtype=np.float32)  # (2, 2)
    fig = marginals_figure(x, samples)
    assert panel_counts(fig) == [30, 60]  # feature 0: data only; feature 1: data and samples
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["feature 0 (2 non-finite left out)", "feature 1 (1 non-finite left out)"]
    assert save_figure(fig, tmp_path / "m.png").stat().st_size > 0


@pytest.mark.parametrize("value", [3e38, -3e38, 0.0])
def test_a_constant_feature_at_any_scale_gets_bins(value: float) -> None:
    x = np.full((4, 1), value, dtype=np.float32)
    fig = marginals_figure(x, x)
    assert panel_counts(fig) == [60]


def test_a_feature_without_finite_values_is_an_empty_panel() -> None:
    x = np.full((3, 1), np.nan)
    fig = marginals_figure(x, np.full((2, 1), np.inf))
    assert panel_counts(fig) == [0] and "5 non-finite" in fig.axes[0].get_title()
