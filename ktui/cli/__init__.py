"""The ``ktui`` command: the dashboard by default, plus ``run``, ``attach``, ``presets``,
``runs``, ``sweep``, ``sweeps``, ``serve``, ``report`` and ``completion``.

Nothing here imports TensorFlow or Textual at module level: ``ktui presets`` answers
instantly, and ``ktui run`` imports TensorFlow only after fd 2 is captured.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, cast

from ktui import __version__
from ktui.core.config import load_config
from ktui.core.errors import KtuiError
from ktui.core.paths import store_path, user_presets_dir
from ktui.core.store_url import store_location

if TYPE_CHECKING:
    # Presets are read by the commands that train or open the dashboard; importing them
    # brings the data layer and NumPy, which `ktui runs` and `ktui report` start without.
    from ktui.core.presets import PresetCatalog

SHELLS = ("bash", "zsh", "fish")
"""The shells ``ktui completion`` writes a script for."""


def preset_folders(extra: Sequence[Path] = ()) -> list[Path]:
    """Shipped presets, then the user's folder, then ``--presets`` folders (later wins)."""
    from ktui.core.presets import shipped_presets_dir

    return [shipped_presets_dir(), user_presets_dir(), *extra]


# --------------------------------------------------------------------------- global options
@dataclass(frozen=True)
class GlobalOption:
    """An option every command accepts, before or after the command and its own options."""

    flag: str
    dest: str
    help: str
    metavar: str
    repeat: bool = False
    """May be given more than once (the values add up); else the last one wins."""
    complete: str | None = None
    """What the shell completes it with: ``file`` or ``directory``."""
    parse: Callable[[str], Any] = Path
    """What the text becomes (a path; the store: a path or a database URL)."""


GLOBAL_OPTIONS: tuple[GlobalOption, ...] = (
    GlobalOption(
        "--store",
        "store",
        "the run store: an SQLite file, or a postgresql://user@host/db URL to share it "
        "(default: $KTUI_STORE, else `store` in config.toml, else runs.sqlite in ktui's "
        "data folder); run folders go in runs/ beside the file",
        "PATH",
        complete="file",
        parse=store_location,
    ),
    GlobalOption(
        "--presets",
        "presets",
        "also load presets from DIR (may be repeated; these win over the others)",
        "DIR",
        repeat=True,
        complete="directory",
    ),
)
"""Later global options go here: every parser gets them, :func:`parse_args` merges them."""


def _add_global_options(parser: argparse.ArgumentParser, level: int) -> None:
    """Give ``parser`` the global options. Below the top (``level`` > 0) each level
    keeps its own copy (``store__1``...), which :func:`_merge_global_options`
    combines: argparse gives a subcommand a fresh namespace, so a shared destination
    would let ``ktui --store A run x`` lose A."""
    group = parser.add_argument_group("global options (accepted anywhere on the line)")
    for option in GLOBAL_OPTIONS:
        dest = option.dest if level == 0 else f"{option.dest}__{level}"
        kwargs: dict[str, Any] = {
            "dest": dest,
            "metavar": option.metavar,
            "type": option.parse,
            "help": option.help,
        }
        if option.repeat:
            kwargs["action"] = "append"
        if level == 0:
            kwargs["default"] = [] if option.repeat else None
        else:
            kwargs["default"] = argparse.SUPPRESS
        action = group.add_argument(option.flag, **kwargs)
        if option.complete is not None:
            _complete_with(action, option.complete)


_COMPLETE = "ktui_complete"
"""The attribute naming what the shell completes an argument with (``file`` or
``directory``), turned into shtab's own when a completion script is written: importing
shtab costs ~70 ms, too much for every ``ktui`` start."""


def _complete_with(action: argparse.Action, kind: str) -> None:
    setattr(action, _COMPLETE, kind)


def _shtab_completions(parser: argparse.ArgumentParser) -> None:
    """Give every argument marked by :func:`_complete_with` shtab's completion."""
    import shtab

    for action in parser._actions:
        kind = getattr(action, _COMPLETE, None)
        if kind is not None:
            action.complete = shtab.FILE if kind == "file" else shtab.DIRECTORY  # type: ignore[attr-defined]
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _shtab_completions(child)


