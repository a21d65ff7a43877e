"""How values sit in the store's columns: JSON for dicts and lists, floats for metrics.

Plain Python: no TensorFlow, Keras or Textual.
"""

from __future__ import annotations

import json
from typing import Any


def dumps(value: object) -> str:
    """``value`` as compact JSON, for a TEXT column."""
    return json.dumps(value, separators=(",", ":"))


def loads(text: str | None, default: Any) -> Any:
    """A JSON column's value; ``default`` when it is empty or not JSON."""
    if not text:
        return default
    try:
        return json.loads(text)
    except ValueError:
        return default


def metric_value(value: object) -> float | None:
    """A stored number as a float (``None`` for NULL or anything else)."""
    return float(value) if isinstance(value, int | float) else None
