"""vaekit: variational autoencoders done right, in PyTorch.

The model is ``torch.distributions`` objects (q(z|x), p(z), p(x|z)); objectives are pure
functions (ELBO, beta-ELBO, IWAE); one training loop; safetensors checkpoints.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vaekit.api import fit, load, save
    from vaekit.coding import compress, decompress
    from vaekit.config import ModelConfig, TrainConfig
    from vaekit.data import DataConfig, Dataset, load_dataset
    from vaekit.errors import (
        CheckpointError,
        ConfigError,
        DataError,
        DataNotFoundError,
        TrainingError,
        VaekitError,
    )
    from vaekit.model.objectives import Terms, elbo, iwae
    from vaekit.model.vae import VAE
    from vaekit.training.loop import train

#: Where each public name lives. They are imported on first use (PEP 562), so ``import vaekit``
#: and ``vaekit --help`` do not pay for torch.
_EXPORTS = {
    "fit": "vaekit.api",
    "load": "vaekit.api",
    "save": "vaekit.api",
    "compress": "vaekit.coding",
    "decompress": "vaekit.coding",
    "ModelConfig": "vaekit.config",
    "TrainConfig": "vaekit.config",
    "DataConfig": "vaekit.data.config",
    "Dataset": "vaekit.data.dataset",
    "load_dataset": "vaekit.data.load",
    "CheckpointError": "vaekit.errors",
    "ConfigError": "vaekit.errors",
    "DataError": "vaekit.errors",
    "DataNotFoundError": "vaekit.errors",
    "TrainingError": "vaekit.errors",
    "VaekitError": "vaekit.errors",
    "Terms": "vaekit.model.objectives",
    "elbo": "vaekit.model.objectives",
    "iwae": "vaekit.model.objectives",
    "VAE": "vaekit.model.vae",
    "train": "vaekit.training.loop",
}


#: Subpackages and modules reachable as attributes (``vaekit.api.read_config``), also imported
#: on first use.
_MODULES = ("api", "config", "data", "errors", "evaluation", "model", "training", "viz", "search")


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return importlib.import_module(f"vaekit.{name}")
    if name not in _EXPORTS:
        raise AttributeError(f"module 'vaekit' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS, *_MODULES])


__version__ = "0.1.0"

__all__ = [
    "VAE",
    "CheckpointError",
    "ConfigError",
    "DataConfig",
    "DataError",
    "DataNotFoundError",
    "Dataset",
    "ModelConfig",
    "Terms",
    "TrainConfig",
    "TrainingError",
    "VaekitError",
    "__version__",
    "compress",
    "decompress",
    "elbo",
    "fit",
    "iwae",
    "load",
    "load_dataset",
    "save",
    "train",
]