def _merge_global_options(args: argparse.Namespace) -> argparse.Namespace:
    """Fold each level's copy of a global option into ``args.<dest>``: repeated options
    add up in the order given, others take the last value given."""
    found = vars(args)
    for option in GLOBAL_OPTIONS:
        levels = sorted(
            (int(key.rsplit("__", 1)[1]), key)
            for key in found
            if key.startswith(option.dest + "__")
        )
        for _, key in levels:
            value = found.pop(key)
            if option.repeat:
                found[option.dest] = [*found.get(option.dest, []), *value]
            elif value is not None:
                found[option.dest] = value
    return args


# --------------------------------------------------------------------------- help texts
ENVIRONMENT = {
    "KTUI_STORE": "the run store's file or postgresql:// URL (after --store, before config.toml)",
    "KTUI_DATA_DIR": "ktui's data folder: the default store, run folders, logs",
    "KTUI_CONFIG_DIR": "ktui's config folder: config.toml and your presets",
    "NO_COLOR": "any value: no colours",
    "KTUI_HOST": "the host name recorded with runs and trials (default: the machine's)",
    "KTUI_SWEEP_HEARTBEAT_TIMEOUT": "seconds without a heartbeat before another host's "
    "trial is re-queued (60)",
    "KERAS_HOME": "where Keras's data sets are looked for ($KERAS_HOME/datasets), and\n"
    '                   keras.json, whose "backend" is used when nothing else names one',
    "KERAS_BACKEND": "the Keras backend (tensorflow, jax, torch) when --backend and the\n"
    "                   preset name none",
    "TF_CONFIG": "the cluster and this process's task of a --strategy multiworker run",
}

EXIT_CODES = {
    0: "done",
    1: "ran, but did not succeed (a run failed, a broken preset file, ...)",
    2: "refused: a mistake in the command line, a preset, the data, the store\n"
    "       or config.toml, an unknown run, a run that has ended",
    3: "a run stopped because its loss became NaN or infinite (recorded diverged)",
    4: "a run trained but could not be kept whole (the output says what is missing)",
    129: "a run stopped because its terminal hung up (SIGHUP)",
    130: "a run stopped by Ctrl+C (SIGINT) or from another ktui",
    143: "a run stopped by SIGTERM (`kill PID`, a batch system ending the job)",
}
"""Every exit code of ``ktui`` (the README's "Exit codes" lists the same)."""


def _epilog(
    examples: Sequence[str], env: Sequence[str], codes: Sequence[int], extra: str = ""
) -> str:
    """The end of a command's ``--help``: examples, environment, exit codes."""
    parts = ["examples:", *(f"  {line}" for line in examples)]
    if extra:
        parts += ["", extra]
    if env:
        parts += ["", "environment:"]
        width = max(len(name) for name in env)
        parts += [f"  {name:<{width}}  {ENVIRONMENT[name]}" for name in env]
    parts += ["", "exit codes:"]
    parts += [f"  {code:>3}  {EXIT_CODES[code]}" for code in codes]
    parts += ["", 'All exit codes: the README\'s "Exit codes" section.']
    return "\n".join(parts)


_STORE_ENV = ("KTUI_STORE", "KTUI_DATA_DIR", "KTUI_CONFIG_DIR", "NO_COLOR")
_ALL_ENV = (
    "KTUI_STORE",
    "KTUI_DATA_DIR",
    "KTUI_CONFIG_DIR",
    "NO_COLOR",
    "KERAS_HOME",
    "KERAS_BACKEND",
)

_WORKER_ENV = (*_ALL_ENV, "KTUI_HOST", "KTUI_SWEEP_HEARTBEAT_TIMEOUT")


class _Parser(argparse.ArgumentParser):
    """Every ktui parser: help texts kept as written, and the global options."""

    def __init__(self, *args: Any, level: int | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)
        if level is None:
            # A subcommand added with plain add_parser (``ktui serve``): argparse names
            # it "ktui serve", one word per level below the top.
            level = len(self.prog.split()) - 1
        _add_global_options(self, level)


