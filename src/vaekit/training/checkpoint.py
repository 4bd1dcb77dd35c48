"""Checkpoints you can trust: safetensors (no pickle, loading never runs code), JSON metadata
with a SHA-256 of every tensor, written atomically by :func:`vaekit.runs.atomic_write`.

Two files of a run folder:

- ``model.safetensors``: the weights, with the resolved config, data shape and kind in its
  metadata; :func:`load_model` needs nothing else.
- ``train_state.safetensors``: what :func:`vaekit.training.loop.train` needs to resume a run
  bit-exactly: current and best weights, optimizer and RNG state, history and settings.

Order and resume rule (:func:`save_epoch`, :func:`resume`): the training state first (the commit
point), then the model and metrics.jsonl derived from it, which a resume rewrites: an interrupt
at any instant leaves a run that resumes to the uninterrupted result.

Every file is read as untrusted: the metadata is checked for types and bounds and the model it
describes is built on the ``meta`` device (no memory) and compared with the tensors' shapes in
the file header before anything is allocated; then the checksums (when the file has them: files
of vaekit before checksums load unchecked) and the finiteness of the weights are verified.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file
from torch import Tensor

from vaekit import runs
from vaekit.config import ModelConfig, to_dict
from vaekit.data.dataset import KINDS
from vaekit.errors import CheckpointError, TrainingError, VaekitError
from vaekit.model.vae import VAE

FORMAT = "vaekit/1"
MODEL_FILE, STATE_FILE = runs.MODEL, runs.STATE
MAX_SIDE, MAX_FEATURES, MAX_CLASSES = 1 << 16, 1 << 26, 1 << 16
DTYPES = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64", torch.uint8: "U8"}
OPTIM_KEYS = ("step", "exp_avg", "exp_avg_sq")


def sha256(t: Tensor) -> str:
    """The SHA-256 of a tensor's bytes, as safetensors stores them (little-endian, C order)."""
    raw = t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy()  # no copy
    return hashlib.sha256(memoryview(raw.data)).hexdigest()


def _save(path: Path, tensors: dict[str, Tensor], meta: dict[str, Any]) -> None:
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    meta = {**meta, "sha256": {k: sha256(v) for k, v in tensors.items()}}
    metadata = {"format": FORMAT, **{k: json.dumps(v) for k, v in meta.items()}}
    runs.atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))


@dataclass(frozen=True)
class Header:
    """What a checkpoint file claims, read without loading a tensor."""

    path: Path
    meta: dict[str, Any]
    shapes: dict[str, tuple[int, ...]]
    dtypes: dict[str, str]


