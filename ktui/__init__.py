"""ktui: train Keras models from a terminal dashboard.

``from ktui import Dashboard`` gives the Keras callback that records your own
``model.fit`` in ktui's run store (see :mod:`ktui.training.dashboard`). It is
imported on first use, so ``import ktui`` alone never loads TensorFlow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["Dashboard", "__version__"]

if TYPE_CHECKING:
    from ktui.training.dashboard import Dashboard


def __getattr__(name: str) -> Any:
    if name == "Dashboard":
        from ktui.training.dashboard import Dashboard

        return Dashboard
    raise AttributeError(f"module 'ktui' has no attribute {name!r}")