def _finish_help(
    parser: argparse.ArgumentParser,
    examples: Sequence[str],
    env: Sequence[str],
    codes: Sequence[int],
) -> None:
    """Give a subcommand defined elsewhere the epilog every ktui command has; its
    one-line description is wrapped (the raw formatter keeps lines as written)."""
    import textwrap

    if parser.description and "\n" not in parser.description:
        parser.description = textwrap.fill(parser.description, 80)
    parser.epilog = _epilog(examples, env, codes)


def _finish_sweep_help(choices: Mapping[str, argparse.ArgumentParser]) -> None:
    """The epilogs of ``ktui sweep``, ``ktui sweeps ...`` and the internal commands."""
    _finish_help(
        choices["sweep"],
        [
            "ktui sweep dummy_binary --param units=8,16,32 --trials 6 --workers 2",
            "ktui sweep mnist_mlp --param learning_rate=1e-4..1e-2:log "
            "--param dropout=0.1..0.5 --set epochs=5 --trials 20 --detach",
        ],
        _ALL_ENV,
        (0, 1, 2),
    )
    sweeps = choices["sweeps"]
    _finish_help(sweeps, ["ktui sweeps", "ktui sweeps show 3"], _STORE_ENV, (0, 2))
    for action in sweeps._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                examples = {
                    "export": ["ktui sweeps export 3 --format json -o sweep-3.json"],
                    "change": [
                        "ktui sweeps change 3 --trials 40",
                        "ktui sweeps change 3 --workers 4     # started or retired between trials",
                    ],
                    "worker": [
                        "ktui sweeps worker 3                 # one more worker on this host",
                        "CUDA_VISIBLE_DEVICES=1 ktui sweeps worker 3   # on GPU 1",
                        "ktui --store postgresql://ktui@db-host/ktui sweeps worker 3"
                        "   # from another host",
                    ],
                }.get(name, [f"ktui sweeps {name} 3"])
                full = name in ("resume", "worker")
                codes = (0, 1, 2) if name == "resume" else (0, 2, 130) if full else (0, 2)
                env = _WORKER_ENV if name == "worker" else _ALL_ENV if full else _STORE_ENV
                _finish_help(child, examples, env, codes)
    for name in ("sweep-worker", "sweep-run"):
        _finish_help(choices[name], [f"ktui {name} 3   (started by ktui sweep)"], _ALL_ENV, (0, 2))


def _sub(
    sub: argparse._SubParsersAction[_Parser],
    name: str,
    level: int,
    help: str,  # noqa: A002 - argparse's word
    description: str,
    epilog: str,
) -> _Parser:
    parser = sub.add_parser(name, help=help, description=description, epilog=epilog, level=level)
    assert isinstance(parser, _Parser)
    return parser


COMMANDS = (
    "run",
    "attach",
    "presets",
    "runs",
    "serve",
    "report",
    "sweep",
    "sweeps",
    "sweep-worker",
    "sweep-run",
    "completion",
)
"""Every subcommand, internal ones included."""

