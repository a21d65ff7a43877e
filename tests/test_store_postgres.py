"""The run store on PostgreSQL: a real throwaway server on loopback (tests/pg_server.py).

What the shared store tests (test_store.py and others, parametrized over ``store_at``)
do not cover: what only a server has — roles and passwords, a server that cannot be
reached or goes away mid-run, a detached run steered from another process through the
database — and the SQLite store refused on a network file system.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import run_ktui, run_python
from pg_server import free_port

from ktui.core.config import load_config
from ktui.core.errors import StoreError, StoreUnavailable
from ktui.core.paths import store_path
from ktui.core.store_url import DatabaseUrl
from ktui.store import RunStore, send_command
from ktui.store import network as network_mod
from ktui.store.liveness import process_alive
from ktui.store.schema import SCHEMA_VERSION


def record(store: RunStore, epochs: int = 2) -> int:
    run_id = store.create_run("p", values={"units": 4}, epochs=epochs)
    for epoch in range(1, epochs + 1):
        store.add_epoch(run_id, epoch, {"loss": 1 / epoch})
    store.finish_run(run_id)
    return run_id


# --------------------------------------------------------------------------- where
def test_the_url_comes_from_the_flag_the_environment_or_config_toml(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url = "postgresql://alice:s3cret@db.example.org:5433/team?sslmode=require"
    assert store_path(url) == DatabaseUrl(url)
    monkeypatch.setenv("KTUI_STORE", url)
    location = store_path()
    assert isinstance(location, DatabaseUrl) and location.url == url
    # Printed anywhere, it hides the password.
    assert str(location) == "postgresql://alice:***@db.example.org:5433/team?sslmode=require"
    assert location.folder_name == "db.example.org-5433-team"
    monkeypatch.delenv("KTUI_STORE")
    config = tmp_path / "ktui-config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('store = "postgres://bob@db/runs"\n', encoding="utf-8")
    assert load_config(config).store == DatabaseUrl("postgres://bob@db/runs")
    assert store_path() == DatabaseUrl("postgres://bob@db/runs")


def test_run_folders_live_in_this_hosts_data_folder(postgres_url: str, tmp_path: Path) -> None:
    with RunStore(postgres_url) as store:
        run_id = record(store)
        folder = store.folder(run_id)
        name = DatabaseUrl(postgres_url).folder_name
        assert folder == tmp_path / "ktui-data" / "postgres" / name / "runs" / str(run_id)
        assert folder.is_dir()
        assert store.schema_version == SCHEMA_VERSION


# --------------------------------------------------------------------------- bad input
def test_a_server_that_cannot_be_reached_is_a_message(tmp_path: Path) -> None:
    url = f"postgresql://ktui@127.0.0.1:{free_port()}/runs"
    with pytest.raises(StoreUnavailable, match="cannot reach the PostgreSQL server") as caught:
        RunStore(url)
    assert "pg_hba.conf" in (caught.value.hint or "")
    result = run_ktui("--store", url, "runs", timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("ktui: cannot reach the PostgreSQL server of the run store")


def test_a_wrong_password_and_a_missing_database_are_messages(postgres_server: Any) -> None:
    wrong = postgres_server.url("postgres", password="not-the-password")
    result = run_ktui("--store", wrong, "runs", timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "refused the password of role ktui" in result.stderr
    assert "not-the-password" not in result.stderr  # never printed
    with pytest.raises(StoreError, match="database does not exist") as caught:
        RunStore(postgres_server.url("no_such_database"))
    assert "createdb" in (caught.value.hint or "")


def test_a_database_of_a_newer_ktui_is_refused_and_left_alone(postgres_url: str) -> None:
    with RunStore(postgres_url) as store:
        record(store)
        with store._write("pretend a newer ktui wrote it") as db:
            db.execute("UPDATE ktui_schema SET version = ?", (SCHEMA_VERSION + 1,))
    with pytest.raises(StoreError, match="written by a newer ktui") as caught:
        RunStore(postgres_url)
    assert f"schema version {SCHEMA_VERSION + 1}" in caught.value.message
    result = run_ktui("--store", postgres_url, "runs", timeout=60)
    assert result.returncode == 2 and "newer ktui" in result.stderr
    assert "Traceback" not in result.stderr


def test_another_programs_runs_table_is_left_alone(postgres_url: str) -> None:
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE runs (name TEXT)")
    with pytest.raises(StoreError, match="has a table 'runs' that ktui did not make"):
        RunStore(postgres_url)


def test_a_role_that_may_only_read_reads_and_is_told_it_cannot_write(
    postgres_server: Any, postgres_url: str
) -> None:
    with RunStore(postgres_url) as store:
        run_id = record(store)
    database = DatabaseUrl(postgres_url).database
    postgres_server.sql("DROP ROLE IF EXISTS reader")
    postgres_server.sql("CREATE ROLE reader LOGIN PASSWORD 'reader-pw'")
    postgres_server.sql("GRANT SELECT ON ALL TABLES IN SCHEMA public TO reader", database)
    reader = postgres_server.url(database, user="reader", password="reader-pw")

    with pytest.raises(StoreError, match="role reader may read but not write") as caught:
        RunStore(reader)
    assert "ask the database owner" in (caught.value.hint or "").lower()
    with RunStore(reader, read_only=True) as store:
        assert [r.id for r in store.list_runs()] == [run_id]
    # Read-only commands work for this role; one that writes says why not (exit 2).
    listed = run_ktui("--store", reader, "runs", timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert re.search(rf"^\s*{run_id}\s", listed.stdout, re.M), listed.stdout
    shown = run_ktui("--store", reader, "runs", "show", str(run_id), timeout=60)
    assert shown.returncode == 0, shown.stderr
    tagged = run_ktui("--store", reader, "runs", "tag", str(run_id), "best", timeout=60)
    assert tagged.returncode == 2 and "Traceback" not in tagged.stderr
    assert "role reader may" in tagged.stderr and "not" in tagged.stderr


def test_without_the_driver_a_postgresql_store_says_how_to_install_it(postgres_url: str) -> None:
    code = f"""
