"""Messages that carry a run's events from the training thread to the UI.

The training worker only ever calls ``post_message`` (which is thread-safe); the
screens react in their handlers on the UI thread. Batch progress is frequent, so a
newer batch message replaces an older one still waiting in the queue and the UI
never falls behind; every other event is delivered, in order.
"""

from __future__ import annotations

from textual.message import Message

from ktui.core.events import BatchProgress, Event


class RunEvent(Message):
    """One event of the run that is going, posted from the training thread."""

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event

    def can_replace(self, message: Message) -> bool:
        # Only batch progress is coalesced; epoch, phase and final events never are.
        return (
            isinstance(self.event, BatchProgress)
            and isinstance(message, RunEvent)
            and isinstance(message.event, BatchProgress)
        )
