"""Where a run's arrays come from, how to find them and how to preprocess them.

This module is plain Python and numpy. It never imports TensorFlow or Keras, so the
UI and the command line can say instantly whether a data set is on this machine.
When a data set has to be downloaded, the caller injects a :data:`Downloader`
(in practice a thin wrapper around ``keras.datasets.<name>.load_data``).

Search order for the built-in data sets:

* ``mnist``: ``<keras cache>/mnist.npz``, else the downloader.
* ``fashion_mnist``: ``<keras cache>/fashion-mnist/`` with the four :data:`IDX_FILES`,
  else :data:`DEBIAN_FASHION_MNIST_DIR` with the same files, else the downloader.

``<keras cache>`` is :func:`keras_cache_dir`, which follows ``KERAS_HOME``. Both the
environment variable and the module variable :data:`DEBIAN_FASHION_MNIST_DIR` are read
at call time, so tests point them at temporary folders with ``monkeypatch``.
"""

from __future__ import annotations

import dataclasses
import gzip
import math
import os
import struct
import zipfile
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt

from ktui.core.errors import DataError

__all__ = [
    "DEBIAN_FASHION_MNIST_DIR",
    "IDX_FILES",
    "KERAS_DATASETS",
    "TRANSFORM_OPS",
    "DataSource",
    "DataStatus",
    "Dataset",
    "Downloader",
    "Transform",
    "TransformSpecError",
    "apply_transforms",
    "keras_cache_dir",
    "load",
    "locate",
    "parse_source",
    "parse_transform",
    "read_idx",
]

Array: TypeAlias = npt.NDArray[Any]
SourceKind: TypeAlias = Literal["random", "mnist", "fashion_mnist", "npz"]

#: The data sets Keras can download itself (``keras.datasets.<name>``).
KERAS_DATASETS: tuple[str, ...] = ("mnist", "fashion_mnist")

#: Where the Debian package ``dataset-fashion-mnist`` installs the IDX files.
#: Read at call time, so tests may monkeypatch it.
DEBIAN_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")

#: The four gzip-compressed IDX files of (Fashion-)MNIST, by the array they hold.
IDX_FILES: dict[str, str] = {
    "x_train": "train-images-idx3-ubyte.gz",
    "y_train": "train-labels-idx1-ubyte.gz",
    "x_test": "t10k-images-idx3-ubyte.gz",
    "y_test": "t10k-labels-idx1-ubyte.gz",
}

#: Given ``"mnist"`` or ``"fashion_mnist"``, returns Keras-style
#: ``((x_train, y_train), (x_test, y_test))``. It may raise anything (no network, ...).
Downloader: TypeAlias = Callable[[str], tuple[tuple[Array, Array], tuple[Array, Array]]]

_ARRAY_KEYS = ("x_train", "y_train", "x_test", "y_test")
_KINDS: tuple[str, ...] = ("random", "mnist", "fashion_mnist", "npz")
_TITLES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST"}
_NPZ_CONTENTS = (
    "A data file must be a .npz with four arrays x_train, y_train, x_test, y_test "
    "(like Keras's mnist.npz), e.g. np.savez(path, x_train=..., y_train=..., "
    "x_test=..., y_test=...)."
)


# --------------------------------------------------------------------------- sources


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
        return _TITLES[self.kind]


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


# ------------------------------------------------------------------------ transforms


class TransformSpecError(ValueError):
    """A transform declared in a preset is malformed.

    ``key`` is the full key path (e.g. ``"data.transforms[1].shape"``) and ``problem``
    says what was expected and what was found. The preset loader wraps this into a
    :class:`~ktui.core.errors.PresetError` that also names the file.
    """

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        self.problem = problem
        super().__init__(f"{key}: {problem}")


# op -> (required args, optional args)
_OP_ARGS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "reshape": (frozenset({"shape"}), frozenset()),
    "flatten": (frozenset(), frozenset()),
    "astype": (frozenset({"dtype"}), frozenset()),
    "scale": (frozenset({"divide"}), frozenset()),
    "one_hot": (frozenset(), frozenset({"num_classes"})),
}

#: The preprocessing steps a preset may declare.
TRANSFORM_OPS: frozenset[str] = frozenset(_OP_ARGS)

