"""Data-parallel strategies: TF_CONFIG checks, where a run ran, workers' health, and
real TensorFlow runs — MirroredStrategy over two logical CPU devices against one
device, and two ``ktui run --strategy multiworker`` processes on loopback ports that
stop at the same step."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ktui.core.distribute import (
    Placement,
    WorkerReport,
    check_port,
    dead_worker,
    health_line,
    parse_tf_config,
    per_replica_text,
)
from ktui.core.errors import KtuiError, PresetError
from ktui.core.presets import loads
from ktui.store import RunStore, send_command
from ktui.store.placement import read_placement, read_workers, record_placement, report_worker
from tests.conftest import (
    REPO_ROOT,
    KtuiDirs,
    child_env,
    run_ktui,
    tiny_preset_text,
    write_preset,
)

NO_TENSORFLOW = importlib.util.find_spec("tensorflow") is None
NO_JAX = importlib.util.find_spec("jax") is None

#: The backends the real runs are tried on: TensorFlow's strategies and JAX's.
BACKENDS = [
    pytest.param("tensorflow", marks=pytest.mark.skipif(NO_TENSORFLOW, reason="no TensorFlow")),
    pytest.param("jax", marks=pytest.mark.skipif(NO_JAX, reason="no JAX")),
]

#: The two-worker run on JAX too, when ``KTUI_SLOW_TESTS=1``: it adds ~20 s of CI time
#: on the reference machine (2 cores), over the budget for these tests.
WORKER_BACKENDS = [
    BACKENDS[0],
    pytest.param(
        "jax",
        marks=pytest.mark.skipif(
            NO_JAX or os.environ.get("KTUI_SLOW_TESTS") != "1",
            reason="no JAX, or KTUI_SLOW_TESTS=1 not set",
        ),
    ),
]


def _cluster(*addresses: str, index: int = 0, kind: str = "worker") -> str:
    task = {"type": kind, "index": index}
    return json.dumps({"cluster": {"worker": list(addresses)}, "task": task})


def _free_ports(count: int) -> list[int]:
    sockets = []
    for _ in range(count):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sockets.append(sock)
    ports = [s.getsockname()[1] for s in sockets]
    for sock in sockets:
        sock.close()
    return ports


# ----------------------------------------------------------------------------- TF_CONFIG
@pytest.mark.parametrize(
    ("text", "says"),
    [
        (None, "not set"),
        ("{not json", "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"task": {"type": "worker", "index": 0}}', 'no "cluster"'),
        ('{"cluster": {"worker": ["localhost:1"]}}', 'no "task"'),
        (_cluster("localhost:1", "localhost:2", index=2), "task index 2 is out of range"),
        (_cluster("localhost:1", kind="ps"), "task type 'ps'"),
        (_cluster("localhost", index=0), "expected \"host:port\""),
        (
            json.dumps({"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": "0"}}),
            "expected a whole number",
        ),
    ],
)
def test_a_malformed_tf_config_says_what_is_wrong(text: str | None, says: str) -> None:
    with pytest.raises(KtuiError) as caught:
        parse_tf_config(text)
    assert says in caught.value.message
    assert caught.value.message.startswith("TF_CONFIG: ")
    assert caught.value.hint  # what to do


def test_the_chief_comes_first_and_workers_follow_in_order() -> None:
    text = json.dumps(
        {
            "cluster": {"worker": ["h2:2", "h3:3"], "chief": ["h1:1"]},
            "task": {"type": "worker", "index": 1},
        }
    )
    cluster = parse_tf_config(text)
    assert cluster.tasks == (("chief", "h1:1"), ("worker", "h2:2"), ("worker", "h3:3"))
    assert (cluster.rank, cluster.is_chief, cluster.address) == (2, False, "h3:3")
    assert cluster.coordinator == "h1:1"
    assert cluster.describe() == "w2 (worker 1, h3:3)"
    # Every host computes the same key for the same cluster, whatever its own task.
    other = parse_tf_config(text.replace('"index": 1', '"index": 0'))
    assert other.key == cluster.key and other.rank == 1
    assert parse_tf_config(_cluster("h:1", "h:2")).is_chief


def test_a_port_in_use_on_this_machine_is_refused() -> None:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        with pytest.raises(KtuiError) as caught:
            check_port(parse_tf_config(_cluster(f"localhost:{port}", "localhost:1")))
        assert f"port {port}" in caught.value.message and "in use" in caught.value.message
        assert "another port" in (caught.value.hint or "")
    finally:
        holder.close()
    check_port(parse_tf_config(_cluster(f"localhost:{port}", "localhost:1")))  # free again
    # Another host's port is not this machine's to check.
    check_port(parse_tf_config(_cluster(f"localhost:{port}", "example.invalid:1", index=1)))


def test_ktui_run_refuses_a_bad_tf_config_before_training(ktui_dirs: KtuiDirs) -> None:
    write_preset(ktui_dirs.user_presets, tiny_preset_text())
    result = run_ktui(
        "run", "tiny", "--strategy", "multiworker", env={"TF_CONFIG": '{"cluster": {}}'}
    )
    assert result.returncode == 2, result.stderr
    assert 'TF_CONFIG: no "cluster"' in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "Loading Keras" not in result.stdout  # refused before anything loads or trains
    result = run_ktui("run", "tiny", "--strategy", "sideways")
    assert result.returncode == 2 and "unknown strategy 'sideways'" in result.stderr


# ------------------------------------------------------------------------------ presets
def test_the_strategy_is_a_preset_key_and_an_option() -> None:
    preset = loads(tiny_preset_text() + '\n', source="tiny.toml")
    assert preset.resolve().strategy == "auto"
    assert preset.resolve(strategy="MultiWorker").strategy == "multiworker"
    text = 'strategy = "mirrored"\n' + tiny_preset_text()
    assert loads(text, source="m.toml").resolve().strategy == "mirrored"
    with pytest.raises(PresetError) as caught:
        loads('strategy = "wide"\n' + tiny_preset_text(), source="w.toml")
    assert caught.value.key == "strategy" and "auto, mirrored, multiworker" in str(caught.value)


def test_the_batch_size_is_the_global_batch() -> None:
    assert per_replica_text(128, 2) == "batch 128 global = 64 per replica × 2 replicas"
    assert "uneven" in per_replica_text(10, 3)
    assert per_replica_text(32, 1) == "batch 32 (one replica)"


# ------------------------------------------------------------------- placement and health
def test_where_a_run_ran_is_recorded_and_read_back(store_at: str | Path) -> None:
    store = RunStore(store_at)
    run_id = store.create_run("tiny", values={}, data="random", epochs=1)
    assert read_placement(store, run_id) is None  # not recorded: nothing is made up
    placement = Placement(
        "mirrored", 2, ("gpu1",), ("GPU:0", "GPU:1"), notes=("two GPUs",)
    )
    record_placement(store, run_id, placement)
    assert read_placement(store, run_id) == placement
    assert placement.describe() == "mirrored · 2 replicas (GPU:0, GPU:1) · gpu1"
    store.close()


def test_every_workers_report_makes_the_health_line(store_at: str | Path) -> None:
    store = RunStore(store_at)
    now = time.time()
    report_worker(store, WorkerReport("c1", 1, "h2", 12, "starting", 0, 0, now - 5))
    report_worker(store, WorkerReport("c1", 1, "h2", 12, "running", 2, 118, now))  # replaces
    report_worker(store, WorkerReport("c1", 0, "h1", 11, "running", 2, 120, now))
    report_worker(store, WorkerReport("c2", 0, "h9", 13, "running", 1, 5, now))
    reports = read_workers(store, "c1")
    assert [r.rank for r in reports] == [0, 1]
    assert health_line(reports, 2, now=now) == "2 workers: w0 step 120, w1 step 118"
    assert health_line(reports[:1], 2, now=now) == "2 workers: w0 step 120, w1 no report"
    stale = [reports[0], WorkerReport("c1", 1, "h2", 12, "running", 2, 118, now - 100)]
    assert "w1 step 118 silent 100 s" in health_line(stale, 2, now=now)
    assert dead_worker(stale, own_rank=0, timeout=30, now=now) == stale[1]
    assert dead_worker(stale, own_rank=1, timeout=30, now=now) is None
    finished = [reports[0], WorkerReport("c1", 1, "h2", 12, "finished", 2, 118, now - 100)]
    assert dead_worker(finished, own_rank=0, timeout=30, now=now) is None
    assert dead_worker(reports, own_rank=0, now=now, alive=lambda r: r.rank != 1) == reports[1]
    store.close()


def test_a_worker_whose_process_is_gone_is_named(tmp_path: Path) -> None:
    from ktui.cli.run import WORKER_LOST, _dead_worker_failure
    from ktui.store.placement import WorkerBeat

    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    store = RunStore(tmp_path / "runs.sqlite")
    cluster = parse_tf_config(_cluster("localhost:1", "localhost:2"))
    report_worker(
        store,
        WorkerReport(
            cluster.key, 1, socket.gethostname(), ended.pid, "running", 3, 41, time.time()
        ),
    )
    seen: list[WorkerReport] = []
    beat = WorkerBeat(store.path, cluster.key, 0, on_dead=seen.append)
    beat.beat(store)
    assert [r.rank for r in seen] == [1]  # its pid is gone: no need to wait for a timeout
    failure = _dead_worker_failure(cluster, seen[0])
    assert failure.error_type == WORKER_LOST
    assert failure.message.startswith(
        f"worker w1 (worker 1, localhost:2) on {socket.gethostname()} (pid {ended.pid})"
    )
    assert "epoch 3, step 41" in failure.message
    beat.beat(store)
    assert len(seen) == 1  # said once
    store.close()


def test_workers_apply_requests_only_at_agreement_steps() -> None:
    import keras
    import numpy as np

    from ktui.core.controls import RunControls
    from ktui.core.events import Event, LearningRateChanged
    from ktui.training.callback import EventCallback

    votes: list[list[float]] = []

    def agree(local: list[float]) -> list[float]:
        # This worker's vote plus a peer's (the chief): a rate at vote 2, a stop at vote 4.
        votes.append(list(local))
        peer = [1.0 if len(votes) == 4 else 0.0, 0.0, 0.005 if len(votes) == 2 else 0.0]
        return [mine + theirs for mine, theirs in zip(local, peer, strict=True)]

    class Steps(keras.callbacks.Callback):
        done = 0

        def on_train_batch_end(self, batch: int, logs: object = None) -> None:
            Steps.done += 1

    events: list[Event] = []
    controls = RunControls()
    callback = EventCallback(events.append, controls, 64, agree=agree, agree_every=3)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.01), "mse")
    rng = np.random.default_rng(0)
    model.fit(
        rng.normal(size=(64, 4)), rng.normal(size=(64, 1)), batch_size=4, epochs=3,
        verbose=0, callbacks=[callback, Steps()],
    )
    assert len(votes) == 4 and all(vote == [0.0, 0.0, 0.0] for vote in votes)
    changes = [e for e in events if isinstance(e, LearningRateChanged)]
    assert [(c.value, c.epoch, c.step) for c in changes] == [(0.005, 1, 6)]  # vote 2: step 6
    assert controls.stop_requested  # the peer's stop reached this worker's controls
    assert Steps.done == 12  # vote 4 at step 12: that step ran, none after it


# --------------------------------------------------------------------- real TensorFlow
MIRRORED_SCRIPT = """
import json, os, sys
if os.environ["KERAS_BACKEND"] == "tensorflow":
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
    )
