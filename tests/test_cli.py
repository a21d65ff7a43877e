"""The ``ktui`` command: headless runs end to end, refusals, Ctrl+C, and plain output.

Runs that train start ``python -m ktui`` in a child process with stdout and stderr
captured (so neither is a terminal), in temporary data, config and Keras folders.
"""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import (
    REPO_ROOT,
    KtuiDirs,
    child_env,
    run_ktui,
    run_python,
    tf_log_lines,
    tiny_preset_text,
    write_mnist_npz,
    write_preset,
)
from rich.console import Console

from ktui.cli import main
from ktui.cli.presets import list_presets
from ktui.cli.run import HeadlessDisplay, exit_code
from ktui.core.events import (
    EpochEnded,
    LayerInfo,
    LearningRateChanged,
    LogLine,
    ModelSummary,
    PhaseChanged,
    RunFailed,
    RunFinished,
    RunStarted,
)
from ktui.core.format import epoch_line, order_metrics, result_line
from ktui.core.presets import load_catalog, shipped_presets_dir

EPOCH_LINE = re.compile(r"^Epoch (\d+)/(\d+)  loss [0-9.e+-]+  accuracy [0-9.e+-]+  lr ")


def _dirs_env(root: Path) -> dict[str, str]:
    return {
        "KTUI_DATA_DIR": str(root / "data"),
        "KTUI_CONFIG_DIR": str(root / "config"),
        "KERAS_HOME": str(root / "keras"),
    }


def _no_traceback(text: str) -> None:
    assert "Traceback" not in text, text
    assert 'File "' not in text, text


# ------------------------------------------------------------------ end to end, 1 epoch
@pytest.fixture(scope="module")
def dummy_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """``ktui run dummy_binary --set epochs=1``, once for the tests below."""
    root = tmp_path_factory.mktemp("dummy-run")
    result = run_ktui("run", "dummy_binary", "--set", "epochs=1", env=_dirs_env(root))
    return result, root