_SWEEP_COMMANDS = ("sweep", "sweeps", "sweep-worker", "sweep-run")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser for ``ktui`` and its subcommands.

    With ``only`` (one of :data:`COMMANDS`), the ``runs`` and sweep subcommands are
    left out unless they are ``only``: their definitions import the store's records
    and the sweep engine's core, which the other commands do not need at start (a
    fresh ``ktui report`` spends its time drawing, not parsing). Every subcommand's
    own parser is the same either way; :func:`parse_args` asks for this only when it
    has seen which command the line names.
    """

    def wanted(*names: str) -> bool:
        return only is None or only in names

    parser = _Parser(
        prog="ktui",
        description="Train Keras models from a terminal dashboard. "
        "Run without a command to open the dashboard.\n\n"
        "config.toml in ktui's config folder (~/.config/ktui/config.toml on Linux) may set\n"
        'theme = "NAME", store = "PATH" and data_dir = "PATH"; the command line wins over\n'
        "the environment, which wins over config.toml. Picking a theme in the dashboard\n"
        '(ctrl+p, then "theme") saves it there.',
        epilog=_epilog(
            [
                "ktui                                  # the dashboard",
                "ktui run mnist_mlp --set epochs=3     # train without the full screen",
                "ktui run mnist_cnn --detach           # in the background; prints the run id",
                "ktui runs --store runs.db             # the recorded runs of another store",
                "ktui runs stop 12                     # steer a run that is going",
                "ktui completion bash > ~/.local/share/bash-completion/completions/ktui",
            ],
            _ALL_ENV,
            (0, 1, 2, 3, 4, 129, 130, 143),
        ),
    )
    parser.add_argument("--version", action="version", version=f"ktui {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    run = _sub(
        sub,
        "run",
        1,
        "train a preset without the full-screen UI",
        "Train a preset to the end, drawing a progress bar and one line per epoch (plain\n"
        "lines when the output is not a terminal), record it in the run store, and print\n"
        "the test result. Ctrl+C or SIGTERM stop after the current batch; the run is still\n"
        "evaluated and recorded. With --detach it trains in a background process.",
        _epilog(
            [
                "ktui run mnist_mlp --set epochs=3 --set batch_size=128",
                "ktui run mnist_cnn --data fashion_mnist",
                "ktui run dummy_binary > train.log",
                "ktui run mnist_cnn --detach --set epochs=50 --store runs.db",
            ],
            _ALL_ENV,
            (0, 1, 2, 3, 4, 129, 130, 143),
        ),
    )
    run.add_argument("preset", help="a preset name (see `ktui presets`) or a .toml file")
    run.add_argument(
        "--set",
        metavar="NAME=VALUE",
        dest="assignments",
        action="append",
        default=[],
        help="change a hyperparameter, e.g. --set epochs=3 (may be repeated)",
    )
    run.add_argument(
        "--data",
        metavar="SOURCE",
        help="use other data: random, mnist, fashion_mnist or a .npz file with "
        "x_train, y_train, x_test, y_test",
    )
    run.add_argument(
        "--log",
        action="store_true",
        help="show what TensorFlow writes (it is captured and kept in a log file either way)",
    )
    run.add_argument(
        "--detach",
        action="store_true",
        help="train in a background process that outlives this terminal and SSH session; "
        "prints the run id and returns at once (follow it with `ktui attach`)",
    )
    run.add_argument(
        "--tensorboard",
        action="store_true",
        help="also write TensorBoard event files in the run's folder "
        "(`tensorboard --logdir` on the store's runs/ folder shows every such run)",
    )
    run.add_argument(
        "--devices",
        metavar="LIST",
        help="the GPUs to train on, as nvidia-smi numbers them: 0, 0,1, all or cpu "
        "(sets CUDA_VISIBLE_DEVICES for the run, detached ones too)",
    )
    run.add_argument(
        "--backend",
        metavar="NAME",
        help="the Keras backend: tensorflow, jax or torch (default: the preset's backend "
        "key, else KERAS_BACKEND or keras.json, else the first of them installed)",
    )
    run.add_argument(
        "--strategy",
        metavar="NAME",
        help="how the run spreads over devices: auto (one device), mirrored (every local "
        "GPU) or multiworker (several hosts, from TF_CONFIG; only the chief, task 0, "
        "records; start one `ktui run` per host); default: the preset's strategy key",
    )
    # The training process of a detached run: record into run N, created by the parent
    # (with a re-run's recorded seed where it is not the preset's).
    run.add_argument("--run-id", type=int, help=argparse.SUPPRESS)
    run.add_argument("--seed", type=int, help=argparse.SUPPRESS)

    attach = _sub(
        sub,
        "attach",
        1,
        "open the dashboard on a run that is going (the latest one by default)",
        "Follow a run live — from `ktui run --detach`, another dashboard or a script\n"
        "using ktui.Dashboard — and pause, stop or re-tune it. Closing the dashboard\n"
        "leaves the run going. A run that has ended is shown as recorded.",
        _epilog(
            ["ktui attach", "ktui attach 12", "ktui attach 12 --store runs.db"],
            _STORE_ENV,
            (0, 1, 2),
        ),
    )
    attach.add_argument(
        "id", nargs="?", metavar="RUN_ID", help="the run's id (default: the latest live run)"
    )
    attach.add_argument(
        "--sweep", metavar="SWEEP_ID", type=int, help="open a sweep's live leaderboard instead"
    )

    _sub(
        sub,
        "presets",
        1,
        "list the presets with their descriptions",
        "The presets ktui knows — shipped, yours (in the config folder's presets/) and\n"
        "those of each --presets DIR — and the files that could not be loaded, with why.\n"
        "Piped, one tab-separated line per preset: name, description, file.",
        _epilog(
            ["ktui presets", "ktui presets --presets ./my-presets", "ktui presets | cut -f1"],
            ("KTUI_CONFIG_DIR", "NO_COLOR"),
            (0, 1, 2),
        ),
    )
    if wanted("runs"):
        _add_runs_parser(sub)
    from ktui.cli.report import add_report_parser
    from ktui.cli.serve import add_serve_parser

    # Defined beside their commands; the cast: our subparsers are ArgumentParsers too.
    plain = cast("argparse._SubParsersAction[argparse.ArgumentParser]", sub)
    add_serve_parser(plain)
    add_report_parser(plain)
    if wanted(*_SWEEP_COMMANDS):
        from ktui.cli.sweep import add_sweep_parsers

        add_sweep_parsers(plain)
        _finish_sweep_help(sub.choices)
    _finish_help(
        sub.choices["serve"],
        ["ktui serve", "ktui serve --port 8080 --store runs.db"],
        _ALL_ENV,
        (0, 2),
    )
    _finish_help(
        sub.choices["report"],
        ["ktui report 12", "ktui report 12 14 --format md -o report.md"],
        _STORE_ENV,
        (0, 2),
    )

    completion = _sub(
        sub,
        "completion",
        1,
        "print a shell completion script (bash, zsh or fish)",
        "Print the script that teaches your shell ktui's commands and options.\n"
        'Install it once (see the README\'s "Shell completion"):\n'
        "  bash: ktui completion bash > ~/.local/share/bash-completion/completions/ktui\n"
        "  zsh:  ktui completion zsh > ~/.zfunc/_ktui   (with fpath+=~/.zfunc before\n"
        "        compinit in ~/.zshrc)\n"
        "  fish: ktui completion fish > ~/.config/fish/completions/ktui.fish",
        _epilog(["ktui completion bash", "ktui completion zsh > ~/.zfunc/_ktui"], (), (0, 2)),
    )
    completion.add_argument("shell", choices=SHELLS, help="the shell: " + ", ".join(SHELLS))
    _hide_internal(parser)
    return parser


def _hide_internal(parser: argparse.ArgumentParser) -> None:
    """Keep the internal commands (a sweep's worker and coordinator) out of ``ktui --help``."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            action._choices_actions = [
                a for a in action._choices_actions if a.dest not in ("sweep-worker", "sweep-run")
            ]


