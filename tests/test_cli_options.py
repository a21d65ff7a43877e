"""The command line people expect: global options anywhere, --help texts, shell
completion, config.toml (strict, with its precedence)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from conftest import KtuiDirs, run_ktui, run_python

from ktui.cli import (
    EXIT_CODES,
    SHELLS,
    _merge_global_options,
    build_parser,
    command_named,
    main,
    parse_args,
)
from ktui.core.config import Config, ConfigError, load_config, save_setting
from ktui.core.paths import data_dir, store_path

#: Every command line (sub)command with the arguments it needs, as a person types it.
COMMANDS: tuple[tuple[str, ...], ...] = (
    ("run", "dummy_binary", "--set", "epochs=1"),
    ("attach", "3"),
    ("presets",),
    ("runs", "--sort", "best"),
    ("runs", "show", "3", "--log"),
    ("runs", "rerun", "3", "--set", "epochs=2", "--detach"),
    ("runs", "export", "3", "--format", "json"),
    ("runs", "compare", "3", "4"),
    ("runs", "stop", "3"),
    ("runs", "pause", "3"),
    ("runs", "resume", "3"),
    ("runs", "lr", "3", "0.01"),
    ("runs", "delete", "3", "--yes"),
    ("runs", "tag", "3", "good"),
    ("runs", "note", "3", "a", "note"),
    ("completion", "bash"),
    ("serve", "--port", "8123"),
    ("report", "3", "--format", "md"),
    ("sweep", "dummy_binary", "--param", "units=8,16", "--trials", "4"),
    ("sweeps",),
    ("sweeps", "show", "3"),
    ("sweeps", "resume", "3", "--detach"),
    ("sweeps", "pause", "3"),
    ("sweeps", "stop", "3"),
    ("sweeps", "change", "3", "--trials", "30"),
    ("sweeps", "change", "3", "--param", "units=8,16"),
    ("sweeps", "show", "3", "--importance"),
    ("sweeps", "stop-trial", "3", "7"),
    ("sweeps", "rerun-trial", "3", "7"),
    ("sweeps", "change", "3", "--workers", "2"),
    ("sweeps", "worker", "3"),
    ("sweeps", "export", "3", "--format", "json"),
    ("sweep-worker", "3"),
    ("sweep-run", "3"),
)


def _subcommands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> set[str]:
    """Every command path of the parser (``runs show``), found by walking it."""
    found = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                path = (*prefix, name)
                found.add(" ".join(path))
                found |= _subcommands(child, path)
    return found


def test_the_table_covers_every_subcommand() -> None:
    covered = {
        " ".join(c for c in command[:2] if not c[0].isdigit() and not c.startswith("-"))
        for command in COMMANDS
    }
    covered |= {command[0] for command in COMMANDS}
    assert _subcommands(build_parser()) <= covered


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_global_options_before_and_after_every_subcommand(command: tuple[str, ...]) -> None:
    before = parse_args(["--store", "a.db", "--presets", "p1", *command])
    after = parse_args([*command, "--store", "a.db", "--presets", "p1"])
    # In the middle: after the command word, before its own arguments.
    middle = parse_args([command[0], "--store", "a.db", "--presets", "p1", *command[1:]])
    for args in (before, after, middle):
        assert args.store == Path("a.db")
        assert args.presets == [Path("p1")]
        assert not [key for key in vars(args) if "__" in key]
    assert vars(before) == vars(after) == vars(middle)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_the_parser_of_the_named_command_alone_reads_the_line_as_the_whole_one(
    command: tuple[str, ...],
) -> None:
    # parse_args builds only the command's own subcommand (the others' definitions
    # import what that command does not need); the result must be the same.
    for argv in (
        list(command),
        ["--store", "a.db", "--presets=p1", *command, "--presets", "p2"],
    ):
        assert command_named(argv) == command[0]
        whole = build_parser().parse_args(argv)
        alone = build_parser(command[0]).parse_args(argv)
        assert vars(alone) == vars(whole)
        assert vars(parse_args(argv)) == vars(_merge_global_options(whole))


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--help"],
        ["--version"],
        ["--sto", "a.db", "report", "3"],  # an abbreviation: argparse's to read
        ["--store"],
        ["repor", "3"],
        ["--store", "report", "runs"],  # the store is a file called "report"
    ],
)
def test_a_line_whose_command_is_not_certain_gets_the_whole_parser(argv: list[str]) -> None:
    assert command_named(argv) == ("runs" if argv[-1:] == ["runs"] else None)


def test_global_options_on_both_sides_add_up_or_the_last_wins() -> None:
    args = parse_args(
        [
            "--store",
            "a.db",
            "--presets",
            "p1",
            "runs",
            "--presets",
            "p2",
            "show",
            "3",
            "--store",
            "b.db",
            "--presets",
            "p3",
        ]
    )
    assert args.store == Path("b.db")
    assert args.presets == [Path("p1"), Path("p2"), Path("p3")]
    plain = parse_args(["runs"])
    assert plain.store is None and plain.presets == []


def test_global_options_after_the_subcommand_reach_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], ktui_dirs: KtuiDirs
) -> None:
    """The issue's three failures: each used to be "unrecognized arguments"."""
    presets = tmp_path / "mine"
    presets.mkdir()
    (presets / "extra.toml").write_text(
        (Path(__file__).parent.parent / "presets" / "dummy_binary.toml")
        .read_text()
        .replace('name = "dummy_binary"', 'name = "extra"')
    )
    assert main(["presets", "--presets", str(presets)]) == 0
    assert "extra" in capsys.readouterr().out
    store = tmp_path / "other.db"
    assert main(["runs", "--store", str(store)]) == 0
    assert str(store) in capsys.readouterr().out
    result = run_ktui("run", "no_such_preset", "--store", str(store))
    assert result.returncode == 2
    assert "unrecognized" not in result.stderr and "no_such_preset" in result.stderr


