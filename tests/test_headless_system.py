"""``ktui run`` with the system watch: the device, a plain system line per epoch, --devices."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import KtuiDirs, run_ktui

from ktui.store import RunStore
from ktui.store.system import read_samples, read_timings


def test_ktui_run_prints_a_plain_system_line_per_epoch_and_records_them(
    ktui_dirs: KtuiDirs,
) -> None:
    result = run_ktui(
        "run", "dummy_binary", "--set", "epochs=3", "--devices", "cpu",
        env={"KTUI_DATA_DIR": str(ktui_dirs.data)},
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "\x1b" not in out  # plain in a log file
    lines = out.splitlines()
    title = next(line for line in lines if line.startswith("dummy_binary on "))
    assert " · CPU (" in title  # the device
    # Why there are no GPU figures, once: no NVML package, no driver or no GPU.
    assert sum(line.startswith("  system: no GPU") for line in lines) == 1, out
    system = [line for line in lines if re.match(r"  system: CPU \d", line)]
    assert len(system) == 3, out
    for line in system:
        assert re.search(r"CPU \d+% \| RSS \d", line), line
        assert re.search(r"\| data wait \d+%$", line), line
    # each epoch's system line comes right after its epoch line
    epochs = [i for i, line in enumerate(lines) if line.startswith("Epoch ")]
    assert [lines[i + 1].startswith("  system: ") for i in epochs] == [True] * 3
    assert all(" | no GPU | " in line for line in system)
    with RunStore(ktui_dirs.data / "runs.sqlite") as store:
        run_id = store.list_runs()[0].id
        assert [t.epoch for t in read_timings(store, run_id)] == [1, 2, 3]
        assert read_samples(store, run_id)  # at least the last one, sent at the end


def test_a_bad_devices_list_is_refused_before_training(tmp_path: Path) -> None:
    result = run_ktui("run", "dummy_binary", "--devices", "gpu0")
    assert result.returncode == 2
    assert "--devices 'gpu0' is not a list of GPU numbers; write e.g. 0 or 0,1" in result.stderr
    assert "Traceback" not in result.stderr
