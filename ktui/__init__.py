"""ktui: train Keras models from a terminal dashboard."""

from __future__ import annotations

__version__ = "0.1.0"
