"""A key footer that rebuilds its keys only when the keys it shows change.

Textual's :class:`~textual.widgets.Footer` unmounts and mounts every key each time its
screen says its bindings *may* have changed: the screen pushed, focus given, focus
moved into a field. A screen opening does that several times over, with the same keys
each time, and each rebuild is a restyle of every key, a layout and a paint of the
screen: measured on the form, about a tenth of the time it takes to open.

Plain Textual: it knows no other part of ktui.
"""

from __future__ import annotations

from typing import Any

from textual.widgets import Footer


class KeysFooter(Footer):
    """:class:`~textual.widgets.Footer`, rebuilt only when what it shows changes."""

    _shown: tuple[Any, ...] | None = None

    def _keys_shown(self) -> tuple[Any, ...]:
        """What the footer shows: each shown key with its state, and its own settings."""
        palette = self.app.COMMAND_PALETTE_BINDING
        keys = tuple(
            (key, binding.action, binding.description, binding.group, enabled, tooltip)
            for key, (_, binding, enabled, tooltip) in self.screen.active_bindings.items()
            if binding.show or key == palette
        )
        return (*keys, self.compact, self.show_command_palette)

    async def recompose(self) -> None:
        """Rebuild the keys, unless they would be the ones shown already."""
        if not self.is_attached:
            return
        shown = self._keys_shown()
        if shown == self._shown:
            return
        self._shown = shown
        await super().recompose()
