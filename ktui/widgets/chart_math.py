"""The numbers behind a chart: smoothing, drawable points, thinning, axis ticks.

Plain Python (no Textual, no rich), so each helper is tested on its own and the
chart widget (:mod:`ktui.widgets.chart`) only lays out and draws what these return.

Ticks are "nice": evenly spaced multiples of 1, 2 or 5 × 10^k on a linear axis,
powers of ten (or the 1-2-5 steps of a log axis when the data spans less than
two decades) on a logarithmic one, and each one returned is meant to be shown.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

RGB = tuple[int, int, int]


# --------------------------------------------------------------------------- smoothing
def ema(values: Sequence[float], weight: float) -> list[float]:
    """Exponential moving average: ``s[0] = v[0]``, ``s[i] = w·s[i-1] + (1-w)·v[i]``.

    ``weight`` is clamped to [0, 1); 0 returns the values unchanged. A value that
    is not finite (NaN, ±inf) does not enter the average: its position gets NaN,
    so it is not drawn, and the average carries on from the last finite value.
    """
    w = min(max(float(weight), 0.0), 0.999)
    out: list[float] = []
    last: float | None = None
    for value in values:
        v = float(value)
        if not math.isfinite(v):
            out.append(math.nan)
            continue
        last = v if last is None else w * last + (1.0 - w) * v
        out.append(last)
    return out


# --------------------------------------------------------------------------- points
@dataclass(frozen=True)
class Drawable:
    """The points of a series that can be drawn, and how many could not."""

    xs: list[float]
    ys: list[float]
    not_finite: int = 0
    """Points with a NaN or infinite x or y."""
    not_positive: int = 0
    """Points left out because the y scale is logarithmic and y <= 0."""


def drawable(xs: Sequence[float], ys: Sequence[float], *, log_y: bool = False) -> Drawable:
    """Keep the points that can be drawn: finite, and with y > 0 on a log scale."""
    keep_x: list[float] = []
    keep_y: list[float] = []
    not_finite = not_positive = 0
    for x, y in zip(xs, ys, strict=False):
        fx, fy = float(x), float(y)
        if not (math.isfinite(fx) and math.isfinite(fy)):
            not_finite += 1
        elif log_y and fy <= 0.0:
            not_positive += 1
        else:
            keep_x.append(fx)
            keep_y.append(fy)
    return Drawable(keep_x, keep_y, not_finite, not_positive)


def thin(xs: list[float], ys: list[float], limit: int) -> tuple[list[float], list[float]]:
    """At most about ``limit`` points: every k-th one and always the last.

    More points than the chart has dots only cost time; a 10,000-epoch run
    draws as fast as a 300-epoch one.
    """
    if limit < 2 or len(xs) <= limit:
        return xs, ys
    step = math.ceil(len(xs) / limit)
    tx, ty = xs[::step], ys[::step]
    if tx[-1] != xs[-1]:
        tx.append(xs[-1])
        ty.append(ys[-1])
    return tx, ty


def metric_groups(names: Iterable[str]) -> dict[str, list[str]]:
    """Metrics grouped one chart each: ``{"loss": ["loss", "val_loss"], "accuracy": [...]}``.

    ``loss`` comes first, then the other metrics by name; in a group the training
    metric comes before the validation one (``val_`` + its name).
    """
    groups: dict[str, list[str]] = {}
    for name in dict.fromkeys(names):
        groups.setdefault(name.removeprefix("val_"), []).append(name)
    order = sorted(groups, key=lambda base: (base != "loss", base))
    return {base: sorted(groups[base], key=lambda n: n.startswith("val_")) for base in order}


def blend(rgb: RGB, background: RGB | None, amount: float) -> RGB:
    """``rgb`` moved ``amount`` of the way towards ``background`` (mid grey if unknown)."""
    target = background if background is not None else (128, 128, 128)
    return (
        round(rgb[0] + (target[0] - rgb[0]) * amount),
        round(rgb[1] + (target[1] - rgb[1]) * amount),
        round(rgb[2] + (target[2] - rgb[2]) * amount),
    )


# --------------------------------------------------------------------------- ticks
def integer_ticks(low: float, high: float, most: int) -> list[float]:
    """Whole-number x ticks (epochs) from ``low`` to ``high``, at most ``most`` of them,
    spaced 1, 2 or 5 × 10^k apart."""
    if most < 1 or not (math.isfinite(low) and math.isfinite(high)):
        return []
    lo, hi = math.ceil(low), math.floor(high)
    if hi < lo:
        return []
    span = hi - lo
    step = 1
    while span / step > max(most - 1, 1):
        for factor in (2, 2.5, 2):  # 1 → 2 → 5 → 10 → 20 → 50 ...
            step = int(step * factor)
            if span / step <= max(most - 1, 1):
                break
    first = math.ceil(lo / step) * step
    return [float(t) for t in range(first, hi + 1, step)]


_MANTISSAS = (5, 2, 1)
"""The nice steps within a decade, coarse to fine."""


def _multiples(low: float, high: float, mantissa: int, exponent: int) -> list[float]:
    """The multiples of ``mantissa`` × 10^``exponent`` in [low, high].

    Each value is the float nearest its decimal (``0.3``, not ``0.30000000000000004``),
    so labels and comparisons see the round number.
    """
    step = mantissa * 10.0**exponent
    # A hair of tolerance: a bound that is itself a multiple must count.
    first = math.ceil(low / step - 1e-9)
    last = math.floor(high / step + 1e-9)
    if last - first > 10_000:  # never reached from the searches below; a guard
        return []
    return [float(f"{k * mantissa}e{exponent}") + 0.0 for k in range(first, last + 1)]


def nice_ticks(low: float, high: float, most: int) -> list[float]:
    """As many evenly spaced round values in [low, high] as fit in ``most``.

    The step is 1, 2 or 5 × 10^k, the smallest whose ticks number at most
    ``most``; every multiple of it in the range is returned, none is skipped.
    Fewer than two come back only when the range is too narrow for ``most``
    (see :func:`axis` for limits that always hold two).
    """
    if most < 1 or not (math.isfinite(low) and math.isfinite(high)) or high < low:
        return []
    if high == low:
        return [low]
    exponent = math.floor(math.log10(high - low)) + 1
    best: list[float] = []
    for e in range(exponent, exponent - 4, -1):
        for mantissa in _MANTISSAS:
            ticks = _multiples(low, high, mantissa, e)
            if len(ticks) > most:
                return best
            best = ticks
    return best


def nice_step(low: float, high: float, most: int) -> tuple[int, int]:
    """``(mantissa, exponent)`` of the smallest 1-2-5 step that splits [low, high]
    into at most ``most - 1`` intervals (the limits rounded out to it)."""
    span = high - low if high > low else abs(high) or 1.0
    intervals = max(most - 1, 1)
    exponent = math.floor(math.log10(span / intervals))
    for e in range(exponent, exponent + 4):
        for mantissa in reversed(_MANTISSAS):
            step = mantissa * 10.0**e
            if math.ceil(high / step - 1e-9) - math.floor(low / step + 1e-9) <= intervals:
                return mantissa, e
    return 1, exponent + 4


def log_ticks(low: float, high: float, most: int) -> list[float]:
    """Round values in [low, high] (both > 0) for a logarithmic axis.

    Powers of ten, every one or every 2nd, 5th, ... so at most ``most``, when at
    least three fit; else the 1, 2, 5 × 10^k steps when they fit and say more;
    else the powers of ten if two fit; else :func:`nice_ticks` (a range within
    one decade).
    """
    if most < 1 or not (math.isfinite(low) and math.isfinite(high)) or low <= 0 or high < low:
        return []
    first = math.ceil(math.log10(low) - 1e-9)
    last = math.floor(math.log10(high) + 1e-9)
    decades: list[float] = []
    if last >= first:
        # Every decade, or every 2nd, 5th, 10th ... so that at most `most` remain.
        every = next(
            e
            for e in (1, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000)
            if last // e - math.ceil(first / e) + 1 <= most or e == 1000
        )
        start = math.ceil(first / every) * every
        decades = [float(f"1e{e}") for e in range(start, last + 1, every)]
    if len(decades) >= 3:
        return decades
    steps = [
        value
        for e in range(first - 1, last + 1)
        for mantissa in (1, 2, 5)
        if low <= (value := float(f"{mantissa}e{e}")) <= high
    ]
    if len(steps) >= 2 and len(decades) < len(steps) <= most:
        return steps
    if len(decades) >= 2:
        return decades
    return nice_ticks(low, high, most)


@dataclass(frozen=True)
class Axis:
    """A laid-out axis: the limits it spans and its ticks with their labels."""

    low: float
    high: float
    ticks: list[float]
    labels: list[str]


def axis(low: float, high: float, most: int, *, log: bool = False) -> Axis:
    """The y axis for data from ``low`` to ``high``: at most ``most`` nice ticks.

    The limits are the data's own, so the curves use the whole height; only when
    fewer than two ticks would fall inside (a narrow range, a single value) are
    they rounded out to the neighbouring ticks, so an axis always reads as a scale.
    On a log axis ``low`` and ``high`` must be > 0.
    """
    if high == low:  # one value: a range around it, else nothing to divide
        if log:
            low, high = low / 2, high * 2
        else:
            pad = abs(low) * 0.05 or 1.0
            low, high = low - pad, high + pad
    ticks = log_ticks(low, high, most) if log else nice_ticks(low, high, most)
    if len(ticks) < 2 and most >= 2:
        mantissa, exponent = nice_step(low, high, most)
        step = mantissa * 10.0**exponent
        rounded = _multiples(
            math.floor(low / step + 1e-9) * step,
            math.ceil(high / step - 1e-9) * step,
            mantissa,
            exponent,
        )
        if log and rounded[0] <= 0:
            # Rounded out to zero or below, which a log axis cannot show: whole decades.
            rounded = log_ticks(
                10.0 ** math.floor(math.log10(low) + 1e-9),
                10.0 ** math.ceil(math.log10(high) - 1e-9),
                most,
            )
        ticks = rounded
        low, high = min(low, ticks[0]), max(high, ticks[-1])
    return Axis(low, high, ticks, tick_labels(ticks, log=log))


def tick_labels(ticks: Sequence[float], *, log: bool = False) -> list[str]:
    """Labels with the same number of decimals, as few as keep every tick exact
    (``0.30 0.35 0.40``); very large or small values in short scientific form.

    On a log axis (``log``) each label is as short as its value allows
    (``0.001 0.01 0.1 1``): the same decimals would only pad the small ones.
    """
    if not ticks:
        return []
    short = [_short(t) for t in ticks]
    # 1, 2 or 5 × 10^k each (decades, a log axis's steps): each as short as it goes.
    if log and all(_is_one_two_five(t) for t in ticks):
        return short
    biggest = max(abs(t) for t in ticks)
    for decimals in range(0, 7):
        labels = [f"{t:.{decimals}f}" for t in ticks]
        exact = all(
            math.isclose(float(s), t, rel_tol=1e-9, abs_tol=1e-12)
            for s, t in zip(labels, ticks, strict=True)
        )
        if exact:
            if biggest < 1e6:
                return [s if s.strip("-0.") else s.lstrip("-") for s in labels]
            break
    for digits in range(1, 13):
        labels = [f"{t:.{digits}g}" for t in ticks]
        if len(set(labels)) == len(labels):
            return labels
    return [repr(t) for t in ticks]


def _short(value: float) -> str:
    """The shortest of ``0.001``-style and ``1e-05``-style forms that is exact."""
    text = f"{value:.6g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}e{int(exponent)}"
    return text


def _is_one_two_five(value: float) -> bool:
    """True for ±1, 2 or 5 × 10^k."""
    digits = f"{abs(value):.6e}"
    return digits[0] in "125" and digits[1:8] == ".000000"