import sys
sys.modules["psycopg"] = None  # as if psycopg were not installed
from ktui.cli import main
sys.exit(main(["--store", {postgres_url!r}, "runs"]))
"""
    result = run_python(code, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "pip install 'ktui[postgres]'" in result.stderr
    assert "Traceback" not in result.stderr


# --------------------------------------------------------------------------- NFS
def test_an_sqlite_store_on_a_network_file_system_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    share = tmp_path / "home"
    share.mkdir()
    mounts = tmp_path / "mounts"
    mounts.write_text(
        "/dev/sda1 / ext4 rw 0 0\n"
        f"fileserver:/export/home {share} nfs4 rw,relatime 0 0\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(network_mod, "MOUNTS", mounts)
    path = share / "me" / "runs.sqlite"
    with pytest.raises(StoreError, match="on a network file system \\(nfs4 at ") as caught:
        RunStore(path)
    assert "postgresql://" in (caught.value.hint or "")
    assert network_mod.OVERRIDE in (caught.value.hint or "")
    assert not path.exists()  # nothing was created there
    with pytest.raises(StoreError, match="network file system"):
        RunStore(path, read_only=True)
    # A store beside the share, on the local disk, is fine; and the override works.
    with RunStore(tmp_path / "local" / "runs.sqlite"):
        pass
    monkeypatch.setenv(network_mod.OVERRIDE, "1")
    with RunStore(path) as store:
        record(store)


# --------------------------------------------------------------------------- live runs
@pytest.fixture
def pids() -> Iterator[list[int]]:
    started: list[int] = []
    yield started
    for pid in started:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def wait_for(check: Any, timeout: float = 60, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.05)


def test_a_detached_run_steered_through_postgresql_keeps_every_epoch_across_a_restart(
    postgres_server: Any, postgres_url: str, pids: list[int], capsys: pytest.CaptureFixture[str]
) -> None:
    from ktui.cli import main

    result = run_ktui(
        "--store", postgres_url, "run", "dummy_binary", "--detach",
        "--set", "epochs=400", "--set", "batch_size=10", timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    match = re.match(r"Started run (\d+) in the background \(pid (\d+)\)", result.stdout)
    assert match, result.stdout
    run_id, pid = int(match[1]), int(match[2])
    pids.append(pid)
    assert "ktui-test-secret" not in result.stdout  # the hint hides the password
    with RunStore(postgres_url) as store:
        wait_for(lambda: store.get_run(run_id).epochs_done >= 1, what="a first epoch")
        # The server goes away mid-fit: the run goes on, its epochs wait in its memory.
        postgres_server.pg_ctl("stop")
        try:
            time.sleep(1.5)
            assert process_alive(pid), "the fit must go on while the store is away"
        finally:
            postgres_server.pg_ctl("start")
        # Back: another process (a `ktui runs` command) pauses it through the database.
        paused = run_ktui("--store", postgres_url, "runs", "pause", str(run_id), timeout=60)
        assert paused.returncode == 0, paused.stderr
        wait_for(lambda: store.progress(run_id).phase == "paused", 20, "paused")
        # The epochs that waited in memory may still be landing: the pause is written
        # straight away, the queued epochs by the writer's retry. Every epoch before the
        # one the pause holds must arrive, and then nothing more while it is held.
        paused_in = store.progress(run_id).epoch
        assert paused_in is not None
        wait_for(
            lambda: store.get_run(run_id).epochs_done >= paused_in - 1, 20, "the queued epochs"
        )
        held = store.get_run(run_id).epochs_done
        time.sleep(0.5)
        assert store.get_run(run_id).epochs_done == held
        assert store.progress(run_id).epoch == paused_in
        # This process sends the learning rate, the resume and the stop.
        send_command(store, run_id, "learning_rate", 0.0123)
        send_command(store, run_id, "resume")
        wait_for(
            lambda: any(
                change.after == pytest.approx(0.0123)
                for change in store.learning_rate_changes(run_id)
            ),
            what="the learning-rate change",
        )
        wait_for(lambda: store.progress(run_id).phase == "running", 20, "running again")
        assert main(["--store", postgres_url, "runs", "stop", str(run_id)]) == 0
        assert capsys.readouterr().out.startswith(f"Run {run_id} will stop")
        wait_for(lambda: not process_alive(pid), what="the run's process to end")
        run = store.get_run(run_id)
        assert run.status == "stopped" and held <= run.epochs_done < 400
        # Not one epoch lost to the restart.
        assert [e.epoch for e in store.epochs(run_id)] == list(range(1, run.epochs_done + 1))
        folder = store.folder(run_id)
        assert (folder / "model.keras").is_file()
        output = (folder / "output.log").read_text(encoding="utf-8")
    assert "It waits in memory" in output and "the run store takes writes again" in output
    assert "Traceback" not in output


# --------------------------------------------------------------------------- history
def test_history_pages_compare_and_export_through_postgresql(
    postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from test_runs_paging import FILTERS, make_runs, test_pages_are_the_list_cut_in_pieces

    from ktui.cli import main

    with RunStore(postgres_url) as store:
        make_runs(store)
        # Every sort, both directions, paged and positioned, as on SQLite.
        for filters in (FILTERS[0], FILTERS[3], FILTERS[4]):
            test_pages_are_the_list_cut_in_pieces(store, filters)
        first, second = (r.id for r in store.list_runs(status="finished", limit=2))
        store.add_tags(first, ["keep"])
        store.set_note(first, "the 100% one")
    assert main(["--store", postgres_url, "runs", "--tag", "keep"]) == 0
    listed = capsys.readouterr().out
    assert re.search(rf"^\s*{first}\s", listed, re.M), listed
    assert main(["--store", postgres_url, "runs", "compare", str(first), str(second)]) == 0
    assert "units" in capsys.readouterr().out
    assert main(["--store", postgres_url, "runs", "export", str(first), "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["id"] == first and document["note"] == "the 100% one"
    assert document["tags"] == ["keep"] and len(document["epochs"]) == 2


def test_a_nul_character_in_a_log_line_costs_nothing(postgres_url: str) -> None:
    # PostgreSQL's text cannot hold NUL (SQLite's can): the epoch must still be kept.
    with RunStore(postgres_url) as store:
        run_id = store.create_run("p")
        store.add_epoch(run_id, 1, {"loss": 0.5}, log=["progress\x00bar", "fine"])
        assert [e.epoch for e in store.epochs(run_id)] == [1]
        assert store.log(run_id) == ["progress\ufffdbar", "fine"]


def test_reading_an_empty_database_creates_nothing(postgres_url: str) -> None:
    with pytest.raises(StoreError, match="there is no ktui run store in the database"):
        RunStore(postgres_url, read_only=True)
    import psycopg

    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT to_regclass('runs')").fetchone() == (None,)
    result = run_ktui("--store", postgres_url, "runs", timeout=60)
    assert result.returncode == 2 and "no ktui run store" in result.stderr


def test_a_run_with_a_huge_hyperparameter_value_is_recorded_and_sorted(
    postgres_url: str,
) -> None:
    # A btree row holds at most ~2.7 KB: an index on the whole hyperparameters text
    # refused such a run; the index holds a bounded prefix (migration v13).
    huge = "z" + os.urandom(10_000).hex()  # random: PostgreSQL compresses a repeated one
    with RunStore(postgres_url) as store:
        small = store.create_run("p", values={"note": "a"})
        big = store.create_run("p", values={"note": huge})
        store.finish_run(big)
        assert store.get_run(big).values == {"note": huge}
        ordered = [r.id for r in store.list_runs(sort="values", limit=10)]
        assert ordered == [small, big]
        assert store.run_position(big, sort="values") == 1
        import psycopg

        with psycopg.connect(postgres_url) as conn:
            conn.execute("SET enable_seqscan = off")  # two rows: a scan is cheaper anyway
            plan = "\n".join(
                row[0]
                for row in conn.execute(
                    "EXPLAIN SELECT id FROM runs ORDER BY substr(hyperparameters, 1, 256),"
                    " id DESC LIMIT 5"
                )
            )
    assert "runs_by_values" in plan, plan
