"""``ktui runs``: list the recorded runs, show one, export one, compare a few; steer a
run that is going (stop, pause, resume, lr: through the store's control channel) and
tidy the history (delete, tag, note).

Tables are drawn with rich on a terminal and as plain aligned text otherwise, so
the output can be piped into ``grep``, ``sort`` or ``column``. Nothing here loads
TensorFlow: listing a thousand runs reads only the store's runs and tags tables.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TextIO

from rich.cells import cell_len, set_cell_size
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ktui.core import backends
from ktui.core.errors import KtuiError, StoreError
from ktui.core.files import is_complete_model
from ktui.core.format import format_metric, format_seconds, recorded_count
from ktui.core.store_url import StoreLocation
from ktui.presentation import (
    format_best,
    format_duration,
    format_epochs,
    format_error_percent,
    format_tags,
    format_time,
    format_value,
    format_values,
    status_terminal_color,
)
from ktui.store.control import send_command, wait_taken
from ktui.store.db import RunStore
from ktui.store.export import export_run, metric_names
from ktui.store.records import CommandKind, EpochRecord, Run

LOG_TAIL = 20
"""Log lines ``ktui runs show`` prints without ``--log``."""

STEERING: dict[str, CommandKind] = {"stop": "stop", "pause": "pause", "resume": "resume"}
"""``ktui runs ACTION ID`` actions that send a control command of the same kind."""

TAKEN_TIMEOUT = 5.0
"""Seconds ``ktui runs stop`` & co. wait for the run's process to take the command
(it looks five times a second)."""

TAG_MAX = 64
"""The longest tag, in characters: a tag is a word to filter by, not a note."""


def runs_command(
    args: argparse.Namespace, store_path: StoreLocation, out: TextIO | None = None) -> int:
    """Run ``ktui runs [ACTION]``; returns the exit code."""
    console = Console(file=out or sys.stdout, highlight=False)
    if not console.is_terminal:
        console.soft_wrap = True  # a pipe or a file: never wrapped at rich's 80 columns
    action = getattr(args, "runs_command", None) or "list"
    if not store_path.exists():
        # Reading must not create a store: a mistyped --store would look like an empty one.
        if action == "list":
            console.print(f"No runs recorded yet (no store at {store_path}).", markup=False)
            return 0
        ids = args.ids if action in ("compare", "delete") else [args.id]
        raise KtuiError(
            f"no run with id {ids[0]} in {store_path}",
            hint="The store does not exist yet: `ktui run` creates it with the first run.",
        )
    # read_only: nothing is created, and a store whose disk is full is still read.
    with RunStore(store_path, read_only=True) as store:
        if store.degraded:
            print(f"ktui: {store.degraded}.", file=sys.stderr)
        # Best effort: a store another ktui keeps busy (or a full disk) can still be read.
        with contextlib.suppress(StoreError):
            store.mark_interrupted()
        if action == "show":
            if getattr(args, "confusion", False):
                from ktui.cli.confusion import show_confusion

                return show_confusion(store, parse_run_id(args.id), console)
            return show_run(store, parse_run_id(args.id), console, full_log=args.log)
        if action == "export":
            return export_command(store, parse_run_id(args.id), args.format, args.output, console)
        if action == "compare":
            ids = [parse_run_id(text) for text in args.ids]
            return compare_runs(store, ids, console, show_all=args.all)
        if action in STEERING:
            return steer_run(store, parse_run_id(args.id), STEERING[action], console)
        if action == "lr":
            return steer_run(
                store, parse_run_id(args.id), "learning_rate", console, value=args.value
            )
        if action == "delete":
            ids = [parse_run_id(text) for text in args.ids]
            return delete_runs(store, ids, console, yes=args.yes)
        if action == "tag":
            return tag_run(store, parse_run_id(args.id), args.tags, console, remove=args.remove)
        if action == "note":
            return note_run(store, parse_run_id(args.id), " ".join(args.text), console)
        return list_runs(
            store,
            console,
            preset=args.preset,
            status=args.status,
            sort=args.sort,
            reverse=args.reverse,
            limit=args.limit,
            tag=getattr(args, "tag", None),
        )


def parse_run_id(text: str) -> int:
    """A run id as typed (``12`` or ``#12``); KtuiError otherwise."""
    cleaned = text.strip().lstrip("#")
    if not cleaned.isdigit():
        raise KtuiError(
            f"{text!r} is not a run id; run ids are numbers, e.g. `ktui runs show 12`",
            hint="`ktui runs` lists the runs with their ids.",
        )
    return int(cleaned)


def _status_style(status: str) -> str | None:
    return status_terminal_color(status)


def _rich(console: Console) -> bool:
    return console.is_terminal and not console.is_dumb_terminal


def print_table(
    console: Console,
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    right: Sequence[int] = (),
    styles: Mapping[int, Callable[[str], str | None]] | None = None,
    shrink: int | None = None,
) -> None:
    """Columns of plain-text cells, two spaces apart, with a header row.

    Piped, every cell is written in full. On a terminal the header is bold, column
    ``i``'s cells get ``styles[i](cell)``, and column ``shrink`` is cut short (with
    an ellipsis) to fit the width. Drawn line by line rather than with rich's Table,
    which needs most of a second to lay out a thousand rows.
    """
    widths = [cell_len(h) for h in headers]
    for row in rows:
        widths = [max(w, cell_len(cell)) for w, cell in zip(widths, row, strict=True)]
    rich = _rich(console)
    if rich and shrink is not None:
        excess = sum(widths) + 2 * (len(widths) - 1) - console.width
        if excess > 0:
            widths[shrink] = max(cell_len(headers[shrink]), widths[shrink] - excess)

    def cells(row: Sequence[str]) -> list[str]:
        out = []
        for index, (cell, width) in enumerate(zip(row, widths, strict=True)):
            if cell_len(cell) > width:
                cell = set_cell_size(cell, width - 1) + "…"
            pad = " " * (width - cell_len(cell))
            out.append(pad + cell if index in right else cell + pad)
        return out

    if not rich:
        lines = ["  ".join(cells(row)).rstrip() for row in [headers, *rows]]
        console.file.write("\n".join(lines) + "\n")
        return
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append("  ".join(cells(headers)).rstrip() + "\n", style="bold")
    for row in rows:
        for index, cell in enumerate(cells(row)):
            if index:
                text.append("  ")
            style = styles.get(index) if styles else None
            text.append(cell, style=style(row[index]) if style else None)
        text.append("\n")
    text.rstrip()
    console.print(text, no_wrap=True, overflow="ellipsis", crop=True)


def _print(console: Console, text: str, style: str | None = None) -> None:
    """A line of plain text (never markup), styled only on a terminal."""
    console.print(
        text,
        markup=False,
        highlight=False,
        style=style if _rich(console) else None,
        soft_wrap=True,
    )


# --------------------------------------------------------------------------- ktui runs
TERMINAL_LIMIT = 50
"""How many runs ``ktui runs`` lists on a terminal unless ``--limit`` says otherwise."""


def list_runs(
    store: RunStore,
    console: Console,
    *,
    preset: str | None = None,
    status: str | None = None,
    sort: str = "id",
    reverse: bool = False,
    limit: int | None = None,
    tag: str | None = None,
) -> int:
    """Print one line per run (newest first); returns 0.

    ``limit`` None lists :data:`TERMINAL_LIMIT` runs on a terminal (a sweep's
    100,000 would scroll for minutes) and all of them into a pipe or a file, as
    always; 0 lists all. Filtering, sorting and the limit are the store's SQL: only
    the runs listed are read.
    """
    if limit is None and console.is_terminal:
        limit = TERMINAL_LIMIT
    runs = store.list_runs(
        preset=preset,
        status=status,  # type: ignore[arg-type]  # checked by argparse and the store
        tag=tag,
        sort=sort,  # type: ignore[arg-type]
        reverse=reverse,
        limit=limit or None,
    )
    tags = store.tags_of(run.id for run in runs)
    if not runs:
        filters = " ".join(
            f"{name} {value}"
            for name, value in (("preset", preset), ("status", status), ("tag", tag))
            if value
        )
        which = f" with {filters}" if filters else ""
        _print(console, f"No runs{which} in {store.path}.")
        return 0
    rows = []
    for run in runs:
        changed = run.changed_values()
        rows.append(
            [
                str(run.id),
                run.preset,
                run.status,
                format_values(changed) if changed else "defaults",
                format_epochs(run),
                format_best(run),
                format_error_percent(run),
                backends.compact(run.backend),
                format_time(run.started_at),
                format_duration(run),
            ]
        )
    # The tags column only when a run shown has tags: most stores never use them.
    if any(run.id in tags for run in runs):
        for row, run in zip(rows, runs, strict=True):
            row.append(format_tags(tags.get(run.id, ())))
    headers = [
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
        *(["tags"] if len(rows[0]) > 10 else []),
    ]
    print_table(
        console,
        headers,
        rows,
        right=(0, 4, 6, 9),
        styles={2: _status_style, 3: lambda cell: "dim" if cell == "defaults" else None},
        shrink=3,
    )
    if limit and len(runs) == limit:
        total = store.count_runs(preset=preset, status=status, tag=tag)  # type: ignore[arg-type]
        if total > len(runs):
            _print(console, f"({len(runs):,} of {total:,} runs; --limit 0 lists all)", "dim")
    return 0


# --------------------------------------------------------------------------- ktui runs show
def show_run(store: RunStore, run_id: int, console: Console, *, full_log: bool = False) -> int:
    """Print everything about one run; returns 0 (StoreError for an unknown id)."""
    run = store.get_run(run_id)
    epochs = store.epochs(run_id)
    rich = _rich(console)
    title = f"Run {run.id}  {run.preset}  "
    if rich:
        console.print(Text.assemble((title, "bold"), (run.status, _status_style(run.status) or "")))
    else:
        _print(console, title + run.status)
    rows = _details(run, store.tags(run_id).get(run_id, []), store.notes(run_id).get(run_id, ""))
    after_device = rows.index(["device", run.device or "—"]) + 1
    rows[after_device:after_device] = _where(store, run_id)
    print_details(console, rows)

    console.print()
    _print(console, "Hyperparameters", "bold")
    rows = []
    for name, value in run.values.items():
        default = run.defaults.get(name)
        changed = bool(run.defaults) and default != value
        rows.append(
            [
                name,
                format_value(value),
                "—" if name not in run.defaults else format_value(default),
                "changed" if changed else "",
            ]
        )
    print_table(console, ["name", "value", "preset default", ""], rows)

    console.print()
    if epochs:
        _print(console, "Epochs", "bold")
        print_epochs(console, epochs)
    else:
        _print(console, "No epoch was recorded.", "dim")
    print_system(store, run_id, console)

    if run.error:
        console.print()
        label = {"diverged": "Diverged", "pruned": "Pruned"}.get(run.status, "Error")
        _print(console, f"{label}: {run.error}", "bold yellow" if label == "Pruned" else "bold red")
        if run.traceback:
            _print(console, run.traceback.rstrip(), "dim")

    total = store.log_size(run_id)
    if total:
        console.print()
        lines = store.log(run_id, tail=None if full_log else LOG_TAIL)
        if full_log or total <= LOG_TAIL:
            _print(console, f"Log ({total} line{'s' if total != 1 else ''})", "bold")
        else:
            _print(console, f"Log (last {len(lines)} of {total} lines; --log shows all)", "bold")
        for line in lines:
            _print(console, line, "dim")
    return 0


def print_system(store: RunStore, run_id: int, console: Console) -> None:
    """The run's machine (averages and peaks) and its wait for data, when recorded."""
    from ktui.core.system_report import input_rows, system_rows
    from ktui.store.system import read_samples, read_timings

    # the run's data description names its kind (PyDataset, tf.data…): the advice fits it
    data = store.get_run(run_id).data
    rows = system_rows(read_samples(store, run_id)) + input_rows(read_timings(store, run_id), data)
    if rows:
        console.print()
        _print(console, "System", "bold")
        print_details(console, rows)


def print_details(console: Console, rows: Sequence[Sequence[str]]) -> None:
    """``key  value`` lines, the keys bold on a terminal."""
    if not _rich(console):
        width = max(len(key) for key, _ in rows)
        console.file.write("".join(f"{key:<{width}}  {value}\n" for key, value in rows))
        return
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for key, value in rows:
        grid.add_row(Text(key), Text(value))
    console.print(grid)


def _where(store: RunStore, run_id: int) -> list[list[str]]:
    """``where`` (strategy, replicas, devices, hosts) and, for a multi-worker run, each
    worker's last report; nothing for a run recorded before ktui kept them."""
    from ktui.core.distribute import health_line
    from ktui.store.placement import read_placement, read_workers

    placement = read_placement(store, run_id)
    if placement is None:
        return []
    rows = [["where", placement.describe()]]
    if placement.cluster:
        reports = read_workers(store, placement.cluster)
        rows.append(["workers", health_line(reports, placement.workers)])
    rows += [["", note] for note in placement.notes]
    return rows


def _details(run: Run, tags: Sequence[str] = (), note: str = "") -> list[list[str]]:
    rows = [
        ["started", format_time(run.started_at, seconds=True)],
        ["ended", format_time(run.ended_at, seconds=True)],
        ["duration", format_duration(run)],
    ]
    if run.status == "running":
        rows.append(["process", f"{run.pid} on {run.host}"])
    rows += [
        ["data", run.data or "—"],
        ["device", run.device or "—"],
        ["backend", backends.recorded(run.versions)],
        [
            "versions",
            " · ".join(f"{name} {version}" for name, version in run.versions.items()) or "—",
        ],
    ]
    if run.model:
        layers = len(run.model.get("layers", ()))
        params = run.model.get("total_params", 0)
        rows.append(["model", f"{layers} layers, {params:,} parameters"])
    info = run.info
    if info:
        rows.append(
            [
                "samples",
                f"train {recorded_count(info, 'train_samples')} · validation "
                f"{recorded_count(info, 'validation_samples')} · test "
                f"{recorded_count(info, 'test_samples')}"
                f" · batch {recorded_count(info, 'batch_size')}"
                f" → {recorded_count(info, 'steps_per_epoch')}"
                " steps per epoch",
            ]
        )
    rows.append(["epochs", format_epochs(run)])
    rows.append(["best", format_best(run, epoch=True)])
    rows.append(["tags", format_tags(tags) or "—"])
    if note:
        rows.append(["note", note])
    if run.test_loss is not None or run.test_accuracy is not None:
        test = f"loss {format_metric(run.test_loss)}"
        if run.test_accuracy is not None:
            test += (
                f" · accuracy {run.test_accuracy * 100:.2f}% · error {format_error_percent(run)}%"
            )
        rows.append(["test", test])
    else:
        rows.append(["test", "—"])
    files = [name for name in ("history.csv", "log.txt") if (run.folder / name).exists()]
    model = run.folder / "model.keras"
    # Only a whole model is the run's model: a save cut short (killed, disk full)
    # leaves a file Keras cannot load.
    if is_complete_model(model):
        files.insert(0, model.name)
    elif model.exists():
        files.insert(0, "model.keras incomplete: its save was cut short")
    rows.append(["folder", f"{run.folder}" + (f" ({', '.join(files)})" if files else " (empty)")])
    return rows


def print_epochs(console: Console, epochs: Sequence[EpochRecord]) -> None:
    """One row per epoch: each metric, the learning rate and the time."""
    names = metric_names(epochs)
    rows = [
        [
            str(record.epoch),
            *(format_metric(record.metrics.get(name)) for name in names),
            "—" if record.learning_rate is None else f"{record.learning_rate:.3g}",
            "—" if record.seconds is None else format_seconds(record.seconds),
        ]
        for record in epochs
    ]
    headers = ["epoch", *names, "lr", "time"]
    print_table(console, headers, rows, right=tuple(range(len(headers))))


# --------------------------------------------------------------------------- ktui runs export
def export_command(
    store: RunStore,
    run_id: int,
    fmt: str,
    output: Path | None,
    console: Console,
) -> int:
    """Write run ``run_id`` as CSV or JSON to ``output`` or stdout; returns 0."""
    text = export_run(store, run_id, fmt)
    if output is None:
        console.file.write(text)
        return 0
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise KtuiError(f"cannot write {output}: {exc}") from None
    _print(console, f"Wrote run {run_id} as {fmt} to {output}.")
    return 0


# --------------------------------------------------------------------------- ktui runs compare
def compare_runs(
    store: RunStore, run_ids: Sequence[int], console: Console, *, show_all: bool = False
) -> int:
    """Print runs side by side: the hyperparameters that differ, then the final metrics."""
    if not 2 <= len(run_ids) <= 4:
        raise KtuiError(f"compare takes 2 to 4 run ids, got {len(run_ids)}")
    if len(set(run_ids)) != len(run_ids):
        raise KtuiError("compare needs different run ids")
    runs = [store.get_run(run_id) for run_id in run_ids]
    finals = [_last(store.epochs(run_id)) for run_id in run_ids]
    headers = ["", *(f"run {run.id}" for run in runs)]

    def same(cells: Sequence[str]) -> bool:
        return len(set(cells)) == 1

    rows: list[list[str]] = []
    for label, cells in (
        ("preset", [run.preset for run in runs]),
        ("data", [run.data or "—" for run in runs]),
        ("backend", [backends.recorded(run.versions) for run in runs]),
        ("status", [run.status for run in runs]),
    ):
        if label == "status" or show_all or not same(cells):
            rows.append([label, *cells])
    names: dict[str, None] = {}
    for run in runs:
        names.update(dict.fromkeys(run.values))
    differing = 0
    for name in names:
        cells = [format_value(run.values[name]) if name in run.values else "—" for run in runs]
        if show_all or not same(cells):
            rows.append([name, *cells])
            differing += not same(cells)
    _print(console, "Hyperparameters" + ("" if show_all else " that differ"), "bold")
    print_table(console, headers, rows)
    if not differing:
        _print(console, "(the runs used the same hyperparameters)", "dim")

    console.print()
    _print(console, "Results", "bold")
    metric_rows: list[list[str]] = [["epochs", *(format_epochs(run) for run in runs)]]
    metrics: dict[str, None] = {}
    for final in finals:
        if final is not None:
            metrics.update(dict.fromkeys(final.metrics))
    for metric in metrics:
        metric_rows.append(
            [
                f"final {metric}",
                *(
                    format_metric(final.metrics.get(metric)) if final is not None else "—"
                    for final in finals
                ),
            ]
        )
    metric_rows += [
        ["best", *(format_best(run, epoch=True) for run in runs)],
        ["test loss", *(format_metric(run.test_loss) for run in runs)],
        [
            "test accuracy",
            *(
                "—" if run.test_accuracy is None else f"{run.test_accuracy * 100:.2f}%"
                for run in runs
            ),
        ],
        ["test error %", *(format_error_percent(run) for run in runs)],
        ["duration", *(format_duration(run) for run in runs)],
    ]
    print_table(console, headers, metric_rows, right=tuple(range(1, len(headers))))
    return 0


def _last(epochs: Sequence[EpochRecord]) -> EpochRecord | None:
    return epochs[-1] if epochs else None


# --------------------------------------------------------------------------- steering
_ASKED = {
    "stop": "stop after the current batch (it is then evaluated and recorded stopped)",
    "pause": "pause before its next batch",
    "resume": "resume",
    "learning_rate": "use learning rate {value:g} from its next batch",
}


def steer_run(
    store: RunStore,
    run_id: int,
    kind: CommandKind,
    console: Console,
    *,
    value: float | None = None,
) -> int:
    """``ktui runs stop|pause|resume|lr``: send the command through the store and wait
    until the run's process takes it; returns 0, or 1 if it was not taken in time.

    An unknown run, a run that has ended and a run whose process is gone are a
    KtuiError saying so (exit code 2).
    """
    try:
        command_id = send_command(store, run_id, kind, value)
    except ValueError as exc:  # a learning rate that is not a positive number
        raise KtuiError(f"{exc}", hint="For example `ktui runs lr 12 0.0005`.") from None
    asked = _ASKED[kind].format(value=value or 0.0)
    if wait_taken(store, command_id, timeout=TAKEN_TIMEOUT):
        _print(console, f"Run {run_id} will {asked}.")
        return 0
    _print(
        console,
        f"Asked run {run_id} to {asked}, but its process has not taken the command in "
        f"{TAKEN_TIMEOUT:g} s; it stays queued and is applied when the process looks "
        f"(`ktui attach {run_id}` shows the run).",
    )
    return 1


# --------------------------------------------------------------------------- tidying
def delete_runs(
    store: RunStore,
    run_ids: Sequence[int],
    console: Console,
    *,
    yes: bool = False,
    stdin: TextIO | None = None,
) -> int:
    """``ktui runs delete ID...``: after asking on the terminal (or with ``yes``), delete
    each run, its epochs, log and folder. Without a terminal to ask on and without
    ``--yes`` nothing is deleted (exit code 2). Returns 1 if some run was not deleted
    (a live one), else 0."""
    ids = list(dict.fromkeys(run_ids))
    runs = [store.get_run(run_id) for run_id in ids]  # an unknown id: nothing is deleted
    if not yes:
        stdin = stdin or sys.stdin
        if not stdin.isatty():
            raise KtuiError(
                "ktui runs delete asks before deleting, and there is no terminal to ask on",
                hint="Add --yes to delete without asking.",
            )
        listed = ", ".join(f"{run.id} ({run.preset}, {run.status})" for run in runs)
        which = "run" if len(runs) == 1 else "runs"
        console.print(
            f"Delete {which} {listed}? Their epochs, log and saved model are removed for good."
            " [y/N] ",
            end="",
            markup=False,
            highlight=False,
        )
        console.file.flush()
        answer = stdin.readline().strip().lower()
        if answer not in ("y", "yes"):
            _print(console, "Nothing deleted.")
            return 0
    failed = 0
    for run in runs:
        try:
            store.delete_run(run.id)
        except StoreError as exc:
            failed += 1
            _print(console, f"Run {run.id} was not deleted: {exc}", "red")
            continue
        _print(console, f"Deleted run {run.id}.")
    return 1 if failed else 0


def check_tag(tag: str) -> str:
    """A tag as typed, checked: one word (no spaces or commas), at most :data:`TAG_MAX`."""
    cleaned = tag.strip()
    if not cleaned or len(cleaned) > TAG_MAX or any(c.isspace() or c == "," for c in cleaned):
        raise KtuiError(
            f"{tag!r} is not a tag: a tag is one word of 1 to {TAG_MAX} characters, "
            "without spaces or commas",
            hint="For example `ktui runs tag 12 baseline`; longer text goes in a note "
            "(`ktui runs note 12 TEXT`).",
        )
    return cleaned


def tag_run(
    store: RunStore, run_id: int, tags: Sequence[str], console: Console, *, remove: bool = False
) -> int:
    """``ktui runs tag ID TAG... [--remove]``: add (or take off) tags; returns 0."""
    checked = list(dict.fromkeys(check_tag(tag) for tag in tags))
    if remove:
        missing = store.remove_tags(run_id, checked)
        if missing:
            _print(console, f"Run {run_id} had no tag {', '.join(missing)}.", "dim")
    else:
        store.add_tags(run_id, checked)
    now = store.tags(run_id).get(run_id, [])
    _print(console, f"Run {run_id}'s tags: {format_tags(now) or 'none'}.")
    return 0


def note_run(store: RunStore, run_id: int, text: str, console: Console) -> int:
    """``ktui runs note ID TEXT``: replace the run's note (an empty TEXT removes it)."""
    note = text.strip()
    store.set_note(run_id, note)
    _print(console, f"Run {run_id}'s note: {note}" if note else f"Removed run {run_id}'s note.")
    return 0
