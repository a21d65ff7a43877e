"""System samples and step timings in the store, written from a real sampler's thread."""

from __future__ import annotations

import threading
from pathlib import Path

from ktui.core.input_bound import EpochTiming
from ktui.core.system import GpuSample, SystemSample, SystemSampler
from ktui.store import RunStore
from ktui.store.system import (
    SampleWriter,
    read_samples,
    read_timings,
    record_samples,
    record_timing,
)


def test_samples_from_the_sampler_thread_are_committed_and_read_back(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.sqlite")
    run_id = store.create_run("dummy_binary", epochs=1)
    writer = SampleWriter(store, run_id, every=0.05)
    enough = threading.Event()

    class NoGpus:
        note = "no GPU: NVML sees none"

        def read(self) -> tuple[GpuSample, ...]:
            return ()

        def close(self) -> None:
            pass

    sampler = SystemSampler(interval=0.02, gpus=NoGpus())  # type: ignore[arg-type]
    sampler.add_listener(writer)
    sampler.add_listener(lambda s: enough.set() if sampler.samples_taken >= 6 else None)
    with sampler:
        assert enough.wait(5)
    writer.flush()
    stored = read_samples(store, run_id)
    assert len(stored) >= 6 and stored == sampler.history()[: len(stored)]
    assert all(s.process_rss and s.gpu_note == "no GPU: NVML sees none" for s in stored)
    later = read_samples(store, run_id, after=stored[2].time)
    assert later == stored[3:]
    store.close()


def test_gpus_and_timings_round_trip_and_go_with_the_run(store_at: Path | str) -> None:
    store = RunStore(store_at)
    run_id = store.create_run("dummy_binary", epochs=2)
    gpu = GpuSample(1, "NVIDIA H200", 93.0, 30 * 2**30, 140 * 2**30, 612.5, 61.0)
    sample = SystemSample(5.0, 180.0, 2**30, 40.0, 2**33, 2**34, (gpu,), None, 2**29, 2**30)
    record_samples(store, run_id, [sample])
    assert read_samples(store, run_id) == [sample]
    record_timing(store, run_id, EpochTiming(0, 9, 0.5, 0.3, 0.2))
    record_timing(store, run_id, EpochTiming(1, 9, 0.6, 0.1, 0.0))
    record_timing(store, run_id, EpochTiming(1, 9, 0.7, 0.1, 0.0))  # replaced
    assert read_timings(store, run_id) == [
        EpochTiming(0, 9, 0.5, 0.3, 0.2),
        EpochTiming(1, 9, 0.7, 0.1, 0.0),
    ]
    store.finish_run(run_id)
    store.delete_run(run_id)
    assert read_samples(store, run_id) == [] and read_timings(store, run_id) == []
    store.close()


def test_a_store_that_refuses_costs_the_samples_said_once(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.sqlite")
    run_id = store.create_run("dummy_binary", epochs=1)
    errors: list[str] = []
    writer = SampleWriter(store, run_id, every=0.0, on_error=errors.append)
    store.close()  # every write now fails
    sample = SystemSample(1.0, None, None, None, None, None)
    writer(sample)
    writer(sample)
    assert writer.failed and len(errors) == 1
    assert errors[0].startswith("System samples are no longer recorded: ")


def test_a_version_8_store_gets_the_system_tables_after_a_backup(tmp_path: Path) -> None:
    import sqlite3

    from ktui.store.schema import MIGRATIONS

    # A store as version 8 left it (built by its migrations: dropping the later tables
    # would leave the columns that versions after 9 add).
    path = tmp_path / "runs.sqlite"
    db = sqlite3.connect(path)
    for migration in MIGRATIONS[:8]:
        migration(db)
    db.execute("PRAGMA user_version = 8")
    run_id = db.execute(
        "INSERT INTO runs (preset, status, started_at) VALUES ('dummy_binary', 'finished', 1.0)"
    ).lastrowid
    db.commit()
    db.close()
    store = RunStore(path)
    assert store.get_run(run_id).status == "finished"
    record_timing(store, run_id, EpochTiming(0, 3, 0.1, 0.1))
    assert read_timings(store, run_id) == [EpochTiming(0, 3, 0.1, 0.1)]
    assert read_samples(store, run_id) == []
    store.close()
    assert (tmp_path / "runs.sqlite.v8.bak").exists()


def test_the_system_recorder_and_a_follower_carry_samples_and_timings(tmp_path: Path) -> None:
    from ktui.core.events import InputTiming, RunFinished, SystemSampled
    from ktui.store.follow import RunFollower
    from ktui.store.system import SystemRecorder

    store = RunStore(tmp_path / "runs.sqlite")
    run_id = store.create_run("dummy_binary", epochs=2)
    recorder = SystemRecorder(store, run_id)
    follower = RunFollower(store, run_id)
    first = SystemSample(1.0, 100.0, 2**30, 50.0, 2**33, 2**34)
    recorder(SystemSampled(first))
    slow = EpochTiming(1, 10, 0.3, 0.0, 0.7)
    recorder(InputTiming(slow, "input-bound"))
    recorder(RunFinished("finished", 1, 1.0))  # flushes the pending sample
    events = [e for e in follower.poll() if isinstance(e, SystemSampled | InputTiming)]
    assert events[0] == SystemSampled(first)
    assert isinstance(events[1], InputTiming) and events[1].timing == slow
    assert events[1].verdict is not None and events[1].verdict.startswith("input-bound: 70 %")
    second = SystemSample(2.0, 90.0, 2**30, 50.0, 2**33, 2**34)
    record_samples(store, run_id, [second])
    assert [e for e in follower.poll() if isinstance(e, SystemSampled)] == [SystemSampled(second)]
    store.close()
