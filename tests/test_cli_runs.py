"""``ktui runs`` and its actions, and ``ktui run`` recording into the store.

Listing, showing, exporting and comparing run in this process against a store
built with the public API; refusals and real training run ``python -m ktui`` in a
child process, so exit codes and stderr are the real ones.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import (
    REPO_ROOT,
    KtuiDirs,
    child_env,
    run_ktui,
    run_python,
    tiny_preset_text,
    write_preset,
)
from rich.console import Console

from ktui.cli import main
from ktui.cli.runs import compare_runs, list_runs, parse_run_id, show_run
from ktui.core.errors import KtuiError
from ktui.core.metrics import MetricPolicy
from ktui.store import RunStore


@pytest.fixture(autouse=True)
def _no_store_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KTUI_STORE", raising=False)


def dead_pid() -> int:
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(child.stdout)


def build_store(path: Path) -> dict[str, int]:
    """Four runs: two finished mnist runs that differ, a failed one, one whose process died."""
    defaults = {"units": 784, "learning_rate": 0.001, "epochs": 3}
    with RunStore(path) as store:
        ids: dict[str, int] = {}
        for name, units, accs, test_acc in (
            ("wide", 784, [0.90, 0.95, 0.97], 0.9688),
            ("narrow", 32, [0.85, 0.91, 0.90], 0.8875),
        ):
            run_id = store.create_run(
                "mnist_mlp",
                values={**defaults, "units": units},
                defaults=defaults,
                data="mnist",
                epochs=3,
                policy=MetricPolicy("val_accuracy"),  # as a preset's [fit] monitor asks
            )
            store.set_details(
                run_id,
                device="CPU (x86_64)",
                versions={"ktui": "0.1.0", "keras": "3.5.0", "tensorflow": "2.17.0"},
                model={"total_params": 623290, "layers": [{}, {}]},
                info={
                    "train_samples": 60000,
                    "validation_samples": 10000,
                    "test_samples": 10000,
                    "batch_size": 200,
                    "steps_per_epoch": 300,
                },
            )
            for epoch, acc in enumerate(accs, start=1):
                store.add_epoch(
                    run_id,
                    epoch,
                    {
                        "loss": 1 / epoch,
                        "accuracy": acc,
                        "val_loss": 1.1 / epoch,
                        "val_accuracy": acc,
                    },
                    learning_rate=0.001,
                    seconds=2.0,
                    log=[f"{name} log line {epoch}.{n}" for n in range(10)],
                )
            store.finish_run(run_id, test_loss=0.1, test_accuracy=test_acc, seconds=6.0)
            ids[name] = run_id
        failed = store.create_run("dummy_binary", values={"units": 64}, defaults={"units": 64})
        store.fail_run(
            failed,
            "ValueError: the model broke",
            error_type="ValueError",
            traceback="Traceback (most recent call last):\nValueError: the model broke",
        )
        ids["failed"] = failed
        dead = store.create_run(
            "dummy_binary", values={"units": 8}, defaults={"units": 64}, epochs=10, pid=dead_pid()
        )
        store.add_epoch(dead, 1, {"loss": math.nan, "accuracy": 0.5})
        ids["dead"] = dead
    return ids


@pytest.fixture
def store_file(tmp_path: Path) -> Path:
    return tmp_path / "store" / "runs.sqlite"


@pytest.fixture
def ids(store_file: Path) -> dict[str, int]:
    return build_store(store_file)


def ktui(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def table(text: str) -> list[list[str]]:
    """Plain table output split into cells (two or more spaces apart)."""
    return [re.split(r" {2,}", line.strip()) for line in text.splitlines() if line.strip()]


# --------------------------------------------------------------------------- ktui runs
def test_runs_lists_every_run_newest_first(
    capsys: pytest.CaptureFixture[str], store_file: Path, ids: dict[str, int]
) -> None:
    code, out = ktui(capsys, "--store", str(store_file), "runs")
    assert code == 0
    rows = table(out)
    assert rows[0] == [
        "id",
        "preset",
        "status",
        "hyperparameters",
        "epochs",
        "best",
        "test err %",
        "backend",
        "started",
        "duration",
    ]
    by_id = {int(row[0]): row for row in rows[1:]}
    assert list(by_id) == [ids["dead"], ids["failed"], ids["narrow"], ids["wide"]]
    wide, narrow = by_id[ids["wide"]], by_id[ids["narrow"]]
    assert wide[1:5] == ["mnist_mlp", "finished", "defaults", "3/3"]
    assert wide[5] == "0.9700 val_accuracy" and wide[6] == "3.12"
    assert narrow[3] == "units=32" and narrow[5] == "0.9100 val_accuracy" and narrow[6] == "11.25"
    # Listing found the dead process's run and marked it, keeping its epoch.
    dead = by_id[ids["dead"]]
    assert dead[2:5] == ["interrupted", "units=8", "1/10"]
    failed = by_id[ids["failed"]]
    assert failed[2] == "failed" and failed[5] == "—" and failed[6] == "—"
    # The backend and its version: recorded before ktui knew backends, TensorFlow's.
    assert wide[7] == "tf 2.17.0" and failed[7] == "—"
    assert "\x1b[" not in out  # plain: no colours when piped


def test_runs_lists_each_runs_backend_and_version(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    recorded = {
        "tensorflow": {"backend": "tensorflow", "tensorflow": "2.21.0", "keras": "3.15.0"},
        "jax": {"backend": "jax", "jax": "0.10.2", "keras": "3.15.0"},
        "torch": {"backend": "torch", "torch": "2.13.0+cpu", "keras": "3.15.0"},
    }
    store_file = tmp_path / "runs.sqlite"
    with RunStore(store_file) as store:
        for versions in recorded.values():
            run_id = store.create_run("dummy_binary", values={})
            store.set_details(run_id, versions=versions)
            store.finish_run(run_id)
        assert [r.backend for r in store.list_runs(sort="id", reverse=True)] == [
            "tensorflow 2.21.0",
            "jax 0.10.2",
            "torch 2.13.0+cpu",
        ]
    code, out = ktui(capsys, "--store", str(store_file), "runs")
    assert code == 0
    rows = table(out)
    column = rows[0].index("backend")
    assert [row[column] for row in rows[1:]] == ["torch 2.13.0", "jax 0.10.2", "tf 2.21.0"]


def test_runs_filters_sorts_and_limits(
    capsys: pytest.CaptureFixture[str], store_file: Path, ids: dict[str, int]
) -> None:
    store = ["--store", str(store_file)]

    def listed(*args: str) -> list[int]:
        code, out = ktui(capsys, *store, "runs", *args)
        assert code == 0
        return [int(row[0]) for row in table(out)[1:] if row[0].isdigit()]

    assert listed("--preset", "mnist_mlp") == [ids["narrow"], ids["wide"]]
    assert listed("--status", "failed") == [ids["failed"]]
    assert listed("--sort", "test_error") == [
        ids["wide"],
        ids["narrow"],
        ids["dead"],
        ids["failed"],
    ]
    assert listed("--sort", "id", "--reverse")[0] == ids["wide"]
    code, out = ktui(capsys, *store, "runs", "--limit", "2")
    assert len(table(out)) == 4 and "(2 of 4 runs; --limit 0 lists all)" in out
    code, out = ktui(capsys, *store, "runs", "--preset", "nothing")
    assert out.strip() == f"No runs with preset nothing in {store_file}."


def test_runs_uses_ktui_store_and_the_data_folder(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    ktui_dirs: KtuiDirs,
    tmp_path: Path,
) -> None:
    build_store(ktui_dirs.data / "runs.sqlite")
    code, out = ktui(capsys, "runs", "--status", "failed")
    assert code == 0 and "dummy_binary" in out
    monkeypatch.setenv("KTUI_STORE", str(tmp_path / "elsewhere.sqlite"))
    code, out = ktui(capsys, "runs")
    assert out.strip() == f"No runs recorded yet (no store at {tmp_path / 'elsewhere.sqlite'})."
    assert not (tmp_path / "elsewhere.sqlite").exists()  # reading never creates a store


# --------------------------------------------------------------------------- show
def test_show_prints_values_epochs_result_and_log_tail(
    capsys: pytest.CaptureFixture[str], store_file: Path, ids: dict[str, int]
) -> None:
    code, out = ktui(capsys, "--store", str(store_file), "runs", "show", str(ids["narrow"]))
    assert code == 0
    assert out.startswith(f"Run {ids['narrow']}  mnist_mlp  finished\n")
    assert "versions  ktui 0.1.0 · keras 3.5.0 · tensorflow 2.17.0" in out
    assert "model     2 layers, 623,290 parameters" in out
    assert "best      0.9100 val_accuracy at epoch 2" in out
    assert "test      loss 0.1000 · accuracy 88.75% · error 11.25%" in out
    assert ["units", "32", "784", "changed"] in table(out)
    assert ["learning_rate", "0.001", "0.001"] in table(out)
    assert ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "time"] in table(out)
    assert ["2", "0.5000", "0.9100", "0.5500", "0.9100", "0.001", "2.0s"] in table(out)
    assert "Log (last 20 of 30 lines; --log shows all)" in out
    assert "narrow log line 1.9" not in out and "narrow log line 2.0" in out

    code, out = ktui(
        capsys, "--store", str(store_file), "runs", "show", str(ids["narrow"]), "--log"
    )
    assert "Log (30 lines)" in out and "narrow log line 1.0" in out


def test_show_a_failed_and_an_interrupted_run(
    capsys: pytest.CaptureFixture[str], store_file: Path, ids: dict[str, int]
) -> None:
    code, out = ktui(capsys, "--store", str(store_file), "runs", "show", f"#{ids['failed']}")
    assert code == 0
    assert "Error: ValueError: the model broke" in out and "Traceback" in out
    assert "No epoch was recorded." in out
    code, out = ktui(capsys, "--store", str(store_file), "runs", "show", str(ids["dead"]))
    assert "interrupted" in out.splitlines()[0]
    assert ["1", "—", "0.5000", "—", "—"] in table(out)  # a NaN loss shows as —


# --------------------------------------------------------------------------- export
def test_export_csv_to_stdout(
    capsys: pytest.CaptureFixture[str], store_file: Path, ids: dict[str, int]
) -> None:
    code, out = ktui(capsys, "--store", str(store_file), "runs", "export", str(ids["wide"]))
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == [
        "epoch",
        "loss",
        "accuracy",
        "val_loss",
        "val_accuracy",
        "learning_rate",
        "seconds",
        "samples_per_second",
    ]
    assert [float(row["val_accuracy"]) for row in rows] == [0.90, 0.95, 0.97]
    assert rows[0]["samples_per_second"] == ""


def test_export_json_to_a_file(
    capsys: pytest.CaptureFixture[str], store_file: Path, ids: dict[str, int], tmp_path: Path
) -> None:
    target = tmp_path / "dead.json"
    code, out = ktui(
        capsys,
        "--store",
        str(store_file),
        "runs",
        "export",
        str(ids["dead"]),
        "--format",
        "json",
        "-o",
        str(target),
    )
    assert code == 0 and out.strip() == f"Wrote run {ids['dead']} as json to {target}."
    document = json.loads(target.read_text())  # strict JSON: the NaN loss is null
    assert document["id"] == ids["dead"] and document["status"] == "interrupted"
    assert document["values"] == {"units": 8} and document["defaults"] == {"units": 64}
    assert document["epochs"][0]["metrics"] == {"loss": None, "accuracy": 0.5}
    assert document["log"] == []
    code, out = ktui(
        capsys, "--store", str(store_file), "runs", "export", str(ids["wide"]), "--format", "json"
    )
    document = json.loads(out)
    assert document["test_accuracy"] == 0.9688 and len(document["log"]) == 30
    assert document["versions"]["tensorflow"] == "2.17.0"


# --------------------------------------------------------------------------- compare
def test_compare_shows_the_differing_values_and_results_side_by_side(
    capsys: pytest.CaptureFixture[str], store_file: Path, ids: dict[str, int]
) -> None:
    wide, narrow = str(ids["wide"]), str(ids["narrow"])
    code, out = ktui(capsys, "--store", str(store_file), "runs", "compare", wide, narrow)
    assert code == 0
    rows = table(out)
    assert [f"run {wide}", f"run {narrow}"] in rows  # under an empty corner cell
    assert ["units", "784", "32"] in rows
    assert not any(row[0] == "learning_rate" for row in rows)  # the same in both
    assert ["status", "finished", "finished"] in rows
    assert ["final val_accuracy", "0.9700", "0.9000"] in rows
    assert ["best", "0.9700 val_accuracy at epoch 3", "0.9100 val_accuracy at epoch 2"] in rows
    assert ["test error %", "3.12", "11.25"] in rows

    code, out = ktui(
        capsys,
        "--store",
        str(store_file),
        "runs",
        "compare",
        wide,
        narrow,
        str(ids["dead"]),
        "--all",
    )
    rows = table(out)
    assert ["learning_rate", "0.001", "0.001", "—"] in rows
    assert ["preset", "mnist_mlp", "mnist_mlp", "dummy_binary"] in rows
    assert ["final loss", "0.3333", "0.3333", "—"] in rows


# --------------------------------------------------------------------------- rich output
def test_rich_tables_on_a_terminal(store_file: Path, ids: dict[str, int]) -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=160, color_system="standard")
    with RunStore(store_file) as store:
        list_runs(store, console)
        show_run(store, ids["failed"], console)
        compare_runs(store, [ids["wide"], ids["narrow"]], console)
    text = buffer.getvalue()
    assert "\x1b[" in text  # coloured
    for expected in ("mnist_mlp", "units=32", "the model broke", "final val_accuracy"):
        assert expected in text


def test_parse_run_id() -> None:
    assert parse_run_id("12") == 12 and parse_run_id("#7") == 7
    with pytest.raises(KtuiError, match="'abc' is not a run id"):
        parse_run_id("abc")


# --------------------------------------------------------------------------- refusals
def test_unknown_ids_and_bad_arguments_exit_2_with_a_clear_message(
    store_file: Path, ids: dict[str, int]
) -> None:
    store = ["--store", str(store_file)]
    for args in (["show", "99"], ["export", "99", "--format", "json"], ["compare", "1", "99"]):
        result = run_ktui(*store, "runs", *args)
        assert result.returncode == 2, result
        assert result.stderr.startswith(f"ktui: no run with id 99 in {store_file}\n")
        assert result.stdout == "" and "Traceback" not in result.stderr
    result = run_ktui(*store, "runs", "show", "twelve")
    assert result.returncode == 2 and "'twelve' is not a run id" in result.stderr
    result = run_ktui(*store, "runs", "compare", "1")
    assert result.returncode == 2 and "compare takes 2 to 4 run ids, got 1" in result.stderr
    result = run_ktui("--store", str(store_file.parent / "none.sqlite"), "runs", "show", "1")
    assert result.returncode == 2
    assert f"no run with id 1 in {store_file.parent / 'none.sqlite'}" in result.stderr
    assert not (store_file.parent / "none.sqlite").exists()


def test_a_corrupt_store_is_refused_and_left_alone(tmp_path: Path) -> None:
    bad = tmp_path / "runs.sqlite"
    bad.write_bytes(b"\x00garbage" * 512)
    for args in (["runs"], ["run", "dummy_binary"]):
        result = run_ktui("--store", str(bad), *args)
        assert result.returncode == 2
        assert f"ktui: {bad} is not a ktui run store" in result.stderr
        assert "Traceback" not in result.stderr
    assert bad.read_bytes() == b"\x00garbage" * 512


# --------------------------------------------------------------------------- ktui run records
FAKE_RUN = r"""
import sys
from pathlib import Path
from ktui.cli.run import run_headless
from ktui.core.events import EpochEnded, LogLine, ModelSummary, RunFinished, RunStarted
from ktui.core.presets import load_catalog

