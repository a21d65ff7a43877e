"""The footer of every ktui screen: Textual's :class:`~textual.widgets.Footer`, made
cheap to mount.

Textual's footer rebuilds its keys (one widget each) every time the screen says its
bindings changed — on mount, on every focus change, after ``refresh_bindings`` — even
when the keys it shows are the same, and each new key restyles itself twice on mount
(its ``compact`` reactive starts True and is then bound to the footer's False). On
the leaderboard that was about a third of the CPU time the screen took to open (its
14 keys built several times over; profiled 2026-12-02). :class:`KtuiFooter` draws the same keys
the same way, but rebuilds only when what it would show differs, and starts each
key at the footer's ``compact`` so that it is styled once.
"""

from __future__ import annotations

from collections.abc import Hashable

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer

# Not exported by textual.widgets (8.2); tests/test_footer.py checks that the keys
# still look as in Textual's own footer, should a later Textual move or change it.
from textual.widgets._footer import FooterKey


class KtuiFooter(Footer):
    """Textual's footer, rebuilt only when the keys it shows change."""

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual's name
        super().__init__(id=id)
        self._shown: Hashable | None = None
        """What the keys were last built from (None: nothing built yet)."""

    def _what_to_show(self, screen: Screen[object]) -> Hashable:
        """Everything the footer's keys are drawn from: each shown binding's key, label,
        action, whether it is enabled and its tooltip; the palette's key; the width
        style."""
        keys = tuple(
            (binding.key, binding.key_display, binding.description, binding.action,
             binding.group, enabled, tooltip)
            for _, binding, enabled, tooltip in screen.active_bindings.values()
            if binding.show
        )  # fmt: skip
        palette = screen.active_bindings.get(self.app.COMMAND_PALETTE_BINDING)
        palette_key = None if palette is None else (palette[1].key, palette[2])
        return (keys, palette_key, self.compact, self.show_command_palette)

    async def recompose(self) -> None:
        """Rebuild the keys, unless they would be the same as those shown.

        Textual asks for a rebuild after each change of the screen's bindings (after
        the next refresh: two changes in a row ask twice); the first rebuild shows the
        latest keys, the second finds nothing to do.
        """
        if (
            self._bindings_ready
            and self.is_attached
            and self._what_to_show(self.screen) == self._shown
        ):
            return
        await super().recompose()

    def compose(self) -> ComposeResult:
        if self._bindings_ready:
            self._shown = self._what_to_show(self.screen)
        for widget in super().compose():
            if isinstance(widget, FooterKey) and not widget.has_class("-command-palette"):
                # Born with the footer's value, which Textual binds the key to: the
                # binding then changes nothing, where the key's default (True) would
                # restyle it twice on mount. (The palette's key is not bound: it keeps
                # its own default.)
                widget.set_reactive(FooterKey.compact, self.compact)
            yield widget
