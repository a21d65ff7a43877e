"""Reading data files: ``.npz`` archives and (Fashion-)MNIST's IDX files.

Every way a file can be missing, damaged or of the wrong kind is a
:class:`~ktui.core.errors.DataError` naming the file. :func:`npz_sample_shape` reads
only an archive's headers, so the form can check a model against a file's shapes
without loading it.
"""

from __future__ import annotations

import gzip
import math
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np

from ktui.core.data.checks import check_splits
from ktui.core.data.dataset import ARRAY_KEYS, Array, Dataset
from ktui.core.errors import DataError

__all__ = [
    "IDX_FILES",
    "NPZ_CONTENTS",
    "load_idx_dir",
    "load_npz",
    "npz_sample_shape",
    "read_idx",
    "tilde",
]

#: The four gzip-compressed IDX files of (Fashion-)MNIST, by the array they hold.
IDX_FILES: dict[str, str] = {
    "x_train": "train-images-idx3-ubyte.gz",
    "y_train": "train-labels-idx1-ubyte.gz",
    "x_test": "t10k-images-idx3-ubyte.gz",
    "y_test": "t10k-labels-idx1-ubyte.gz",
}

#: What a data file must hold, said in every message about a bad one.
NPZ_CONTENTS = (
    "A data file must be a .npz with four arrays x_train, y_train, x_test, y_test "
    "(like Keras's mnist.npz), e.g. np.savez(path, x_train=..., y_train=..., "
    "x_test=..., y_test=...)."
)


def tilde(path: Path) -> str:
    """Show paths under the home folder as ``~/...``: shorter, and what users type."""
    try:
        return "~/" + str(path.relative_to(Path("~").expanduser()))
    except (ValueError, RuntimeError):
        return str(path)


def load_npz(path: Path, *, damaged_hint: str = "Replace it with a good copy.") -> Dataset:
    """Read the four arrays from a .npz file, with a DataError for every way it can fail."""
    if not path.exists():
        raise DataError(
            f"data file {path} does not exist",
            hint="Pass --data PATH to a .npz with x_train, y_train, x_test, y_test.",
        )
    if not path.is_file():
        raise DataError(f"data file {path} is not a file", hint=NPZ_CONTENTS)
    try:
        with path.open("rb") as f:
            magic = f.read(6)
        # Check the magic ourselves: for a non-zip file numpy falls back to pickle and
        # its message ("load it unsafely using allow_pickle=") would mislead a user.
        if magic.startswith(b"\x93NUMPY"):
            raise DataError(
                f"data file {path} holds a single .npy array, not a .npz archive",
                hint=NPZ_CONTENTS,
            )
        if not magic.startswith(b"PK"):
            raise DataError(
                f"data file {path} is not a .npz archive (it does not start like a zip file)",
                hint=f"{damaged_hint} {NPZ_CONTENTS}",
            )
        # allow_pickle=False: a data file must never be able to run code.
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in ARRAY_KEYS if k not in npz.files]
            if missing:
                has = ", ".join(npz.files) or "no arrays"
                raise DataError(
                    f"data file {path} is missing {', '.join(missing)} (it has {has})",
                    hint=NPZ_CONTENTS,
                )
            # Arrays are read lazily, so corruption inside the zip surfaces here.
            arrays = {k: np.asarray(npz[k]) for k in ARRAY_KEYS}
    except ValueError as exc:
        if "pickle" not in str(exc):
            raise _npz_damaged(path, exc, damaged_hint) from exc
        raise DataError(
            f"data file {path} holds Python objects (pickled data), which ktui does not "
            "load because loading them can run arbitrary code",
            hint="Save plain numeric arrays instead. " + NPZ_CONTENTS,
        ) from exc
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise _npz_damaged(path, exc, damaged_hint) from exc
    check_splits(arrays, f"data file {path}", NPZ_CONTENTS)
    return Dataset(**arrays, origin=tilde(path))


def _npz_damaged(path: Path, exc: BaseException, damaged_hint: str) -> DataError:
    return DataError(
        f"data file {path} cannot be read as a .npz archive ({exc})",
        hint=f"The file is damaged. {damaged_hint} {NPZ_CONTENTS}",
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


def load_idx_dir(folder: Path) -> Dataset:
    """Read the four (Fashion-)MNIST IDX files of ``folder`` as one :class:`Dataset`."""
    arrays = {key: read_idx(folder / name) for key, name in IDX_FILES.items()}
    check_splits(
        arrays,
        f"IDX files in {folder}",
        "The files do not belong together; replace them with a matching set.",
    )
    return Dataset(**arrays, origin=tilde(folder))


def npz_sample_shape(path: Path) -> tuple[int, ...] | None:
    """The shape of one ``x_train`` sample in the ``.npz`` at ``path``, from the array's
    header alone (a few hundred bytes, whatever the file's size); None when the file
    cannot tell (missing, damaged, compressed oddly: :func:`load_npz` says why)."""
    try:
        with zipfile.ZipFile(path) as archive, archive.open("x_train.npy") as member:
            version = np.lib.format.read_magic(member)
            if version == (1, 0):
                shape, _, _ = np.lib.format.read_array_header_1_0(member)
            else:
                shape, _, _ = np.lib.format.read_array_header_2_0(member)
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile, zlib.error):
        return None
    return tuple(int(d) for d in shape[1:]) if len(shape) >= 1 else None
