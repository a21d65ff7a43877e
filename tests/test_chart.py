"""MetricChart: its smoothing maths, log scale with values it cannot show, and drawing."""

from __future__ import annotations

import math
import time

import pytest
from rich.style import Style
from textual.app import App, ComposeResult

from ktui.widgets.chart import (
    MetricChart,
    Series,
    drawable,
    ema,
    integer_ticks,
    thin,
)
from ktui.widgets.chart_math import axis, nice_ticks


def text_of(chart: MetricChart, width: int = 70, height: int = 20) -> str:
    return "\n".join(strip.text for strip in chart.build_strips(width, height, Style()))


# --------------------------------------------------------------------------- smoothing
def test_ema_follows_the_recurrence() -> None:
    assert ema([0.0, 1.0, 1.0, 1.0], 0.5) == [0.0, 0.5, 0.75, 0.875]
    assert ema([4.0, 2.0], 0.25) == [4.0, 0.25 * 4.0 + 0.75 * 2.0]


def test_ema_weight_zero_is_the_identity_and_weight_is_clamped() -> None:
    values = [3.0, 1.0, 4.0, 1.0, 5.0]
    assert ema(values, 0.0) == values
    assert ema(values, -2.0) == values
    smooth = ema(values, 5.0)  # clamped below 1: still moves, never freezes or explodes
    assert smooth[0] == 3.0
    assert all(math.isfinite(v) for v in smooth)
    assert smooth[-1] != 3.0


def test_ema_of_a_constant_is_the_constant() -> None:
    assert ema([0.3] * 50, 0.9) == pytest.approx([0.3] * 50)


def test_ema_skips_values_that_are_not_finite() -> None:
    smooth = ema([1.0, math.nan, 3.0, math.inf, 3.0], 0.5)
    assert smooth[0] == 1.0
    assert math.isnan(smooth[1]) and math.isnan(smooth[3])
    assert smooth[2] == 2.0  # the NaN did not enter the average
    assert smooth[4] == 2.5
    assert math.isnan(ema([math.nan], 0.5)[0])
    assert ema([], 0.5) == []


# --------------------------------------------------------------------------- log scale
def test_drawable_on_a_log_scale_leaves_out_values_that_are_not_positive() -> None:
    points = drawable([1, 2, 3, 4, 5], [0.5, 0.0, -1.0, 2.0, math.nan], log_y=True)
    assert points.xs == [1.0, 4.0]
    assert points.ys == [0.5, 2.0]
    assert points.not_positive == 2
    assert points.not_finite == 1


def test_drawable_on_a_linear_scale_keeps_zero_and_negatives() -> None:
    points = drawable([1, 2, 3], [0.0, -1.0, math.inf])
    assert points.ys == [0.0, -1.0]
    assert points.not_positive == 0 and points.not_finite == 1


def test_log_chart_with_some_bad_values_draws_the_rest_and_says_so() -> None:
    chart = MetricChart("loss")
    chart.set_series({"run 1 loss": ([1, 2, 3, 4], [1.0, 0.0, -0.5, 0.1])})
    chart.log_y = True
    text = text_of(chart)
    assert "2 values ≤ 0 not shown (log scale)" in text
    assert chart.note == "2 values ≤ 0 not shown (log scale)"
    assert "(log y)" in text.splitlines()[0]
    assert any(0x2800 < ord(c) <= 0x28FF for c in text)  # the two good points are drawn


def test_log_chart_with_only_non_positive_values_does_not_crash() -> None:
    chart = MetricChart("loss")
    chart.set_series({"run 1 loss": ([1, 2], [0.0, -3.0]), "empty": ([], [])})
    chart.log_y = True
    text = text_of(chart)
    assert "No epochs yet." in text
    assert "2 values ≤ 0 not shown" in chart.note
    chart.smoothing = True  # smoothing on top of it neither
    text_of(chart)


def test_nan_values_never_crash_and_are_counted() -> None:
    chart = MetricChart("loss")
    chart.set_series({"diverged": ([1, 2, 3], [0.5, math.nan, math.inf])})
    text = text_of(chart)
    assert chart.note == "2 NaN/inf values not shown"
    assert "2 NaN/inf values not shown" in text


# --------------------------------------------------------------------------- helpers
def test_thin_keeps_the_last_point_and_at_most_about_limit() -> None:
    xs = [float(i) for i in range(1, 1001)]
    tx, ty = thin(xs, xs, 100)
    assert len(tx) <= 101
    assert tx[0] == 1.0 and tx[-1] == 1000.0
    assert thin(xs[:50], xs[:50], 100) == (xs[:50], xs[:50])


@pytest.mark.parametrize(
    ("low", "high", "most", "expected"),
    [
        (1, 5, 10, [1, 2, 3, 4, 5]),
        (1, 100, 6, [20, 40, 60, 80, 100]),
        (1, 10, 4, [5, 10]),
        (3, 3, 5, [3]),
        (0.5, 0.7, 5, []),
    ],
)
def test_integer_ticks(low: float, high: float, most: int, expected: list[float]) -> None:
    assert integer_ticks(low, high, most) == expected


