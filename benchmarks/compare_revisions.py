"""Seconds per MNIST epoch of vaekit's trainer at two git revisions, interleaved in one run.

    VAEKIT_DATA_DIR=../shared/data .venv/bin/python benchmarks/compare_revisions.py \
        --base a848e61 [--head WORKTREE_OR_REV] [--rounds 5]

A refactor must not slow training down; on a shared, noisy machine that is only measurable as a
ratio of runs made side by side. Each revision is checked out into a temporary worktree (the
head defaults to the working tree itself); every round starts one fresh process per revision,
alternating their order, and each process trains the benchmark model of ``train_speed.py``
(784-400-20 MLP, Bernoulli logits, Adam 1e-3, batch 128, the 60,000 MNIST training images) for
``--epochs`` epochs and reports the seconds of each epoch record after the first. Prints the
median seconds per epoch of each revision and the ratio head / base, per round and overall.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from common import data_dir, machine, median

ROOT = Path(__file__).resolve().parents[1]

# runs inside each child with PYTHONPATH=<tree>/src; uses only the API both revisions share
CHILD = """
import json, sys, torch
from vaekit import VAE, ModelConfig, TrainConfig, train
from vaekit.data import DataConfig, load_dataset
data = load_dataset(DataConfig("mnist", data_dir=sys.argv[1], val_fraction=0.0))
x = data.x_train
torch.manual_seed(0)
model = VAE(ModelConfig(latent_dim=20, hidden=(400,), likelihood="bernoulli"), tuple(x.shape[1:]))
state = train(model, x, None, TrainConfig(epochs=int(sys.argv[2]), batch_size=128), progress=False)
print(json.dumps([r["seconds"] for r in state.history[1:]]))
"""


def checkout(rev: str, into: Path) -> Path:
    """``rev`` as a detached worktree under ``into`` (or the path itself when it is a folder)."""
    if Path(rev).is_dir():
        return Path(rev).resolve()
    tree = into / rev.replace("/", "_")
    subprocess.run(
        ["git", "worktree", "add", "--detach", "-q", str(tree), rev], cwd=ROOT, check=True
    )
    return tree


def epoch_seconds(tree: Path, epochs: int) -> list[float]:
    env = {**os.environ, "PYTHONPATH": str(tree / "src")}
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(data_dir()), str(epochs)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="git revision (or folder) to compare with")
    parser.add_argument("--head", default=str(ROOT), help="git revision or folder (default: .)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=3, help="per process; the first is dropped")
    args = parser.parse_args()
    print(f"machine: {machine()}\nbase {args.base}  head {args.head}")
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"base": checkout(args.base, Path(tmp)), "head": checkout(args.head, Path(tmp))}
        try:
            times: dict[str, list[float]] = {"base": [], "head": []}
            for r in range(args.rounds):
                order = ["base", "head"] if r % 2 == 0 else ["head", "base"]
                got = {name: epoch_seconds(trees[name], args.epochs) for name in order}
                for name in order:
                    times[name] += got[name]
                ratio = median(got["head"]) / median(got["base"])
                print(
                    f"round {r + 1}: base {median(got['base']):.3f}s  "
                    f"head {median(got['head']):.3f}s  head/base {ratio:.3f}",
                    flush=True,
                )
        finally:
            for tree in trees.values():
                if str(tree).startswith(tmp):
                    subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT)
    base, head = median(times["base"]), median(times["head"])
    print(f"\nmedian seconds per epoch: base {base:.3f}  head {head:.3f}  head/base {head / base:.3f}")


if __name__ == "__main__":
    main()
