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
