"""vaekit: variational autoencoders done right, in PyTorch.

The model is ``torch.distributions`` objects (q(z|x), p(z), p(x|z)); objectives are pure
functions (ELBO, beta-ELBO, IWAE); one training loop; safetensors checkpoints.
"""

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
