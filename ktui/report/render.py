"""A :class:`~ktui.report.collect.Report` as one self-contained HTML file, or as
Markdown with PNG files beside it.

The HTML needs no network to open: its styles are inline, the curves inline SVG and
the wrong predictions PNG data URIs. Everything written into it from the store is
escaped.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Any

from ktui.core.format import format_metric, format_seconds
from ktui.core.insight import Evaluation, image_view
from ktui.core.system_report import input_rows, system_rows
from ktui.report.charts import (
    PALETTE,
    Curve,
    curve_figure,
    figure_png,
    figure_svg,
    image_png,
    series_figure,
    wait_figure,
)
from ktui.report.collect import Report, RunReport, format_value

GIB = 1024**3

MAX_MISTAKES = 8
"""Wrong predictions shown per run, most confident first."""


# --------------------------------------------------------------------------- shared pieces
def _time(timestamp: float | None) -> str:
    return (
        "—" if timestamp is None else datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M")
    )


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.2f}%"


def overview_rows(report: Report) -> list[tuple[str, list[str]]]:
    """The runs' facts, one row per fact, one cell per run."""

    def row(label: str, cell: Callable[[RunReport], str]) -> tuple[str, list[str]]:
        return label, [cell(p) for p in report.runs]

    def best(p: RunReport) -> str:
        r = p.run
        if r.best_metric is None or r.best_value is None:
            return "—"
        return f"{format_metric(r.best_value)} {r.best_metric} (epoch {r.best_epoch})"

    def epochs(p: RunReport) -> str:
        planned = f"/{p.run.epochs_planned}" if p.run.epochs_planned else ""
        return f"{p.run.epochs_done}{planned}"

    def duration(p: RunReport) -> str:
        d = p.run.duration
        return "—" if d is None else format_seconds(d)

    def error(p: RunReport) -> str:
        e = p.run.test_error_percent
        return "—" if e is None else f"{e:.2f}%"

    return [
        row("preset", lambda p: p.run.preset),
        row("status", lambda p: p.run.status),
        row("data", lambda p: p.run.data or "—"),
        row("device", lambda p: p.run.device or "—"),
        row("started", lambda p: _time(p.run.started_at)),
        row("duration", duration),
        row("epochs", epochs),
        row("best", best),
        row("test loss", lambda p: format_metric(p.run.test_loss)),
        row("test accuracy", lambda p: _percent(p.run.test_accuracy)),
        row("test error", error),
        row("versions", lambda p: ", ".join(f"{k} {v}" for k, v in p.run.versions.items()) or "—"),
    ]


def final_rows(report: Report) -> list[tuple[str, list[str]]]:
    """Each metric's value at the last recorded epoch, one cell per run."""
    names: dict[str, None] = {}
    for part in report.runs:
        names.update(dict.fromkeys(part.final))
    return [(name, [format_metric(p.final.get(name)) for p in report.runs]) for name in names]


def parameter_rows(report: Report) -> list[tuple[str, list[str], bool]]:
    """``(name, cells, differs)`` for every hyperparameter."""
    return [
        (
            name,
            [
                format_value(p.run.values[name]) if name in p.run.values else "—"
                for p in report.runs
            ],
            report.differs(name),
        )
        for name in report.parameter_names()
    ]


def differences_line(report: Report) -> str:
    """One sentence saying what differs."""
    differing = [name for name in report.parameter_names() if report.differs(name)]
    if len(report.runs) == 1:
        if not report.runs[0].run.defaults:
            return "The preset's defaults were not recorded."
        if not differing:
            return "The run used its preset's defaults."
        return "Changed from the preset's defaults: " + ", ".join(differing) + "."
    if not differing:
        return "The runs used the same hyperparameters."
    return "What differs: " + ", ".join(differing) + "."


def run_label(part: RunReport) -> str:
    """``run 12`` in legends and headings."""
    return f"run {part.run.id}"


