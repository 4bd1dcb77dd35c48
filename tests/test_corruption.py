"""Hostile run files: each damaged file of a run folder, read by the real CLI, gives exit 2 and
exactly one ``vaekit: error:`` line: no traceback, no hang (a time-out per case), and a peak
memory (the child's maxrss) under 1 GB, whatever sizes the file claims.

Table-driven: ``CASES`` maps a case name to (the command, the file, the damage).
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import run_cli
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from vaekit import runs
from vaekit.training import checkpoint

TRAIN = ("train", "--dataset", "digits", "--hidden", "8", "--latent-dim", "2", "--epochs", "2")
TRAIN += ("--batch-size", "256", "--quiet")
COMMANDS = {
    "info": ("info", "RUN"),
    "sample": ("sample", "RUN", "--n", "4", "--out", "RUN/s.npy"),
    "resume": ("train", "--resume", "--out", "RUN", "--epochs", "3", "--quiet"),
    "evaluate": ("evaluate", "RUN", "--k", "2", "--no-probes", "--quiet"),
    "score": ("score", "RUN", "--k", "2", "--quiet"),
    "decompress": ("decompress", "RUN", "RUN/c.vkz", "--out", "RUN/x.npy", "--quiet"),
}
THRESHOLD = {"method": "elbo", "k": 2, "seed": 0, "fpr": 0.05, "value": 1.0, "split": "val"}
THRESHOLD |= {"n": 100}
TIMEOUT_S, MAX_RSS_KB = 120, 1 << 20  # 1 GB


# -- damages ---------------------------------------------------------------------------------
def text(content: str | bytes) -> Callable[[Path], None]:
    data = content.encode() if isinstance(content, str) else content
    return lambda path: path.write_bytes(data)


def truncate(fraction: float) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(path.read_bytes()[: int(path.stat().st_size * fraction)])


def flip(offset_from_end: int, bit: int = 6) -> Callable[[Path], None]:
    """Flip one bit ``offset_from_end`` bytes before the end (in the tensor data)."""

    def damage(path: Path) -> None:
        data = bytearray(path.read_bytes())
        data[-offset_from_end] ^= 1 << bit
        path.write_bytes(bytes(data))

    return damage


def json_edit(edit: Callable[[Any], Any]) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        value = json.loads(path.read_text())
        path.write_text(json.dumps(edit(value)))

    return damage


def set_in(keys: tuple[str, ...], value: Any) -> Callable[[Any], Any]:
    def edit(obj: Any) -> Any:
        inner = obj
        for key in keys[:-1]:
            inner = inner[key]
        if value is DELETE:
            del inner[keys[-1]]
        else:
            inner[keys[-1]] = value
        return obj

    return edit


DELETE = object()


def unlimited(damage: Callable[[Path], None]) -> Callable[[Path], None]:
    """``damage`` free to write integers of any length (Python refuses over 4300 digits)."""

    def run(path: Path) -> None:
        limit = sys.get_int_max_str_digits()
        sys.set_int_max_str_digits(0)
        try:
            damage(path)
        finally:
            sys.set_int_max_str_digits(limit)

    return run


def vkz_header(edit: Callable[[Any], Any] | bytes) -> Callable[[Path], None]:
    """A .vkz file whose JSON header is edited (or replaced by raw bytes), its CRC-32 made to
    match again: a crafted file, not random damage."""

    def damage(path: Path) -> None:
        data = path.read_bytes()
        (n,) = struct.unpack("<I", data[6:10])
        header = json.loads(data[10 : 10 + n])
        text = edit if isinstance(edit, bytes) else json.dumps(edit(header)).encode()
        blob = data[:6] + struct.pack("<I", len(text)) + text + struct.pack("<I", zlib.crc32(text))
        path.write_bytes(blob + data[14 + n :])

    return damage


def lines(edit: Callable[[list[str]], list[str]]) -> Callable[[Path], None]:
    return lambda path: path.write_text(
        "".join(x + "\n" for x in edit(path.read_text().splitlines()))
    )


def record(key: str, value: Any) -> Callable[[Path], None]:
    """metrics.jsonl with ``key`` of the last record set to ``value``."""

    def edit(rows: list[str]) -> list[str]:
        last = json.loads(rows[-1])
        last[key] = value
        return [*rows[:-1], json.dumps(last)]

    return lines(edit)


def resave(
    meta: Callable[[dict[str, Any]], None] | None = None,
    tensors: Callable[[dict[str, torch.Tensor]], None] | None = None,
    rehash: bool = True,
) -> Callable[[Path], None]:
    """Rewrite a checkpoint with edited metadata (JSON values) and tensors; with ``rehash`` its
    checksums are made to match again, so the check after them is the one tested."""

    def damage(path: Path) -> None:
        with safe_open(str(path), framework="pt") as f:
            raw = f.metadata()
            values = {k: f.get_tensor(k) for k in f.keys()}
        info = {k: json.loads(v) for k, v in raw.items() if k != "format"}
        if tensors:
            tensors(values)
        if rehash:
            info["sha256"] = {k: checkpoint.sha256(v) for k, v in values.items()}
        if meta:
            meta(info)
        metadata = {"format": raw["format"], **{k: json.dumps(v) for k, v in info.items()}}
        save_file(values, str(path), metadata=metadata)

    return damage


def meta_set(*keys: str, value: Any) -> Callable[[Path], None]:
    return resave(meta=set_in(keys, value))


def tensor_set(name: str, value: Callable[[torch.Tensor], torch.Tensor], **kw: Any) -> Any:
    def edit(values: dict[str, torch.Tensor]) -> None:
        if value is None:
            del values[name]
        else:
            values[name] = value(values[name])

    return resave(tensors=edit, **kw)


def nan_at_0(t: torch.Tensor) -> torch.Tensor:
    t = t.clone()
    t.view(-1)[0] = float("nan")
    return t


NESTED = "[" * 100_000 + "]" * 100_000
HUGE = 10**5000  # an integer json.loads refuses to read (more than 4300 digits)
W = "decoder.net.0.weight"
C, M, E, H, S = runs.CONFIG, runs.MODEL, runs.EVALUATION, runs.METRICS, runs.STATE
T, V = runs.THRESHOLD, "c.vkz"

CASES: dict[str, tuple[str, str, Callable[[Path], None]]] = {
    # config.json: read by every command
    "config not utf-8": ("info", C, text(b"\xff\xfe{\x00}")),
    "config not json": ("info", C, text("{model: 1")),
    "config empty": ("sample", C, text("")),
    "config truncated": ("info", C, truncate(0.5)),
    "config nested": ("info", C, text(NESTED)),
    "config a list": ("info", C, text("[1, 2]")),
    "config no model section": ("sample", C, json_edit(set_in(("model",), DELETE))),
    "config hidden abc": ("resume", C, json_edit(set_in(("model", "hidden"), ["abc"]))),
    "config hidden huge": ("resume", C, json_edit(set_in(("model", "hidden"), [10**9]))),
    "config hidden many": ("resume", C, json_edit(set_in(("model", "hidden"), [8] * 10**5))),
    "config latent string": ("resume", C, json_edit(set_in(("model", "latent_dim"), "2"))),
    "config latent negative": ("info", C, json_edit(set_in(("model", "latent_dim"), -1))),
    "config components huge": ("resume", C, json_edit(set_in(("model", "components"), 10**12))),
    "config epochs float": ("resume", C, json_edit(set_in(("train", "epochs"), 2.5))),
    "config lr string": ("resume", C, json_edit(set_in(("train", "lr"), "abc"))),
    "config lr nan": (
        "resume",
        C,
        lambda p: p.write_text(p.read_text().replace('"lr": 0.001', '"lr": NaN')),
    ),
    "config dataset section a list": ("info", C, json_edit(set_in(("dataset",), [1]))),
    "config unknown field": ("info", C, json_edit(set_in(("train", "bogus"), 1))),
    "config prior bogus": ("sample", C, json_edit(set_in(("model", "prior"), "bogus"))),
    "config data seed bool": ("evaluate", C, json_edit(set_in(("data", "seed"), True))),
    "config dataset number": ("evaluate", C, json_edit(set_in(("data", "dataset"), 5))),
    # metrics.jsonl: info shows it
    "metrics garbage": ("info", H, text(b"\x00\x01\x02garbage\n")),
    "metrics not utf-8": ("info", H, text(b"\xff\xff\n")),
    "metrics invalid line": ("info", H, lines(lambda r: [*r, "{oops"])),
    "metrics a list line": ("info", H, lines(lambda r: [*r, "[1]"])),
    "metrics nested": ("info", H, text(NESTED + "\n")),
    "metrics epoch negative": ("info", H, record("epoch", -1)),
    "metrics epoch string": ("info", H, record("epoch", "2")),
    "metrics value string": ("info", H, record("train_elbo", "high")),
    "metrics seconds null": ("info", H, record("seconds", None)),
    "metrics missing train_elbo": (
        "info",
        H,
        lines(lambda r: [*r[:-1], '{"epoch": 2, "seconds": 1}']),
    ),
    "metrics epochs out of order": ("info", H, lines(lambda r: r[::-1])),
    # evaluation.json: info shows it
    "evaluation not json": ("info", E, text("{")),
    "evaluation a list": ("info", E, text("[]")),
    "evaluation not utf-8": ("info", E, text(b"\xc3\x28")),
    "evaluation nested": ("info", E, text(NESTED)),
    "evaluation empty": ("info", E, text("")),
    # model.safetensors: sample and evaluate load it
    "model empty": ("sample", M, text("")),
    "model garbage": ("sample", M, text(b"\x00" * 64)),
    "model truncated": ("sample", M, truncate(0.7)),
    "model header truncated": ("sample", M, truncate(0.01)),
    "model bit flip in weights": ("sample", M, flip(40)),
    "model exponent flip": ("evaluate", M, flip(1, bit=6)),
    "model nan weight": ("sample", M, tensor_set(W, nan_at_0)),
    "model inf weight": ("evaluate", M, tensor_set(W, lambda t: t * float("inf"))),
    "model hidden huge": ("sample", M, meta_set("model", "hidden", value=[10**9])),
    "model hidden large": ("sample", M, meta_set("model", "hidden", value=[4_000_000])),
    "model hidden abc": ("sample", M, meta_set("model", "hidden", value=["abc"])),
    "model components huge": ("sample", M, meta_set("model", "components", value=10**9)),
    "model shape huge": ("sample", M, meta_set("shape", value=[10**5, 10**5, 10**5])),
    "model shape empty": ("sample", M, meta_set("shape", value=[])),
    "model y_dim huge": ("sample", M, meta_set("y_dim", value=10**9)),
    "model kind bogus": ("sample", M, meta_set("kind", value="bogus")),
    "model standardized string": ("sample", M, meta_set("standardized", value="yes")),
    "model epoch negative": ("sample", M, meta_set("epoch", value=-5)),
    "model no model meta": ("sample", M, meta_set("model", value=DELETE)),
    "model checksums wrong type": ("sample", M, meta_set("sha256", value=[1, 2])),
    "model wrong shape": ("sample", M, tensor_set(W, lambda t: t[:, :1].clone())),
    "model wrong dtype": ("sample", M, tensor_set(W, lambda t: t.double())),
    "model missing tensor": ("sample", M, tensor_set(W, None)),
    "model extra tensor": ("sample", M, resave(tensors=lambda v: v.update(extra=torch.zeros(3)))),
    "model hash mismatch": ("sample", M, tensor_set(W, lambda t: t + 1, rehash=False)),
    "model metadata emptied": ("sample", M, resave(meta=lambda m: m.clear())),
    # train_state.safetensors: train --resume loads it
    "state epoch negative": ("resume", S, meta_set("info", "epoch", value=-5)),
    "state missing info keys": ("resume", S, meta_set("info", "best_val", value=DELETE)),
    "state history mismatch": ("resume", S, meta_set("info", "epoch", value=5)),
    "state best epoch too large": ("resume", S, meta_set("info", "best_epoch", value=9)),
    "state no optimizer": ("resume", S, meta_set("optimizer", value=DELETE)),
    "state lr string": (
        "resume",
        S,
        resave(meta=lambda m: m["optimizer"]["param_groups"][0].update(lr="x")),
    ),
    "state rng short": ("resume", S, tensor_set("rng.cpu", lambda t: t[:100].clone())),
    "state rng float": ("resume", S, tensor_set("rng.cpu", lambda t: t.float())),
    "state optim shape": ("resume", S, tensor_set("optim.0.exp_avg", lambda t: t[:1].clone())),
    "state optim partial": ("resume", S, tensor_set("optim.0.exp_avg_sq", None)),
    "state optim nan": ("resume", S, tensor_set("optim.0.exp_avg", nan_at_0)),
    "state bit flip": ("resume", S, flip(3000)),
    "state truncated": ("resume", S, truncate(0.5)),
    "state other model": ("resume", S, meta_set("model", "latent_dim", value=3)),
    "state extra tensor": (
        "resume",
        S,
        resave(tensors=lambda v: v.update({"optim.999.step": torch.zeros(())})),
    ),
    "state of another run": (
        "resume",
        S,
        resave(meta=lambda m: m["info"]["train"].update(lr=0.5)),
    ),
    # integers Python will not parse (over 4300 digits), in every JSON a run holds
    "config huge integer": ("info", C, unlimited(json_edit(set_in(("train", "epochs"), HUGE)))),
    "metrics huge integer": ("info", H, unlimited(record("epoch", HUGE))),
    "evaluation huge integer": ("info", E, text('{"elbo": ' + "1" * 5000 + "}")),
    "model meta huge integer": ("sample", M, unlimited(meta_set("y_dim", value=HUGE))),
    "state huge integer": ("resume", S, unlimited(meta_set("info", "epoch", value=HUGE))),
    # threshold.json: score reads it
    "threshold not json": ("score", T, text("{")),
    "threshold value string": ("score", T, json_edit(set_in(("value",), "abc"))),
    "threshold value null": ("score", T, json_edit(set_in(("value",), None))),
    "threshold value list": ("score", T, json_edit(set_in(("value",), [1, 2]))),
    "threshold value nan": ("score", T, text(json.dumps(THRESHOLD).replace("1.0", "NaN"))),
    "threshold k bool": ("score", T, json_edit(set_in(("k",), True))),
    "threshold fpr 5": ("score", T, json_edit(set_in(("fpr",), 5))),
    "threshold n negative": ("score", T, json_edit(set_in(("n",), -1))),
    "threshold method bogus": ("score", T, json_edit(set_in(("method",), "bogus"))),
    "threshold no split": ("score", T, json_edit(set_in(("split",), DELETE))),
    "threshold huge integer": ("score", T, unlimited(json_edit(set_in(("k",), HUGE)))),
    # a .vkz header crafted with a matching CRC-32: decompress reads it
    "vkz dtype bogus": ("decompress", V, vkz_header(set_in(("dtype",), "bogus"))),
    "vkz dtype object": ("decompress", V, vkz_header(set_in(("dtype",), "O"))),
    "vkz dtype text": ("decompress", V, vkz_header(set_in(("dtype",), "<U3"))),
    "vkz dtype list": ("decompress", V, vkz_header(set_in(("dtype",), [1]))),
    "vkz latent bits string": ("decompress", V, vkz_header(set_in(("latent_bits",), "x"))),
    "vkz latent bits float": ("decompress", V, vkz_header(set_in(("latent_bits",), 10.5))),
    "vkz latent bits huge": ("decompress", V, vkz_header(set_in(("latent_bits",), 99))),
    "vkz shape negative": ("decompress", V, vkz_header(set_in(("shape",), [-1, -64]))),
    "vkz shape float": ("decompress", V, vkz_header(set_in(("shape",), [64.0]))),
    "vkz shape string": ("decompress", V, vkz_header(set_in(("shape",), "abc"))),
    "vkz shape bool": ("decompress", V, vkz_header(set_in(("shape",), [True, 64]))),
    "vkz count float": ("decompress", V, vkz_header(set_in(("count",), 180.0))),
    "vkz count string": ("decompress", V, vkz_header(set_in(("count",), "180"))),
    "vkz count huge": ("decompress", V, vkz_header(set_in(("count",), 10**15))),
    "vkz chunk size string": ("decompress", V, vkz_header(set_in(("chunk_size",), "x"))),
    "vkz sha256 number": ("decompress", V, vkz_header(set_in(("model_sha256",), 5))),
    "vkz version inside": ("decompress", V, vkz_header(set_in(("version",), 2))),
    "vkz unknown field": ("decompress", V, vkz_header(set_in(("extra",), 1))),
    "vkz header nested": ("decompress", V, vkz_header(NESTED.encode())),
    "vkz header huge integer": (
        "decompress",
        V,
        vkz_header(b'{"count": ' + b"1" * 5000 + b"}"),
    ),
}


@pytest.fixture(scope="module")
def base_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("corrupt")
    proc = run_child(["vaekit", *TRAIN, "--out", str(folder / "run")], folder)
    assert proc[0] == 0, proc[2]
    vkz = ["vaekit", "compress", str(folder / "run"), "--out", str(folder / "run" / V)]
    proc = run_child([*vkz, "--split", "test", "--quiet"], folder)
    assert proc[0] == 0, proc[2]
    return folder / "run"


def run_child(argv: list[str], cwd: Path) -> tuple[int, str, str, int]:
    """Run ``vaekit ...`` (a warm forked child, see run_cli): (exit code, stdout, stderr, peak
    RSS in KB); a child still running after TIMEOUT_S is killed and reported as exit -1
    ("hung")."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    try:
        done = run_cli.vaekit(*argv[1:], cwd=cwd, env=env, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return -1, "", f"hung for {TIMEOUT_S} s", 0
    return done.returncode, done.stdout, done.stderr, done.maxrss_kib


def damaged_run(name: str, base_run: Path, folder: Path) -> tuple[int, str, str, int]:
    """Copy the run, damage the file of case ``name``, run its command on it."""
    command, file, damage = CASES[name]
    run = folder / "run"
    shutil.copytree(base_run, run)
    if file == E:
        (run / E).write_text('{"elbo": -1.0}')
    if file == T:
        (run / T).write_text(json.dumps(THRESHOLD))
    damage(run / file)
    argv = [a.replace("RUN", str(run)) for a in COMMANDS[command]]
    return run_child(["vaekit", *argv], folder)


@pytest.fixture(scope="module")
def results(base_run: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every case's (exit code, stdout, stderr, peak RSS), two subprocesses at a time."""
    folders = {name: tmp_path_factory.mktemp("case") for name in CASES}
    with ThreadPoolExecutor(2) as pool:
        done = pool.map(lambda n: damaged_run(n, base_run, folders[n]), CASES)
        return dict(zip(CASES, done, strict=True))


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_damaged_run_file_gives_one_clean_error(name: str, results: dict[str, Any]) -> None:
    code, _, stderr, rss_kb = results[name]
    lines = stderr.strip().splitlines()
    assert code == 2, stderr
    assert len(lines) == 1 and lines[0].startswith("vaekit: error:"), stderr
    assert "Traceback" not in stderr and "a bug in vaekit" not in stderr
    assert rss_kb < MAX_RSS_KB, f"peak memory {rss_kb >> 10} MB"


def test_the_table_has_at_least_a_hundred_cases_over_every_run_file() -> None:
    assert len(CASES) >= 100
    assert {file for _, file, _ in CASES.values()} == {C, H, E, M, S, T, V}
    assert {command for command, _, _ in CASES.values()} == set(COMMANDS)