class Trainer:
    def run(self, config, listener, controls, *, artifacts=None):
        listener(RunStarted(config.preset.name, dict(config.values), ModelSummary((), 9, 9), 64,
                            0, 32, 16, 2, 4, "CPU (fake)", "random"))
        for epoch in (1, 2):
            listener(LogLine(f"fake line {epoch}"))
            listener(EpochEnded(epoch, 2, {"loss": 1 / epoch, "accuracy": 0.4 * epoch}, 0.01,
                                0.1, 640.0))
        (artifacts / "model.keras").write_bytes(b"fake model")
        final = RunFinished("finished", 2, 0.2, test_loss=0.5, test_accuracy=0.75)
        listener(final)
        return final

catalog = load_catalog([Path(sys.argv[1])])
sys.exit(run_headless(catalog, "tiny", ["units=4"], None, trainer=Trainer(),
                      store=Path(sys.argv[2])))
"""


def test_ktui_run_records_the_run_and_saves_into_its_folder(tmp_path: Path) -> None:
    presets = tmp_path / "presets"
    write_preset(presets, tiny_preset_text())
    store_file = tmp_path / "runs.sqlite"
    result = run_python(
        FAKE_RUN.replace("sys.argv[1]", repr(str(presets))).replace(
            "sys.argv[2]", repr(str(store_file))
        )
    )
    assert result.returncode == 0, result.stderr
    assert f"Recorded as run 1 in {store_file} (ktui runs show 1)." in result.stdout
    with RunStore(store_file) as store:
        run = store.get_run(1)
        assert run.status == "finished" and run.device == "CPU (fake)"
        assert run.changed_values() == {"units": 4}
        assert [e.epoch for e in store.epochs(1)] == [1, 2]
        assert store.log(1) == ["fake line 1", "fake line 2"]
        assert (run.folder / "model.keras").read_bytes() == b"fake model"
        assert (run.folder / "history.csv").exists() and (run.folder / "log.txt").exists()


def test_real_training_is_recorded_then_listed(tmp_path: Path) -> None:
    presets = tmp_path / "presets"
    write_preset(presets, tiny_preset_text(validation="0.25"))
    store_file = tmp_path / "runs.sqlite"
    result = run_ktui(
        "--presets",
        str(presets),
        "--store",
        str(store_file),
        "run",
        "tiny",
        "--set",
        "epochs=2",
        "--set",
        "units=5",
    )
    assert result.returncode == 0, result.stderr
    with RunStore(store_file) as store:
        run = store.get_run(1)
        assert run.status == "finished" and run.epochs_done == 2
        assert run.best_metric == "val_loss" and run.test_accuracy is not None  # the objective
        assert set(run.versions) >= {"ktui", "keras", "tensorflow"}
        assert (run.folder / "model.keras").stat().st_size > 0
    listed = run_ktui("--store", str(store_file), "runs")
    assert listed.returncode == 0
    assert table(listed.stdout)[1][:5] == ["1", "tiny", "finished", "units=5", "2/2"]
    # The backend this run really used, with its version.
    backend = run.versions["backend"]
    short = {"tensorflow": "tf"}.get(backend, backend)
    version = run.versions[backend].split("+")[0]
    assert table(listed.stdout)[1][7] == f"{short} {version}"


def test_ktui_run_killed_with_sigkill_is_interrupted_with_its_epochs(tmp_path: Path) -> None:
    presets = tmp_path / "presets"
    write_preset(presets, tiny_preset_text())
    store_file = tmp_path / "runs.sqlite"
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ktui",
            "--presets",
            str(presets),
            "--store",
            str(store_file),
            "run",
            "tiny",
            "--set",
            "epochs=10000",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env({"PYTHONUNBUFFERED": "1"}),
        cwd=REPO_ROOT,
    )
    # The display prints an epoch's line after the recorder committed it (see run.py).
    watchdog = threading.Timer(120, child.kill)  # readline() below must not wait forever
    watchdog.start()
    seen = []
    try:
        assert child.stdout is not None
        for line in child.stdout:
            seen.append(line)
            if re.match(r"Epoch +3/", line):
                os.kill(child.pid, signal.SIGKILL)
                break
    finally:
        watchdog.cancel()
        child.kill()
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    assert re.match(r"Epoch +3/", seen[-1]), "".join(seen)
    listed = run_ktui("--store", str(store_file), "runs")
    row = table(listed.stdout)[1]
    assert row[:3] == ["1", "tiny", "interrupted"]
    done, planned = row[4].split("/")
    assert int(done) >= 3 and planned == "10000"
    with RunStore(store_file) as store:
        epochs = [e.epoch for e in store.epochs(1)]
        assert epochs == list(range(1, len(epochs) + 1))