from ktui.core.controls import RunControls
from ktui.core.events import EpochEnded, RunFinished, RunStarted
from ktui.core.presets import loads
from ktui.training.engine import KerasTrainer

preset = loads(sys.argv[1], source="tiny.toml")
out = {}
for strategy in ("auto", "mirrored"):
    events = []
    config = preset.resolve({"batch_size": 16, "epochs": 2}, strategy=strategy)
    final = KerasTrainer(capture=None).run(config, events.append, RunControls())
    assert isinstance(final, RunFinished), final
    started = next(e for e in events if isinstance(e, RunStarted))
    out[strategy] = {
        "losses": [e.metrics["loss"] for e in events if isinstance(e, EpochEnded)],
        "replicas": started.placement.replicas,
        "devices": list(started.placement.devices),
        "test_loss": final.test_loss,
    }
print("RESULT " + json.dumps(out))
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_mirrored_over_two_cpu_devices_matches_one_device(backend: str) -> None:
    # Shuffle off and 96 samples in batches of 16 (8 per replica): both see the same
    # batches, and the mirrored gradient is the mean over the two halves.
    text = tiny_preset_text(train_samples=96, shuffle="false")
    result = subprocess.run(
        [sys.executable, "-c", MIRRORED_SCRIPT, text],
        capture_output=True,
        text=True,
        env=child_env(
            # Two logical CPU devices: TensorFlow's are set up by the script, JAX's here.
            {"KERAS_BACKEND": backend, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
        ),
        cwd=REPO_ROOT,
        timeout=240,
        check=False,
    )
    line = next((ln for ln in result.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert line is not None, result.stderr[-3000:]
    out = json.loads(line.removeprefix("RESULT "))
    assert out["auto"]["replicas"] == 1
    assert out["mirrored"]["replicas"] == 2
    assert out["mirrored"]["devices"] == ["CPU:0", "CPU:1"]
    assert len(out["mirrored"]["losses"]) == 2
    assert out["mirrored"]["losses"] == pytest.approx(out["auto"]["losses"], rel=1e-4)
    assert out["mirrored"]["test_loss"] == pytest.approx(out["auto"]["test_loss"], rel=1e-4)
    # The losses moved: the two runs trained, not only matched at the start.
    assert out["auto"]["losses"][0] != out["auto"]["losses"][1]


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="this machine has GPUs")
def test_mirrored_without_a_gpu_says_it_runs_on_one_cpu_replica() -> None:
    # In this process: Keras's backend is loaded already, with one CPU device.
    import io

    from rich.console import Console

    from ktui.cli.run import HeadlessDisplay
    from ktui.core.events import ModelSummary, RunStarted
    from ktui.training.distribute import open_distribution

    distribution = open_distribution("mirrored")
    placement = distribution.placement
    assert (placement.strategy, placement.replicas, placement.devices) == (
        "mirrored", 1, ("CPU:0",)
    )
    assert placement.notes and placement.notes[0].startswith(
        "no GPU here: mirrored runs on one CPU replica, as auto would"
    )
    out = io.StringIO()
    display = HeadlessDisplay(Console(file=out, width=200))
    display.show(
        RunStarted(
            preset="tiny", values={}, model=ModelSummary((), 0, 0, ""), train_samples=64,
            validation_samples=0, test_samples=32, batch_size=16, epochs=1,
            steps_per_epoch=4, device="CPU", data="random", placement=placement,
        )
    )
    text = out.getvalue()
    assert "Where: mirrored · 1 replica (CPU:0)" in text
    assert "ktui: no GPU here: mirrored runs on one CPU replica" in text


def test_a_repeating_pipeline_keeps_kerass_split_and_shuffles_alike_everywhere() -> None:
    import numpy as np

    from ktui.training.distribute import repeating_input

    x = np.arange(10, dtype=np.float32).reshape(10, 1)
    y = np.arange(10, dtype=np.float32)

    def passes(seed: int) -> list[list[float]]:
        data, extra = repeating_input(
            x, y, batch_size=4, shuffle=True, seed=seed, validation_split=0.2
        )
        assert extra["steps_per_epoch"] == 2
        vx, vy = extra["validation_data"]  # the last samples, as Keras takes them
        assert vy.tolist() == [8.0, 9.0]
        batches = [b[1].numpy().tolist() for b in data.take(4)]
        return [batches[0] + batches[1], batches[2] + batches[3]]

    first, second = passes(3)
    assert sorted(first) == sorted(second) == [float(v) for v in range(8)]
    assert first != second  # reshuffled each pass
    assert passes(3) == [first, second]  # every worker, the same order: no overlap


def test_workers_on_this_machine_are_counted() -> None:
    from ktui.core.distribute import parse_tf_config, workers_on_this_machine

    local = parse_tf_config(_cluster("localhost:1", "127.0.0.1:2", index=1))
    assert workers_on_this_machine(local) == 2
    apart = parse_tf_config(_cluster("localhost:1", "elsewhere.invalid:2", index=0))
    assert workers_on_this_machine(apart) == 1


@pytest.mark.parametrize("backend", WORKER_BACKENDS)
def test_two_workers_on_loopback_stop_at_the_same_step(
    ktui_dirs: KtuiDirs, backend: str
) -> None:
    # 192 samples, global batch 32: 6 steps an epoch; a stop sent once the first epoch
    # is recorded must end both workers at one step, and only the chief records.
    write_preset(ktui_dirs.user_presets, tiny_preset_text(train_samples=192))
    ports = _free_ports(2)
    addresses = [f"localhost:{port}" for port in ports]
    env = child_env({"KERAS_BACKEND": backend, "KTUI_AGREE_EVERY": "3"})
    workers = []
    for index in range(2):
        worker_env = {**env, "TF_CONFIG": _cluster(*addresses, index=index)}
        workers.append(
            subprocess.Popen(
                [sys.executable, "-m", "ktui", "run", "tiny", "--strategy", "multiworker",
                 "--set", "batch_size=32", "--set", "epochs=50"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=worker_env,
                cwd=REPO_ROOT,
            )
        )
    try:
        store_file = ktui_dirs.data / "runs.sqlite"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if store_file.exists():
                with RunStore(store_file) as store:
                    runs = store.list_runs()
                    if runs and store.epochs(runs[0].id):
                        break
            assert all(w.poll() is None for w in workers), "a worker ended early"
            time.sleep(0.3)
        else:
            pytest.fail("the chief recorded no epoch within 120 s")
        assert len(runs) == 1  # only the chief records a run
        with RunStore(store_file) as store:
            send_command(store, runs[0].id, "stop")  # as `ktui runs stop` does
        outputs = [w.communicate(timeout=90) for w in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
    codes = [w.returncode for w in workers]
    assert codes == [130, 130], [o[1][-2000:] for o in outputs]
    stops = [
        next((ln for ln in out.splitlines() if ln.startswith("Stopping at step")), "")
        for out, _ in outputs
    ]
    assert stops[0] and stops[0] == stops[1], stops
    step = int(stops[0].split()[3].rstrip(","))
    assert step % 3 == 0 and step > 6  # an agreement step, after the first epoch
    assert "the chief (w0) records the run" in outputs[1][0]
    with RunStore(store_file) as store:
        run = store.get_run(runs[0].id)
        assert run.status == "stopped"
        assert 1 <= run.epochs_done < 50
        placement = read_placement(store, run.id)
        assert placement is not None
        assert (placement.strategy, placement.workers, placement.replicas) == ("multiworker", 2, 2)
        reports = read_workers(store, placement.cluster)
        assert [r.rank for r in reports] == [0, 1]
        assert all(r.phase == "finished" for r in reports)
        seconds = sorted(e.seconds or 0.0 for e in store.epochs(run.id)[1:])
    from ktui.training.engine import MULTIPROCESS_JAX_NO_CONFUSION

    if backend == "jax":  # said as such, not as JAX's error about non-addressable arrays
        assert run.evaluation_skipped == MULTIPROCESS_JAX_NO_CONFUSION
    else:
        assert run.evaluation_skipped != MULTIPROCESS_JAX_NO_CONFUSION
    if backend == "tensorflow":
        # Two workers on this machine share its cores, and an epoch costs its steps,
        # not a new distributed iterator (2-3 s an epoch before, 0.1 s after, loaded).
        assert "2 workers share this machine" in " ".join(placement.notes)
        if seconds:
            assert seconds[len(seconds) // 2] < 1.0, seconds
    from rich.console import Console

    from ktui.cli.runs import show_run

    show = io.StringIO()
    with RunStore(store_file) as store:
        show_run(store, run.id, Console(file=show, width=200))
    assert "multiworker · 2 workers · 2 replicas" in show.getvalue()
    assert "workers   2 workers: w0 step" in show.getvalue()
    assert not os.environ.get("TF_CONFIG")  # the test's own process never joined


# ----------------------------------------------------------------------------- the form
async def test_the_form_sets_the_strategy_and_the_status_line_says_where(
    tmp_path: Path,
) -> None:
    from conftest import wait_for
    from fakes import FakeTrainer
    from test_app import make_app, open_form, set_field, start
    from textual.widgets import Input, Select, Static

    store = RunStore(tmp_path / "runs.sqlite")
    app = make_app(tmp_path, FakeTrainer(), store=store)
    async with app.run_test(size=(120, 40)) as pilot:
        form = await open_form(pilot)
        await set_field(pilot, form, "epochs", "2")
        derived = str(form.query_one("#derived", Static).render())
        assert "Batch" not in derived  # auto: one device, nothing to explain
        form.query_one("#strategy-select", Select).value = "mirrored"
        await pilot.pause()
        await wait_for(pilot, lambda: "Batch" in str(form.query_one("#derived").render()))
        derived = str(form.query_one("#derived", Static).render())
        assert "200 global, split over every GPU" in derived
        form.query_one("#devices", Input).value = "0,1"
        await pilot.pause()
        derived = str(form.query_one("#derived", Static).render())
        assert "batch 200 global = 100 per replica × 2 replicas" in derived
        form.query_one("#devices", Input).value = "all"
        await pilot.pause()
        training = await start(pilot)
        await wait_for(pilot, lambda: not training.running)
        status = str(training.query_one("#status", Static).render())
        assert "mirrored · 2 replicas (GPU:0, GPU:1) · fakehost" in status
        assert training.config is not None and training.config.strategy == "mirrored"
    run_id = training.run_id
    assert run_id is not None
    placement = read_placement(store, run_id)
    assert placement is not None and placement.strategy == "mirrored"
    store.close()
