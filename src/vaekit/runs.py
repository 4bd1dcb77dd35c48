"""The run folder: one module owns its file names, its atomic writers and its readers.

A run folder (``vaekit train --out RUN``) holds:

- ``config.json``: the resolved model, train and data configs (:meth:`RunFolder.config`);
- ``metrics.jsonl``: one record per epoch (:meth:`RunFolder.history`), keys ``epoch``,
  ``train_elbo``, ``train_log_px_z``, ``train_kl_z``, ``val_*`` alike, ``beta``, ``seconds``;
- ``model.safetensors`` and ``train_state.safetensors``: see :mod:`vaekit.training.checkpoint`;
- ``evaluation.json`` (``vaekit evaluate``), ``report.html`` and its pictures (``*.png``);
- ``tensorboard/``: the events of ``vaekit train --log tensorboard`` without ``--log-dir``;
- ``README.md`` and ``training_curves.png``: the model card (``vaekit.save``, after training);
- outputs of the commands, when no ``--out`` is given (``samples_n16_seed0.png``, ...).

Every file is written by :func:`atomic_write`: a temp file beside it, fsync, rename, fsync of the
folder, with the user's umask; a failed write (a full disk) raises :class:`RunWriteError` and
leaves the previous file whole. Every file is read as untrusted input: anything malformed is a
:class:`CheckpointError` naming the file, never another exception.

Test hook: ``VAEKIT_FAULT_AT=FILE:STAGE:N[:SIGNAL]`` sends SIGNAL (KILL, INT or TERM; default KILL)
to this process at the N-th time :func:`atomic_write` reaches STAGE (``open``, ``written``,
``renamed``, ``synced``) of a file named FILE; ``tests/test_faults.py`` kills trainings so.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vaekit.checks import LIMITS, checked, is_number, shorten  # noqa: F401 (runs.checked, ...)
from vaekit.errors import CheckpointError, RunExistsError, RunWriteError

CONFIG = "config.json"
METRICS = "metrics.jsonl"
MODEL = "model.safetensors"
STATE = "train_state.safetensors"
EVALUATION = "evaluation.json"
REPORT = "report.html"
THRESHOLD = "threshold.json"  #: an anomaly-score threshold (vaekit.evaluation.threshold)
#: the report's pictures (drawn by :func:`vaekit.viz.report.draw_pictures`)
PICTURES: tuple[str, ...] = ("loss_curves.png", "samples.png", "reconstructions.png")
PICTURES += ("latent_map.png", "manifold.png")
RUN_FILES = (CONFIG, METRICS, MODEL, STATE, EVALUATION, REPORT, THRESHOLD)
TENSORBOARD = "tensorboard"  #: the run's TensorBoard folder (vaekit.training.tracking)
CARD, CURVES = "README.md", "training_curves.png"  #: the model card (vaekit.viz.model_card)
#: what the commands write into a run by default (sample, encode, reconstruct, interpolate, score)
OUTPUTS: tuple[str, ...] = ("z_*.npy", "samples_n*_seed*.*", "reconstructions_*.*")
OUTPUTS += ("interpolate_*.*", "scores_*.csv")
TEMP_PREFIX, TEMP_SUFFIX = ".vaekit-", ".tmp"
MAX_JSON_BYTES = 64 * 2**20  # config, metrics and evaluation files are kilobytes
#: the names older runs gave these quantities: read as the math names, never written
RENAMED = {"train_kl": "train_kl_z", "val_kl": "val_kl_z", "kl": "kl_z"}

_hits: Counter[str] = Counter()


def _fault(name: str, stage: str) -> None:
    """The test hook of the module docstring: signal this process at a chosen write point."""
    spec = os.environ.get("VAEKIT_FAULT_AT")
    if not spec:
        return
    file, at, n, *sig = spec.split(":")
    if (file, at) != (name, stage):
        return
    _hits[stage] += 1
    if _hits[stage] == int(n):
        os.kill(os.getpid(), getattr(signal, f"SIG{sig[0] if sig else 'KILL'}"))


def _mode() -> int:
    """The mode a new file gets under the user's umask (0644 for the usual 022). Python before
    3.13 reads the umask only by setting it: restored at once."""
    mask = os.umask(0o22)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write(path: str | Path, write: Callable[[str], object]) -> Path:
    """Call ``write(tmp)`` on a temp file beside ``path``, fsync it, rename it over ``path`` and
    fsync the folder: ``path`` holds the old bytes or the new ones, never a mixture. A failure
    (a full disk) removes the temp file and raises :class:`RunWriteError`."""
    from safetensors import SafetensorError

    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            dir=path.parent, prefix=f"{TEMP_PREFIX}{path.name}.", suffix=TEMP_SUFFIX
        )
    except OSError as e:
        raise RunWriteError(f"could not write {path}: {e.strerror or e}") from e
    try:
        os.close(fd)
        _fault(path.name, "open")
        write(tmp)
        os.chmod(tmp, _mode())  # after writing: a writer may have made the file anew
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        _fault(path.name, "written")
        os.replace(tmp, path)
        _fault(path.name, "renamed")
        _fsync_folder(path.parent)
        _fault(path.name, "synced")
    except (OSError, SafetensorError) as e:
        Path(tmp).unlink(missing_ok=True)
        reason = getattr(e, "strerror", None) or str(e)
        raise RunWriteError(f"could not write {path}: {reason}; the previous file is kept") from e
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def write_json(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    return write_text(path, json.dumps(obj, indent=2) + "\n")


def read_json(path: str | Path, text: str | None = None) -> Any:
    """The JSON value of a file (or of ``text`` read from it), or :class:`CheckpointError`."""
    path = Path(path)
    try:
        if text is None:
            if path.stat().st_size > MAX_JSON_BYTES:
                raise CheckpointError(f"{path} is larger than {MAX_JSON_BYTES >> 20} MB")
            text = path.read_bytes().decode("utf-8")
        return json.loads(text)
    except UnicodeDecodeError:
        raise CheckpointError(f"{path} is not a readable JSON file: not UTF-8 text") from None
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path} is not a readable JSON file: {e}") from None
    except RecursionError:
        raise CheckpointError(f"{path} is not a readable JSON file: nested too deeply") from None
    except ValueError as e:  # an integer of over 4300 digits
        reason = str(e).split(";")[0]
        raise CheckpointError(f"{path} is not a readable JSON file: {reason}") from None
    except OSError as e:
        raise CheckpointError(f"cannot read {path}: {e.strerror or e}") from None


def canonical(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` with the current names of its quantities (old ``train_kl``: ``train_kl_z``)."""
    return {RENAMED.get(k, k): v for k, v in record.items()}