_ARG_EXAMPLES = {
    "shape": "shape = [28, 28, 1]",
    "dtype": 'dtype = "float32"',
    "divide": "divide = 255",
}


def _is_int(value: object) -> bool:
    # TOML booleans are Python bools, which are ints; a preset saying `true` where a
    # number is expected is a mistake, not the number 1.
    return isinstance(value, int) and not isinstance(value, bool)


def _check_arg(op: str, name: str, value: object, key: str) -> Any:
    """Validate one transform argument and return its normalised form."""
    if name == "shape":
        if not isinstance(value, list | tuple) or not all(
            _is_int(d) and (d >= 1 or d == -1) for d in value
        ):
            raise TransformSpecError(
                key, f"expected a list of positive integers (one may be -1), got {value!r}"
            )
        if list(value).count(-1) > 1:
            raise TransformSpecError(key, f"only one dimension may be -1, got {value!r}")
        return [int(d) for d in value]
    if name == "dtype":
        problem = f"expected a numpy dtype name such as 'float32' or 'uint8', got {value!r}"
        if not isinstance(value, str):
            raise TransformSpecError(key, problem)
        try:
            dtype = np.dtype(value)
        except (TypeError, ValueError):
            raise TransformSpecError(key, problem) from None
        # Only numbers make sense as model input; 'U10' or 'object' would fail later.
        if dtype.kind not in "biuf":
            raise TransformSpecError(key, problem)
        return value
    if name == "divide":
        # bool is excluded explicitly: isinstance(True, int) holds.
        if isinstance(value, bool) or not isinstance(value, int | float):
            ok = False
        else:
            ok = value != 0 and math.isfinite(value)
        if not ok:
            raise TransformSpecError(key, f"expected a nonzero number such as 255, got {value!r}")
        return value
    if name == "num_classes":
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise TransformSpecError(key, f"expected a whole number >= 1, got {value!r}")
        return value
    raise AssertionError(f"no validator for {op}.{name}")  # pragma: no cover - table bug