def command_named(argv: Sequence[str]) -> str | None:
    """The subcommand ``argv`` names, when that is certain without argparse: the first
    word after any global options given in full (``--store PATH``, ``--presets=DIR``).
    None for anything else — no command, ``--help``, ``--version``, an abbreviated or
    unknown option before the command, a word that is no command — and then the whole
    parser is built, so argparse answers exactly as it always does."""
    flags = {option.flag for option in GLOBAL_OPTIONS}
    words = iter(argv)
    for word in words:
        if word in flags:
            next(words, None)  # the option's value, whatever it looks like
        elif any(word.startswith(flag + "=") for flag in flags):
            continue
        elif word.startswith("-"):
            return None
        else:
            return word if word in COMMANDS else None
    return None


def _add_runs_parser(sub: argparse._SubParsersAction[_Parser]) -> None:
    """``ktui runs`` (list) and its actions: show, export, compare, steer, tidy."""
    from ktui.store.records import SORT_KEYS, STATUSES

    runs = _sub(
        sub,
        "runs",
        1,
        "list the recorded runs; show, re-run, export, compare, steer, tag or delete them",
        "Without an action: one line per recorded run, newest first. The actions show,\n"
        "re-run, export or compare runs, steer a run that is going (stop, pause, resume,\n"
        "lr) and tidy the history (tag, note, delete).",
        _epilog(
            [
                "ktui runs --preset mnist_mlp --sort best",
                "ktui runs --tag baseline",
                "ktui runs show 12",
                "ktui runs rerun 12 --set epochs=20",
                "ktui runs stop 12",
                "ktui runs tag 12 baseline good",
            ],
            _STORE_ENV,
            (0, 2),
        ),
    )
    runs.add_argument("--preset", metavar="NAME", help="only runs of this preset")
    runs.add_argument("--status", choices=STATUSES, help="only runs with this status")
    runs.add_argument("--tag", metavar="TAG", help="only runs tagged TAG (`ktui runs tag`)")
    runs.add_argument(
        "--sort",
        choices=SORT_KEYS,
        default="id",
        help="order by this column: newest, best, lowest test error, longest first "
        "(preset and status alphabetically); default id",
    )
    runs.add_argument("--reverse", action="store_true", help="reverse the order")
    runs.add_argument(
        "--limit",
        metavar="N",
        type=int,
        default=None,
        help="list at most N runs (0: all; default: 50 on a terminal, all when piped)",
    )
    actions = runs.add_subparsers(dest="runs_command", metavar="ACTION", parser_class=_Parser)

    def action(
        name: str, summary: str, description: str, examples: Sequence[str], codes: Sequence[int]
    ) -> _Parser:
        return _sub(actions, name, 2, summary, description, _epilog(examples, _STORE_ENV, codes))

    show = action(
        "show",
        "everything about one run",
        "Everything recorded about one run: its values, data, versions, device, tags and\n"
        "note, each epoch, the test result, the error if any and the end of its log.",
        ["ktui runs show 12", "ktui runs show 12 --log", "ktui runs show 12 --confusion"],
        (0, 1, 2),
    )
    show.add_argument("id", help="the run's id (see `ktui runs`)")
    show.add_argument("--log", action="store_true", help="print the whole log, not its end")
    show.add_argument(
        "--confusion",
        action="store_true",
        help="print only the test set's confusion matrix and per-class precision/recall",
    )
    rerun = _sub(
        actions,
        "rerun",
        2,
        "train a recorded run again: its values, data, seed and where it ran",
        "Train run ID again, like `ktui run`: the same preset, hyperparameters (--set\n"
        "changes some), data, seed, Keras backend, strategy and GPUs (CUDA_VISIBLE_DEVICES)\n"
        "as recorded; what it cannot keep (a hyperparameter the preset lost) is said\n"
        "first. Plain lines when the output is not a terminal; --detach trains in the\n"
        "background. A multiworker run needs TF_CONFIG: run this on every host.",
        _epilog(
            [
                "ktui runs rerun 12",
                "ktui runs rerun 12 --set epochs=20 --detach",
                "TF_CONFIG='{...}' ktui runs rerun 12   # a multiworker run, on every host",
            ],
            _ALL_ENV,
            (0, 1, 2, 3, 4, 129, 130, 143),
        ),
    )
    rerun.add_argument("id", metavar="ID", help="the run's id (see `ktui runs`)")
    rerun.add_argument(
        "--set",
        metavar="NAME=VALUE",
        dest="assignments",
        action="append",
        default=[],
        help="change a hyperparameter of the re-run, e.g. --set epochs=3 (may be repeated)",
    )
    rerun.add_argument(
        "--detach",
        action="store_true",
        help="train in a background process; prints the new run's id and returns at once",
    )
    rerun.add_argument(
        "--log",
        action="store_true",
        help="show what TensorFlow writes (it is kept in a log file either way)",
    )
    export = action(
        "export",
        "write a run's epochs (csv) or everything (json)",
        "A run's epochs as CSV (like Keras's CSVLogger), or everything about it as JSON\n"
        "(values, tags, note, epochs, log), to stdout or a file.",
        ["ktui runs export 12 --format csv", "ktui runs export 12 --format json -o run12.json"],
        (0, 2),
    )
    export.add_argument("id", help="the run's id")
    export.add_argument(
        "--format",
        choices=("csv", "json"),
        default="csv",
        help="csv: one row per epoch; json: the whole run (default csv)",
    )
    output = export.add_argument(
        "-o", "--output", metavar="FILE", type=Path, help="write to FILE instead of stdout"
    )
    _complete_with(output, "file")
    compare = action(
        "compare",
        "2 to 4 runs side by side: differing hyperparameters and final metrics",
        "Two to four runs side by side: the hyperparameters that differ (--all: every\n"
        "one), then their final metrics, best, test result and duration.",
        ["ktui runs compare 12 14", "ktui runs compare 12 14 15 --all"],
        (0, 2),
    )
    compare.add_argument("ids", nargs="+", metavar="ID", help="the runs' ids")
    compare.add_argument("--all", action="store_true", help="show every hyperparameter")

    steering = {
        "stop": "stop a run that is going, after its current batch (it is evaluated and "
        "recorded stopped)",
        "pause": "pause a run that is going, before its next batch",
        "resume": "resume a paused run",
    }
    for name, text in steering.items():
        steer = action(
            name,
            text,
            f"Ask run ID to {name} through the run store's control channel and wait (up to\n"
            "5 s) until its process takes the command. Works for any run that is going:\n"
            "`ktui run --detach`, `ktui run` in another terminal, a dashboard, a script\n"
            "using ktui.Dashboard. A run that has ended, or is unknown, is refused.",
            [f"ktui runs {name} 12"],
            (0, 1, 2),
        )
        steer.add_argument(
            "id", metavar="ID", help="the run's id (see `ktui runs --status running`)"
        )
    lr = action(
        "lr",
        "change the learning rate of a run that is going, from its next batch",
        "Give run ID another learning rate from its next batch (recorded in its log and\n"
        "epochs), through the run store's control channel.",
        ["ktui runs lr 12 0.0005"],
        (0, 1, 2),
    )
    lr.add_argument("id", metavar="ID", help="the run's id")
    lr.add_argument("value", metavar="VALUE", type=_learning_rate, help="a positive number")

    delete = action(
        "delete",
        "delete runs: their epochs, log and folder (asks first)",
        "Delete runs for good: their rows, epochs, log and folder (saved model and\n"
        "predictions). Asks on the terminal first; without a terminal it refuses unless\n"
        "--yes is given. A run that is still going is not deleted (stop it first).",
        ["ktui runs delete 12", "ktui runs delete 12 13 14 --yes"],
        (0, 1, 2),
    )
    delete.add_argument("ids", nargs="+", metavar="ID", help="the runs' ids")
    delete.add_argument("-y", "--yes", action="store_true", help="delete without asking")

    tag = action(
        "tag",
        "tag a run (or take tags off with --remove)",
        "Give run ID one or more tags — single words such as baseline or lr-sweep — shown\n"
        "in `ktui runs`, `runs show`, the export and the dashboard's history (whose\n"
        "filter, f, filters by tag), and selected by `ktui runs --tag TAG`.",
        ["ktui runs tag 12 baseline", "ktui runs tag 12 baseline --remove"],
        (0, 2),
    )
    tag.add_argument("id", metavar="ID", help="the run's id")
    tag.add_argument("tags", nargs="+", metavar="TAG", help="one word each")
    tag.add_argument("--remove", action="store_true", help="take these tags off instead")

    note = action(
        "note",
        "write a note on a run (an empty TEXT removes it)",
        "Replace run ID's note: free text shown by `ktui runs show`, the export and the\n"
        'dashboard. The words after ID are the note; "" removes it.',
        ["ktui runs note 12 first try with dropout 0.3", 'ktui runs note 12 ""'],
        (0, 2),
    )
    note.add_argument("id", metavar="ID", help="the run's id")
    note.add_argument("text", nargs="+", metavar="TEXT", help="the note")