def check_record(record: Any, where: str) -> dict[str, Any]:
    """One epoch record: a JSON object with an integer ``epoch`` >= 1 and numeric values."""
    if not isinstance(record, dict):
        raise CheckpointError(f"{where}: an epoch record must be a JSON object")
    record = canonical(record)
    epoch = record.get("epoch")
    if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 1:
        raise CheckpointError(f"{where}: epoch must be an integer >= 1, got {epoch!r}")
    for key in ("train_elbo", "seconds"):
        if key not in record:
            raise CheckpointError(f"{where}: the record of epoch {epoch} has no {key}")
    bad = [k for k, v in record.items() if not is_number(v)]
    if bad:
        raise CheckpointError(f"{where}: {bad[0]} of epoch {epoch} is not a number")
    return record


def check_history(records: Any, where: str) -> list[dict[str, Any]]:
    """Epoch records numbered 1, 2, ..., as metrics.jsonl and the training state hold them."""
    if not isinstance(records, list):
        raise CheckpointError(f"{where}: the history must be a list of epoch records")
    history = [check_record(r, where) for r in records]
    if [r["epoch"] for r in history] != list(range(1, len(history) + 1)):
        raise CheckpointError(f"{where}: the epochs are not numbered 1, 2, ...")
    return history


@dataclass(frozen=True)
class Summary:
    """The final and the best epoch of a history, by ``score`` (val_elbo, else train_elbo)."""

    last: dict[str, Any]
    best: dict[str, Any]
    score: str
    seconds: float  #: training time, summed over the epochs


def summarize(history: Sequence[dict[str, Any]]) -> Summary | None:
    """The :class:`Summary` of ``history`` (None when it is empty): the one best-epoch rule."""
    if not history:
        return None
    last = history[-1]
    score = "val_elbo" if "val_elbo" in last else "train_elbo"
    best = max(history, key=lambda r: r.get(score, -math.inf))
    return Summary(last, best, score, float(sum(r["seconds"] for r in history)))