def curves_for(report: Report, metric: str) -> list[Curve]:
    """The lines of ``metric``'s chart: per run, training then validation."""
    curves: list[Curve] = []
    for index, part in enumerate(report.runs):
        color = PALETTE[index % len(PALETTE)]
        for name, validation in ((metric, False), (f"val_{metric}", True)):
            points = [
                (r.epoch, r.metrics[name])
                for r in part.epochs
                if name in r.metrics and math.isfinite(r.metrics[name])
            ]
            if not points:
                continue
            label = run_label(part) if len(report.runs) > 1 else ""
            label = f"{label} {'validation' if validation else 'training'}".strip()
            curves.append(
                Curve(
                    label=label,
                    epochs=[e for e, _ in points],
                    values=[v for _, v in points],
                    color=color,
                    validation=validation,
                )
            )
    return curves


@dataclass(frozen=True)
class MistakePicture:
    """One wrong prediction as the report shows it."""

    index: int
    true: str
    predicted: str
    probability: float
    png: bytes | None
    """The input drawn as an image, or None when it is not an image (or was not kept)."""


def mistakes_of(evaluation: Evaluation, limit: int = MAX_MISTAKES) -> list[MistakePicture]:
    """The first ``limit`` wrong predictions, most confident first."""
    m = evaluation.mistakes
    labels = evaluation.labels

    def name(cls: int) -> str:
        return labels[cls] if 0 <= cls < len(labels) else str(cls)

    pictures: list[MistakePicture] = []
    for position in range(min(limit, len(m))):
        sample = m.image(position)
        view = image_view(sample) if sample is not None else None
        pictures.append(
            MistakePicture(
                index=int(m.index[position]),
                true=name(int(m.true[position])),
                predicted=name(int(m.predicted[position])),
                probability=float(m.probability[position]),
                png=image_png(view.pixels) if view is not None else None,
            )
        )
    return pictures


def system_figures(part: RunReport) -> list[tuple[str, Any]]:
    """The run's machine over time as ``(name, figure)``: CPU, memory, per GPU its
    utilisation and memory (where NVML saw one), and per epoch the wait for data
    (where it was measured). Empty for a run that recorded none of them."""
    figures: list[tuple[str, Any]] = []
    samples = part.samples
    if samples:
        start = samples[0].time
        minutes = [(s.time - start) / 60 for s in samples]
        figures.append(
            (
                "cpu",
                series_figure(
                    "CPU",
                    [
                        ("training process", minutes, [s.process_cpu for s in samples]),
                        ("machine", minutes, [s.machine_cpu for s in samples]),
                    ],
                    ylabel="% (process: 100 = one core)",
                ),
            )
        )

        def used(s: Any) -> float | None:
            if s.memory_total is None or s.memory_available is None:
                return None
            return float(s.memory_total - s.memory_available) / GIB

        figures.append(
            (
                "memory",
                series_figure(
                    "memory",
                    [
                        (
                            "process (resident)",
                            minutes,
                            [
                                None if s.process_rss is None else s.process_rss / GIB
                                for s in samples
                            ],
                        ),
                        ("machine in use", minutes, [used(s) for s in samples]),
                    ],
                    ylabel="GiB",
                ),
            )
        )
        gpus = sorted({(g.index, g.name) for s in samples for g in s.gpus})
        if gpus:

            def gpu_value(s: Any, index: int, what: str) -> float | None:
                for g in s.gpus:
                    if g.index == index:
                        if what == "util":
                            return None if g.utilization is None else float(g.utilization)
                        return None if g.memory_used is None else g.memory_used / GIB
                return None

            figures.append(
                (
                    "gpu",
                    series_figure(
                        "GPU utilisation",
                        [
                            (f"GPU{i} {name}", minutes, [gpu_value(s, i, "util") for s in samples])
                            for i, name in gpus
                        ],
                        ylabel="%",
                        ylim=(0, 105),
                    ),
                )
            )
            figures.append(
                (
                    "gpu-memory",
                    series_figure(
                        "GPU memory in use",
                        [
                            (f"GPU{i}", minutes, [gpu_value(s, i, "memory") for s in samples])
                            for i, _ in gpus
                        ],
                        ylabel="GiB",
                    ),
                )
            )
    measured = [t for t in part.timings if t.waiting_share is not None]
    if measured:
        waiting = [t.waiting_share or 0.0 for t in measured]
        figures.append(
            (
                "waiting",
                wait_figure([t.epoch for t in measured], waiting, [1 - w for w in waiting]),
            )
        )
    return figures