# --------------------------------------------------------------------------- drawing
def test_legend_title_and_series_order() -> None:
    chart = MetricChart("loss")
    xs = list(range(1, 11))
    chart.set_series(
        {
            "run 3 loss": Series(xs, [1 / x for x in xs], color=0, secondary=True),
            "run 3 val_loss": (xs, [1.2 / x for x in xs]),
        }
    )
    lines = text_of(chart).splitlines()
    assert lines[0].startswith("loss")
    assert "╌╌ run 3 loss" in lines[-1] and "━━ run 3 val_loss" in lines[-1]
    assert list(chart.series) == ["run 3 loss", "run 3 val_loss"]
    chart.toggle_smoothing()
    assert "(smoothed 0.6)" in text_of(chart).splitlines()[0]


def test_the_same_data_draws_the_same_picture() -> None:
    xs = list(range(1, 101))
    data = {f"run {k} val_loss": (xs, [1 / (x + k) for x in xs]) for k in range(4)}
    first, second = MetricChart("val_loss"), MetricChart("val_loss")
    first.set_series(data)
    second.set_series(data)
    assert first.build_strips(80, 20, Style()) == second.build_strips(80, 20, Style())


def test_append_adds_points_and_a_single_epoch_still_draws() -> None:
    chart = MetricChart("loss")
    chart.append("run 1 loss", 1, 0.5)
    assert "No epochs yet." not in text_of(chart)
    chart.append("run 1 loss", 2, 0.4)
    assert list(chart.series["run 1 loss"].ys) == [0.5, 0.4]
    chart.clear()
    assert "No epochs yet." in text_of(chart)


def test_a_redraw_of_4_series_of_100_epochs_is_cheap() -> None:
    """A loose guard (the benchmark has the real figure): far below a frame even on CI."""
    xs = list(range(1, 101))
    chart = MetricChart("val_loss")
    chart.set_series({f"run {k} val_loss": (xs, [1 / (x + k) for x in xs]) for k in range(4)})
    chart.build_strips(100, 30, Style())
    started = time.perf_counter()
    for _ in range(10):
        chart.build_strips(100, 30, Style())
    assert (time.perf_counter() - started) / 10 < 0.05


class ChartApp(App[None]):
    def compose(self) -> ComposeResult:
        yield MetricChart("loss", id="chart")


async def test_chart_in_an_app_redraws_when_toggled() -> None:
    app = ChartApp()
    async with app.run_test(size=(60, 16)) as pilot:
        chart = app.query_one(MetricChart)
        xs = list(range(1, 21))
        chart.set_series({"run 1 loss": (xs, [1 / x for x in xs])})
        await pilot.pause()
        before = chart.render_line(1)
        chart.toggle_log_y()
        await pilot.pause()
        assert chart.log_y
        assert chart.render_line(0).text.startswith("loss  (log y)")
        assert chart.render_line(1) != before or chart.render_line(5) != before


def test_metric_groups_pair_training_and_validation_loss_first() -> None:
    from ktui.widgets.chart import metric_groups

    names = ["accuracy", "loss", "val_accuracy", "val_loss", "auc"]
    assert metric_groups(names) == {
        "loss": ["loss", "val_loss"],
        "accuracy": ["accuracy", "val_accuracy"],
        "auc": ["auc"],
    }
    assert metric_groups(["val_loss"]) == {"loss": ["val_loss"]}


# --------------------------------------------------------------------------- y-axis ticks
def y_labels(chart: MetricChart, width: int, height: int) -> list[tuple[int, float]]:
    """(row, value) of each y tick label drawn, top row first."""
    found = []
    for row, line in enumerate(text_of(chart, width, height).splitlines()):
        label, mark, _ = line.partition("┤")
        if mark and label.strip():
            found.append((row, float(label)))
    return found


def one_two_five(first: float, count: int) -> list[float]:
    """``count`` consecutive terms of 1, 2, 5, 10, 20, 50 ... from ``first``."""
    exponent = math.floor(math.log10(first) + 1e-9)
    mantissas = [1, 2, 5]
    if round(first / 10.0**exponent, 6) not in mantissas:
        return []
    index = mantissas.index(round(first / 10.0**exponent))
    terms = []
    for _ in range(count):
        terms.append(mantissas[index] * 10.0**exponent)
        index += 1
        if index == 3:
            index, exponent = 0, exponent + 1
    return terms


RANGES = [
    (0.309, 0.510),  # the issue's: 0.510, 0.460, 0.409, 0.309 skipped a step
    (0.0, 1.0),
    (-3.2, 7.7),
    (0.0123, 0.0456),
    (1234.0, 98765.0),
    (0.7301, 0.7302),
    (1e-4, 1.0),
    (0.05, 0.9),
    (2e-6, 0.7),
]


