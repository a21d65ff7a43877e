"""One test on real images: the shipped CNN preset learns Fashion-MNIST in one epoch.

Uses the Debian package ``dataset-fashion-mnist`` (the four IDX files under
/usr/share/datasets/fashion-mnist); a few thousand of its images keep it quick.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ktui.core.controls import RunControls
from ktui.core.data import IDX_FILES, read_idx
from ktui.core.events import EpochEnded, Event, RunFinished, RunStarted
from ktui.core.presets import load, shipped_presets_dir

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
TRAIN, TEST = 3000, 1000
CHANCE = 0.1  # ten classes

pytestmark = pytest.mark.skipif(
    not all((FASHION_DIR / name).is_file() for name in IDX_FILES.values()),
    reason=f"real Fashion-MNIST is not installed ({FASHION_DIR} with the four IDX files is "
    "absent; apt-get install dataset-fashion-mnist)",
)


def test_cnn_preset_learns_real_fashion_mnist(tmp_path: Path) -> None:
    engine = pytest.importorskip("ktui.training.engine", reason="TensorFlow is not installed")
    arrays = {key: read_idx(FASHION_DIR / name) for key, name in IDX_FILES.items()}
    subset = tmp_path / "fashion-subset.npz"
    np.savez(
        subset,
        x_train=arrays["x_train"][:TRAIN],
        y_train=arrays["y_train"][:TRAIN],
        x_test=arrays["x_test"][:TEST],
        y_test=arrays["y_test"][:TEST],
    )
    # Real images, real labels: all ten classes are in the subset.
    assert set(np.unique(arrays["y_train"][:TRAIN])) == set(range(10))

    config = load(shipped_presets_dir() / "mnist_cnn.toml").resolve({"epochs": 1}, data=str(subset))
    events: list[Event] = []
    final = engine.KerasTrainer(capture=None, download=None).run(
        config, events.append, RunControls()
    )

    assert isinstance(final, RunFinished), final
    assert final.status == "finished" and final.epochs_completed == 1
    (started,) = [e for e in events if isinstance(e, RunStarted)]
    assert (started.train_samples, started.test_samples) == (TRAIN, TEST)
    assert started.model.layers[0].output_shape == "(None, 32, 24, 24)"  # channels first
    (epoch,) = [e for e in events if isinstance(e, EpochEnded)]
    assert epoch.metrics["val_accuracy"] == pytest.approx(final.test_accuracy)
    # Clearly better than chance after one epoch on 3000 images (typically ~65%).
    assert final.test_accuracy is not None
    assert final.test_accuracy > 4 * CHANCE, final.test_accuracy
