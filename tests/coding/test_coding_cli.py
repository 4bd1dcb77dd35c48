"""``vaekit compress`` and ``vaekit decompress``, run for real in subprocesses."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from run_cli import vaekit

from vaekit import api
from vaekit.config import ModelConfig, TrainConfig

Images = Callable[..., tuple[torch.Tensor, torch.Tensor]]  #: conftest.binary_images


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, images: Images) -> tuple[Path, np.ndarray]:
    """A run folder trained on binary images, 25 other binary images in x.npy, compressed
    with ``vaekit compress`` into x.vkz."""
    folder = tmp_path_factory.mktemp("compress")
    torch.manual_seed(0)
    api.fit(
        images(300, seed=1)[0].numpy(),
        ModelConfig(latent_dim=4, hidden=(32,)),
        TrainConfig(epochs=3, batch_size=32),
        out=folder / "run",
        progress=False,
    )
    x = images(25, seed=9)[0].numpy().astype(np.uint8)  # (25, 1, 6, 6)
    np.save(folder / "x.npy", x)
    proc = vaekit("compress", folder / "run", "--data", folder / "x.npy", "--out", folder / "x.vkz")
    assert proc.returncode == 0, proc.stderr
    assert "bits/dim (whole file)" in proc.stdout and "model -ELBO bits/dim" in proc.stdout
    return folder, x


def test_compress_then_decompress_restores_the_file(run: tuple[Path, np.ndarray]) -> None:
    folder, x = run
    vkz, out, pngs = folder / "x.vkz", folder / "restored.npy", folder / "pngs"
    proc = vaekit("decompress", folder / "run", vkz, "--out", out, "--png-dir", pngs)
    assert proc.returncode == 0, proc.stderr
    restored = np.load(out)  # the data as vaekit reads it: float32 0/1 values
    assert restored.dtype == np.float32 and np.array_equal(restored, x)
    files = sorted(pngs.glob("*.png"))
    assert len(files) == 25
    with Image.open(files[3]) as im:
        assert im.mode == "1" and np.array_equal(np.asarray(im), x[3, 0].astype(bool))


@pytest.mark.parametrize("damage", ["truncate", "flip", "missing"])
def test_damaged_file_is_one_line_and_exit_2(run: tuple[Path, np.ndarray], damage: str) -> None:
    folder, _ = run
    vkz = folder / f"{damage}.vkz"
    data = bytearray((folder / "x.vkz").read_bytes())
    vkz.write_bytes(data)
    if damage == "truncate":
        vkz.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        data[len(data) // 2] ^= 0xFF
        vkz.write_bytes(data)
    else:
        vkz.unlink()
    proc = vaekit("decompress", folder / "run", vkz, "--out", folder / "r.npy")
    assert proc.returncode == 2 and not (folder / "r.npy").exists()
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vaekit: error:")
    assert ("corrupt" if damage == "flip" else damage[:5]) in lines[0].lower() or (
        damage == "missing" and "no such file" in lines[0].lower()
    )


def test_grey_data_is_refused_with_exit_2(run: tuple[Path, np.ndarray]) -> None:
    folder, x = run
    np.save(folder / "grey.npy", x.astype(np.float32) * 0.5)
    out = folder / "grey.vkz"
    proc = vaekit("compress", folder / "run", "--data", folder / "grey.npy", "--out", out)
    assert proc.returncode == 2 and "needs 0/1 data" in proc.stderr
    assert not out.exists()  # no half-written file


def test_pngs_are_one_bit_for_binary_and_grey_for_eight_bit(tmp_path: Path) -> None:
    from vaekit.cli.compress import write_pngs

    grey = (np.arange(36, dtype=np.float32).reshape(1, 1, 6, 6) * 7) / 255  # levels 0..245
    write_pngs(grey, tmp_path, 7, binary=False)
    (tmp_path / "bin").mkdir()
    write_pngs((grey > 0.5).astype(np.float32), tmp_path / "bin", 0, binary=True)
    with Image.open(tmp_path / "00007.png") as im:
        assert im.mode == "L" and np.array_equal(np.asarray(im), np.arange(36).reshape(6, 6) * 7)
    with Image.open(tmp_path / "bin" / "00000.png") as im:
        assert im.mode == "1" and np.array_equal(np.asarray(im), grey[0, 0] > 0.5)


def test_a_digits_run_compresses_its_own_test_split(tmp_path: Path) -> None:
    """scikit-learn's digits (17 grey levels) resolve to the discretized logistic, which the
    coder codes on the data's own levels: the test split comes back bit for bit."""
    from vaekit.data import load_dataset

    run = tmp_path / "run"
    torch.manual_seed(0)
    model = api.fit(
        "digits",
        ModelConfig(latent_dim=4, hidden=(32,)),
        TrainConfig(epochs=2, batch_size=64),
        out=run,
        progress=False,
    )
    assert model.config.likelihood == "discretized-logistic" and model.config.levels == 17
    vkz, npy = tmp_path / "d.vkz", tmp_path / "d.npy"
    proc = vaekit("compress", run, "--out", vkz)
    assert proc.returncode == 0, proc.stderr
    assert "compressed test of digits" in proc.stdout
    proc = vaekit("decompress", run, vkz, "--out", npy, "--png-dir", tmp_path / "png")
    assert proc.returncode == 0, proc.stderr
    x = load_dataset(api.read_config(run)["data"]).split("test")[0].numpy()
    assert np.array_equal(np.load(npy), x)
    with Image.open(tmp_path / "png" / "00000.png") as im:
        assert np.array_equal(np.asarray(im), np.rint(x[0, 0] * 255).astype(np.uint8))


@pytest.mark.parametrize("command", ["compress", "decompress"])
def test_a_kill_while_writing_leaves_no_partial_file(
    run: tuple[Path, np.ndarray], command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kill -9 after the output is written but before it takes its name: nothing under the
    name (the test hook of vaekit.runs signals the process at that instant)."""
    folder, _ = run
    out = folder / ("killed.vkz" if command == "compress" else "killed.npy")
    monkeypatch.setenv("VAEKIT_FAULT_AT", f"{out.name}:written:1:KILL")
    if command == "compress":
        proc = vaekit("compress", folder / "run", "--data", folder / "x.npy", "--out", out)
    else:
        proc = vaekit("decompress", folder / "run", folder / "x.vkz", "--out", out)
    assert proc.returncode == -9 and not out.exists()