# --------------------------------------------------------------------------- help
@pytest.mark.parametrize("command", sorted(_subcommands(build_parser())) + [""])
def test_every_help_has_a_description_examples_environment_and_exit_codes(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_args([*command.split(), "--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    assert "examples:\n  ktui" in text
    assert "exit codes:\n    0  " in text
    assert 'the README\'s "Exit codes"' in text
    assert "--store PATH" in text and "--presets DIR" in text
    if command != "completion":
        assert "environment:\n  KTUI_" in text
    if command.startswith("run") and not command.startswith("runs"):
        assert "KERAS_HOME" in text and "143" in text and "129" in text


def test_the_readme_lists_every_exit_code_in_one_place() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    for code in EXIT_CODES:
        assert f"| {code} |" in section
    assert readme.count("## Exit codes") == 1


# --------------------------------------------------------------------------- completion
@pytest.mark.parametrize("shell", SHELLS)
def test_completion_scripts_name_the_subcommands(shell: str) -> None:
    result = run_ktui("completion", shell, timeout=60)
    assert result.returncode == 0, result.stderr
    script = result.stdout
    assert len(script) > 500
    for word in ("run", "attach", "presets", "runs", "completion", "stop", "delete", "tag"):
        assert word in script
    assert "--store" in script and "--presets" in script


def test_completion_of_paths_and_no_shtab_at_every_start() -> None:
    result = run_ktui("completion", "bash", timeout=60)
    assert "_shtab_compgen_files" in result.stdout and "_shtab_compgen_dirs" in result.stdout
    # shtab is imported only to write a script: it costs ~70 ms.
    code = "import sys\nfrom ktui.cli import parse_args\nparse_args(['runs'])\n"
    code += "assert 'shtab' not in sys.modules\n"
    assert run_python(code).returncode == 0


def test_completion_refuses_an_unknown_shell() -> None:
    result = run_ktui("completion", "tcsh", timeout=60)
    assert result.returncode == 2 and "invalid choice" in result.stderr


# --------------------------------------------------------------------------- config.toml
def write_config(ktui_dirs: KtuiDirs, text: str) -> Path:
    ktui_dirs.config.mkdir(parents=True, exist_ok=True)
    path = ktui_dirs.config / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_no_config_file_means_defaults(ktui_dirs: KtuiDirs) -> None:
    assert load_config() == Config()


def test_config_sets_theme_store_and_data_folder(
    ktui_dirs: KtuiDirs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(
        ktui_dirs,
        f'theme = "nord"\nstore = "{tmp_path / "cfg.db"}"\ndata_dir = "{tmp_path / "cfgdata"}"\n',
    )
    assert load_config() == Config("nord", tmp_path / "cfg.db", tmp_path / "cfgdata")
    # command line > environment > config.toml > defaults
    monkeypatch.setenv("KTUI_STORE", str(tmp_path / "env.db"))
    assert store_path(tmp_path / "cli.db") == tmp_path / "cli.db"
    assert store_path() == tmp_path / "env.db"
    monkeypatch.delenv("KTUI_STORE")
    assert store_path() == tmp_path / "cfg.db"
    assert data_dir() == ktui_dirs.data  # KTUI_DATA_DIR wins over data_dir
    monkeypatch.delenv("KTUI_DATA_DIR")
    assert data_dir() == tmp_path / "cfgdata"
    write_config(ktui_dirs, f'data_dir = "{tmp_path / "cfgdata"}"\n')
    assert store_path() == tmp_path / "cfgdata" / "runs.sqlite"


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        ('colour = "blue"\n', "colour", "unknown setting; expected one of data_dir, store, theme"),
        ("theme = 3\n", "theme", "expected a theme name in quotes"),
        ('store = ""\n', "store", "expected a file path in quotes"),
        ("[data_dir]\nx = 1\n", "data_dir", "expected a folder path in quotes"),
        ('theme = "nord\n', "", "is not valid TOML"),
    ],
)
def test_a_bad_config_names_the_file_the_key_and_what_was_expected(
    ktui_dirs: KtuiDirs, text: str, key: str, expected: str
) -> None:
    path = write_config(ktui_dirs, text)
    with pytest.raises(ConfigError) as raised:
        load_config()
    message = str(raised.value)
    assert message.startswith(f"{path}: {key}: " if key else f"{path}: ")
    assert expected in message


def test_a_bad_config_is_a_message_and_exit_code_2_for_every_command(ktui_dirs: KtuiDirs) -> None:
    path = write_config(ktui_dirs, 'them = "nord"\n')
    for args in (("runs",), ("presets",), ("runs", "show", "1")):
        result = run_ktui(*args, timeout=60)
        assert result.returncode == 2, args
        assert "Traceback" not in result.stderr
        assert f"ktui: {path}: them: unknown setting" in result.stderr


def test_saving_a_setting_keeps_the_others_and_refuses_a_broken_file(
    ktui_dirs: KtuiDirs,
) -> None:
    path = write_config(ktui_dirs, 'store = "/tmp/x.db"\n')
    save_setting("theme", 'dra"cula\n')
    assert load_config() == Config('dra"cula\n', Path("/tmp/x.db"))
    assert [p.name for p in path.parent.iterdir()] == ["config.toml"]  # no temporary left
    write_config(ktui_dirs, "store = 1\n")
    with pytest.raises(ConfigError):
        save_setting("theme", "nord")
    assert path.read_text() == "store = 1\n"


def test_a_broken_config_never_stops_a_scripts_fit(ktui_dirs: KtuiDirs) -> None:
    """ktui.Dashboard in a person's script: the run is not recorded, and fit goes on."""
    path = write_config(ktui_dirs, "store = 1\n")
    script = """
import numpy as np, keras
from ktui import Dashboard
model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(1, activation="sigmoid")])
model.compile(loss="binary_crossentropy", optimizer="adam")
x = np.random.default_rng(0).random((32, 4), dtype=np.float32)
history = model.fit(x, x[:, :1] > 0.5, epochs=2, verbose=0, callbacks=[Dashboard("script")])
print("fit ran", len(history.history["loss"]), "epochs")
"""
    result = run_python(script, timeout=180)
    assert result.returncode == 0, result.stderr
    assert "fit ran 2 epochs" in result.stdout
    assert f"ktui: this training is not recorded: {path}: store: expected a file path" in (
        result.stdout + result.stderr
    )


STORE_COMMANDS: tuple[tuple[str, ...], ...] = (
    ("attach", "3"),
    ("runs", "show", "3"),
    ("runs", "export", "3"),
    ("runs", "compare", "3", "4"),
    ("runs", "stop", "3"),
    ("runs", "pause", "3"),
    ("runs", "resume", "3"),
    ("runs", "lr", "3", "0.01"),
    ("runs", "delete", "3", "--yes"),
    ("runs", "tag", "3", "good"),
    ("runs", "note", "3", "text"),
)


@pytest.mark.parametrize("command", STORE_COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_a_store_given_after_the_command_is_the_one_it_uses(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    from ktui.store import RunStore

    store = tmp_path / "given.db"
    RunStore(store).close()  # exists, and has no run 3
    result = run_ktui(*command, "--store", str(store), timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"no run with id 3 in {store}" in result.stderr