def _check_args(op: str, args: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Validate the arguments of a known ``op``; keys in errors are ``where.<arg>``."""
    required, optional = _OP_ARGS[op]
    allowed = required | optional
    for name in args:
        if name not in allowed:
            takes = f"it takes {', '.join(sorted(allowed))}" if allowed else "it takes none"
            raise TransformSpecError(
                f"{where}.{name}", f"unknown setting for op {op!r} ({takes}), got {args[name]!r}"
            )
    for name in sorted(required):
        if name not in args:
            raise TransformSpecError(
                f"{where}.{name}", f"missing; op {op!r} needs it, e.g. {_ARG_EXAMPLES[name]}"
            )
    return {name: _check_arg(op, name, value, f"{where}.{name}") for name, value in args.items()}


def _format_shape(shape: Sequence[int]) -> str:
    """``[784]`` -> ``"(784,)"``, ``[28, 28, 1]`` -> ``"(28, 28, 1)"`` (Python tuple style)."""
    return str(tuple(shape))


@dataclass(frozen=True)
class Transform:
    """One preprocessing step, declared in a preset (not hidden code).

    ``op`` is one of :data:`TRANSFORM_OPS`; ``args`` its settings (stored as a plain
    dict). Constructing a Transform validates it and raises :class:`TransformSpecError`
    when it is malformed; :func:`parse_transform` does the same with full key paths.
    """

    op: str
    # hash=False: a dict cannot be hashed; equality still compares the args.
    args: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if self.op not in TRANSFORM_OPS:
            ops = ", ".join(sorted(TRANSFORM_OPS))
            raise TransformSpecError("transform.op", f"expected one of {ops}, got {self.op!r}")
        object.__setattr__(self, "args", _check_args(self.op, self.args, "transform"))

    def describe(self) -> str:
        """Human text such as ``"reshape x to (784,)"`` or ``"one-hot y (10 classes)"``."""
        if self.op == "reshape":
            return f"reshape x to {_format_shape(self.args['shape'])}"
        if self.op == "flatten":
            return "flatten x"
        if self.op == "astype":
            return f"cast x to {self.args['dtype']}"
        if self.op == "scale":
            return f"divide x by {self.args['divide']:g}"
        if "num_classes" in self.args:
            return f"one-hot y ({self.args['num_classes']} classes)"
        return "one-hot y"


def parse_transform(raw: object, where: str) -> Transform:
    """Build a :class:`Transform` from a TOML table like ``{op = "reshape", shape = [784]}``.

    ``where`` is the key path of the table (e.g. ``"data.transforms[1]"``); errors are
    :class:`TransformSpecError` with ``key`` set to the offending key path.
    """
    if not isinstance(raw, Mapping):
        raise TransformSpecError(
            where, f'expected a table like {{op = "reshape", shape = [784]}}, got {raw!r}'
        )
    ops = ", ".join(sorted(TRANSFORM_OPS))
    if "op" not in raw:
        raise TransformSpecError(f"{where}.op", f"missing; expected one of {ops}")
    op = raw["op"]
    if not isinstance(op, str) or op not in TRANSFORM_OPS:
        raise TransformSpecError(f"{where}.op", f"expected one of {ops}, got {op!r}")
    args = _check_args(op, {str(k): v for k, v in raw.items() if k != "op"}, where)
    return Transform(op, args)


# -------------------------------------------------------------------------- datasets


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


class _StepProblem(Exception):
    """Internal: a transform step does not fit the data; the caller adds the step name."""


def _reshape(x: Array, name: str, shape: list[int]) -> Array:
    per_sample = math.prod(x.shape[1:])
    known = math.prod(d for d in shape if d != -1)
    fits = per_sample % known == 0 if -1 in shape else per_sample == known
    if not fits:
        raise _StepProblem(
            f"{name} has shape {tuple(x.shape)}; its {per_sample} values per sample "
            f"cannot become {_format_shape(shape)}"
        )
    return x.reshape((len(x), *shape))


def _scale(x: Array, divide: float) -> Array:
    # Keep float32 for the usual uint8 images: numpy would promote ints to float64,
    # doubling memory for no benefit to the model.
    if x.dtype.kind in "biu" or x.dtype == np.float32:
        return x.astype(np.float32) / np.float32(divide)
    return x / divide


def _labels(y: Array, name: str) -> Array:
    """Integer labels of shape (n,) from ``y`` of shape (n,) or (n, 1)."""
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise _StepProblem(
            f"{name} has shape {tuple(y.shape)}; one_hot expects labels of shape (n,) or "
            "(n, 1) (is y already one-hot?)"
        )
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise _StepProblem(f"{name} holds non-integer values; one_hot expects class labels")
    elif y.dtype.kind not in "biu":
        raise _StepProblem(f"{name} has dtype {y.dtype}; one_hot expects integer class labels")
    labels = y.astype(np.int64)
    if labels.size and labels.min() < 0:
        raise _StepProblem(f"{name} holds the negative label {labels.min()}")
    return labels


def _one_hot(ds: Dataset, num_classes: int | None) -> Dataset:
    train = _labels(ds.y_train, "y_train")
    test = _labels(ds.y_test, "y_test")
    both = np.concatenate([train, test])
    top = int(both.max()) if both.size else 0
    if num_classes is None:
        num_classes = top + 1
    elif top >= num_classes:
        raise _StepProblem(
            f"the labels go up to {top}, which does not fit num_classes = {num_classes} "
            f"(labels must be 0..{num_classes - 1})"
        )
    eye = np.eye(num_classes, dtype=np.float32)
    return dataclasses.replace(ds, y_train=eye[train], y_test=eye[test])


def _apply_one(ds: Dataset, t: Transform) -> Dataset:
    args = t.args
    if t.op == "one_hot":
        return _one_hot(ds, args.get("num_classes"))

    def step(x: Array, name: str) -> Array:
        if t.op in ("reshape", "flatten") and x.ndim == 0:
            raise _StepProblem(f"{name} is a single number, not an array of samples")
        if t.op == "reshape":
            return _reshape(x, name, args["shape"])
        if t.op == "flatten":
            # Explicit size instead of -1: numpy cannot infer -1 for zero-sized arrays.
            return x.reshape(len(x), math.prod(x.shape[1:]))
        if t.op == "astype":
            return x.astype(args["dtype"])
        return _scale(x, args["divide"])

    return dataclasses.replace(
        ds, x_train=step(ds.x_train, "x_train"), x_test=step(ds.x_test, "x_test")
    )


def apply_transforms(ds: Dataset, transforms: Sequence[Transform]) -> Dataset:
    """Apply preprocessing steps in order to both splits; ``ds`` itself is not changed.

    ``x`` steps (reshape, flatten, astype, scale) apply to ``x_train`` and ``x_test``;
    ``one_hot`` applies to ``y_train`` and ``y_test``. A step that does not fit the
    data raises :class:`DataError` naming the step (``data.transforms[i]``, counting
    from 0 like the preset key paths) and the actual array shape.
    """
    for i, t in enumerate(transforms):
        try:
            ds = _apply_one(ds, t)
        except (_StepProblem, ValueError, TypeError) as exc:
            raise DataError(
                f"data.transforms[{i}] ({t.describe()}) does not fit the data: {exc}",
                hint="Fix or remove this step in the preset's [data] transforms.",
            ) from exc
    return ds


# --------------------------------------------------------------------------- locating


@dataclass(frozen=True)
class DataStatus:
    """Whether a source's data is here, will be downloaded, or cannot be found."""

    state: Literal["available", "download", "missing"]
    where: str | None  # the file/folder that will be read, if available
    message: str  # one line for a user


def keras_cache_dir() -> Path:
    """The folder where Keras keeps downloaded data sets (Keras's own rule).

    ``$KERAS_HOME/datasets`` if ``KERAS_HOME`` is set, else ``~/.keras/datasets``; like
    Keras, ``/tmp/.keras/datasets`` when the home folder is not writable.
    """
    home = os.environ.get("KERAS_HOME")
    if home:
        return Path(home).expanduser() / "datasets"
    base = Path("~").expanduser()
    if not os.access(base, os.W_OK):
        base = Path("/tmp")
    return base / ".keras" / "datasets"


def _tilde(path: Path) -> str:
    """Show paths under the home folder as ``~/...``: shorter, and what users type."""
    try:
        return "~/" + str(path.relative_to(Path("~").expanduser()))
    except (ValueError, RuntimeError):
        return str(path)


def _mnist_cache_file() -> Path:
    return keras_cache_dir() / "mnist.npz"


def _fashion_dirs() -> list[Path]:
    # Keras's cache first: that is what Keras itself would read.
    return [keras_cache_dir() / "fashion-mnist", DEBIAN_FASHION_MNIST_DIR]


def _find_fashion_dir() -> Path | None:
    for folder in _fashion_dirs():
        if all((folder / name).is_file() for name in IDX_FILES.values()):
            return folder
    return None


def _not_here_hint(kind: str) -> str:
    cache = _tilde(keras_cache_dir())
    if kind == "mnist":
        return (
            f"Put mnist.npz (the file Keras downloads, with x_train, y_train, x_test, "
            f"y_test) in {cache}/, or run with --data PATH.npz, or use fashion_mnist "
            "(Debian package dataset-fashion-mnist)."
        )
    return (
        "Install the Debian package (apt-get install dataset-fashion-mnist), or put "
        f"the four files {', '.join(IDX_FILES.values())} in {cache}/fashion-mnist/, "
        "or run with --data PATH.npz."
    )


def locate(source: DataSource) -> DataStatus:
    """Say, without reading it, where ``source``'s data is or what will happen.

    Uses :func:`keras_cache_dir` (follows ``KERAS_HOME``) and the module variable
    :data:`DEBIAN_FASHION_MNIST_DIR`, both read at call time.
    """
    if source.kind == "random":
        return DataStatus("available", None, f"{source.describe()}: generated on each run")
    if source.kind == "npz":
        path = source.path
        assert path is not None  # guaranteed by DataSource.__post_init__
        if path.is_file():
            return DataStatus("available", str(path), f"data file {path}: found")
        if path.exists():
            return DataStatus("missing", None, f"data file {path} is not a file")
        return DataStatus("missing", None, f"data file {path} does not exist")
    title = _TITLES[source.kind]
    found: Path | None
    if source.kind == "mnist":
        cached = _mnist_cache_file()
        found = cached if cached.is_file() else None
        put = f"put mnist.npz in {_tilde(keras_cache_dir())}/"
    else:
        found = _find_fashion_dir()
        put = (
            "apt-get install dataset-fashion-mnist, or put the four .gz files in "
            f"{_tilde(keras_cache_dir() / 'fashion-mnist')}/"
        )
    if found is not None:
        return DataStatus("available", str(found), f"{title}: found in {_tilde(found)}")
    return DataStatus(
        "download",
        None,
        f"{title}: not on this machine; will be downloaded by Keras on first run "
        f"(needs network), or {put}",
    )


# ---------------------------------------------------------------------------- loading


def _check_splits(arrays: Mapping[str, Array], where: str, what_to_do: str) -> None:
    """Check the four arrays are numeric and x/y agree in length, with >= 1 sample."""
    for key in _ARRAY_KEYS:
        a = arrays[key]
        if a.ndim == 0:
            raise DataError(
                f"{where}: {key} is a single number, not an array of samples", hint=what_to_do
            )
        if a.dtype.kind not in "biuf":
            raise DataError(
                f"{where}: {key} has dtype {a.dtype}; expected numbers", hint=what_to_do
            )
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if len(x) != len(y):
            raise DataError(
                f"{where}: x_{split} has {len(x)} samples (shape {tuple(x.shape)}) but "
                f"y_{split} has {len(y)} (shape {tuple(y.shape)})",
                hint=what_to_do,
            )
        if len(x) == 0:
            raise DataError(f"{where}: x_{split} and y_{split} hold no samples", hint=what_to_do)


def _load_npz(path: Path, *, damaged_hint: str = "Replace it with a good copy.") -> Dataset:
    """Read the four arrays from a .npz file, with a DataError for every way it can fail."""
    if not path.exists():
        raise DataError(
            f"data file {path} does not exist",
            hint="Pass --data PATH to a .npz with x_train, y_train, x_test, y_test.",
        )
    if not path.is_file():
        raise DataError(f"data file {path} is not a file", hint=_NPZ_CONTENTS)
    try:
        with path.open("rb") as f:
            magic = f.read(6)
        # Check the magic ourselves: for a non-zip file numpy falls back to pickle and
        # its message ("load it unsafely using allow_pickle=") would mislead a user.
        if magic.startswith(b"\x93NUMPY"):
            raise DataError(
                f"data file {path} holds a single .npy array, not a .npz archive",
                hint=_NPZ_CONTENTS,
            )
        if not magic.startswith(b"PK"):
            raise DataError(
                f"data file {path} is not a .npz archive (it does not start like a zip file)",
                hint=f"{damaged_hint} {_NPZ_CONTENTS}",
            )
        # allow_pickle=False: a data file must never be able to run code.
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in _ARRAY_KEYS if k not in npz.files]
            if missing:
                has = ", ".join(npz.files) or "no arrays"
                raise DataError(
                    f"data file {path} is missing {', '.join(missing)} (it has {has})",
                    hint=_NPZ_CONTENTS,
                )
            # Arrays are read lazily, so corruption inside the zip surfaces here.
            arrays = {k: np.asarray(npz[k]) for k in _ARRAY_KEYS}
    except ValueError as exc:
        if "pickle" not in str(exc):
            raise _npz_damaged(path, exc, damaged_hint) from exc
        raise DataError(
            f"data file {path} holds Python objects (pickled data), which ktui does not "
            "load because loading them can run arbitrary code",
            hint="Save plain numeric arrays instead. " + _NPZ_CONTENTS,
        ) from exc
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise _npz_damaged(path, exc, damaged_hint) from exc
    _check_splits(arrays, f"data file {path}", _NPZ_CONTENTS)
    return Dataset(**arrays, origin=_tilde(path))


