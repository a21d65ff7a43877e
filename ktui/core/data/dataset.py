"""The four arrays of a run (:class:`Dataset`), as plain numpy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy.typing as npt

__all__ = ["ARRAY_KEYS", "Array", "Dataset"]

Array: TypeAlias = npt.NDArray[Any]

#: The arrays every data set has, in the order messages list them.
ARRAY_KEYS = ("x_train", "y_train", "x_test", "y_test")


def _shape_text(a: Array) -> str:
    return "×".join(str(d) for d in a.shape) or "scalar"


@dataclass(frozen=True, eq=False)  # eq=False: comparing arrays with == is ambiguous
class Dataset:
    """The four arrays of a run, and where they were read from (for the UI and logs)."""

    x_train: Array
    y_train: Array
    x_test: Array
    y_test: Array
    origin: str

    @property
    def train_samples(self) -> int:
        """Number of training samples."""
        return len(self.x_train)

    @property
    def test_samples(self) -> int:
        """Number of test samples."""
        return len(self.x_test)

    def summary(self) -> str:
        """One line with shapes and dtypes, e.g. ``"train x 60000×28×28 uint8, ..."``."""
        return (
            f"train x {_shape_text(self.x_train)} {self.x_train.dtype}, "
            f"y {_shape_text(self.y_train)} {self.y_train.dtype}; "
            f"test x {_shape_text(self.x_test)} {self.x_test.dtype}, "
            f"y {_shape_text(self.y_test)} {self.y_test.dtype}"
        )
