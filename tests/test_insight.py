"""Unit tests: confusion-matrix numbers, saved evaluations, and images drawn in cells."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from fakes import fixed_evaluation, shape_image
from rich.console import Console
from rich.segment import Segment

from ktui.core import data as data_mod
from ktui.core import insight
from ktui.core.errors import KtuiError
from ktui.core.events import EvaluationReady, LayerInfo
from ktui.core.pictures import (
    HALF_BLOCK,
    Picture,
    bar_chart,
    confusion_lines,
    confusion_table,
    grey_level,
    ramp_char,
)


# --------------------------------------------------------------------------- labels
def test_labels_from_integers_columns_floats_and_one_hot() -> None:
    assert insight.labels_from(np.array([2, 0, 1])).tolist() == [2, 0, 1]
    assert insight.labels_from(np.array([[1], [0]])).tolist() == [1, 0]
    assert insight.labels_from(np.array([1.0, 0.0, 1.0])).tolist() == [1, 0, 1]
    one_hot = np.eye(4, dtype=np.float32)[[3, 1, 1]]
    assert insight.labels_from(one_hot).tolist() == [3, 1, 1]
    with pytest.raises(ValueError, match="NaN"):
        insight.labels_from(np.array([0.0, math.nan]))
    with pytest.raises(ValueError, match="neither"):
        insight.labels_from(np.zeros((2, 2, 2)))


def test_label_counts_keep_empty_classes() -> None:
    assert insight.label_counts(np.array([0, 2, 2, 2])).tolist() == [1, 0, 3]
    assert insight.label_counts(np.eye(3)[[0, 0, 1]]).tolist() == [2, 1, 0]


def test_class_names() -> None:
    assert insight.class_names("fashion_mnist", 10)[0] == "T-shirt/top"
    assert insight.class_names("fashion_mnist", 10)[9] == "Ankle boot"
    assert insight.class_names("mnist", 10) == tuple("0123456789")
    assert insight.class_names("random", 2) == ("0", "1")


# --------------------------------------------------------------------------- confusion
def test_confusion_matrix_counts_true_rows_predicted_columns() -> None:
    y_true = np.array([0, 0, 1, 1, 1, 2, 2, 2, 2])
    y_pred = np.array([0, 1, 1, 1, 2, 2, 2, 0, 2])
    matrix = insight.confusion_matrix(y_true, y_pred, 3)
    assert matrix.tolist() == [[1, 1, 0], [0, 2, 1], [1, 0, 3]]
    precision, recall = insight.precision_recall(matrix)
    assert precision.tolist() == pytest.approx([1 / 2, 2 / 3, 3 / 4])
    assert recall.tolist() == pytest.approx([1 / 2, 2 / 3, 3 / 4])


def test_confusion_matrix_refuses_labels_outside_the_classes() -> None:
    with pytest.raises(ValueError, match="outside 0..1"):
        insight.confusion_matrix(np.array([0, 2]), np.array([0, 1]), 2)


def test_precision_and_recall_are_nan_where_nothing_divides() -> None:
    # Class 2 is never predicted and absent from the labels; class 1 is never predicted.
    matrix = np.array([[3, 0, 0], [2, 0, 0], [0, 0, 0]])
    precision, recall = insight.precision_recall(matrix)
    assert precision[0] == pytest.approx(3 / 5)
    assert math.isnan(precision[1]) and math.isnan(precision[2])
    assert recall[0] == 1.0 and recall[1] == 0.0
    assert math.isnan(recall[2])


def test_binary_sigmoid_outputs_give_a_two_by_two_matrix() -> None:
    y_true = np.array([[0], [0], [1], [1], [1]])
    p = np.array([[0.2], [0.5], [0.9], [0.4], [0.51]])  # 0.5 counts as class 1
    evaluation = insight.evaluate(y_true, p)
    assert evaluation.binary
    assert evaluation.labels == ("0", "1")
    assert evaluation.matrix.tolist() == [[1, 1], [1, 2]]
    assert evaluation.accuracy == pytest.approx(3 / 5)
    # Mistakes: sample 1 (p=0.5 → 1, confidence 0.5) and 3 (p=0.4 → 0, confidence 0.6).
    assert evaluation.mistakes.index.tolist() == [3, 1]
    assert evaluation.mistakes.probability.tolist() == pytest.approx([0.6, 0.5])
    assert evaluation.mistakes.true.tolist() == [1, 0]
    assert evaluation.mistakes.predicted.tolist() == [0, 1]


def test_evaluate_softmax_sorts_mistakes_by_confidence_and_keeps_few_images() -> None:
    y_true = np.eye(3)[[0, 1, 2, 2]]
    p = np.array(
        [
            [0.8, 0.1, 0.1],  # right
            [0.6, 0.3, 0.1],  # wrong, 0.6
            [0.05, 0.9, 0.05],  # wrong, 0.9
            [0.1, 0.1, 0.8],  # right
        ]
    )
    x = np.arange(4 * 784, dtype=np.float64).reshape(4, 784)
    evaluation = insight.evaluate(y_true, p, labels=("a", "b", "c"), x=x, keep_images=1)
    assert evaluation.matrix.tolist() == [[1, 0, 0], [1, 0, 0], [0, 1, 1]]
    assert evaluation.mistakes.index.tolist() == [2, 1]
    assert evaluation.mistakes.probability.tolist() == pytest.approx([0.9, 0.6])
    assert evaluation.images_total == 2
    images = evaluation.mistakes.images
    assert images is not None and images.shape == (1, 784) and images.dtype == np.float32
    assert np.array_equal(evaluation.mistakes.image(0), x[2].astype(np.float32))
    assert evaluation.mistakes.image(1) is None
    with pytest.raises(ValueError, match="2 class names for 3 classes"):
        insight.evaluate(y_true, p, labels=("a", "b"))


def test_classification_problem() -> None:
    ok = insight.classification_problem
    assert ok(output_units=10, activation="softmax", has_accuracy=True) is None
    assert ok(output_units=1, activation="sigmoid", has_accuracy=True) is None
    assert "accuracy" in (ok(output_units=10, activation="softmax", has_accuracy=False) or "")
    assert "linear" in (ok(output_units=1, activation="linear", has_accuracy=True) or "")


# --------------------------------------------------------------------------- saving
def test_evaluation_round_trips_through_npz(tmp_path: Path) -> None:
    evaluation = fixed_evaluation()
    path = tmp_path / "run" / insight.PREDICTIONS_FILE
    evaluation.save(path)
    assert not path.with_name(path.name + ".partial").exists()
    loaded = insight.load_evaluation(path)
    assert loaded.labels == insight.FASHION_MNIST_CLASSES
    assert np.array_equal(loaded.matrix, evaluation.matrix)
    assert loaded.accuracy == pytest.approx(0.85)
    assert loaded.data == "fixed test data"
    assert not loaded.binary
    for name in ("index", "true", "predicted", "probability"):
        assert np.array_equal(getattr(loaded.mistakes, name), getattr(evaluation.mistakes, name))
    assert loaded.mistakes.images is not None and evaluation.mistakes.images is not None
    assert np.array_equal(loaded.mistakes.images, evaluation.mistakes.images)


def test_evaluation_without_images_round_trips(tmp_path: Path) -> None:
    path = tmp_path / insight.PREDICTIONS_FILE
    fixed_evaluation(images=False).save(path)
    loaded = insight.load_evaluation(path)
    assert loaded.mistakes.images is None
    assert loaded.mistakes.image(0) is None
    assert len(loaded.mistakes) == 15


def test_missing_or_damaged_predictions_are_messages(tmp_path: Path) -> None:
    with pytest.raises(KtuiError, match="no saved predictions"):
        insight.load_evaluation(tmp_path / "nothing.npz")
    damaged = tmp_path / "damaged.npz"
    damaged.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(KtuiError, match="cannot be read"):
        insight.load_evaluation(damaged)
    other = tmp_path / "other.npz"
    np.savez(other, x=np.zeros(3))
    with pytest.raises(KtuiError, match="not a ktui predictions file"):
        insight.load_evaluation(other)


def test_event_carries_the_matrix_as_plain_data(tmp_path: Path) -> None:
    evaluation = fixed_evaluation()
    event = evaluation.to_event(tmp_path / "p.npz", 0.5)
    assert isinstance(event, EvaluationReady)
    assert event.matrix[0] == (8, 1, 1, 0, 0, 0, 0, 0, 0, 0)
    assert all(type(c) is int for row in event.matrix for c in row)
    assert event.misclassified == 15 and event.accuracy == pytest.approx(0.85)
    back = insight.Evaluation.from_event(event)
    assert np.array_equal(back.matrix, evaluation.matrix)
    assert len(back.mistakes) == 0


# --------------------------------------------------------------------------- pictures
def picture_lines(picture: Picture, *, color: bool = True) -> list[list[Segment]]:
    console = Console(
        color_system="truecolor" if color else None, no_color=not color, width=60, file=None
    )
    return console.render_lines(picture, console.options, pad=False)


def cell(lines: list[list[Segment]], row: int, column: int) -> tuple[str, object]:
    """The character and style at (row, column), looking through merged segments."""
    x = 0
    for segment in lines[row]:
        if x + len(segment.text) > column:
            return segment.text[column - x], segment.style
        x += len(segment.text)
    raise IndexError(column)


def known_image() -> np.ndarray:
    image = np.zeros((28, 28), dtype=np.float32)
    image[0, 0] = 1.0  # top of cell (0, 0)
    image[2, 5] = 0.5  # top of cell (1, 5)
    image[3, 5] = 1.0  # bottom of cell (1, 5)
    image[27, 27] = 0.25  # bottom of the last cell
    return image


def rgb(style: object, attribute: str) -> tuple[int, int, int]:
    color = getattr(style, attribute)
    assert color is not None
    triplet = color.triplet
    return (triplet.red, triplet.green, triplet.blue)


def test_a_28x28_image_is_28_columns_by_14_rows_of_half_blocks() -> None:
    lines = picture_lines(Picture(known_image()))
    assert len(lines) == 14
    assert all(sum(len(s.text) for s in line) == 28 for line in lines)
    char, style = cell(lines, 0, 0)
    assert char == HALF_BLOCK
    assert rgb(style, "color") == (255, 255, 255)  # upper pixel 1.0
    assert rgb(style, "bgcolor") == (0, 0, 0)  # lower pixel 0.0
    char, style = cell(lines, 1, 5)
    assert char == HALF_BLOCK
    assert rgb(style, "color") == (128, 128, 128)  # 0.5 → round(127.5) = 128
    assert rgb(style, "bgcolor") == (255, 255, 255)
    _, style = cell(lines, 13, 27)
    assert rgb(style, "color") == (0, 0, 0)
    assert rgb(style, "bgcolor") == (64, 64, 64)  # 0.25 → 64
    _, style = cell(lines, 7, 14)
    assert rgb(style, "color") == rgb(style, "bgcolor") == (0, 0, 0)


def test_uint8_channels_first_and_flat_samples_draw_the_same_cells() -> None:
    floats = known_image()
    as_uint8 = np.round(floats * 255).astype(np.uint8)
    reference = picture_lines(Picture(floats))
    for sample in (as_uint8, floats.reshape(1, 28, 28), floats.reshape(28, 28, 1)):
        lines = picture_lines(Picture(sample))
        assert [cell(lines, 1, 5)[1], cell(lines, 0, 0)[1]] == [
            cell(reference, 1, 5)[1],
            cell(reference, 0, 0)[1],
        ]
    flat = Picture(floats.reshape(784))
    assert flat.note == "a vector of 784 values, drawn as 28×28"
    assert cell(picture_lines(flat), 1, 5) == cell(reference, 1, 5)
    assert Picture(floats.reshape(1, 28, 28)).note == "channels first"


def test_without_colour_cells_use_the_density_ramp() -> None:
    lines = picture_lines(Picture(known_image()), color=False)
    text = ["".join(s.text for s in line) for line in lines]
    assert len(text) == 14 and all(len(line) == 28 for line in text)
    assert text[0][0] == "▒"  # mean of 1.0 and 0.0
    assert text[1][5] == "▓"  # mean of 0.5 and 1.0 = 0.75
    assert text[7] == " " * 28
    assert all(s.style is None for line in lines for s in line)
    assert ramp_char(0.0) == " " and ramp_char(1.0) == "█"
    assert grey_level(math.nan) == 0 and grey_level(2.0) == 255


def test_not_images_are_refused() -> None:
    with pytest.raises(ValueError, match="not an image"):
        Picture(np.zeros(20))
    assert insight.image_view(np.zeros(20)) is None
    assert insight.image_view(np.zeros((2, 3, 4, 5))) is None
    assert insight.image_view(np.zeros(64)) is not None  # 8×8 is the smallest square
    colour = insight.image_view(np.ones((3, 8, 8), dtype=np.uint8) * 255)
    assert colour is not None and colour.pixels.shape == (8, 8, 3)
    stretched = insight.image_view(np.linspace(-1, 1, 64))
    assert stretched is not None and "stretched" in stretched.note


def test_odd_heights_and_scaling() -> None:
    picture = Picture(np.ones((5, 4)))
    assert (picture.width, picture.height) == (4, 3)
    _, style = cell(picture_lines(picture), 2, 0)
    assert style.bgcolor is None  # no lower pixel
    half = Picture(shape_image(4), scale=2)
    assert (half.width, half.height) == (14, 7)


# --------------------------------------------------------------------------- tables and bars
def test_confusion_lines_are_plain_and_aligned() -> None:
    evaluation = insight.evaluate(np.array([0, 0, 1, 1]), np.array([0.1, 0.7, 0.8, 0.9]))
    lines = confusion_lines(evaluation)
    assert lines[0].split() == ["true", "\\", "pred", "0", "1"]
    assert lines[1].split() == ["0", "1", "1"]
    assert lines[2].split() == ["1", "0", "2"]
    assert "accuracy" in lines[-1] and "75.0%" in lines[-1]
    assert any("100.0%" in line for line in lines)


def test_confusion_table_shades_by_share_of_the_row() -> None:
    console = Console(color_system="truecolor", width=100, record=True)
    console.print(confusion_table(fixed_evaluation(), heat=(0, 0, 255), base=(0, 0, 0)))
    text = console.export_text(clear=False)
    assert "0 T-shirt/top" in text and "9 Ankle boot" in text
    # 8 of 10 → 80% of the way from base to heat.
    assert "48;2;0;0;204" in console.export_text(styles=True)


def test_bar_chart_scales_to_the_largest_count() -> None:
    text = bar_chart(["a", "bb"], [10, 5], width=30).plain.splitlines()
    assert text[0].startswith(" a ██") and text[0].endswith("10 (66.7%)")
    # 15 cells for 10, and 7.5 (seven and a half block) for 5.
    assert [line.count("█") for line in text] == [15, 7]
    assert "█▌ " in text[1]
    narrow = bar_chart(["Ankle boot"], [6000], width=26).plain
    assert "%" not in narrow and narrow.endswith("6,000")


# --------------------------------------------------------------------------- words
def test_input_shapes_in_words() -> None:
    first = " ".join(insight.explain_shape("(None, 1, 28, 28)"))
    assert "None = any number of samples" in first
    assert "1 channel" in first and "28 rows; 28 columns" in first
    assert "channels first ('th'" in first and "channels last ('tf'" in first
    assert "shape (2, 3) means the first dimension has 2 elements" in first
    last = " ".join(insight.explain_shape("(None, 28, 28, 1)"))
    assert "channels last ('tf'" in last and "TensorFlow's default" in last
    assert "a vector of 784 numbers" in insight.explain_shape("(None, 784)")[0]
    assert insight.parse_shape("(None, 1, 28, 28)") == (None, 1, 28, 28)
    assert insight.parse_shape("(3,)") == (3,)
    assert insight.parse_shape("nonsense") is None


def test_layers_in_words_with_checked_parameter_arithmetic() -> None:
    conv = LayerInfo("conv2d", "Conv2D", "(None, 32, 24, 24)", 832)
    words = insight.explain_layer(conv, "(None, 1, 28, 28)")
    assert words == "32 maps of 24×24 · 32 filters × 1×5×5 weights + 32 biases"
    dense = LayerInfo("dense", "Dense", "(None, 784)", 615440)
    assert insight.explain_layer(dense, "(None, 784)") == (
        "784 numbers per sample · 784×784 weights + 784 biases"
    )
    odd = LayerInfo("dense", "Dense", "(None, 10)", 12345)  # does not check out: no sum
    assert insight.explain_layer(odd, "(None, 784)") == "10 numbers per sample"
    assert "no weights" in insight.explain_layer(
        LayerInfo("flatten", "Flatten", "(None, 4608)", 0), "(None, 32, 12, 12)"
    )


# --------------------------------------------------------------------------- data preview
def test_preview_of_random_data_describes_the_arrays() -> None:
    source = data_mod.DataSource("random", train_samples=50, test_samples=10, features=20)
    raw = data_mod.load(source, seed=1)
    preview = insight.preview_dataset(raw, raw, kind="random")
    assert "not images" in preview.not_images
    assert len(preview.samples) == 3  # listed as numbers
    assert preview.labels == ("0", "1")
    assert preview.raw.train_counts is not None and preview.raw.train_counts.sum() == 50
    assert preview.raw.lines()[0].startswith("x_train (50, 20) float32, ")


def test_preview_of_images_shows_the_first_of_each_class() -> None:
    y = np.array([3, 3, 1, 0, 1, 2])
    x = np.stack([shape_image(int(c)) for c in y])
    raw = data_mod.Dataset(x, y, x[:2], y[:2], origin="shapes")
    preview = insight.preview_dataset(raw, None, kind="fashion_mnist", transform_problem="bad")
    assert [index for index, _, _ in preview.samples] == [3, 2, 5, 0]
    assert [label for _, label, _ in preview.samples] == [0, 1, 2, 3]
    assert preview.not_images == "" and preview.model is None
    assert preview.transform_problem == "bad"