def _npz_damaged(path: Path, exc: BaseException, damaged_hint: str) -> DataError:
    return DataError(
        f"data file {path} cannot be read as a .npz archive ({exc})",
        hint=f"The file is damaged. {damaged_hint} {_NPZ_CONTENTS}",
    )


# IDX type codes -> big-endian numpy dtypes (http://yann.lecun.com/exdb/mnist/).
_IDX_DTYPES: dict[int, str] = {
    0x08: ">u1",
    0x09: ">i1",
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}


def read_idx(path: Path) -> Array:
    """Read an IDX file (gzip-compressed if the name ends in ``.gz``) into an array.

    Format: two zero bytes, a type code byte, a byte with the number of dimensions,
    that many big-endian uint32 sizes, then the data in big-endian order. The result
    is a writable array in native byte order. A missing, corrupt or truncated file
    raises :class:`DataError` naming the path.
    """
    damaged = "The file is damaged or truncated; replace it with a good copy."
    try:
        if path.name.endswith(".gz"):
            with gzip.open(path, "rb") as f:
                raw = f.read()
        else:
            raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"IDX file {path} does not exist") from None
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"IDX file {path} cannot be read ({exc})", hint=damaged) from exc

    if len(raw) < 4:
        raise DataError(f"IDX file {path} is too short for an IDX header", hint=damaged)
    if raw[0:2] != b"\x00\x00" or raw[2] not in _IDX_DTYPES:
        raise DataError(
            f"IDX file {path} does not start with an IDX header (got bytes {raw[:4].hex()})",
            hint=damaged,
        )
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    ndim = raw[3]
    offset = 4 + 4 * ndim
    if len(raw) < offset:
        raise DataError(f"IDX file {path} is truncated inside its header", hint=damaged)
    dims = struct.unpack(f">{ndim}I", raw[4:offset])
    expected = math.prod(dims) * dtype.itemsize
    actual = len(raw) - offset
    if actual != expected:
        raise DataError(
            f"IDX file {path} has {actual} bytes of data, but its header announces shape "
            f"{tuple(dims)} of {dtype.str[1:]} ({expected} bytes)",
            hint=damaged,
        )
    data = np.frombuffer(raw, dtype=dtype, count=math.prod(dims), offset=offset)
    # Copy into native byte order: frombuffer over bytes is read-only and big-endian.
    return data.reshape(dims).astype(dtype.newbyteorder("="))


