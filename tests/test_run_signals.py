"""Signals while TensorFlow loads (issue 10, item 16), on real ``ktui run`` processes.

Ctrl+C or SIGTERM before the first batch stops the run cleanly: it is recorded
``stopped`` with 0 epochs, the output says so, and no (untrained) model is saved.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO_ROOT, child_env

from ktui.store import RunStore


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_while_tensorflow_loads_stops_the_run_with_0_epochs_and_no_model(
    tmp_path: Path, signum: signal.Signals
) -> None:
    store_file = tmp_path / "runs.sqlite"
    process = subprocess.Popen(
        [sys.executable, "-m", "ktui", "--store", str(store_file), "run", "dummy_binary"]
        + ["--set", "epochs=2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
        cwd=REPO_ROOT,
    )
    try:
        # The run is recorded and says "loading TensorFlow" before the import begins.
        deadline = time.monotonic() + 30
        phase = None
        while phase is None:
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.02)
            if store_file.exists():
                with RunStore(store_file) as store:
                    runs = store.list_runs()
                    if runs:
                        phase = store.progress(runs[0].id).phase
        assert phase == "preparing data"
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    # 128 + the signal, as shells report a process it ended.
    assert process.returncode == (130 if signum == signal.SIGINT else 143), stderr
    assert "Traceback" not in stderr
    assert "Stopped before its first epoch ended: 0 epochs, no model saved." in stdout
    with RunStore(store_file) as store:
        [run] = store.list_runs()
        assert (run.status, run.epochs_done, run.test_loss) == ("stopped", 0, None)
        assert not (store.folder(run.id) / "model.keras").exists()