@pytest.mark.parametrize(("low", "high"), RANGES)
@pytest.mark.parametrize("log_y", [False, True], ids=["linear", "log"])
@pytest.mark.parametrize(("width", "height"), [(60, 12), (70, 20), (118, 36)])
def test_y_ticks_are_nice_evenly_spaced_and_none_is_skipped(
    low: float, high: float, log_y: bool, width: int, height: int
) -> None:
    if log_y and low <= 0:
        pytest.skip("a log axis shows positive values only")
    xs = [float(x) for x in range(1, 31)]
    ys = [low + (high - low) * (i / 29) ** 2 for i in range(30)]  # a loss-like descent
    chart = MetricChart("val_loss")
    chart.set_series({"val_loss": (xs, ys[::-1])})
    chart.log_y = log_y
    found = y_labels(chart, width, height)
    rows = [row for row, _ in found]
    values = [value for _, value in found]
    assert len(values) >= 2, text_of(chart, width, height)
    assert rows == sorted(rows) and values == sorted(values, reverse=True)  # top is biggest
    ascending = values[::-1]
    linear_steps = [b - a for a, b in zip(ascending, ascending[1:], strict=False)]
    evenly = all(math.isclose(s, linear_steps[0], rel_tol=1e-6) for s in linear_steps)
    decades = one_two_five_steps = False
    if log_y:
        log_steps = [math.log10(b / a) for a, b in zip(ascending, ascending[1:], strict=False)]
        # Decades (every one, or every k-th) or consecutive 1-2-5 steps: nothing skipped.
        decades = all(
            math.isclose(s, log_steps[0], rel_tol=1e-6) and math.isclose(s, round(s))
            for s in log_steps
        )
        one_two_five_steps = ascending == pytest.approx(one_two_five(ascending[0], len(ascending)))
    if not (decades or one_two_five_steps):
        # Linear, or a log axis within one decade: evenly spaced values.
        assert evenly, values
        step = linear_steps[0]
        mantissa = step / 10.0 ** math.floor(math.log10(step) + 1e-9)
        assert round(mantissa, 6) in (1.0, 2.0, 5.0), step  # a nice step
        assert all(round(v / step, 6).is_integer() for v in values)  # on multiples of it
    if decades or not log_y:
        gaps = [b - a for a, b in zip(rows, rows[1:], strict=False)]
        assert max(gaps) - min(gaps) <= 1, rows  # evenly spaced on screen too
    # Every label lies on a canvas row (below the title, above the x axis).
    canvas_rows = height - 1 - 1 - 2  # title, legend, x axis line and labels
    assert rows[0] >= 1 and rows[-1] <= canvas_rows


@pytest.mark.parametrize(
    ("low", "high", "most", "expected"),
    [
        (0.309, 0.510, 5, [0.35, 0.40, 0.45, 0.50]),
        (0.0, 1.0, 6, [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]),
        (-3.2, 7.7, 6, [-2.0, 0.0, 2.0, 4.0, 6.0]),
        (0.31, 0.33, 2, [0.32]),
        (5.0, 5.0, 3, [5.0]),
    ],
)
def test_nice_ticks(low: float, high: float, most: int, expected: list[float]) -> None:
    assert nice_ticks(low, high, most) == expected


def test_axis_rounds_out_only_when_fewer_than_two_ticks_fit() -> None:
    inside = axis(0.309, 0.510, 5)
    assert (inside.low, inside.high) == (0.309, 0.510)  # the curves use the whole height
    assert inside.labels == ["0.35", "0.40", "0.45", "0.50"]
    narrow = axis(0.31, 0.33, 2)
    assert narrow.ticks == [0.30, 0.35] and (narrow.low, narrow.high) == (0.30, 0.35)
    single = axis(0.5, 0.5, 4)
    assert len(single.ticks) >= 2 and single.low < 0.5 < single.high
    logs = axis(1e-4, 1.0, 6, log=True)
    assert logs.ticks == [1e-4, 1e-3, 1e-2, 1e-1, 1.0]
    assert logs.labels == ["0.0001", "0.001", "0.01", "0.1", "1"]
    assert axis(0.05, 0.9, 6, log=True).labels == ["0.05", "0.1", "0.2", "0.5"]
    one_value = axis(0.3, 0.3, 4, log=True)
    assert len(one_value.ticks) >= 2 and one_value.low < 0.3 < one_value.high


def test_x_labels_sit_under_their_ticks() -> None:
    chart = MetricChart("loss")
    xs = list(range(1, 31))
    chart.set_series({"loss": (xs, [1 / x for x in xs])})
    lines = text_of(chart, 70, 20).splitlines()
    axis_line = next(line for line in lines if "└" in line)
    labels = lines[lines.index(axis_line) + 1]
    for number in ("5", "10", "15", "20", "25", "30"):
        start = labels.index(number)
        centre = start + (len(number) - 1) // 2
        assert axis_line[centre] == "┬", (number, axis_line, labels)
