"""The dashboard opens with config.toml's theme and saves the theme a person picks."""

from __future__ import annotations

from pathlib import Path

from conftest import KtuiDirs, make_app

from ktui.core.config import load_config


async def test_the_app_opens_with_the_saved_theme_and_saves_a_new_one(
    ktui_dirs: KtuiDirs,
) -> None:
    ktui_dirs.config.mkdir(parents=True)
    config = ktui_dirs.config / "config.toml"
    config.write_text('theme = "nord"\nstore = "/tmp/elsewhere.db"\n')
    app = make_app(theme=load_config().theme, config_path=config)
    async with app.run_test() as pilot:
        await pilot.pause()
        assert app.theme == "nord"
        assert config.read_text() == 'theme = "nord"\nstore = "/tmp/elsewhere.db"\n'  # untouched
        app.theme = "dracula"  # what the command palette's theme picker does
        await pilot.pause()
        await pilot.pause()
    assert load_config().theme == "dracula"
    assert load_config().store == Path("/tmp/elsewhere.db")


async def test_picking_a_theme_through_the_command_palette_saves_it(ktui_dirs: KtuiDirs) -> None:
    config = ktui_dirs.config / "config.toml"
    app = make_app(theme=None, config_path=config)
    async with app.run_test() as pilot:
        await pilot.pause()
        await pilot.press("ctrl+p")
        await pilot.pause()
        for key in "theme":
            await pilot.press(key)
        await pilot.pause(0.3)
        await pilot.press("enter")  # "Theme": the picker, with every theme
        await pilot.pause(0.3)
        for key in "monokai":
            await pilot.press(key)
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause(0.3)
        assert app.theme == "monokai"
    assert load_config().theme == "monokai"


async def test_an_unknown_theme_is_a_warning_and_nothing_is_saved(ktui_dirs: KtuiDirs) -> None:
    ktui_dirs.config.mkdir(parents=True)
    config = ktui_dirs.config / "config.toml"
    config.write_text('theme = "no-such-theme"\n')
    app = make_app(theme="no-such-theme", config_path=config)
    async with app.run_test() as pilot:
        await pilot.pause()
        assert app.theme == "textual-dark"
        messages = [n.message for n in app._notifications]
        assert any("'no-such-theme' in config.toml is not a Textual theme" in m for m in messages)
    assert config.read_text() == 'theme = "no-such-theme"\n'


async def test_without_a_config_path_nothing_is_written(ktui_dirs: KtuiDirs) -> None:
    app = make_app(theme=None, config_path=None)
    async with app.run_test() as pilot:
        app.theme = "nord"
        await pilot.pause()
    assert not (ktui_dirs.config / "config.toml").exists()