def read_header(path: Path) -> Header:
    """The metadata and tensor shapes of a checkpoint, or :class:`CheckpointError`."""
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = f.metadata() or {}
            slices = {k: f.get_slice(k) for k in f.keys()}
            shapes = {k: tuple(s.get_shape()) for k, s in slices.items()}
            dtypes = {k: s.get_dtype() for k, s in slices.items()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(
            f"checkpoint {path} is unreadable (truncated or corrupt): {first}"
        ) from None
    if raw.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a vaekit checkpoint (format {raw.get('format')!r})")
    meta = {k: runs.read_json(path, v) for k, v in raw.items() if k != "format"}
    return Header(path, meta, shapes, dtypes)


def _load(header: Header) -> dict[str, Tensor]:
    """The tensors of a checked header, verified against their checksums, finite."""
    try:
        tensors = load_file(str(header.path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"checkpoint {header.path} is unreadable: {e}") from None
    sums = header.meta.get("sha256")
    if sums is not None:
        if not isinstance(sums, dict) or set(sums) != set(tensors):
            raise CheckpointError(f"{header.path}: the checksums do not list its tensors")
        for name, t in tensors.items():
            if sha256(t) != sums[name]:
                raise CheckpointError(
                    f"{header.path}: tensor {name!r} does not match its SHA-256 (damaged file)"
                )
    for name, t in tensors.items():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise CheckpointError(f"{header.path}: tensor {name!r} holds NaN or infinite values")
    return tensors


def model_meta(model: VAE) -> dict[str, Any]:
    return {
        "model": to_dict(model.config),
        "shape": list(model.shape),
        "kind": model.kind,
        "standardized": model.standardized,
        "y_dim": model.y_dim,
    }


def _int(value: Any, low: int, high: int) -> bool:
    return runs.is_number(value) and isinstance(value, int) and low <= value <= high


def build_model(meta: dict[str, Any], where: str = "checkpoint", device: str = "cpu") -> VAE:
    """An untrained :class:`VAE` with the architecture recorded in checkpoint metadata, every
    field checked first (``device="meta"`` builds it without memory, to compare shapes)."""
    config = runs.checked(ModelConfig, meta.get("model"), f"{where}: model")
    shape, kind, y_dim = meta.get("shape"), meta.get("kind"), meta.get("y_dim", 0)
    standardized = meta.get("standardized", False)
    if (
        not (
            isinstance(shape, list)
            and 1 <= len(shape) <= 3
            and all(_int(s, 1, MAX_SIDE) for s in shape)
        )
        or math.prod(shape) > MAX_FEATURES
    ):
        raise CheckpointError(f"{where}: shape {runs.shorten(shape)} is not a data shape")
    if kind not in KINDS:
        raise CheckpointError(
            f"{where}: unknown kind {runs.shorten(kind)}; known: {', '.join(KINDS)}"
        )
    if not _int(y_dim, 0, MAX_CLASSES):
        raise CheckpointError(f"{where}: y_dim = {runs.shorten(y_dim)} is not a number of classes")
    if not isinstance(standardized, bool):
        raise CheckpointError(f"{where}: standardized must be true or false")
    for key in ("epoch", "best_epoch"):
        if key in meta and not _int(meta[key], 0, runs.LIMITS["epochs"]):
            raise CheckpointError(f"{where}: {key} = {runs.shorten(meta[key])} is not an epoch")
    try:
        with torch.device(device):
            placeholder = torch.zeros(shape) if standardized else None
            return VAE(config, tuple(shape), kind, placeholder, placeholder, y_dim)
    except (VaekitError, ValueError, TypeError, RuntimeError) as e:
        raise CheckpointError(f"{where}: the metadata describes no valid model: {e}") from None


def _fit(header: Header, expected: dict[str, Tensor], prefix: str = "") -> None:
    """Refuse a file whose tensors ``prefix + name`` differ from ``expected`` in name or shape."""
    for name, t in expected.items():
        key = prefix + name
        if key not in header.shapes:
            raise CheckpointError(f"{header.path} lacks the tensor {key!r} of its model")
        if header.shapes[key] != tuple(t.shape) or header.dtypes[key] != DTYPES.get(t.dtype):
            raise CheckpointError(
                f"{header.path}: tensor {key!r} is {header.dtypes[key]} {list(header.shapes[key])}"
                f", its model's is {DTYPES.get(t.dtype)} {list(t.shape)}"
            )


def save_model(model: VAE, path: str | Path, extra: dict[str, Any] | None = None) -> Path:
    """Save weights and config to ``path`` (a run folder or a ``.safetensors`` file)."""
    path = Path(path)
    if path.suffix != ".safetensors":
        path = path / MODEL_FILE
    _save(path, model.state_dict(), {**model_meta(model), **(extra or {})})
    return path


def load_state(model: torch.nn.Module, tensors: dict[str, Tensor], path: Path | str) -> None:
    """Load ``tensors`` into ``model`` strictly, turning mismatches into CheckpointError."""
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0]
        raise CheckpointError(f"checkpoint {path} does not fit this model: {first}") from e


def load_model(path: str | Path, device: str | torch.device = "cpu") -> VAE:
    """Load a model saved by :func:`save_model` (a run folder or a ``.safetensors`` file)."""
    path = Path(path)
    if path.is_dir():
        path = path / MODEL_FILE
    header = read_header(path)
    expected = build_model(header.meta, str(path), device="meta").state_dict()
    _fit(header, expected)
    if set(header.shapes) != set(expected):
        extra = sorted(set(header.shapes) - set(expected))[0]
        raise CheckpointError(f"{path} holds a tensor {extra!r} that its model does not have")
    tensors = _load(header)
    model = build_model(header.meta, str(path))
    load_state(model, tensors, path)
    return model.to(device).eval()


# -- training state ------------------------------------------------------------------------------
def _flatten_optimizer(state: dict[str, Any]) -> tuple[dict[str, Tensor], dict[str, Any]]:
    tensors, scalars = {}, {}
    for idx, entry in state["state"].items():
        for key, value in entry.items():
            if isinstance(value, Tensor):
                tensors[f"optim.{idx}.{key}"] = value
            else:
                scalars[f"{idx}.{key}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _unflatten_optimizer(tensors: dict[str, Tensor], info: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        _, idx, key = name.split(".", 2)
        state.setdefault(int(idx), {})[key] = value
    return {"state": state, "param_groups": info["param_groups"]}


def save_train_state(
    path: str | Path,
    model: VAE,
    best: dict[str, Tensor],
    optimizer: torch.optim.Optimizer,
    info: dict[str, Any],
) -> None:
    """Write the resumable training state of a run folder ``path`` atomically."""
    optim_tensors, optim_info = _flatten_optimizer(optimizer.state_dict())
    tensors = {
        **{f"model.{k}": v for k, v in model.state_dict().items()},
        **{f"best.{k}": v for k, v in best.items()},
        **optim_tensors,
        "rng.cpu": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and model.device.type == "cuda":
        tensors["rng.cuda"] = torch.cuda.get_rng_state(model.device)
    meta = {**model_meta(model), "optimizer": optim_info, "info": info}
    _save(Path(path) / STATE_FILE, tensors, meta)


def _check_info(info: Any, where: str) -> dict[str, Any]:
    """The loop's counters of a training state: epoch >= 0, its history, best and bad epochs."""
    keys = ("epoch", "history", "best_val", "best_epoch", "bad_epochs")
    if not isinstance(info, dict) or any(k not in info for k in keys):
        raise CheckpointError(f"{where}: the training state lacks some of {', '.join(keys)}")
    epoch = info["epoch"]
    if not _int(epoch, 0, runs.LIMITS["epochs"]):
        raise CheckpointError(f"{where}: epoch = {runs.shorten(epoch)} is not an epoch (>= 0)")
    history = runs.check_history(info["history"], where)
    if len(history) != epoch:
        raise CheckpointError(f"{where}: {len(history)} epoch records for epoch {epoch}")
    if not _int(info["best_epoch"], 0, epoch) or not _int(info["bad_epochs"], 0, epoch):
        raise CheckpointError(f"{where}: best_epoch and bad_epochs must lie in 0..{epoch}")
    if not runs.is_number(info["best_val"]) or math.isnan(info["best_val"]):
        raise CheckpointError(f"{where}: best_val must be a number")
    if not isinstance(stop := info.get("stop", False), bool):  # absent in older states
        raise CheckpointError(f"{where}: stop must be true or false")
    return {**info, "history": history, "stop": stop}


def read_state_info(run: str | Path) -> dict[str, Any]:
    """The checked counters of a run's training state (epoch, history, ...), tensors unread."""
    header = read_header(Path(run) / STATE_FILE)
    return _check_info(header.meta.get("info"), str(header.path))


def _check_state(header: Header, model: VAE, optimizer: torch.optim.Optimizer) -> None:
    """Refuse a training state that does not fit ``model`` and ``optimizer`` exactly."""
    where = str(header.path)
    expected_meta = json.loads(json.dumps(model_meta(model)))
    if any(header.meta.get(k) != v for k, v in expected_meta.items()):
        raise CheckpointError(
            f"{where} was written for another model or dataset; resume with the run's own config"
        )
    weights = model.state_dict()
    _fit(header, weights, "model.")
    _fit(header, weights, "best.")
    params = [p for group in optimizer.param_groups for p in group["params"]]
    optim: dict[str, Tensor] = {}
    for idx, p in enumerate(params):
        given = [k for k in OPTIM_KEYS if f"optim.{idx}.{k}" in header.shapes]
        if given and len(given) != len(OPTIM_KEYS):
            raise CheckpointError(f"{where}: the optimizer state of parameter {idx} is partial")
        shapes = {"step": torch.zeros((), dtype=torch.float32, device="meta")}
        optim |= {f"{idx}.{k}": shapes.get(k, p.to("meta")) for k in given}
    _fit(header, optim, "optim.")
    rng = torch.get_rng_state()
    _fit(header, {"cpu": rng}, "rng.")
    known = {f"{h}.{k}" for h in ("model", "best") for k in weights} | {"rng.cpu", "rng.cuda"}
    extra = set(header.shapes) - known - {f"optim.{k}" for k in optim}
    if extra:
        raise CheckpointError(f"{where} holds an unexpected tensor {sorted(extra)[0]!r}")
    saved = header.meta.get("optimizer")
    groups = saved.get("param_groups") if isinstance(saved, dict) else None
    current = optimizer.state_dict()["param_groups"]
    if not isinstance(groups, list) or len(groups) != len(current):
        raise CheckpointError(f"{where}: the optimizer's parameter groups are missing or wrong")
    for got, want in zip(groups, current, strict=True):
        if not isinstance(got, dict) or set(got) != set(want) or got["params"] != want["params"]:
            raise CheckpointError(f"{where}: the optimizer's parameter groups do not fit")
        for key, value in want.items():
            if runs.is_number(value) != runs.is_number(got[key]) or (
                runs.is_number(value) and not math.isfinite(got[key])
            ):
                raise CheckpointError(f"{where}: optimizer setting {key} is not valid")


def load_train_state(
    path: str | Path, model: VAE, optimizer: torch.optim.Optimizer
) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Restore model, optimizer and RNG from a run folder; return (best weights, info)."""
    header = read_header(Path(path) / STATE_FILE)
    info = _check_info(header.meta.get("info"), str(header.path))
    _check_state(header, model, optimizer)
    tensors = _load(header)
    groups: dict[str, dict[str, Tensor]] = {"model": {}, "best": {}, "optim": {}, "rng": {}}
    for name, value in tensors.items():
        head, _, rest = name.partition(".")
        groups[head][name if head == "optim" else rest] = value  # optim names parse whole
    load_state(model, groups["model"], header.path)
    try:
        optimizer.load_state_dict(_unflatten_optimizer(groups["optim"], header.meta["optimizer"]))
    except (ValueError, KeyError, RuntimeError, TypeError) as e:
        raise CheckpointError(f"optimizer state in {header.path} does not fit: {e}") from None
    torch.set_rng_state(groups["rng"]["cpu"])
    if "cuda" in groups["rng"] and model.device.type == "cuda":
        try:
            torch.cuda.set_rng_state(groups["rng"]["cuda"], model.device)
        except RuntimeError as e:
            raise CheckpointError(f"{header.path}: the CUDA RNG state does not fit: {e}") from None
    return {k: v.to(model.device) for k, v in groups["best"].items()}, info


# -- the per-epoch save and the resume rule ------------------------------------------------------
#: the loop's counters saved with each epoch (after an early stop, a resume trains no further)
COUNTERS = ("epoch", "history", "best_val", "best_epoch", "bad_epochs", "stop")


def save_epoch(out: Path, state: Any, best: dict[str, Tensor]) -> None:
    """Save a finished epoch of the loop's ``state``: the training state first (the commit
    point a resume starts from), then the model and metrics.jsonl, which derive from it."""
    info = {key: getattr(state, key) for key in COUNTERS}
    info["train"] = _own_settings(state.config)
    save_train_state(out, state.model, best, state.optimizer, info)
    save_model(state.model, out, {"epoch": state.epoch})
    runs.RunFolder(out).write_history(state.history)


def resume(out: Path | None, state: Any) -> dict[str, Tensor]:
    """Restore the loop's ``state`` from the training state in ``out``; return the best weights.

    The model and metrics.jsonl are rewritten from the state (by rank 0): an interrupt may have
    come after the state was saved and before them, and a resume with nothing left to train must
    still leave the model of the last epoch.
    """
    from vaekit.training import distributed

    if out is None or not (Path(out) / STATE_FILE).is_file():
        raise TrainingError(
            f"nothing to resume: no {STATE_FILE} in {out} (no epoch was saved); "
            "start the run again with --overwrite"
        )
    best, info = load_train_state(out, state.model, state.optimizer)
    _check_settings(info.get("train"), state.config, Path(out) / STATE_FILE)
    for key in COUNTERS:
        setattr(state, key, info[key])
    if distributed.is_main():
        save_model(state.model, out, {"epoch": state.epoch})
        runs.RunFolder(out).write_history(state.history)
    return best


def _own_settings(config: Any) -> dict[str, Any]:
    """The settings that make a run this run: all but ``epochs`` (a resume may extend it) and
    ``device``, as JSON values."""
    own = {k: v for k, v in to_dict(config).items() if k not in ("epochs", "device")}
    return dict(json.loads(json.dumps(own)))


def _check_settings(saved: Any, config: Any, where: Path) -> None:
    """Refuse a training state trained with other settings (one copied from another run); a
    state of vaekit before the settings were saved passes unchecked."""
    own = _own_settings(config)
    if saved is not None and saved != own:
        saved = saved if isinstance(saved, dict) else {}
        key = sorted(k for k in {*own, *saved} if saved.get(k) != own.get(k))[0]
        got = runs.shorten(saved.get(key))
        raise CheckpointError(
            f"{where} belongs to another run: trained with {key} = {got}, this run's "
            f"config.json says {runs.shorten(own.get(key))}"
        )