class RunFolder:
    """A run folder at ``path``: the paths of its files, their writers and readers."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    # -- state of the folder --------------------------------------------------------------------
    def holds_run(self) -> bool:
        """Whether a vaekit run lives here (any of its files)."""
        return any((self.path / name).exists() for name in RUN_FILES)

    def clean(self) -> None:
        """Remove the temp files that a killed write left behind."""
        if not self.path.is_dir():
            return
        older = [f".{name}.*{TEMP_SUFFIX}" for name in RUN_FILES]  # vaekit before this module
        for pattern in (f"{TEMP_PREFIX}*{TEMP_SUFFIX}", *older):
            for tmp in self.path.glob(pattern):
                tmp.unlink(missing_ok=True)

    def remove(self) -> None:
        """Remove the run's files, its evaluation, pictures, model card, TensorBoard folder and
        what the commands wrote into it by default; others stay."""
        for name in (*RUN_FILES, *PICTURES, CARD, CURVES):
            (self.path / name).unlink(missing_ok=True)
        for old in (f for pattern in OUTPUTS for f in self.path.glob(pattern)):
            if old.is_file() and not old.is_symlink():
                old.unlink()
        if (events := self.path / TENSORBOARD).is_dir() and not events.is_symlink():
            shutil.rmtree(events)  # (a link is left: what it points to is not the run's)
        self.clean()

    def check(self, resume: bool = False, overwrite: bool = False) -> None:
        """Refuse to train here unless the folder holds a run to ``resume``, or holds none, or
        ``overwrite`` is asked for (:class:`RunExistsError` names both ways out)."""
        if resume and overwrite:
            raise RunExistsError("choose one of --resume (resume=True) and --overwrite")
        if resume and not (self.path / CONFIG).is_file():
            raise CheckpointError(
                f"nothing to resume: {self.path} is not a vaekit run folder (no {CONFIG})"
            )
        if not resume and not overwrite and self.holds_run():
            raise RunExistsError(
                f"{self.path} already holds a vaekit run: continue it with --resume or "
                "replace it with --overwrite (in Python: resume=True or overwrite=True)"
            )

    def prepare(self, resume: bool = False, overwrite: bool = False) -> None:
        """:meth:`check`, then make the folder, remove the old run on ``overwrite`` and the temp
        files of killed writes."""
        self.check(resume, overwrite)
        if overwrite:
            self.remove()
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise RunWriteError(f"cannot create the run folder {self.path}: {e.strerror}") from e
        self.clean()

    def config(self) -> dict[str, Any]:
        """``{"model": ModelConfig, "train": TrainConfig, "data": DataConfig, "raw": dict}``
        from config.json, each field checked for its type and bounds."""
        from vaekit.config import ModelConfig, TrainConfig
        from vaekit.data import DataConfig

        path = self.path / CONFIG
        if not path.is_file():
            raise CheckpointError(f"{self.path} is not a vaekit run folder (no {CONFIG})")
        raw = read_json(path)
        if not isinstance(raw, dict) or not isinstance(raw.get("dataset", {}), dict):
            raise CheckpointError(f"{path} must hold a JSON object of JSON objects")
        for key in ("columns", "classes"):  # feature and class names (vaekit.api.dataset_names)
            names = raw.get("dataset", {}).get(key)
            if names is not None and not (
                isinstance(names, list) and all(isinstance(n, str) for n in names)
            ):
                raise CheckpointError(f"{path}: dataset.{key} must be a list of names")
        sections = {"model": ModelConfig, "train": TrainConfig, "data": DataConfig}
        configs = {
            key: checked(cls, raw.get(key), f"{path}: {key}") for key, cls in sections.items()
        }
        return {**configs, "raw": raw}

    def history(self) -> list[dict[str, Any]]:
        """The epoch records of metrics.jsonl (empty when there is none)."""
        path = self.path / METRICS
        if not path.is_file():
            return []
        if path.stat().st_size > MAX_JSON_BYTES:
            raise CheckpointError(f"{path} is larger than {MAX_JSON_BYTES >> 20} MB")
        try:
            lines = path.read_bytes().decode("utf-8").splitlines()
        except UnicodeDecodeError:
            raise CheckpointError(f"{path} is not UTF-8 text") from None
        records = [read_json(path, line) for line in lines if line.strip()]
        return check_history(records, str(path))

    def evaluation(self) -> dict[str, Any] | None:
        """evaluation.json as ``vaekit evaluate`` wrote it, or None."""
        result = self._json_object(EVALUATION)
        return None if result is None else canonical(result)

    def threshold(self) -> dict[str, Any] | None:
        """threshold.json as ``vaekit score --calibrate`` wrote it, or None."""
        return self._json_object(THRESHOLD)

    def _json_object(self, name: str) -> dict[str, Any] | None:
        path = self.path / name
        if not path.is_file():
            return None
        value = read_json(path)
        if not isinstance(value, dict):
            raise CheckpointError(f"{path} must hold a JSON object")
        return value

    def saved_epoch(self) -> int:
        """The last epoch whose training state is saved (0: none): what a resume starts from."""
        from vaekit.training import checkpoint

        if not (self.path / STATE).is_file():
            return 0
        return int(checkpoint.read_state_info(self.path)["epoch"])

    def write_config(self, config: dict[str, Any]) -> Path:
        return write_json(self.path / CONFIG, config)

    def write_history(self, history: Sequence[dict[str, Any]]) -> Path:
        """The whole history (so it always matches the training state written beside it)."""
        text = "".join(json.dumps(canonical(r)) + "\n" for r in history)
        return write_text(self.path / METRICS, text)

    def write_evaluation(self, result: dict[str, Any], path: Path | None = None) -> Path:
        return write_json(path or self.path / EVALUATION, canonical(result))

    def write_report(self, text: str) -> Path:
        return write_text(self.path / REPORT, text)

    def write_threshold(self, value: dict[str, Any]) -> Path:
        return write_json(self.path / THRESHOLD, value)
