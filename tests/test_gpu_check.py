"""`benchmarks/gpu_check.py` as a person runs it on a machine without a GPU."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT


def test_gpu_check_without_a_gpu_says_so_in_plain_lines_and_exits_0() -> None:
    from ktui.core.system import GpuReader

    if GpuReader().note is None:
        pytest.skip("this machine has a GPU NVML can read; the check runs for real here")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONPATH"] = str(REPO_ROOT)
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "benchmarks" / "gpu_check.py")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1. NVML" in result.stdout
    assert "no GPU" in result.stdout
    assert "nothing more to check" in result.stdout
    # What TensorFlow and CUDA write to fd 2 is kept in a file, not shown.
    assert "I0000" not in result.stderr and "cuda" not in result.stderr.lower()
    assert "I0000" not in result.stdout
