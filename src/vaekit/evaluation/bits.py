"""Bits per dimension, reported only where they mean what the literature means.

Bits/dim compare with codecs and published figures only for a discrete likelihood over the
data's own levels: then -log2 P(x) / D is a code length. For a continuous density on data that
lies on L levels k/(L-1) (8-bit data: L = 256, bin width 1/255), the probability of a bin is about
the density at its point times the bin width, so the discretization-corrected figure is

    bits/dim = (nll + D ln(L-1)) / (D ln 2)          (nll = -log p(x) in nats, x in [0, 1])

(Theis et al. 2016, "A note on the evaluation of generative models", Sec. 3.1, with the
data's own bin width instead of 1/256). Anything else (a Bernoulli cross-entropy on grey values,
a density on continuous data) has no bits/dim, and the note says why.
"""

from __future__ import annotations

import math

DISCRETE = ("bernoulli", "discretized-logistic")
CONTINUOUS = ("gaussian", "continuous-bernoulli")


def bits_per_dim(
    nll: float, n_features: int, likelihood: str, kind: str, levels: int | None
) -> dict[str, float | str | None]:
    """``{"bits_per_dim": value or None, "bits_per_dim_note": why}`` for a mean ``nll`` (nats
    per example) of a model with ``likelihood`` on data of ``kind`` with ``levels`` values
    (None: continuous) and ``n_features`` D values per example."""
    d_ln2 = n_features * math.log(2)
    if likelihood == "discretized-logistic" and levels:
        return {
            "bits_per_dim": nll / d_ln2,
            "bits_per_dim_note": f"nll / (D ln 2): a discrete likelihood over the data's "
            f"{levels} levels",
        }
    if likelihood == "bernoulli" and kind == "binary":
        return {
            "bits_per_dim": nll / d_ln2,
            "bits_per_dim_note": "nll / (D ln 2): a discrete likelihood over binary data",
        }
    if likelihood in CONTINUOUS and levels:
        return {
            "bits_per_dim": (nll + n_features * math.log(levels - 1)) / d_ln2,
            "bits_per_dim_note": f"discretization-corrected: (nll + D ln {levels - 1}) / (D ln 2), "
            f"a continuous density at the data's {levels} levels times their bin width "
            f"1/{levels - 1} (an approximation of the bins' probabilities)",
        }
    if likelihood == "bernoulli":
        why = "a Bernoulli cross-entropy on non-binary values is not a distribution of the data"
    else:
        why = f"a {likelihood} density on continuous data gives no code length"
    return {"bits_per_dim": None, "bits_per_dim_note": f"omitted: {why}"}
