"""The footer every screen has: the same keys as Textual's, rebuilt only when they change."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Button, Footer
from textual.widgets._footer import FooterKey

from ktui.widgets.footer import KtuiFooter


class Keys(App[None]):
    """Two buttons (focus moves between them, the keys stay) and a key that can be off."""

    BINDINGS = [Binding("x", "go", "Go"), Binding("y", "other", "Other")]

    def __init__(self, footer: type[Footer]) -> None:
        super().__init__()
        self.footer_type = footer
        self.go_enabled = True
        self.builds = 0

    def compose(self) -> ComposeResult:
        yield Button("one", id="one")
        yield Button("two", id="two")
        yield self.footer_type()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # None: shown, greyed out (False would hide it).
        return None if action == "go" and not self.go_enabled else True

    def action_go(self) -> None:
        pass

    def action_other(self) -> None:
        pass


def _counting(footer: type[Footer]) -> type[Footer]:
    class Counting(footer):  # type: ignore[misc, valid-type]
        def compose(self) -> ComposeResult:
            self.app.builds += 1  # the keys built once more
            yield from super().compose()

    return Counting


async def _builds_on_focus_moves(footer: type[Footer]) -> int:
    app = Keys(_counting(footer))
    async with app.run_test() as pilot:
        await pilot.pause()
        before = app.builds
        for _ in range(3):
            app.query_one("#two").focus()
            await pilot.pause()
            app.query_one("#one").focus()
            await pilot.pause()
        return app.builds - before


async def test_moving_the_focus_with_the_same_keys_rebuilds_nothing() -> None:
    # Textual's own footer rebuilds its keys on each move: what ktui's saves.
    assert await _builds_on_focus_moves(Footer) >= 6
    assert await _builds_on_focus_moves(KtuiFooter) == 0


async def test_a_key_that_changes_is_shown_changed() -> None:
    app = Keys(KtuiFooter)
    async with app.run_test() as pilot:
        await pilot.pause()
        keys = {key.key: key for key in app.query(FooterKey)}
        assert set(keys) >= {"x", "y"}
        assert not keys["x"].has_class("-disabled")
        app.go_enabled = False
        app.refresh_bindings()
        await pilot.pause()
        await pilot.pause()
        keys = {key.key: key for key in app.query(FooterKey)}
        assert keys["x"].has_class("-disabled")
        assert not keys["y"].has_class("-disabled")


async def test_the_keys_look_as_in_textuals_footer() -> None:
    async def looks(footer: type[Footer]) -> list[tuple[str, tuple[str, ...], int]]:
        app = Keys(footer)
        async with app.run_test(size=(80, 10)) as pilot:
            await pilot.pause()
            return [
                (key.key, tuple(sorted(key.classes)), key.region.width)
                for key in app.query(FooterKey)
            ]

    assert await looks(KtuiFooter) == await looks(Footer)