def _learning_rate(text: str) -> float:
    """A learning rate as typed: a positive number (argparse reports anything else)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: a learning rate is a positive number")
    return value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse ``ktui``'s command line, global options anywhere on it."""
    words = sys.argv[1:] if argv is None else list(argv)
    return _merge_global_options(build_parser(command_named(words)).parse_args(words))


def print_completion(shell: str, out: TextIO | None = None) -> int:
    """``ktui completion SHELL``: print the completion script for ``shell``.

    shtab, not argcomplete: it writes a static script from the argument parser, so
    completing costs the shell nothing (argcomplete starts Python, and here ktui's
    imports, at every Tab) and needs no hook in the person's shell start-up beyond
    installing the file.
    """
    import shtab

    parser = build_parser()
    _shtab_completions(parser)
    script = shtab.complete(parser, shell=shell)
    print(script, file=out or sys.stdout)
    return 0


def choose_devices(devices: str) -> None:
    """``--devices``: set ``CUDA_VISIBLE_DEVICES`` before TensorFlow loads (a detached
    run's process inherits it). A bad list is refused with what to write instead."""
    from ktui.core.system import devices_environment

    try:
        os.environ.update(devices_environment(devices))
    except ValueError as exc:
        raise KtuiError(str(exc)) from None


def _catalog(args: argparse.Namespace) -> PresetCatalog:
    for folder in args.presets:
        if not folder.is_dir():
            raise KtuiError(f"--presets {folder}: no such folder")
    from ktui.core.presets import load_catalog

    return load_catalog(preset_folders(args.presets))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ktui`` console script; returns the exit code."""
    args = parse_args(argv)
    from ktui.core.capture import STDERR

    try:
        if args.command == "completion":
            return print_completion(args.shell)
        # Read (and check) config.toml first: a mistake in it is one message, whatever
        # the command, before anything starts.
        load_config()
        if args.command == "runs" and args.runs_command == "rerun":
            from ktui.cli.run import rerun_command

            return rerun_command(
                _catalog(args),
                args.id,
                args.assignments,
                store=args.store,
                presets=args.presets,
                detach=args.detach,
                show_log=args.log,
            )
        if args.command == "runs":
            from ktui.cli.runs import runs_command

            return runs_command(args, store_path(args.store))
        if args.command in ("sweep", "sweeps", "sweep-worker", "sweep-run"):
            from ktui.cli.sweep import sweep_command

            return sweep_command(args, _catalog(args), store_path(args.store))
        if args.command == "serve":
            from ktui.cli.serve import serve_command

            return serve_command(args)
        if args.command == "report":
            from ktui.cli.report import report_command

            return report_command(args)
        if args.command == "presets":
            from ktui.cli.presets import list_presets

            return list_presets(_catalog(args))
        if args.command == "run":
            if args.devices is not None:
                choose_devices(args.devices)
            if args.detach:
                if args.run_id is not None:
                    raise KtuiError("--detach and --run-id cannot be used together")
                from ktui.cli.run import start_detached

                return start_detached(
                    _catalog(args),
                    args.preset,
                    args.assignments,
                    args.data,
                    store=args.store,
                    presets=args.presets,
                    show_log=args.log,
                    tensorboard=args.tensorboard,
                    backend=args.backend,
                    strategy=args.strategy,
                )
            from ktui.cli.run import run_headless

            return run_headless(
                _catalog(args),
                args.preset,
                args.assignments,
                args.data,
                show_log=args.log,
                store=args.store,
                run_id=args.run_id,
                tensorboard=args.tensorboard,
                backend=args.backend,
                strategy=args.strategy,
                seed=args.seed,
            )
        from ktui.cli.dashboard import open_dashboard

        if args.command == "attach" and args.sweep is not None:
            from ktui.store import RunStore
            from ktui.store.sweeps import SweepStore

            with RunStore(store_path(args.store)) as runs:
                SweepStore(runs).get(args.sweep)  # an unknown sweep is a plain message
            return open_dashboard(_catalog(args), store=store_path(args.store), sweep=args.sweep)
        if args.command == "attach":
            from ktui.cli.attach import choose_run

            run_id = choose_run(store_path(args.store), args.id)
            if run_id is None:
                return 1
            return open_dashboard(_catalog(args), store=store_path(args.store), attach=run_id)
        return open_dashboard(_catalog(args), store=store_path(args.store))
    except KtuiError as exc:
        print(f"ktui: {exc}", file=STDERR.terminal)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if not STDERR.active:
            raise
        # fd 2 leads into the capture, so an uncaught traceback would vanish into the
        # log and leave the user with a silent exit: say where it is instead.
        import traceback

        for line in traceback.format_exc().splitlines():
            STDERR.write_line(line)
        where = STDERR.log_path or "the log"
        print(
            f"ktui: internal error ({type(exc).__name__}: {exc}); this is a bug in ktui. "
            f"The traceback is in {where}.",
            file=STDERR.terminal,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
