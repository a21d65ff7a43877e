"""Widget ids built from data (metric names): always valid, one per name.

Textual refuses ids outside ``[A-Za-z_-][A-Za-z0-9_-]*`` (``BadIdentifier``), and a
metric may be named anything: ``acc@5``, ``top-1 acc``, ``precision/macro``. Every
id made from a name goes through :func:`data_id`; the name itself is what is shown.
"""

from __future__ import annotations

import re

_PLAIN = re.compile(r"[A-Za-z0-9_-]+")
_KEEP = re.compile(r"[A-Za-z0-9-]")


def data_id(prefix: str, name: str) -> str:
    """A valid Textual id for ``name`` under ``prefix`` (itself a valid id), different
    for every name: ``data_id("chart", "val_loss") == "chart-val_loss"``.

    A name of plain characters is kept as it is, after ``prefix-``. Any other name is
    escaped after ``prefix_`` (so it cannot meet a plain one): ``_`` becomes ``__``,
    any other character outside ``[A-Za-z0-9-]`` its code point in hex between ``_``
    and ``_`` — ``acc@5`` is ``chart_acc_40_5`` — which no two names share.
    """
    if _PLAIN.fullmatch(name):
        return f"{prefix}-{name}"
    escaped = "".join(
        char if _KEEP.fullmatch(char) else "__" if char == "_" else f"_{ord(char):x}_"
        for char in name
    )
    return f"{prefix}_{escaped}"