def _load_idx_dir(folder: Path) -> Dataset:
    arrays = {key: read_idx(folder / name) for key, name in IDX_FILES.items()}
    _check_splits(
        arrays,
        f"IDX files in {folder}",
        "The files do not belong together; replace them with a matching set.",
    )
    return Dataset(**arrays, origin=_tilde(folder))


def _download(kind: str, download: Downloader | None) -> Dataset:
    title = _TITLES[kind]
    if download is None:
        reason = "no downloader available"
    else:
        try:
            (x_train, y_train), (x_test, y_test) = download(kind)
        # Anything can go wrong in a download (no network, proxy, disk full, ...);
        # the user needs the reason and the offline alternatives, not a traceback.
        except Exception as exc:  # noqa: BLE001 - reported to the user with the reason
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        else:
            arrays = {
                "x_train": np.asarray(x_train),
                "y_train": np.asarray(y_train),
                "x_test": np.asarray(x_test),
                "y_test": np.asarray(y_test),
            }
            _check_splits(arrays, f"{title} as downloaded", _not_here_hint(kind))
            return Dataset(**arrays, origin=f"downloaded by Keras ({_tilde(keras_cache_dir())})")
    raise DataError(
        f"{title} is not on this machine and could not be downloaded ({reason}).",
        hint=_not_here_hint(kind),
    )


