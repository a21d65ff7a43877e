"""``ktui attach [RUN_ID]``: choose the run the dashboard opens on.

Plain Python and the store only; the dashboard itself is opened by the caller.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from ktui.cli.runs import parse_run_id
from ktui.core.errors import KtuiError
from ktui.core.store_url import StoreLocation
from ktui.store import RunStore, RunSummary, live_runs

#: How many recent runs the "nothing is going" message lists.
RECENT = 5


def choose_run(store: StoreLocation, text: str | None, *, out: TextIO | None = None) -> int | None:
    """The run to attach to: ``text`` (any run, even one that ended: it is shown as
    recorded), else the newest live run. ``None`` after explaining on ``out`` that no
    run is going; KtuiError (exit code 2) for an id that is not a run."""
    recent: list[RunSummary] = []
    if text is not None or store.exists():  # reading must not create a store
        if text is not None and not store.exists():
            raise KtuiError(
                f"no run with id {text} in {store}",
                hint="The store does not exist yet: `ktui run` creates it with the first run.",
            )
        # read_only: choosing a run only reads, so it works on a full disk too.
        with RunStore(store, read_only=True) as runs:
            if text is not None:
                run_id = parse_run_id(text)
                if not runs.has_run(run_id):
                    raise KtuiError(
                        f"no run with id {run_id} in {runs.path}",
                        hint="`ktui runs` lists the runs; `ktui attach` alone opens the latest "
                        "live one.",
                    )
                return run_id
            live = live_runs(runs)
            if live:
                return live[0].id
            recent = runs.list_runs(limit=RECENT)
    out = out or sys.stdout
    print(f"No run is going now (store {store}).", file=out)
    if recent:
        print("The latest runs:", file=out)
        for run in recent:
            planned = f"/{run.epochs_planned}" if run.epochs_planned else ""
            started = time.strftime("%Y-%m-%d %H:%M", time.localtime(run.started_at))
            print(
                f"  {run.id:>4}  {run.preset:<16} {run.status:<11} "
                f"{run.epochs_done}{planned} epochs  started {started}",
                file=out,
            )
        print("`ktui attach ID` opens one of them as recorded.", file=out)
    print(
        "Start a run that outlives this terminal with `ktui run PRESET --detach`, "
        "or train from the dashboard (`ktui`).",
        file=out,
    )
    return None
