"""Where a run's arrays come from, how to find them, check them and preprocess them.

Plain Python and numpy: nothing in this package imports TensorFlow or Keras, so the
UI and the command line can say instantly whether a data set is on this machine.
One job a module:

* :mod:`~ktui.core.data.sources`: the :class:`DataSource` a preset or ``--data`` names;
* :mod:`~ktui.core.data.dataset`: the four arrays (:class:`Dataset`);
* :mod:`~ktui.core.data.transforms`: the preset's preprocessing steps;
* :mod:`~ktui.core.data.checks`: numbers, lengths, finite values, labels vs classes;
* :mod:`~ktui.core.data.files`: ``.npz`` and IDX files;
* :mod:`~ktui.core.data.locating`: where the built-in data sets are (Keras cache,
  Debian package), and one sample's shape without reading the data;
* :mod:`~ktui.core.data.loading`: :func:`load`, with an injected downloader.

The names below are re-exported so that ``from ktui.core import data`` and
``from ktui.core.data import X`` keep working for every caller. Module variables read
at call time (:data:`~ktui.core.data.locating.DEBIAN_FASHION_MNIST_DIR`) must be
patched where they live, in :mod:`ktui.core.data.locating`.
"""

from __future__ import annotations

from ktui.core.data.checks import check_splits, check_targets, check_validation_split
from ktui.core.data.dataset import ARRAY_KEYS, Array, Dataset
from ktui.core.data.files import IDX_FILES, read_idx
from ktui.core.data.loading import Downloader, load
from ktui.core.data.locating import (
    DEBIAN_FASHION_MNIST_DIR,
    DataStatus,
    keras_cache_dir,
    locate,
    sample_shape,
)
from ktui.core.data.sources import KERAS_DATASETS, DataSource, SourceKind, parse_source
from ktui.core.data.transforms import (
    TRANSFORM_OPS,
    Transform,
    TransformSpecError,
    apply_transforms,
    parse_transform,
    transformed_shape,
)

__all__ = [
    "ARRAY_KEYS",
    "DEBIAN_FASHION_MNIST_DIR",
    "IDX_FILES",
    "KERAS_DATASETS",
    "TRANSFORM_OPS",
    "Array",
    "DataSource",
    "DataStatus",
    "Dataset",
    "Downloader",
    "SourceKind",
    "Transform",
    "TransformSpecError",
    "apply_transforms",
    "check_splits",
    "check_targets",
    "check_validation_split",
    "keras_cache_dir",
    "load",
    "locate",
    "parse_source",
    "parse_transform",
    "read_idx",
    "sample_shape",
    "transformed_shape",
]
