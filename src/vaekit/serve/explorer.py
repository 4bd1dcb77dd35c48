"""What the explorer serves, without the web: one trained model, its run folder and test examples.

:class:`Explorer` calls the model's public methods (``encode``, ``decode``, ``sample``,
``interpolate``) under one lock, so concurrent requests never interleave inside torch (the
seeded sampler forks the global RNG), and precomputes the latent map and the model card once.
The model is put in eval mode with its parameters frozen: nothing a request sends can change it.
"""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from vaekit import api
from vaekit.data import Dataset, load_dataset
from vaekit.data.images import checked_image
from vaekit.data.images import pixels as read_pixels
from vaekit.errors import DataError
from vaekit.evaluation import diagnostics
from vaekit.model.vae import VAE
from vaekit.runs import RunFolder
from vaekit.viz import report

MAX_POINTS = 2000  # test examples on the latent map (a fixed random subset of larger splits)
MAX_SLIDERS = 16


class Explorer:
    """A read-only view of a trained ``model`` with the test examples of ``data``.

    ``config``: the run's config.json; ``history``: its metrics.jsonl records; ``evaluation``: its
    evaluation.json, if any.
    """

    def __init__(
        self,
        model: VAE,
        data: Dataset,
        config: dict[str, Any],
        history: list[dict[str, Any]],
        evaluation: dict[str, Any] | None = None,
    ) -> None:
        self.model = model.eval().requires_grad_(False)
        self.lock = threading.Lock()
        self.classes = model.y_dim  # 0: unconditional; else labels 0..classes-1
        split, x, y = report.held_out(data)
        keep = np.sort(np.random.default_rng(0).permutation(len(x))[:MAX_POINTS])
        self.split, self.x = split, x[keep]  # (N, *shape)
        self.y = None if y is None else y[keep]  # (N,)
        y = self.y if self.classes else None  # a conditional encoder reads labels
        self.z = self.model.encode(self.x, y=y).cpu().numpy()  # (N, L)
        self.view = diagnostics.projection(self.z)
        # Cov_x(E_q[z_u]) as in diagnostics.unit_activity, from the means already at hand
        activity = self.z.var(axis=0)  # (L,)
        from vaekit.viz.plots import display_range, is_image

        self._card = {
            "name": data.name,
            "shape": list(model.shape),
            "kind": model.kind,
            "image": is_image(model.shape),
            "latent_dim": model.config.latent_dim,
            "classes": self.classes,
            "class_names": list(data.classes) if data.classes else None,
            "display_range": list(display_range(self.x)),
            "sliders": [int(u) for u in np.argsort(-activity, kind="stable")[:MAX_SLIDERS]],
            "activity": activity.tolist(),
            "config": config,
            "history": history,
            "evaluation": evaluation,
        }

    @classmethod
    def open(cls, run: str | Path, device: str = "cpu") -> Explorer:
        """The explorer of a run folder written by ``vaekit train`` (its own test split)."""
        folder = RunFolder(run)
        saved = folder.config()
        return cls(
            api.load(run, device),
            load_dataset(saved["data"]),
            saved["raw"],
            folder.history(),
            folder.evaluation(),
        )

    # -- precomputed views ---------------------------------------------------------------------
    def card(self) -> dict[str, Any]:
        """The model card: data, latent size, slider order, config, training curves, metrics."""
        return self._card

    def latent_map(self) -> dict[str, Any]:
        """The test examples' latent means projected to 2-D, their labels, and the way back."""
        points = self.view.points(self.z)  # (N, 2)
        if self.z.shape[1] == 1:  # spread the 1-D map vertically so the points can be seen
            points[:, 1] = np.random.default_rng(0).uniform(-0.5, 0.5, len(points))
        return {
            "points": points.tolist(),
            "labels": None if self.y is None else self.y.tolist(),
            "title": f"{self.view.title}, {self.split} split",
            "axes": list(self.view.axes),
            "mean": self.view.mean.tolist(),
            "basis": self.view.basis.tolist(),
            "split": self.split,
        }

    def example(self, index: int) -> dict[str, Any] | None:
        """Test example ``index`` of the map (its x, z and label), or None out of range."""
        if not 0 <= index < len(self.x):
            return None
        label = None if self.y is None else int(self.y[index])
        return {
            "index": index,
            "x": self.x[index].flatten().tolist(),
            "z": self.z[index].tolist(),
            "label": label,
            "score": self.score(
                self.x[index : index + 1].flatten(1).numpy(), label if self.classes else None
            )[0],
            "score_method": self.score_method,
        }

    @property
    def score_method(self) -> str:
        """The anomaly score shown beside examples: the default method for this model."""
        from vaekit.evaluation.scores import DEFAULT_METHOD, resolve

        return resolve(self.model, DEFAULT_METHOD)

    def score(self, x: list[list[float]] | np.ndarray, label: int | None = None) -> list[float]:
        """``model.score``: anomaly scores (N,) of flat examples (N, prod(shape)), higher = more
        anomalous (:attr:`score_method`)."""
        with self.lock:
            s = self.model.score(matrix(x, "x"), self.score_method, **self._y(label))
        return finite(s).tolist()

    # -- the model's methods, serialised ---------------------------------------------------------
    def decode(self, z: list[list[float]], label: int | None = None) -> Tensor:
        """``model.decode``: (N, L) -> (N, *shape)."""
        with self.lock:
            return finite(self.model.decode(matrix(z, "z"), **self._y(label)))

    def encode(self, x: list[list[float]] | np.ndarray, label: int | None = None) -> Tensor:
        """``model.encode``: posterior means (N, L) of flat examples (N, prod(shape))."""
        with self.lock:
            return finite(self.model.encode(matrix(x, "x"), **self._y(label)))

    def sample(self, n: int, seed: int, label: int | None = None) -> Tensor:
        """``model.sample``: n examples (n, *shape), repeatable for a seed."""
        with self.lock:
            return finite(self.model.sample(n, seed=seed, **self._y(label)))

    def interpolate(self, a: int, b: int, steps: int) -> Tensor:
        """``model.interpolate`` between map examples ``a`` and ``b``, (steps, *shape)."""
        for index in (a, b):
            if not 0 <= index < len(self.x):
                raise DataError(f"example {index} is out of range: the map has {len(self.x)}")
        labels = {}
        if self.classes and self.y is not None:  # a conditional model moves between the labels
            labels = {"y_a": int(self.y[a]), "y_b": int(self.y[b])}
        with self.lock:
            return finite(self.model.interpolate(self.x[a], self.x[b], steps, **labels))

    def image_to_x(self, data: bytes) -> np.ndarray:
        """A PNG of the model's size -> one example (1, prod(shape)) in data units.

        Read like an image file of a folder (:func:`vaekit.data.images.checked_image`): Pillow's
        decoders of image formats only, at most 2^26 pixels by the header, warnings refused.

        Pixels in [0, 1] are mapped onto the data's display range, and rounded for binary data.
        """
        if not self._card["image"]:
            raise DataError("this model's data are vectors, not images: send x to /api/encode")
        shape = self.model.shape
        channels, (h, w) = (shape[0] if len(shape) == 3 else 1), shape[-2:]
        with checked_image(io.BytesIO(data), "the upload") as im:  # bombs, warnings: a 422
            if im.format != "PNG":
                raise DataError(f"expected a PNG image, got {im.format}")
            a = read_pixels(im, where="the upload")  # as an image file of a folder is read
        if a.shape[:2] != (h, w):
            raise DataError(f"the image is {a.shape[1]}x{a.shape[0]}, the model's is {w}x{h}")
        if channels == 1 and a.ndim == 3:
            a = np.asarray(Image.fromarray(a).convert("L"))
        elif channels == 3 and a.ndim == 2:
            a = np.repeat(a[..., None], 3, axis=-1)
        pixels = a.astype(np.float32) / 255
        if channels == 3:
            pixels = pixels.transpose(2, 0, 1)  # (3, H, W)
        lo, hi = self._card["display_range"]
        x = lo + pixels * (hi - lo)
        if self.model.kind == "binary":
            x = x.round()
        elif self.model.config.levels:  # a discretized likelihood: snap to the data's levels
            n = self.model.config.levels - 1
            x = np.clip(np.round(x * n) / n, 0, 1)
        return x.reshape(1, -1)

    def _y(self, label: int | None) -> dict[str, Any]:
        """The ``y=`` keyword of the model's methods: only for a conditional model, checked."""
        if self.classes == 0:
            if label is not None:
                raise DataError("this model is unconditional: it takes no label")
            return {}
        if label is None:
            raise DataError(f"this model is conditional: give a label in 0..{self.classes - 1}")
        if not 0 <= label < self.classes:
            raise DataError(f"label must be in 0..{self.classes - 1}, got {label}")
        return {"y": label}


def matrix(rows: list[list[float]] | np.ndarray, name: str) -> np.ndarray:
    """Rows of numbers as a float32 array (N, D), or a :class:`DataError` if they are ragged."""
    if len({len(row) for row in rows}) > 1:
        raise DataError(f"the rows of {name} must all have the same length")
    return np.asarray(rows, np.float32)


def finite(t: Tensor) -> Tensor:
    """``t``, or a :class:`DataError` if the model produced NaN or infinite values."""
    if not torch.isfinite(t).all():
        raise DataError("the model produced NaN or infinite values for this input")
    return t
