"""Where a run's arrays come from: the :class:`DataSource` a preset or ``--data`` names.

Plain Python; nothing here touches the disk except :func:`parse_source` normalising a
path (the file need not exist: :func:`ktui.core.data.locating.locate` says whether it does).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeAlias

from ktui.core.errors import DataError

__all__ = ["KERAS_DATASETS", "TITLES", "DataSource", "SourceKind", "parse_source"]

SourceKind: TypeAlias = Literal["random", "mnist", "fashion_mnist", "npz"]

#: The data sets Keras can download itself (``keras.datasets.<name>``).
KERAS_DATASETS: tuple[str, ...] = ("mnist", "fashion_mnist")

#: How the built-in data sets are named in messages.
TITLES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST"}

_KINDS: tuple[str, ...] = ("random", "mnist", "fashion_mnist", "npz")


@dataclass(frozen=True)
class DataSource:
    """Where a run's arrays come from.

    ``path`` is only used (and required) for ``kind == "npz"``. The sizes are only
    used for ``kind == "random"``: the dummy data of the original script, ``x``
    uniform in [0, 1) of shape ``(n, features)`` and integer labels of shape ``(n, 1)``.
    """

    kind: SourceKind
    path: Path | None = None
    train_samples: int = 1000
    test_samples: int = 100
    features: int = 20
    classes: int = 2

    def __post_init__(self) -> None:
        # These values may come from a preset, so bad ones get a user-facing error
        # here rather than a numpy traceback later in load().
        if self.kind not in _KINDS:
            raise DataError(
                f"unknown data source kind {self.kind!r}",
                hint=f"Use one of: {', '.join(_KINDS)}.",
            )
        if self.kind == "npz" and self.path is None:
            raise DataError("an npz data source needs the path of the .npz file")
        if self.kind != "npz" and self.path is not None:
            raise DataError(f"a {self.kind} data source takes no path, got {self.path}")
        for name in ("train_samples", "test_samples", "features", "classes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise DataError(f"random data: {name} must be a whole number >= 1, got {value!r}")

    def describe(self) -> str:
        """Short human text, e.g. ``"random 1000×20, 2 classes"`` or ``"MNIST"``."""
        if self.kind == "random":
            return f"random {self.train_samples}×{self.features}, {self.classes} classes"
        if self.kind == "npz":
            return str(self.path)
        return TITLES[self.kind]


def parse_source(text: str, *, base_dir: Path | None = None) -> DataSource:
    """Turn ``--data``/preset text into a :class:`DataSource`.

    Accepts ``random``, ``mnist``, ``fashion_mnist`` (or ``fashion-mnist``), or the
    path of a ``.npz`` file. ``~`` is expanded; a relative path is resolved against
    ``base_dir`` (e.g. the preset's folder) or else the current directory. The file
    need not exist yet: :func:`locate` reports that.
    """
    cleaned = text.strip()
    keyword = cleaned.lower().replace("-", "_")
    if keyword == "random":
        return DataSource("random")
    if keyword == "mnist":
        return DataSource("mnist")
    if keyword == "fashion_mnist":
        return DataSource("fashion_mnist")
    if cleaned.lower().endswith(".npz"):
        path = Path(cleaned).expanduser()
        if not path.is_absolute():
            path = (base_dir if base_dir is not None else Path.cwd()) / path
        # absolute() rather than resolve(): keep the user's symlinks in messages.
        return DataSource("npz", path=Path(os.path.normpath(path.absolute())))
    raise DataError(
        f"data source {text!r} is not recognised",
        hint=(
            "Use random, mnist, fashion_mnist (or fashion-mnist), or the path of a .npz "
            "file with x_train, y_train, x_test, y_test."
        ),
    )
