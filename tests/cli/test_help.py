"""``vaekit --help`` and ``vaekit COMMAND --help`` answer without importing torch (issue 16: they
took over 3 s); measured as what is imported, not as wall-clock time."""

from __future__ import annotations

import subprocess
import sys

import pytest

COMMANDS = ["", "train", "evaluate", "sample", "reconstruct", "encode", "interpolate", "info"]
COMMANDS += ["serve", "search"]


@pytest.mark.parametrize("command", COMMANDS)
def test_help_imports_no_torch(command: str) -> None:
    argv = [command, "--help"] if command else ["--help"]
    code = (
        "import sys\n"
        "from vaekit.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit as e:\n"
        "    assert e.code == 0, e.code\n"
        "heavy = sorted(m for m in ('torch', 'sklearn', 'matplotlib') if m in sys.modules)\n"
        "print('imported:', ','.join(heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert "usage: vaekit" in out
    assert out.strip().endswith("imported:"), out[-200:]


def test_the_package_imports_its_api_lazily() -> None:
    code = (
        "import sys, vaekit\n"
        "assert 'torch' not in sys.modules\n"
        "assert vaekit.ModelConfig().latent_dim == 2 and 'torch' not in sys.modules\n"
        "assert callable(vaekit.fit) and 'torch' in sys.modules\n"
        "from vaekit import VAE, DataConfig, load_dataset\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_commands_that_draw_nothing_import_no_matplotlib(tmp_path) -> None:
    """``vaekit info`` and the other commands' module load no plotting library (0.3 s)."""
    code = (
        "import sys\n"
        "from vaekit.cli import commands, score, compress, impute\n"
        "from vaekit.cli import main\n"
        f"main(['info', {str(tmp_path / 'none')!r}])\n"
        "assert 'matplotlib' not in sys.modules, 'matplotlib'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
