"""The errors vaekit raises on bad input: one clear message naming the problem.

Every user-facing path raises a subclass of :class:`VaekitError`; the CLI prints its message on one
line and exits non-zero. They also subclass the matching builtin (``ValueError``,
``FileNotFoundError``) so generic handlers keep working.
"""

from __future__ import annotations


class VaekitError(Exception):
    """Base class of every error vaekit raises deliberately."""


class ConfigError(VaekitError, ValueError):
    """A configuration value is out of range or inconsistent with another."""


class DataError(VaekitError, ValueError):
    """Input data is malformed: wrong shape, NaN/inf, values outside the likelihood's support."""


class DataNotFoundError(VaekitError, FileNotFoundError):
    """A data file or folder is missing (and could not be downloaded)."""


class ChecksumError(VaekitError, ValueError):
    """A downloaded or cached file does not match its known checksum."""


class CheckpointError(VaekitError, ValueError):
    """A checkpoint is missing, truncated, corrupt or incompatible with the model."""


class TrainingError(VaekitError, RuntimeError):
    """Training cannot go on (for example the loss became NaN or infinite)."""


class MissingExtraError(VaekitError, ImportError):
    """A feature needs an optional extra (``pip install 'vaekit[extra]'``) that is not installed."""


class RunExistsError(VaekitError, FileExistsError):
    """A run folder already holds a run, and neither resume nor overwrite was asked for."""


class RunWriteError(VaekitError, OSError):
    """A file of a run could not be written (a full disk, no permission); the old one is kept."""