def system_table(part: RunReport) -> list[list[str]]:
    """Averages and peaks over the run, and the verdict on its wait for data."""
    return system_rows(part.samples) + input_rows(part.timings, part.run.data)


def _ratio(value: float) -> str:
    return "—" if not math.isfinite(value) else f"{value * 100:.1f}%"


# --------------------------------------------------------------------------- HTML
CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2rem auto;
  max-width: 72rem; padding: 0 1rem; color: #1b1f24; background: #fff; line-height: 1.45; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; } h2 { font-size: 1.25rem; margin-top: 2rem;
  border-bottom: 1px solid #d0d7de; padding-bottom: .2rem; } h3 { font-size: 1.05rem; }
.meta { color: #57606a; margin-top: 0; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-size: .92rem; }
th, td { border: 1px solid #d0d7de; padding: .25rem .6rem; text-align: left; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.diff td, tr.diff th { background: #fff8c5; font-weight: 600; }
.charts { display: flex; flex-wrap: wrap; gap: 1rem; }
.charts figure { margin: 0; } .charts svg { max-width: 100%; height: auto; }
.mistakes { display: flex; flex-wrap: wrap; gap: .8rem; }
.mistakes figure { margin: 0; text-align: center; font-size: .85rem; }
.mistakes img { image-rendering: pixelated; border: 1px solid #d0d7de; }
.missing { color: #9a6700; } .tag { display: inline-block; background: #ddf4ff;
  border-radius: 1rem; padding: 0 .6rem; margin-right: .3rem; font-size: .85rem; }
.notes { white-space: pre-wrap; background: #f6f8fa; padding: .5rem .8rem; }
"""


def _cells(values: Sequence[str], *, num: bool = False) -> str:
    cls = ' class="num"' if num else ""
    return "".join(f"<td{cls}>{escape(v)}</td>" for v in values)


def _head(report: Report, first: str = "", *, num: bool = True) -> str:
    cls = ' class="num"' if num else ""
    heads = "".join(f"<th{cls}>{escape(run_label(p))}</th>" for p in report.runs)
    return f"<thead><tr><th>{escape(first)}</th>{heads}</tr></thead>"


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _confusion_html(evaluation: Evaluation) -> str:
    labels = evaluation.labels
    matrix = evaluation.matrix
    peak = max(1, int(matrix.max()) if matrix.size else 1)
    precision, recall = evaluation.precision, evaluation.recall
    head = "".join(f'<th class="num">{escape(name)}</th>' for name in labels)
    rows = []
    for i, name in enumerate(labels):
        cells = []
        for j in range(len(labels)):
            count = int(matrix[i, j])
            # Darker for more samples; the diagonal (right) in blue, mistakes in red.
            alpha = 0.08 + 0.72 * count / peak if count else 0.0
            rgb = "9,105,218" if i == j else "207,34,46"
            cells.append(
                f'<td class="num" style="background: rgba({rgb},{alpha:.2f})">{count}</td>'
            )
        rows.append(
            f"<tr><th>{escape(name)}</th>{''.join(cells)}"
            f'<td class="num">{_ratio(float(recall[i]))}</td></tr>'
        )
    precision_row = "".join(f'<td class="num">{_ratio(float(p))}</td>' for p in precision)
    kind = "binary (sigmoid, threshold 0.5)" if evaluation.binary else f"{len(labels)} classes"
    accuracy = _ratio(evaluation.accuracy)
    return (
        f"<p>{evaluation.samples:,} test samples, {kind}; {evaluation.correct:,} right "
        f"({accuracy}). Rows: true class; columns: predicted class.</p>"
        f'<table class="confusion"><thead><tr><th>true \\ predicted</th>{head}'
        f'<th class="num">recall</th></tr></thead><tbody>{"".join(rows)}'
        f"<tr><th>precision</th>{precision_row}<td></td></tr></tbody></table>"
    )


def _mistakes_html(evaluation: Evaluation) -> str:
    pictures = mistakes_of(evaluation)
    total = evaluation.images_total or len(evaluation.mistakes)
    if not pictures:
        return "<p>The model got every test sample right.</p>"
    intro = f"<p>{len(pictures)} of {total:,} wrong predictions, most confident first.</p>"
    if all(p.png is None for p in pictures):
        rows = "".join(
            f'<tr><td class="num">{p.index}</td><td>{escape(p.true)}</td>'
            f'<td>{escape(p.predicted)}</td><td class="num">{p.probability:.3f}</td></tr>'
            for p in pictures
        )
        return (
            intro + "<p>The inputs are not images, so they are listed.</p>"
            "<table><thead><tr><th>test sample</th><th>true</th><th>predicted</th>"
            f"<th>probability</th></tr></thead><tbody>{rows}</tbody></table>"
        )
    figures = []
    for p in pictures:
        image = (
            f'<img src="{_data_uri(p.png)}" alt="test sample {p.index}">'
            if p.png is not None
            else "<div>(no image)</div>"
        )
        figures.append(
            f"<figure>{image}<figcaption>#{p.index}: {escape(p.true)} → "
            f"{escape(p.predicted)} ({p.probability:.2f})</figcaption></figure>"
        )
    return intro + f'<div class="mistakes">{"".join(figures)}</div>'


def _model_html(model: dict[str, Any]) -> str:
    layers = model.get("layers") or []
    rows = "".join(
        f"<tr><td>{escape(str(layer.get('name', '')))}</td>"
        f"<td>{escape(str(layer.get('kind', '')))}</td>"
        f"<td>{escape(str(layer.get('output_shape', '')))}</td>"
        f'<td class="num">{int(layer.get("params", 0) or 0):,}</td></tr>'
        for layer in layers
        if isinstance(layer, dict)
    )
    total = model.get("total_params")
    trainable = model.get("trainable_params")
    figures = []
    if model.get("input_shape"):
        figures.append(f"input {escape(str(model['input_shape']))}")
    if isinstance(total, int):
        figures.append(f"{total:,} parameters")
    if isinstance(trainable, int) and trainable != total:
        figures.append(f"{trainable:,} trainable")
    return (
        f"<p>{' · '.join(figures)}</p>"
        "<table><thead><tr><th>layer</th><th>kind</th><th>output shape</th>"
        f'<th class="num">parameters</th></tr></thead><tbody>{rows}</tbody></table>'
    )


def _run_html(part: RunReport, several: bool) -> str:
    out: list[str] = []
    level = "h3" if several else "h2"
    if several:
        out.append(f"<h2>{escape(run_label(part).capitalize())} — {escape(part.run.preset)}</h2>")
    if part.tags or part.notes:
        out.append(f"<{level}>Tags and notes</{level}>")
        if part.tags:
            tags = "".join(f'<span class="tag">{escape(t)}</span>' for t in part.tags)
            out.append(f"<p>{tags}</p>")
        if part.notes:
            out.append(f'<div class="notes">{escape(part.notes)}</div>')
    if part.run.error:
        out.append(f'<p class="missing">Error: {escape(part.run.error)}</p>')
    if part.evaluation is not None:
        out.append(f"<{level}>Confusion matrix (test set)</{level}>")
        out.append(_confusion_html(part.evaluation))
        out.append(f"<{level}>Wrong predictions</{level}>")
        out.append(_mistakes_html(part.evaluation))
    if part.run.model:
        out.append(f"<{level}>Model</{level}>")
        out.append(_model_html(part.run.model))
    table = system_table(part)
    if table:
        out.append(f"<{level}>System</{level}>")
        rows = "".join(
            f"<tr><th>{escape(label)}</th><td>{escape(text)}</td></tr>" for label, text in table
        )
        out.append(f"<table><tbody>{rows}</tbody></table>")
        figures = system_figures(part)
        if figures:
            out.append('<div class="charts">')
            for name, fig in figures:
                out.append(f'<figure class="system" data-figure="{escape(name)}">')
                out.append(figure_svg(fig))
                out.append("</figure>")
            out.append("</div>")
    if part.missing:
        out.append(f"<{level}>Not in this report</{level}>")
        items = "".join(f"<li>{escape(m)}</li>" for m in part.missing)
        out.append(f'<ul class="missing">{items}</ul>')
    return "\n".join(out)


def document_start(title: str, version: str, created_at: float | None) -> list[str]:
    """The lines that open a report's HTML document: head, styles, title, when made."""
    return [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f'<p class="meta">A ktui {escape(version)} report, made {escape(_time(created_at))}.</p>',
    ]


def render_html(report: Report) -> str:
    """The whole report as one HTML document that needs nothing but itself."""
    several = len(report.runs) > 1
    out = [
        *document_start(report.title, report.version, report.created_at),
        "<h2>Runs</h2>" if several else "<h2>Run</h2>",
        f"<table>{_head(report, num=False)}<tbody>",
    ]
    for label, cells in overview_rows(report):
        out.append(f"<tr><th>{escape(label)}</th>{_cells(cells)}</tr>")
    out.append("</tbody></table>")

    out.append("<h2>Hyperparameters</h2>")
    out.append(f"<p>{escape(differences_line(report))}</p>")
    out.append(f"<table>{_head(report, 'hyperparameter')}<tbody>")
    for name, cells, differs in parameter_rows(report):
        cls = ' class="diff"' if differs else ""
        out.append(f"<tr{cls}><th>{escape(name)}</th>{_cells(cells, num=True)}</tr>")
    out.append("</tbody></table>")

    groups = report.metric_groups()
    if groups:
        out.append("<h2>Curves</h2>")
        out.append(
            "<p>Training solid, validation dashed"
            + (", one colour per run." if several else ".")
            + "</p>"
        )
        out.append('<div class="charts">')
        for metric in groups:
            fig = curve_figure(metric, curves_for(report, metric))
            out.append(f'<figure class="chart" data-metric="{escape(metric)}">')
            out.append(figure_svg(fig))
            out.append("</figure>")
        out.append("</div>")
        out.append("<h2>Final metrics</h2><p>At the last recorded epoch.</p>")
        out.append(f"<table>{_head(report, 'metric')}<tbody>")
        for name, cells in final_rows(report):
            out.append(f"<tr><th>{escape(name)}</th>{_cells(cells, num=True)}</tr>")
        out.append("</tbody></table>")

    for part in report.runs:
        out.append(_run_html(part, several))
    out.append("</body></html>")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- Markdown
def _md(text: str) -> str:
    """A table cell: pipes escaped, no line breaks."""
    return text.replace("|", "\\|").replace("\n", " ")


def _md_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = [
        "| " + " | ".join(_md(h) for h in headers) + " |",
        "|" + "|".join("---" for _ in headers) + "|",
    ]
    lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]
    return [*lines, ""]


def render_markdown(report: Report, files: str) -> tuple[str, dict[str, bytes]]:
    """The report as Markdown, and the PNG files it links to (names relative to the
    folder ``files``, which is written beside the Markdown file)."""
    several = len(report.runs) > 1
    pngs: dict[str, bytes] = {}
    heads = ["", *(run_label(p) for p in report.runs)]
    out = [
        f"# {report.title}",
        "",
        f"A ktui {report.version} report, made {_time(report.created_at)}.",
        "",
        "## Runs" if several else "## Run",
        "",
        *_md_table(heads, [[label, *cells] for label, cells in overview_rows(report)]),
        "## Hyperparameters",
        "",
        differences_line(report),
        "",
        *_md_table(
            ["hyperparameter", *heads[1:]],
            [
                [f"**{name}**" if differs else name, *cells]
                for name, cells, differs in parameter_rows(report)
            ],
        ),
    ]
    groups = report.metric_groups()
    if groups:
        out += ["## Curves", "", "Training solid, validation dashed.", ""]
        for metric in groups:
            name = f"curve-{metric}.png"
            pngs[name] = figure_png(curve_figure(metric, curves_for(report, metric)))
            out += [f"![{metric}]({files}/{name})", ""]
        out += ["## Final metrics", "", "At the last recorded epoch.", ""]
        out += _md_table(
            ["metric", *heads[1:]], [[name, *cells] for name, cells in final_rows(report)]
        )
    for part in report.runs:
        prefix = "###" if several else "##"
        if several:
            out += [f"## {run_label(part).capitalize()} — {part.run.preset}", ""]
        if part.tags or part.notes:
            out += [f"{prefix} Tags and notes", ""]
            if part.tags:
                out += [" ".join(f"`{t}`" for t in part.tags), ""]
            if part.notes:
                out += ["> " + line for line in part.notes.splitlines()] + [""]
        if part.run.error:
            out += [f"Error: {part.run.error}", ""]
        evaluation = part.evaluation
        if evaluation is not None:
            out += [f"{prefix} Confusion matrix (test set)", ""]
            out += [
                f"{evaluation.samples:,} test samples; {evaluation.correct:,} right "
                f"({_ratio(evaluation.accuracy)}). Rows: true class; columns: predicted.",
                "",
            ]
            labels = list(evaluation.labels)
            rows = [
                [
                    name,
                    *(str(int(c)) for c in evaluation.matrix[i]),
                    _ratio(float(evaluation.recall[i])),
                ]
                for i, name in enumerate(labels)
            ]
            rows.append(["precision", *(_ratio(float(p)) for p in evaluation.precision), ""])
            out += _md_table(["true \\ predicted", *labels, "recall"], rows)
            out += [f"{prefix} Wrong predictions", ""]
            pictures = mistakes_of(evaluation)
            if not pictures:
                out += ["The model got every test sample right.", ""]
            for p in pictures:
                caption = f"#{p.index}: {p.true} → {p.predicted} ({p.probability:.2f})"
                if p.png is not None:
                    name = f"run{part.run.id}-mistake-{p.index}.png"
                    pngs[name] = p.png
                    out += [f"![{caption}]({files}/{name}) {caption}", ""]
                else:
                    out += [f"- {caption}"]
            out.append("")
        if part.run.model:
            layers = [
                layer for layer in part.run.model.get("layers") or [] if isinstance(layer, dict)
            ]
            out += [f"{prefix} Model", ""]
            out += _md_table(
                ["layer", "kind", "output shape", "parameters"],
                [
                    [
                        str(layer.get("name", "")),
                        str(layer.get("kind", "")),
                        str(layer.get("output_shape", "")),
                        f"{int(layer.get('params', 0) or 0):,}",
                    ]
                    for layer in layers
                ],
            )
        table = system_table(part)
        if table:
            out += [f"{prefix} System", ""]
            out += _md_table(["", "value"], table)
            for figure_name, fig in system_figures(part):
                name = f"run{part.run.id}-system-{figure_name}.png"
                pngs[name] = figure_png(fig)
                out += [f"![{figure_name}]({files}/{name})", ""]
        if part.missing:
            out += [f"{prefix} Not in this report", ""]
            out += [f"- {m}" for m in part.missing] + [""]
    return "\n".join(out).rstrip() + "\n", pngs
