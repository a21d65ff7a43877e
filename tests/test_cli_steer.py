"""Steering and tidying from the command line: ``ktui runs stop|pause|resume|lr``,
``delete``, ``tag`` and ``note`` — and tags and notes wherever runs are shown."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from conftest import run_ktui
from test_detach import Follow, detach, pids, store_file, wait_gone  # noqa: F401 - fixtures

from ktui.cli import main
from ktui.cli.runs import delete_runs
from ktui.core.events import LearningRateChanged
from ktui.store import RunStore
from ktui.store.schema import SCHEMA_VERSION


def make_runs(path: Path, count: int = 3) -> list[int]:
    """``count`` finished runs of preset ``p``."""
    with RunStore(path) as store:
        ids = []
        for _ in range(count):
            run_id = store.create_run("p", values={"units": 4}, data="random", epochs=1)
            store.finish_run(run_id, "finished")
            ids.append(run_id)
        return ids


def ktui(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


# --------------------------------------------------------------------------- a real run
def test_runs_stop_pause_resume_and_lr_steer_a_real_detached_run(
    store_file: Path,  # noqa: F811
    pids: list[int],  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    run_id, pid, _, _ = detach(store_file)
    pids.append(pid)
    with RunStore(store_file) as store:
        follow = Follow(store, run_id)
        follow.until(lambda _: len(follow.epochs()) >= 1)
        code, out, _ = ktui(capsys, "runs", "pause", str(run_id), "--store", str(store_file))
        assert code == 0 and out == f"Run {run_id} will pause before its next batch.\n"
        follow.until(lambda _: follow.phase() == "paused")
        code, out, _ = ktui(capsys, "--store", str(store_file), "runs", "resume", str(run_id))
        assert code == 0
        follow.until(lambda _: follow.phase() == "running")
        code, out, _ = ktui(capsys, "runs", "lr", str(run_id), "0.0005", "--store", str(store_file))
        assert code == 0 and "learning rate 0.0005" in out
        follow.until(
            lambda events: any(
                isinstance(e, LearningRateChanged) and e.value == pytest.approx(0.0005)
                for e in events
            )
        )
        code, out, _ = ktui(capsys, "runs", "stop", str(run_id), "--store", str(store_file))
        assert code == 0 and out.startswith(f"Run {run_id} will stop after the current batch")
        follow.until(lambda _: follow.follower.done)
        wait_gone(pid)
        run = store.get_run(run_id)
        assert run.status == "stopped" and 1 <= run.epochs_done < 400
    # The run has ended: a command to it says so (exit 2), as for an unknown run.
    result = run_ktui("runs", "stop", str(run_id), "--store", str(store_file), timeout=60)
    assert result.returncode == 2
    assert re.match(rf"ktui: run {run_id} stopped at .*; nothing to control\n", result.stderr)
    result = run_ktui("runs", "pause", "999", "--store", str(store_file), timeout=60)
    assert result.returncode == 2
    assert result.stderr.startswith(f"ktui: no run with id 999 in {store_file}")


def test_lr_refuses_what_is_not_a_positive_number(tmp_path: Path) -> None:
    for value in ("0", "-1", "fast", "inf"):
        result = run_ktui("runs", "lr", "1", value, "--store", str(tmp_path / "s.db"), timeout=60)
        assert result.returncode == 2 and "Traceback" not in result.stderr, value


def test_a_run_whose_process_is_gone_is_marked_interrupted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "s.db"
    with RunStore(path) as store:
        run_id = store.create_run("p", values={}, data="random", epochs=1)
        store.adopt_run(run_id, pid=2**22 + 12345)  # no such process
    code, _, err = ktui(capsys, "runs", "stop", str(run_id), "--store", str(path))
    assert code == 2 and f"run {run_id} was interrupted at " in err and "nothing to control" in err
    with RunStore(path) as store:
        assert store.get_run(run_id).status == "interrupted"


# --------------------------------------------------------------------------- delete
def test_delete_with_yes_deletes_every_run_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "s.db"
    a, b, c = make_runs(path)
    code, out, _ = ktui(capsys, "runs", "delete", str(a), f"#{c}", "--yes", "--store", str(path))
    assert code == 0 and out == f"Deleted run {a}.\nDeleted run {c}.\n"
    with RunStore(path) as store:
        assert [run.id for run in store.list_runs()] == [b]


def test_delete_refuses_without_a_terminal_and_without_yes(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    (a,) = make_runs(path, 1)
    result = run_ktui("runs", "delete", str(a), "--store", str(path), timeout=60)
    assert result.returncode == 2
    assert "there is no terminal to ask on" in result.stderr and "--yes" in result.stderr
    with RunStore(path) as store:
        assert store.has_run(a)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("answer", "deleted"), [("y\n", True), ("\n", False), ("no\n", False)])
def test_delete_asks_on_a_terminal(tmp_path: Path, answer: str, deleted: bool) -> None:
    from rich.console import Console

    path = tmp_path / "s.db"
    a, b = make_runs(path, 2)
    out = io.StringIO()
    with RunStore(path) as store:
        code = delete_runs(store, [a, b], Console(file=out), stdin=_Terminal(answer))
        assert code == 0
        assert out.getvalue().startswith(f"Delete runs {a} (p, finished), {b} (p, finished)? ")
        assert store.has_run(a) is not deleted and store.has_run(b) is not deleted
        assert ("Nothing deleted." in out.getvalue()) is not deleted


def test_delete_of_an_unknown_run_deletes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "s.db"
    (a,) = make_runs(path, 1)
    code, _, err = ktui(capsys, "runs", "delete", str(a), "77", "--yes", "--store", str(path))
    assert code == 2 and "no run with id 77" in err
    with RunStore(path) as store:
        assert store.has_run(a)


# --------------------------------------------------------------------------- tags and notes
def test_tags_and_notes_are_stored_shown_filtered_and_exported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "s.db"
    a, b, c = make_runs(path)
    store = ["--store", str(path)]
    assert ktui(capsys, "runs", "tag", str(a), "baseline", "good", *store) == (
        0,
        f"Run {a}'s tags: baseline, good.\n",
        "",
    )
    assert ktui(capsys, "runs", "tag", str(c), "good", "good", *store)[0] == 0
    assert ktui(capsys, "runs", "note", str(a), "first", "try,", "lr", "1e-3", *store)[1] == (
        f"Run {a}'s note: first try, lr 1e-3\n"
    )
    code, out, _ = ktui(capsys, "runs", *store)
    lines = out.splitlines()
    assert lines[0].split()[-1] == "tags"
    assert lines[1].split()[0] == str(c) and lines[1].endswith("  good")
    assert lines[2].split()[0] == str(b) and lines[2].endswith("0.0s")
    assert lines[3].split()[0] == str(a) and lines[3].endswith("  baseline, good")
    code, out, _ = ktui(capsys, "runs", "--tag", "good", *store)
    assert [line.split()[0] for line in out.splitlines()[1:]] == [str(c), str(a)]
    code, out, _ = ktui(capsys, "runs", "--tag", "good", "--limit", "1", *store)
    assert out.splitlines()[1].split()[0] == str(c) and "(1 of 2 runs" in out
    code, out, _ = ktui(capsys, "runs", "--tag", "nope", *store)
    assert out == f"No runs with tag nope in {path}.\n"
    code, out, _ = ktui(capsys, "runs", "show", str(a), *store)
    assert re.search(r"^tags +baseline, good$", out, re.M)
    assert re.search(r"^note +first try, lr 1e-3$", out, re.M)
    code, out, _ = ktui(capsys, "runs", "export", str(a), "--format", "json", *store)
    document = json.loads(out)
    assert document["tags"] == ["baseline", "good"] and document["note"] == "first try, lr 1e-3"

    assert ktui(capsys, "runs", "tag", str(a), "good", "bad", "--remove", *store)[1] == (
        f"Run {a} had no tag bad.\nRun {a}'s tags: baseline.\n"
    )
    assert ktui(capsys, "runs", "note", str(a), "", *store)[1] == f"Removed run {a}'s note.\n"
    with RunStore(path) as opened:
        assert opened.tags() == {a: ["baseline"], c: ["good"]}
        assert opened.notes() == {}
        opened.delete_run(c)
        assert opened.tags() == {a: ["baseline"]}
    code, out, _ = ktui(capsys, "runs", "show", str(b), *store)
    assert re.search(r"^tags +—$", out, re.M) and not re.search("^note ", out, re.M)


@pytest.mark.parametrize("tag", ["two words", "a,b", "", "x" * 65])
def test_a_tag_is_one_word(tmp_path: Path, capsys: pytest.CaptureFixture[str], tag: str) -> None:
    path = tmp_path / "s.db"
    (a,) = make_runs(path, 1)
    code, _, err = ktui(capsys, "runs", "tag", str(a), tag, "--store", str(path))
    assert code == 2 and "is not a tag" in err


def test_tagging_an_unknown_run_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "s.db"
    make_runs(path, 1)
    for args in (("tag", "9", "x"), ("note", "9", "x")):
        code, _, err = ktui(capsys, "runs", *args, "--store", str(path))
        assert code == 2 and err.startswith(f"ktui: no run with id 9 in {path}")


def test_an_older_store_gains_tags_and_notes(tmp_path: Path) -> None:
    import sqlite3

    from ktui.store.schema import MIGRATIONS

    # A store as ktui wrote it before tags and notes (schema 3), with one run: every
    # later migration runs on it, whatever their number.
    path = tmp_path / "s.db"
    db = sqlite3.connect(path)
    for migration in MIGRATIONS[:3]:
        migration(db)
    db.execute("PRAGMA user_version = 3")
    a = db.execute(
        "INSERT INTO runs (preset, status, started_at) VALUES ('dummy_binary', 'finished', 1.0)"
    ).lastrowid
    db.commit()
    db.close()
    assert a is not None
    with RunStore(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        store.add_tags(a, ["old"])
        store.set_note(a, "kept")
        assert store.tags() == {a: ["old"]} and store.notes() == {a: "kept"}
    assert (tmp_path / "s.db.v3.bak").exists()