def test_headless_run_end_to_end(dummy_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    result, root = dummy_run
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()

    epoch_lines = [line for line in lines if line.startswith("Epoch")]
    assert len(epoch_lines) == 1
    assert EPOCH_LINE.match(epoch_lines[0]), epoch_lines[0]
    assert epoch_lines[0].startswith("Epoch 1/1  loss ")

    assert re.search(r"^dummy_binary on random \(unseeded\) · (CPU|GPU)", result.stdout, re.M)
    # The seed's model: 20 → 64 → 64 → 1.
    assert "5,569 parameters · 1,000 training samples · batch 200 → 5 steps per epoch" in (
        result.stdout
    )
    (test_line,) = [line for line in lines if line.startswith("Test loss:")]
    match = re.match(r"Test loss: \S+  Test accuracy: ([\d.]+)%  Test error: ([\d.]+)%", test_line)
    assert match, test_line
    assert float(match[1]) + float(match[2]) == pytest.approx(100, abs=0.011)
    assert "Stopped" not in result.stdout


def test_plain_output_when_not_a_terminal(
    dummy_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    result, _ = dummy_run
    # No redraws, no colours, no cursor movement.
    assert "\r" not in result.stdout and "\x1b" not in result.stdout
    assert "\x1b" not in result.stderr
    lines = result.stdout.splitlines()
    # Long lines are not wrapped at 80 columns: each stays whole.
    (values,) = [line for line in lines if line.startswith("input_dim=")]
    assert values.endswith("batch_size=200, epochs=1")
    assert len(values) > 80
    (summary,) = [line for line in lines if "parameters ·" in line]
    assert summary.endswith("· 1 epochs")


def test_tensorflow_fd2_output_is_kept_off_the_terminal(
    dummy_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    result, root = dummy_run
    assert tf_log_lines(result.stderr) == []
    assert result.stderr == ""
    logs = list((root / "data" / "logs").glob("*-dummy_binary.log"))
    assert len(logs) == 1
    captured = logs[0].read_text(encoding="utf-8")
    if os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow":
        # Other backends may write nothing to fd 2 at all; whatever they write is kept.
        assert tf_log_lines(captured), "TensorFlow's C++ log lines should be in the captured log"
    count = len(captured.splitlines())
    writer = {"jax": "JAX (XLA)", "torch": "PyTorch"}.get(os.environ.get("KERAS_BACKEND", ""))
    assert f"{writer or 'TensorFlow'} wrote {count} line(s); they are in {logs[0]}" in (
        result.stdout
    )


# ------------------------------------------------------------------------------ Ctrl+C
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_stops_after_the_current_batch_and_prints_what_was_reached(
    tmp_path: Path, signum: signal.Signals
) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "ktui", "run", "dummy_binary", "--set", "epochs=5000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        env=child_env(_dirs_env(tmp_path)),
        cwd=REPO_ROOT,
    )
    assert process.stdout is not None
    before: list[str] = []
    try:
        for line in process.stdout:
            before.append(line)
            if line.startswith("Epoch"):
                process.send_signal(signum)
                break
        rest, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    stdout = "".join(before) + rest
    assert any(line.startswith("Epoch") for line in before), stdout + stderr

    # 128 + the signal's number, as a shell reports a process that signal ended.
    assert process.returncode == 128 + signum, stdout + stderr
    _no_traceback(stderr)
    assert tf_log_lines(stderr) == []
    assert "Stopping after the current batch" in stdout
    match = re.search(r"^Stopped after (\d+) epoch\(s\)\.$", stdout, re.MULTILINE)
    assert match, stdout
    reached = int(match[1])
    assert 1 <= reached < 5000
    # One line per whole epoch, in order, none for the epoch the stop cut short.
    numbers = [int(m[1]) for m in map(EPOCH_LINE.match, stdout.splitlines()) if m]
    assert numbers == list(range(1, reached + 1))
    assert re.search(r"^Test loss: \S+  Test accuracy: [\d.]+%", stdout, re.MULTILINE)


# ---------------------------------------------------------------- refused before training
@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["run", "dummy_binary", "--set", "nope=1"],
            "ktui: --set 'nope=1': preset dummy_binary has no hyperparameter 'nope'",
        ),
        (
            ["run", "dummy_binary", "--set", "epoch=3"],
            "did you mean 'epochs'?",
        ),
        (
            ["run", "dummy_binary", "--set", "epochs=many"],
            "ktui: --set 'epochs=many': epochs expects a whole number from 1 to 10000",
        ),
        (
            ["run", "dummy_binary", "--set", "dropout=1.5"],
            "dropout expects a number from 0 to 0.95, got 1.5",
        ),
        (
            ["run", "dummy_binary", "--set", "activation=reluu"],
            "activation expects one of relu, tanh",
        ),
        (["run", "dummy_binary", "--set", "epochs"], "expected NAME=VALUE"),
        (["run", "mnist_mpl"], "no preset called 'mnist_mpl'"),
        (["run", "dummy_binary", "--data", "imagenet"], "data source 'imagenet' is not recognised"),
    ],
    ids=[
        "unknown-name",
        "suggestion",
        "unparsable",
        "out-of-bounds",
        "bad-choice",
        "no-equals",
        "unknown-preset",
        "unknown-data",
    ],
)
def test_refused_before_any_training(args: list[str], expected: str) -> None:
    result = run_ktui(*args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert expected in result.stderr
    _no_traceback(result.stderr)
    # Refused before TensorFlow was even loaded.
    assert "Loading Keras" not in result.stdout
    assert result.stdout == ""


def test_missing_data_file_is_refused_with_where_to_put_it(tmp_path: Path) -> None:
    missing = tmp_path / "mine" / "digits.npz"
    result = run_ktui("run", "mnist_mlp", "--data", str(missing))
    assert result.returncode == 2
    assert f"data file {missing} does not exist" in result.stderr
    assert "Put a .npz with x_train, y_train, x_test, y_test there" in result.stderr
    _no_traceback(result.stderr)
    assert result.stdout == ""


def test_a_broken_preset_is_refused_and_the_others_still_run_and_list(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    broken = write_preset(
        folder, tiny_preset_text().replace("[fit]\n", "[fit]\nbatchsize = 3\n"), name="typo"
    )
    result = run_ktui("--presets", str(folder), "run", "typo")
    assert result.returncode == 2
    assert f"ktui: {broken}: fit.batchsize: unknown key; did you mean 'batch_size'?" in (
        result.stderr
    )
    _no_traceback(result.stderr)

    listing = run_ktui("--presets", str(folder), "presets")
    assert listing.returncode == 1
    names = [line.split("\t")[0] for line in listing.stdout.splitlines()]
    assert names == ["dummy_binary", "mnist_cnn", "mnist_mlp"]
    assert "1 preset file(s) could not be loaded" in listing.stderr
    assert f"{broken}: fit.batchsize" in listing.stderr
    _no_traceback(listing.stderr)


def test_presets_listing_is_plain_when_piped() -> None:
    result = run_ktui("presets")
    assert result.returncode == 0, result.stderr
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert [row[0] for row in rows] == ["dummy_binary", "mnist_cnn", "mnist_mlp"]
    for name, description, source in rows:
        assert description and Path(source) == shipped_presets_dir() / f"{name}.toml"
    assert result.stderr == ""


def test_presets_dir_that_does_not_exist(tmp_path: Path) -> None:
    result = run_ktui("--presets", str(tmp_path / "nope"), "presets")
    assert result.returncode == 2
    assert f"--presets {tmp_path / 'nope'}: no such folder" in result.stderr


def test_no_keras_backend_installed_is_a_message_not_a_traceback() -> None:
    # None in sys.modules makes every `import tensorflow` fail, as if it were absent.
    result = run_python(
        "import os, sys\n"
        "os.environ.pop('KERAS_BACKEND', None)\n"
        "sys.modules.update(tensorflow=None, jax=None, torch=None)\n"
        "from ktui.cli import main\n"
        "sys.exit(main(['run', 'dummy_binary', '--set', 'epochs=1']))\n"
    )
    assert result.returncode == 2
    assert result.stderr.startswith("ktui: no Keras backend is installed (")
    assert "pip install 'ktui[tensorflow]'" in result.stderr
    assert result.stdout == ""  # refused before anything was recorded or loaded
    _no_traceback(result.stderr)


def test_keras_that_cannot_be_imported_is_a_message_not_a_traceback() -> None:
    result = run_python(
        "import sys\n"
        "sys.modules['keras'] = None\n"
        "from ktui.cli import main\n"
        "sys.exit(main(['run', 'dummy_binary', '--set', 'epochs=1']))\n"
    )
    assert result.returncode == 2
    assert result.stderr.startswith("ktui: Keras could not be loaded with the ")
    assert "pip install 'ktui[" in result.stderr
    _no_traceback(result.stderr)


# --------------------------------------------------------- failures during a run (with TF)
def test_unknown_layer_fails_with_file_and_key_and_no_traceback(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    path = write_preset(folder, tiny_preset_text(layer="Dens"), name="tiny")
    result = run_ktui("--presets", str(folder), "run", "tiny", env=_dirs_env(tmp_path))
    # Refused before TensorFlow loads (core.keras_names), like any other preset mistake.
    assert result.returncode == 2
    assert (
        f"ktui: {path}: model.layers[0].type: unknown Keras layer 'Dens'; "
        "did you mean 'Dense'" in result.stderr
    )
    _no_traceback(result.stderr)
    assert tf_log_lines(result.stderr) == []
    assert "Test loss" not in result.stdout


def test_corrupt_cached_mnist_says_what_to_do(tmp_path: Path) -> None:
    env = _dirs_env(tmp_path)
    cached = Path(env["KERAS_HOME"]) / "datasets" / "mnist.npz"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"PK\x03\x04 truncated download")
    result = run_ktui("run", "mnist_mlp", "--set", "epochs=1", env=env)
    assert result.returncode == 1
    assert f"data file {cached}" in result.stderr
    assert "Delete it so Keras downloads it again" in result.stderr
    _no_traceback(result.stderr)
    assert tf_log_lines(result.stderr) == []


def test_no_network_says_where_to_put_mnist(tmp_path: Path) -> None:
    env = _dirs_env(tmp_path)
    # Every download goes through a proxy that refuses connections: no network.
    dead = "http://127.0.0.1:9"
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        env[name] = dead
    env["no_proxy"] = env["NO_PROXY"] = ""
    result = run_ktui("run", "mnist_mlp", "--set", "epochs=1", env=env)
    assert result.returncode == 1
    assert "MNIST is not on this machine and could not be downloaded" in result.stderr
    assert "Put mnist.npz" in result.stderr
    assert f"in {Path(env['KERAS_HOME']) / 'datasets'}/" in result.stderr
    _no_traceback(result.stderr)
    assert tf_log_lines(result.stderr) == []


def test_cached_mnist_runs_with_the_shipped_preset(tmp_path: Path) -> None:
    env = _dirs_env(tmp_path)
    write_mnist_npz(Path(env["KERAS_HOME"]) / "datasets" / "mnist.npz", n_train=64, n_test=32)
    result = run_ktui("run", "mnist_mlp", "--set", "epochs=2", "--set", "units=8", "--log", env=env)
    assert result.returncode == 0, result.stderr
    epoch_lines = [line for line in result.stdout.splitlines() if line.startswith("Epoch")]
    assert len(epoch_lines) == 2
    for line in epoch_lines:
        # loss first, then accuracy, then the validation metrics.
        names = re.findall(r"(\b[a-z_]+) [0-9.e+-]+(?=  )", line)
        assert names[:4] == ["loss", "accuracy", "val_loss", "val_accuracy"], line
    # --log shows what TensorFlow wrote, on stdout, marked; stderr stays clean.
    assert any(line.startswith("[tf] ") for line in result.stdout.splitlines())
    assert result.stderr == ""


# ------------------------------------------------------------ the display, in-process
def _epoch(epoch: int, epochs: int = 3) -> EpochEnded:
    metrics = {"accuracy": 0.5, "loss": 0.69, "val_accuracy": 0.4, "val_loss": 0.7}
    return EpochEnded(epoch, epochs, metrics, 0.001, 0.5, 2000.0)


def _started(values: dict[str, object]) -> RunStarted:
    model = ModelSummary((LayerInfo("dense", "Dense", "(None, 1)", 21),), 21, 21, "(None, 20)")
    return RunStarted(
        "p", values, model, 100, 0, 10, 10, 3, 10, "CPU (x86_64)", "/data/[old]/x.npz"
    )


def test_display_plain_lines() -> None:
    out = io.StringIO()
    display = HeadlessDisplay(Console(file=out, highlight=False), show_log=False)
    assert not display.live
    values = {f"hyperparameter_{i}": i for i in range(20)}
    events = [
        PhaseChanged("preparing data", "/data/[old]/x.npz"),
        _started(values),
        PhaseChanged("running"),
        LogLine("hidden without --log"),
        _epoch(1),
        LearningRateChanged(0.01, 2, 1),
        _epoch(2),
        PhaseChanged("evaluating", "10 test samples"),
        RunFinished("finished", 2, 1.0, 0.5, 0.75),
    ]
    for event in events:
        display.show(event)
    lines = out.getvalue().splitlines()
    assert lines[0] == "Preparing data: /data/[old]/x.npz…"
    assert lines[1] == "p on /data/[old]/x.npz · CPU (x86_64)"
    assert lines[2] == ", ".join(f"hyperparameter_{i}={i}" for i in range(20))
    assert lines[4].startswith("Epoch 1/3  loss 0.6900  accuracy 0.5000  val_loss 0.7000")
    assert lines[5] == "Learning rate set to 0.01 at epoch 2, step 1"
    assert lines[-1] == "Test loss: 0.5000  Test accuracy: 75.00%  Test error: 25.00%"
    assert "hidden without --log" not in out.getvalue()
    assert "\x1b" not in out.getvalue()


def test_display_log_lines_and_stops() -> None:
    out = io.StringIO()
    display = HeadlessDisplay(Console(file=out), show_log=True)
    display.show(LogLine("W0000 something [/red] odd"))
    display.show(LearningRateChanged(float("nan"), 1, 3, "a schedule has no single rate"))
    display.show(RunFinished("stopped", 0, 1.0))
    assert out.getvalue().splitlines() == [
        "[tf] W0000 something [/red] odd",
        "Could not change the learning rate: a schedule has no single rate",
        "Stopped before its first epoch ended: 0 epochs, no model saved.",
        "No test result (the run stopped before its first epoch ended).",
    ]


def test_display_live_on_a_terminal() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120, highlight=False)
    display = HeadlessDisplay(console)
    assert display.live
    display.show(_started({"epochs": 3}))
    display.show(_epoch(1))
    display.show(RunFinished("finished", 1, 1.0, 0.5, 0.75))
    text = out.getvalue()
    assert "Epoch 1/3" in text and "Test accuracy: 75.00%" in text
    assert "dense (Dense)" in text  # the model table is shown on a terminal


def test_exit_codes() -> None:
    assert exit_code(RunFinished("finished", 3, 1.0)) == 0
    assert exit_code(RunFinished("stopped", 1, 1.0)) == 130
    assert exit_code(RunFinished("stopped", 1, 1.0), signal.SIGINT) == 130
    assert exit_code(RunFinished("stopped", 1, 1.0), signal.SIGTERM) == 143
    assert exit_code(RunFailed("boom", "RuntimeError", "")) == 1
    assert exit_code(None) == 1


def test_list_presets_in_process(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    write_preset(tmp_path, "[data", name="broken")
    catalog = load_catalog([shipped_presets_dir(), tmp_path])
    assert list_presets(catalog, Console(file=io.StringIO())) == 1
    assert "broken.toml: not valid TOML" in capsys.readouterr().err


def test_main_refuses_in_process(capsys: pytest.CaptureFixture[str], ktui_dirs: KtuiDirs) -> None:
    assert main(["run", "dummy_binary", "--set", "units=0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ktui: --set 'units=0': units expects a whole number from 1 to 8192")
    assert not ktui_dirs.logs.exists()  # nothing started


# ------------------------------------------------------------------------------ format
def test_order_metrics() -> None:
    given = {"val_accuracy": 1.0, "accuracy": 2.0, "val_loss": 3.0, "mae": 4.0, "loss": 5.0}
    assert list(order_metrics(given)) == ["loss", "accuracy", "mae", "val_loss", "val_accuracy"]
    assert order_metrics(given) == given


def test_epoch_and_result_lines() -> None:
    line = epoch_line(EpochEnded(3, 10, {"accuracy": 0.98765, "loss": 0.0001234}, 0.001, 65, 923))
    assert line == "Epoch 3/10  loss 1.234e-04  accuracy 0.9877  lr 0.001  1m05s  923 samples/s"
    assert result_line(RunFinished("finished", 1, 1.0, 0.25, 0.9912)) == (
        "Test loss: 0.2500  Test accuracy: 99.12%  Test error: 0.88%"
    )
    assert result_line(RunFinished("finished", 1, 1.0, 0.25, None)) == "Test loss: 0.2500"
