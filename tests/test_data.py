"""Tests for ktui.core.data: real files written into tmp_path, no mocks of numpy."""

from __future__ import annotations

import gzip
import os
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ktui.core import data
from ktui.core.data import (
    IDX_FILES,
    Dataset,
    DataSource,
    Transform,
    TransformSpecError,
    apply_transforms,
    keras_cache_dir,
    load,
    locate,
    locating,
    parse_source,
    parse_transform,
    read_idx,
)
from ktui.core.errors import DataError

REPO_ROOT = Path(__file__).resolve().parents[1]
# Captured before the autouse fixture below points the module variable elsewhere.
REAL_DEBIAN_DIR = data.DEBIAN_FASHION_MNIST_DIR


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Never look at the real ~/.keras or /usr/share/datasets unless a test asks to."""
    keras_home = tmp_path / "keras_home"
    monkeypatch.setenv("KERAS_HOME", str(keras_home))
    monkeypatch.setattr(locating, "DEBIAN_FASHION_MNIST_DIR", tmp_path / "no-debian")
    return keras_home


# ------------------------------------------------------------------------- helpers

_IDX_CODES = {np.dtype("uint8"): 0x08, np.dtype("int16"): 0x0B, np.dtype("float64"): 0x0E}


def write_idx(path: Path, array: np.ndarray, *, truncate: int = 0) -> Path:
    """Write ``array`` in IDX format (gzip if the name ends in .gz), minus ``truncate`` bytes."""
    header = bytes([0, 0, _IDX_CODES[array.dtype], array.ndim])
    header += struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    if truncate:
        payload = payload[:-truncate]
    if path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(payload))
    else:
        path.write_bytes(payload)
    return path


def mnist_like(n_train: int = 50, n_test: int = 10, seed: int = 0) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    return {
        "x_train": rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, size=n_train, dtype=np.uint8),
        "x_test": rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, size=n_test, dtype=np.uint8),
    }


def write_idx_set(folder: Path, arrays: dict[str, np.ndarray]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for key, name in IDX_FILES.items():
        write_idx(folder / name, arrays[key])
    return folder


def small_dataset(**overrides: Any) -> Dataset:
    arrays: dict[str, Any] = {**mnist_like(), "origin": "test"}
    arrays.update(overrides)
    return Dataset(**arrays)


# ------------------------------------------------------------------- parse_source


def test_parse_source_keywords() -> None:
    assert parse_source("random") == DataSource("random")
    assert parse_source(" MNIST ").kind == "mnist"
    assert parse_source("fashion_mnist").kind == "fashion_mnist"
    assert parse_source("fashion-mnist").kind == "fashion_mnist"


def test_parse_source_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_source("sub/x.npz", base_dir=tmp_path).path == tmp_path / "sub" / "x.npz"
    monkeypatch.chdir(tmp_path)
    assert parse_source("y.npz").path == tmp_path / "y.npz"
    assert parse_source("/abs/z.npz", base_dir=tmp_path).path == Path("/abs/z.npz")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    src = parse_source("~/d.npz")
    assert src.kind == "npz" and src.path == tmp_path / "home" / "d.npz"


@pytest.mark.parametrize("junk", ["", "imagenet", "data.csv", "mnist.zip"])
def test_parse_source_junk(junk: str) -> None:
    with pytest.raises(DataError) as exc:
        parse_source(junk)
    text = str(exc.value)
    assert repr(junk) in text
    assert "random, mnist, fashion_mnist" in text and ".npz" in text


def test_describe_sources(tmp_path: Path) -> None:
    assert DataSource("random").describe() == "random 1000×20, 2 classes"
    assert DataSource("mnist").describe() == "MNIST"
    assert DataSource("fashion_mnist").describe() == "Fashion-MNIST"
    assert DataSource("npz", path=tmp_path / "x.npz").describe() == str(tmp_path / "x.npz")


def test_data_source_rejects_bad_values() -> None:
    with pytest.raises(DataError, match="needs the path"):
        DataSource("npz")
    with pytest.raises(DataError, match="train_samples"):
        DataSource("random", train_samples=0)
    with pytest.raises(DataError, match="classes"):
        DataSource("random", classes=True)


# -------------------------------------------------------------------------- random


def test_random_shapes_labels_and_seed() -> None:
    src = DataSource("random", train_samples=30, test_samples=7, features=5, classes=3)
    ds = load(src, seed=7)
    assert ds.x_train.shape == (30, 5) and ds.x_test.shape == (7, 5)
    assert ds.y_train.shape == (30, 1) and ds.y_test.shape == (7, 1)
    assert ds.x_train.dtype == np.float32
    assert 0.0 <= ds.x_train.min() and ds.x_train.max() < 1.0
    assert set(np.unique(ds.y_train)) <= {0, 1, 2}
    assert ds.origin == "random (seed 7)"
    assert (ds.train_samples, ds.test_samples) == (30, 7)
    again = load(src, seed=7)
    other = load(src, seed=8)
    assert np.array_equal(ds.x_train, again.x_train) and np.array_equal(ds.y_test, again.y_test)
    assert not np.array_equal(ds.x_train, other.x_train)


def test_random_default_is_the_seed_script_data() -> None:
    ds = load(DataSource("random"), seed=1)
    assert ds.x_train.shape == (1000, 20) and ds.x_test.shape == (100, 20)
    assert set(np.unique(ds.y_train)) == {0, 1}
    assert locate(DataSource("random")).state == "available"


# ----------------------------------------------------------------------------- npz


def test_npz_round_trip(tmp_path: Path) -> None:
    arrays = mnist_like()
    path = tmp_path / "mine.npz"
    np.savez_compressed(path, **arrays)
    status = locate(DataSource("npz", path=path))
    assert status.state == "available" and status.where == str(path)
    ds = load(parse_source(str(path)))
    for key, value in arrays.items():
        got = getattr(ds, key)
        assert got.dtype == value.dtype and np.array_equal(got, value)
    assert ds.train_samples == 50 and ds.test_samples == 10
    assert ds.summary() == ("train x 50×28×28 uint8, y 50 uint8; test x 10×28×28 uint8, y 10 uint8")


def test_npz_missing_key(tmp_path: Path) -> None:
    arrays = mnist_like()
    del arrays["y_test"]
    path = tmp_path / "partial.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataError) as exc:
        load(DataSource("npz", path=path))
    text = str(exc.value)
    assert str(path) in text and "missing y_test" in text
    assert "x_train, y_train, x_test, y_test" in text


def test_npz_mismatched_lengths(tmp_path: Path) -> None:
    arrays = mnist_like()
    arrays["y_train"] = arrays["y_train"][:-1]
    path = tmp_path / "mismatch.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataError) as exc:
        load(DataSource("npz", path=path))
    assert str(path) in str(exc.value)
    assert "x_train has 50 samples" in str(exc.value) and "y_train has 49" in str(exc.value)


def test_npz_empty_split(tmp_path: Path) -> None:
    path = tmp_path / "empty.npz"
    np.savez(path, **mnist_like(n_test=0))
    with pytest.raises(DataError, match="no samples") as exc:
        load(DataSource("npz", path=path))
    assert str(path) in str(exc.value)


@pytest.mark.parametrize(
    "content",
    [b"this is not a zip file at all", b"PK\x03\x04" + b"\x00" * 40],
    ids=["garbage", "broken-zip"],
)
def test_npz_corrupt(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "corrupt.npz"
    path.write_bytes(content)
    with pytest.raises(DataError) as exc:
        load(DataSource("npz", path=path))
    assert str(path) in str(exc.value)
    assert "allow_pickle" not in str(exc.value)  # numpy's advice is wrong for a user


def test_npz_single_npy_array(tmp_path: Path) -> None:
    path = tmp_path / "one.npz"
    with path.open("wb") as f:
        np.save(f, np.zeros(3))
    with pytest.raises(DataError, match="single .npy array") as exc:
        load(DataSource("npz", path=path))
    assert str(path) in str(exc.value)


def test_npz_truncated(tmp_path: Path) -> None:
    path = tmp_path / "cut.npz"
    np.savez(path, **mnist_like())
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(DataError) as exc:
        load(DataSource("npz", path=path))
    assert str(path) in str(exc.value)


def test_npz_refuses_pickles(tmp_path: Path) -> None:
    arrays: dict[str, Any] = mnist_like()
    arrays["y_train"] = np.array([{"a": 1}] * 50, dtype=object)
    path = tmp_path / "pickled.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataError) as exc:
        load(DataSource("npz", path=path))
    assert str(path) in str(exc.value) and "pickled data" in str(exc.value)


def test_npz_nonexistent(tmp_path: Path) -> None:
    path = tmp_path / "nope.npz"
    src = DataSource("npz", path=path)
    status = locate(src)
    assert status.state == "missing" and str(path) in status.message
    with pytest.raises(DataError) as exc:
        load(src)
    assert str(path) in str(exc.value) and "does not exist" in str(exc.value)
    assert "--data PATH" in str(exc.value)


# ----------------------------------------------------------------------------- idx


def test_read_idx_round_trip_3d_and_1d(tmp_path: Path) -> None:
    images = np.arange(4 * 5 * 6, dtype=np.uint8).reshape(4, 5, 6)
    labels = np.array([3, 1, 4, 1], dtype=np.uint8)
    got_images = read_idx(write_idx(tmp_path / "img-idx3-ubyte.gz", images))
    got_labels = read_idx(write_idx(tmp_path / "lbl-idx1-ubyte", labels))  # not gzipped
    assert got_images.shape == (4, 5, 6) and got_images.dtype == np.uint8
    assert np.array_equal(got_images, images)
    assert np.array_equal(got_labels, labels) and got_labels.dtype == np.uint8
    got_images[0, 0, 0] = 99  # a writable copy, not a view on the file's bytes


def test_read_idx_big_endian_types(tmp_path: Path) -> None:
    shorts = np.array([[1, -2], [300, -32768]], dtype=np.int16)
    doubles = np.array([0.5, -1.25, 1e300])
    got_shorts = read_idx(write_idx(tmp_path / "s.gz", shorts))
    got_doubles = read_idx(write_idx(tmp_path / "d.gz", doubles))
    assert np.array_equal(got_shorts, shorts) and got_shorts.dtype.isnative
    assert np.array_equal(got_doubles, doubles) and got_doubles.dtype == np.float64


@pytest.mark.parametrize("cut", [1, 100], ids=["data", "lots"])
def test_read_idx_truncated(tmp_path: Path, cut: int) -> None:
    path = write_idx(tmp_path / "t-idx3-ubyte.gz", np.zeros((3, 28, 28), np.uint8), truncate=cut)
    with pytest.raises(DataError) as exc:
        read_idx(path)
    assert str(path) in str(exc.value) and "bytes of data" in str(exc.value)


def test_read_idx_bad_files(tmp_path: Path) -> None:
    bad_magic = tmp_path / "magic.gz"
    bad_magic.write_bytes(gzip.compress(b"\x01\x02\x08\x01\x00\x00\x00\x01\x05"))
    cut_gzip = tmp_path / "cut.gz"
    cut_gzip.write_bytes(gzip.compress(b"\x00\x00\x08\x01" + b"\x00" * 100)[:20])
    not_gzip = tmp_path / "plain.gz"
    not_gzip.write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x01\x05")
    short_header = tmp_path / "short"
    short_header.write_bytes(b"\x00\x00\x08\x03\x00\x00")
    for path in (bad_magic, cut_gzip, not_gzip, short_header, tmp_path / "absent.gz"):
        with pytest.raises(DataError) as exc:
            read_idx(path)
        assert str(path) in str(exc.value)


# ------------------------------------------------------------------- fashion_mnist


def test_fashion_mnist_from_debian_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = DataSource("fashion_mnist")
    assert locate(src).state == "download"
    arrays = mnist_like(n_train=12, n_test=4)
    debian = write_idx_set(tmp_path / "debian" / "fashion-mnist", arrays)
    monkeypatch.setattr(locating, "DEBIAN_FASHION_MNIST_DIR", debian)
    status = locate(src)
    assert status.state == "available" and status.where == str(debian)
    assert status.message == f"Fashion-MNIST: found in {debian}"

    def no_download(name: str) -> Any:
        raise AssertionError("must not download when the files are here")

    ds = load(src, download=no_download)
    assert ds.origin == str(debian)
    assert np.array_equal(ds.x_train, arrays["x_train"]) and ds.x_train.dtype == np.uint8
    assert np.array_equal(ds.y_test, arrays["y_test"])


def test_fashion_mnist_keras_cache_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _isolated_dirs: Path
) -> None:
    assert keras_cache_dir() == _isolated_dirs / "datasets"
    cached = write_idx_set(_isolated_dirs / "datasets" / "fashion-mnist", mnist_like(seed=1))
    debian = write_idx_set(tmp_path / "debian", mnist_like(seed=2))
    monkeypatch.setattr(locating, "DEBIAN_FASHION_MNIST_DIR", debian)
    assert locate(DataSource("fashion_mnist")).where == str(cached)
    ds = load(DataSource("fashion_mnist"))
    assert np.array_equal(ds.x_train, mnist_like(seed=1)["x_train"])


def test_fashion_mnist_incomplete_folder_is_not_used(_isolated_dirs: Path) -> None:
    folder = write_idx_set(_isolated_dirs / "datasets" / "fashion-mnist", mnist_like())
    (folder / IDX_FILES["y_test"]).unlink()
    assert locate(DataSource("fashion_mnist")).state == "download"


def test_fashion_mnist_unavailable(_isolated_dirs: Path) -> None:
    status = locate(DataSource("fashion_mnist"))
    assert status.state == "download" and status.where is None
    assert "apt-get install dataset-fashion-mnist" in status.message
    with pytest.raises(DataError) as exc:
        load(DataSource("fashion_mnist"))
    text = str(exc.value)
    assert "Fashion-MNIST is not on this machine" in text
    assert "apt-get install dataset-fashion-mnist" in text
    assert str(_isolated_dirs / "datasets" / "fashion-mnist") in text


def test_fashion_mnist_mismatched_idx_files(_isolated_dirs: Path) -> None:
    arrays = mnist_like()
    arrays["y_train"] = arrays["y_train"][:10]
    folder = write_idx_set(_isolated_dirs / "datasets" / "fashion-mnist", arrays)
    with pytest.raises(DataError) as exc:
        load(DataSource("fashion_mnist"))
    assert str(folder) in str(exc.value) and "y_train has 10" in str(exc.value)


@pytest.mark.skipif(not REAL_DEBIAN_DIR.is_dir(), reason="dataset-fashion-mnist not installed")
def test_real_debian_fashion_mnist(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(locating, "DEBIAN_FASHION_MNIST_DIR", REAL_DEBIAN_DIR)
    ds = load(DataSource("fashion_mnist"))
    assert ds.origin == str(REAL_DEBIAN_DIR)
    assert ds.x_train.shape == (60000, 28, 28) and ds.x_test.shape == (10000, 28, 28)
    assert ds.y_train.shape == (60000,) and ds.y_test.shape == (10000,)
    assert ds.x_train.dtype == np.uint8 and ds.y_train.dtype == np.uint8
    assert set(np.unique(ds.y_train)) == set(range(10))
    assert set(np.unique(ds.y_test)) == set(range(10))


# --------------------------------------------------------------------------- mnist


def test_mnist_no_cache_no_downloader(_isolated_dirs: Path) -> None:
    status = locate(DataSource("mnist"))
    assert status.state == "download"
    assert f"put mnist.npz in {_isolated_dirs / 'datasets'}/" in status.message
    with pytest.raises(DataError) as exc:
        load(DataSource("mnist"))
    text = str(exc.value)
    assert "MNIST is not on this machine" in text
    assert "Put mnist.npz" in text and str(_isolated_dirs / "datasets") in text
    assert "--data PATH.npz" in text and "fashion_mnist" in text


def test_mnist_downloader_fails(_isolated_dirs: Path) -> None:
    calls: list[str] = []

    def offline(name: str) -> Any:
        calls.append(name)
        raise OSError("Temporary failure in name resolution")

    with pytest.raises(DataError) as exc:
        load(DataSource("mnist"), download=offline)
    assert calls == ["mnist"]
    assert "OSError: Temporary failure in name resolution" in str(exc.value)
    assert str(_isolated_dirs / "datasets") in str(exc.value)


def test_mnist_downloader_returns_arrays() -> None:
    arrays = mnist_like()

    def fake_keras(name: str) -> Any:
        assert name == "mnist"
        return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])

    ds = load(DataSource("mnist"), download=fake_keras)
    assert ds.x_train.shape == (50, 28, 28) and np.array_equal(ds.y_test, arrays["y_test"])
    assert ds.origin.startswith("downloaded by Keras")


def test_mnist_from_keras_cache(_isolated_dirs: Path) -> None:
    cache = _isolated_dirs / "datasets"
    cache.mkdir(parents=True)
    np.savez_compressed(cache / "mnist.npz", **mnist_like())
    status = locate(DataSource("mnist"))
    assert status.state == "available" and status.where == str(cache / "mnist.npz")
    ds = load(DataSource("mnist"))
    assert ds.x_train.shape == (50, 28, 28) and ds.origin == str(cache / "mnist.npz")


def test_mnist_corrupt_cache_file(_isolated_dirs: Path) -> None:
    cache = _isolated_dirs / "datasets"
    cache.mkdir(parents=True)
    (cache / "mnist.npz").write_bytes(b"PK\x03\x04 half a download")
    with pytest.raises(DataError) as exc:
        load(DataSource("mnist"), download=lambda name: pytest.fail("cache file exists"))
    assert str(cache / "mnist.npz") in str(exc.value)
    assert "Delete it so Keras downloads it again" in str(exc.value)


def test_keras_cache_dir_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("KERAS_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert keras_cache_dir() == tmp_path / ".keras" / "datasets"
    # Shown as ~ in user messages, like the path a user would type.
    assert "put mnist.npz in ~/.keras/datasets/" in locate(DataSource("mnist")).message


# ---------------------------------------------------------------------- transforms


def test_reshape_and_flatten() -> None:
    ds = small_dataset()
    flat = apply_transforms(ds, [Transform("reshape", {"shape": [784]})])
    assert flat.x_train.shape == (50, 784) and flat.x_test.shape == (10, 784)
    assert np.array_equal(flat.x_train[3], ds.x_train[3].ravel())
    channels = apply_transforms(flat, [Transform("reshape", {"shape": [28, -1, 1]})])
    assert channels.x_train.shape == (50, 28, 28, 1)
    back = apply_transforms(channels, [Transform("flatten")])
    assert back.x_train.shape == (50, 784) and np.array_equal(back.x_test, flat.x_test)
    assert ds.x_train.shape == (50, 28, 28)  # the input is left alone


def test_astype_and_scale() -> None:
    ds = small_dataset()
    steps = [Transform("astype", {"dtype": "float64"}), Transform("scale", {"divide": 255})]
    out = apply_transforms(ds, steps)
    assert out.x_train.dtype == np.float64
    assert np.allclose(out.x_train, ds.x_train / 255.0)
    direct = apply_transforms(ds, [Transform("scale", {"divide": 255.0})])
    assert direct.x_train.dtype == np.float32  # uint8 -> float32, not float64
    assert float(direct.x_train.max()) <= 1.0 and np.allclose(direct.x_test, ds.x_test / 255)
    halves = apply_transforms(
        small_dataset(x_train=np.ones((50, 2), np.float32), x_test=np.ones((10, 2), np.float32)),
        [Transform("scale", {"divide": 2})],
    )
    assert halves.x_train.dtype == np.float32 and np.all(halves.x_train == 0.5)


def test_one_hot_default_and_explicit() -> None:
    ds = small_dataset(y_train=np.array([0, 2] * 25), y_test=np.array([1] * 10))
    out = apply_transforms(ds, [Transform("one_hot")])
    assert out.y_train.shape == (50, 3) and out.y_train.dtype == np.float32
    assert out.y_train[1].tolist() == [0.0, 0.0, 1.0] and out.y_test[0].tolist() == [0, 1, 0]
    wide = apply_transforms(ds, [Transform("one_hot", {"num_classes": 10})])
    assert wide.y_train.shape == (50, 10) and wide.y_test.shape == (10, 10)
    assert np.all(wide.y_train.sum(axis=1) == 1.0)


def test_one_hot_column_labels() -> None:
    ds = load(DataSource("random", train_samples=20, test_samples=5), seed=3)
    out = apply_transforms(ds, [Transform("one_hot", {"num_classes": 2})])
    assert out.y_train.shape == (20, 2) and out.y_test.shape == (5, 2)
    assert np.array_equal(out.y_train.argmax(axis=1), ds.y_train[:, 0])


def test_one_hot_label_too_big() -> None:
    ds = small_dataset(y_train=np.full(50, 9), y_test=np.zeros(10, dtype=int))
    with pytest.raises(DataError) as exc:
        apply_transforms(ds, [Transform("one_hot", {"num_classes": 5})])
    assert exc.value.message == (
        "test: y_train has label 9 at index 0 (49 more like it), but the preset has 5 classes (0–4)"
    )


def test_one_hot_rejects_already_one_hot() -> None:
    ds = small_dataset(y_train=np.eye(10)[np.zeros(50, int)], y_test=np.eye(10)[np.zeros(10, int)])
    with pytest.raises(DataError, match=r"\(50, 10\)"):
        apply_transforms(ds, [Transform("one_hot")])


def test_bad_reshape_names_step_and_shape() -> None:
    ds = small_dataset()
    steps = [Transform("scale", {"divide": 255}), Transform("reshape", {"shape": [1, 27, 28]})]
    with pytest.raises(DataError) as exc:
        apply_transforms(ds, steps)
    text = str(exc.value)
    assert "data.transforms[1]" in text and "reshape x to (1, 27, 28)" in text
    assert "(50, 28, 28)" in text and "784 values" in text


def test_bad_reshape_with_minus_one() -> None:
    with pytest.raises(DataError, match="cannot become"):
        apply_transforms(small_dataset(), [Transform("reshape", {"shape": [-1, 27]})])


def test_transform_describe() -> None:
    assert Transform("reshape", {"shape": [784]}).describe() == "reshape x to (784,)"
    assert Transform("reshape", {"shape": [28, 28, 1]}).describe() == "reshape x to (28, 28, 1)"
    assert Transform("flatten").describe() == "flatten x"
    assert Transform("astype", {"dtype": "float32"}).describe() == "cast x to float32"
    assert Transform("scale", {"divide": 255}).describe() == "divide x by 255"
    assert Transform("scale", {"divide": 0.5}).describe() == "divide x by 0.5"
    assert Transform("one_hot", {"num_classes": 10}).describe() == "one-hot y (10 classes)"
    assert Transform("one_hot").describe() == "one-hot y"


# ----------------------------------------------------------------- parse_transform


def test_parse_transform_valid() -> None:
    t = parse_transform({"op": "reshape", "shape": [28, 28, 1]}, "data.transforms[0]")
    assert t == Transform("reshape", {"shape": [28, 28, 1]})
    assert type(t.args) is dict
    assert parse_transform({"op": "one_hot"}, "w").args == {}
    assert parse_transform({"op": "scale", "divide": 255.0}, "w").args == {"divide": 255.0}
    assert data.TRANSFORM_OPS == {"reshape", "flatten", "astype", "scale", "one_hot"}


@pytest.mark.parametrize(
    ("raw", "key", "problem"),
    [
        ({"op": "rotate"}, "data.transforms[1].op", "'rotate'"),
        ({"shape": [784]}, "data.transforms[1].op", "missing"),
        ({"op": "reshape"}, "data.transforms[1].shape", "missing"),
        ({"op": "scale"}, "data.transforms[1].divide", "missing"),
        ({"op": "flatten", "axis": 1}, "data.transforms[1].axis", "unknown"),
        (
            {"op": "reshape", "shape": "abc"},
            "data.transforms[1].shape",
            "expected a list of positive integers (one may be -1), got 'abc'",
        ),
        ({"op": "reshape", "shape": [28, 0]}, "data.transforms[1].shape", "positive"),
        ({"op": "reshape", "shape": [-1, -1]}, "data.transforms[1].shape", "only one"),
        ({"op": "reshape", "shape": [True, 784]}, "data.transforms[1].shape", "True"),
        ({"op": "astype", "dtype": "banana"}, "data.transforms[1].dtype", "'banana'"),
        ({"op": "astype", "dtype": 32}, "data.transforms[1].dtype", "got 32"),
        ({"op": "scale", "divide": 0}, "data.transforms[1].divide", "nonzero"),
        ({"op": "scale", "divide": "255"}, "data.transforms[1].divide", "'255'"),
        ({"op": "scale", "divide": True}, "data.transforms[1].divide", "got True"),
        ({"op": "one_hot", "num_classes": 2.5}, "data.transforms[1].num_classes", "2.5"),
        ({"op": "one_hot", "num_classes": True}, "data.transforms[1].num_classes", "True"),
        ("reshape", "data.transforms[1]", "expected a table"),
    ],
)
def test_parse_transform_errors(raw: object, key: str, problem: str) -> None:
    with pytest.raises(TransformSpecError) as exc:
        parse_transform(raw, "data.transforms[1]")
    assert exc.value.key == key
    assert problem in exc.value.problem
    assert str(exc.value) == f"{key}: {exc.value.problem}"
    assert isinstance(exc.value, ValueError)


def test_transform_constructor_validates() -> None:
    with pytest.raises(TransformSpecError):
        Transform("reshape")
    with pytest.raises(TransformSpecError):
        Transform("explode")


# --------------------------------------------------------------------- no keras


def test_importing_data_does_not_import_tensorflow_or_keras() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    code = (
        "import ktui.core.data, sys; "
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


# ------------------------------------------------- bad values: NaN, labels vs classes


@pytest.mark.parametrize(
    ("key", "index", "value", "text"),
    [
        ("x_train", (3, 12, 5), np.nan, "nan"),
        ("x_test", (7, 0, 27), np.inf, "inf"),
        ("y_train", (4,), -np.inf, "-inf"),
    ],
)
def test_nan_or_infinity_in_a_file_is_a_data_error(
    tmp_path: Path, key: str, index: tuple[int, ...], value: float, text: str
) -> None:
    arrays = {k: v.astype(np.float32) for k, v in mnist_like().items()}
    arrays[key][index] = value
    arrays[key][index[0] + 1 :] = np.nan  # later bad values: the first one is named
    path = tmp_path / "data.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataError) as exc:
        load(DataSource("npz", path=path))
    assert exc.value.message == (
        f"data file {path}: {key} has {text} in sample {index[0]} (at {key}{list(index)})"
    )
    assert exc.value.hint is not None and "NaN or infinity" in exc.value.hint


def test_finite_check_makes_no_copy_of_a_finite_array() -> None:
    # The check on a good array is two reductions: it must not allocate a boolean
    # array as large as the data (tracemalloc sees numpy's allocations).
    import tracemalloc

    from ktui.core.data.checks import first_nonfinite

    x = np.random.default_rng(0).random((2000, 784), dtype=np.float32)  # 6.3 MB
    tracemalloc.start()
    try:
        assert first_nonfinite(x) is None
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < x.nbytes // 10


def test_a_label_equal_to_the_classes_names_file_array_and_index() -> None:
    y = np.resize([1, 2, 3, 10, 4, 10], 50)
    ds = small_dataset(y_train=y, origin="data.npz")
    with pytest.raises(DataError) as exc:
        apply_transforms(ds, [Transform("one_hot")], classes=10)
    others = int((y == 10).sum()) - 1
    assert exc.value.message == (
        f"data.npz: y_train has label 10 at index 3 ({others} more like it), "
        "but the preset has 10 classes (0–9)"
    )


def test_one_hot_takes_the_width_from_the_model_not_the_labels() -> None:
    # One sample (label 3) would one-hot into 4 columns if the width came from the data.
    ds = small_dataset(
        x_train=np.zeros((1, 28, 28)), y_train=np.array([3]), y_test=np.zeros(10, dtype=int)
    )
    out = apply_transforms(ds, [Transform("one_hot")], classes=10)
    assert out.y_train.shape == (1, 10) and out.y_train[0].argmax() == 3
    assert out.y_test.shape == (10, 10)


def test_check_targets_sparse_labels_binary_labels_and_one_hot_width() -> None:
    from ktui.core.data import check_targets

    ds = small_dataset(y_test=np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 12]), origin="d.npz")
    with pytest.raises(DataError) as exc:
        check_targets(ds, classes=10, loss="sparse_categorical_crossentropy")
    assert exc.value.message == (
        "d.npz: y_test has label 12 at index 9, but the preset has 10 classes (0–9)"
    )
    check_targets(small_dataset(), classes=10, loss="sparse_categorical_crossentropy")

    binary = small_dataset(y_train=np.resize([0, 1, 2], 50).reshape(50, 1), origin="b.npz")
    with pytest.raises(DataError) as exc:
        check_targets(binary, classes=1, loss="binary_crossentropy")
    assert exc.value.message.startswith("b.npz: y_train has [2] at index 2")

    eleven = apply_transforms(small_dataset(), [Transform("one_hot", {"num_classes": 11})])
    with pytest.raises(DataError) as exc:
        check_targets(eleven, classes=10, loss="categorical_crossentropy")
    assert "y_train has 11 columns" in exc.value.message and "10 units" in exc.value.message
    check_targets(eleven, classes=None, loss="categorical_crossentropy")  # unknown: no check


def test_sample_shape_without_reading_the_data(tmp_path: Path) -> None:
    from ktui.core.data import sample_shape, transformed_shape

    path = tmp_path / "d.npz"
    np.savez_compressed(path, **mnist_like(n_train=7))
    assert sample_shape(DataSource("npz", path=path)) == (28, 28)
    assert sample_shape(DataSource("npz", path=tmp_path / "none.npz")) is None
    assert sample_shape(DataSource("mnist")) == (28, 28)
    assert sample_shape(DataSource("random", features=13)) == (13,)
    (tmp_path / "bad.npz").write_bytes(b"PK not a zip")
    assert sample_shape(DataSource("npz", path=tmp_path / "bad.npz")) is None

    steps = [Transform("reshape", {"shape": [1, -1, 28]}), Transform("astype", {"dtype": "f4"})]
    assert transformed_shape((28, 28), steps) == (1, 28, 28)
    assert transformed_shape((28, 28), [Transform("flatten")]) == (784,)
    assert transformed_shape((10, 10), [Transform("reshape", {"shape": [784]})]) is None


def test_a_validation_fraction_needs_samples_on_both_sides() -> None:
    from ktui.core.data import check_validation_split

    one = small_dataset(x_train=np.zeros((1, 28, 28)), y_train=np.array([3]), origin="d.npz")
    with pytest.raises(DataError) as exc:
        check_validation_split(one, 0.1)
    assert exc.value.message == (
        "d.npz: x_train has 1 sample, too few to keep 0.1 of them for validation and train "
        "on the rest (fit.validation = 0.1)"
    )
    check_validation_split(small_dataset(), 0.1)  # 50 samples: 45 train, 5 validate
