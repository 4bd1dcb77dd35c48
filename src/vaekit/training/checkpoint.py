"""Checkpoints you can trust: safetensors (no pickle, loading never runs code), JSON metadata,
atomic writes (temp file + rename), so a crash never leaves a half-written file behind.

Two files:
- ``model.safetensors``: the weights, with the resolved config, data shape and kind in its
  metadata; :func:`load_model` needs nothing else.
- ``train_state.safetensors``: everything :func:`vaekit.training.loop.train` needs to resume an
  interrupted run bit-exactly: the current and best weights, the optimizer state, the RNG state
  and history.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file
from torch import Tensor

from vaekit.config import ModelConfig, from_dict, to_dict
from vaekit.errors import CheckpointError
from vaekit.model.vae import VAE

FORMAT = "vaekit/1"
MODEL_FILE = "model.safetensors"
STATE_FILE = "train_state.safetensors"


def atomic_write(path: str | Path, write: Callable[[str], None]) -> None:
    """Call ``write(tmp)`` on a temp file beside ``path``, then rename it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    text = json.dumps(obj, indent=2, sort_keys=False) + "\n"
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def _save_tensors(path: Path, tensors: dict[str, Tensor], meta: dict[str, Any]) -> None:
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    metadata = {"format": FORMAT, **{k: json.dumps(v) for k, v in meta.items()}}
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))


def _read(path: Path) -> tuple[dict[str, Tensor], dict[str, Any]]:
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = f.metadata() or {}
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"checkpoint {path} is unreadable (truncated or corrupt): {e}") from e
    if raw.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a vaekit checkpoint (format {raw.get('format')!r})")
    try:
        meta = {k: json.loads(v) for k, v in raw.items() if k != "format"}
    except json.JSONDecodeError as e:
        raise CheckpointError(f"checkpoint {path} has corrupt metadata: {e}") from e
    return tensors, meta


def model_meta(model: VAE) -> dict[str, Any]:
    return {
        "model": to_dict(model.config),
        "shape": list(model.shape),
        "kind": model.kind,
        "standardized": model.standardized,
        "y_dim": model.y_dim,
    }


def save_model(model: VAE, path: str | Path, extra: dict[str, Any] | None = None) -> Path:
    """Save weights and config to ``path`` (a run folder or a ``.safetensors`` file)."""
    path = Path(path)
    if path.suffix != ".safetensors":
        path = path / MODEL_FILE
    _save_tensors(path, model.state_dict(), {**model_meta(model), **(extra or {})})
    return path


def build_model(meta: dict[str, Any]) -> VAE:
    """An untrained :class:`VAE` with the architecture recorded in checkpoint metadata."""
    try:
        config = from_dict(ModelConfig, meta["model"])
        shape = tuple(meta["shape"])
        placeholder = torch.zeros(shape) if meta.get("standardized") else None
        return VAE(
            config,
            shape,
            meta["kind"],
            loc=placeholder,
            scale=placeholder,
            y_dim=meta.get("y_dim", 0),
        )
    except (KeyError, TypeError) as e:
        raise CheckpointError(f"checkpoint metadata is incomplete: missing {e}") from e


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
    tensors, meta = _read(path)
    model = build_model(meta)
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
    for name, value in info["scalars"].items():
        idx, key = name.split(".", 1)
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
    _save_tensors(Path(path) / STATE_FILE, tensors, meta)


def load_train_state(
    path: str | Path, model: VAE, optimizer: torch.optim.Optimizer
) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Restore model, optimizer and RNG from a run folder; return (best weights, info)."""
    file = Path(path) / STATE_FILE
    tensors, meta = _read(file)
    expected = json.loads(json.dumps(to_dict(model.config)))
    if meta.get("model") != expected or meta.get("shape") != list(model.shape):
        raise CheckpointError(
            f"{file} was written for another model or dataset; resume with the run's own config"
        )
    groups: dict[str, dict[str, Tensor]] = {"model": {}, "best": {}, "optim": {}, "rng": {}}
    for name, value in tensors.items():
        head, _, rest = name.partition(".")
        if head not in groups:
            raise CheckpointError(f"{file} holds an unexpected tensor {name!r}")
        groups[head][name if head == "optim" else rest] = value  # optim names parse whole
    load_state(model, groups["model"], file)
    try:
        optimizer.load_state_dict(_unflatten_optimizer(groups["optim"], meta["optimizer"]))
    except (ValueError, KeyError, RuntimeError) as e:
        raise CheckpointError(f"optimizer state in {file} does not fit: {e}") from e
    torch.set_rng_state(groups["rng"]["cpu"])
    if "cuda" in groups["rng"] and model.device.type == "cuda":
        torch.cuda.set_rng_state(groups["rng"]["cuda"], model.device)
    return {k: v.to(model.device) for k, v in groups["best"].items()}, meta["info"]


def write_jsonl(path: str | Path, records: list[dict[str, Any]]) -> None:
    """Write one JSON object per line, atomically (the whole history, so it always matches the
    training state written beside it)."""
    text = "".join(json.dumps(r) + "\n" for r in records)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))
