"""The examples/ scripts run as a reader runs them: in a subprocess, here for 1 epoch."""

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.slow
def test_train_and_sample_prints_the_elbo_and_writes_the_samples(tmp_path):
    png = tmp_path / "samples.png"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    script = EXAMPLES / "train_and_sample.py"
    result = subprocess.run(
        [sys.executable, str(script), "1", str(png)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    (elbo,) = re.findall(r"epoch +1 +test ELBO +(-?[\d.]+) nats", result.stdout)
    # a bound on log P(x) of 64 pixels on 17 levels, in nats: better than guessing each level
    assert -64 * math.log(17) < float(elbo) < 0
    with Image.open(png) as image:
        assert image.size == (256, 256) and image.mode == "L"