def _random(source: DataSource, seed: int | None) -> Dataset:
    rng = np.random.default_rng(seed)
    # Same recipe as the original script's dummy data; float32 is what Keras uses.
    x_train = rng.random((source.train_samples, source.features), dtype=np.float32)
    y_train = rng.integers(0, source.classes, size=(source.train_samples, 1))
    x_test = rng.random((source.test_samples, source.features), dtype=np.float32)
    y_test = rng.integers(0, source.classes, size=(source.test_samples, 1))
    origin = f"random (seed {seed})" if seed is not None else "random (unseeded)"
    return Dataset(x_train, y_train, x_test, y_test, origin=origin)


def load(
    source: DataSource, *, seed: int | None = None, download: Downloader | None = None
) -> Dataset:
    """Read (or generate) the raw arrays of ``source``, before any transforms.

    ``seed`` only affects ``random``. ``download`` is called for ``mnist`` or
    ``fashion_mnist`` only when no local copy exists (see :func:`locate`); when it is
    missing or fails, a :class:`DataError` says where to put the files instead.
    """
    if source.kind == "random":
        return _random(source, seed)
    if source.kind == "npz":
        assert source.path is not None  # guaranteed by DataSource.__post_init__
        return _load_npz(source.path)
    if source.kind == "mnist":
        cached = _mnist_cache_file()
        if cached.is_file():
            return _load_npz(cached, damaged_hint="Delete it so Keras downloads it again.")
    else:
        folder = _find_fashion_dir()
        if folder is not None:
            return _load_idx_dir(folder)
    return _download(source.kind, download)
