"""The report of a sweep: its leaderboard, which hyperparameters mattered (importance),
parallel coordinates of its trials, and its best trial's curves.

Laid out like a run's report (:mod:`ktui.report.render`), whose pieces it reuses for
the best trial; HTML is self-contained, Markdown gets PNG files beside it.
"""

from __future__ import annotations

import math
from html import escape
from typing import Any

from ktui.core.format import format_metric, format_seconds
from ktui.core.sweep import format_param
from ktui.core.sweep_insight import EVALUATOR, parallel_coordinates
from ktui.report.charts import (
    ParallelLine,
    curve_figure,
    figure_png,
    figure_svg,
    importance_figure,
    parallel_figure,
)
from ktui.report.collect import Report, SweepReport, format_value
from ktui.report.render import _md_table, _time, curves_for, document_start, final_rows

FEW_TRIALS = 10
"""Below this many finished trials the importance is said to be a rough guide
(PED-ANOVA compares the best tenth of the trials with all of them)."""


def _objective(value: float | None) -> str:
    return "—" if value is None or not math.isfinite(value) else format_metric(value)


def settings_rows(report: SweepReport) -> list[tuple[str, str]]:
    """The sweep's facts: preset, what it varied, its settings, how it stands."""
    sweep = report.sweep
    s = sweep.settings
    counts: dict[str, int] = {}
    for row in report.rows:
        counts[row.state] = counts.get(row.state, 0) + 1
    states = ", ".join(f"{n} {state}" for state, n in counts.items())
    fixed = ", ".join(f"{k}={format_value(v)}" for k, v in sweep.spec.fixed.items()) or "—"
    duration = (
        format_seconds(sweep.ended_at - sweep.created_at) if sweep.ended_at is not None else "—"
    )
    best = report.best_trial
    return [
        ("preset", sweep.preset),
        ("status", sweep.status + (f" ({sweep.reason})" if sweep.reason else "")),
        ("varied", " ".join(p.describe() for p in sweep.spec.params) or "—"),
        ("fixed", fixed),
        ("objective", f"{s.objective} ({s.direction})"),
        (
            "trials",
            f"{'as many as the time allowed' if s.trials is None else s.trials} ({states})",
        ),
        *(
            [("time budget", format_seconds(s.time_budget))]
            if s.time_budget is not None
            else []
        ),
        ("sampler, pruner", f"{s.sampler}, {s.pruner}"),
        ("workers", str(s.workers)),
        ("started", _time(sweep.created_at)),
        ("duration", duration),
        (
            "best",
            "—"
            if best is None
            else f"{_objective(best.objective)} {s.objective}, trial {best.number}"
            + (f" (run {best.run_id})" if best.run_id is not None else ""),
        ),
    ]


def leaderboard(report: SweepReport) -> tuple[list[str], list[list[str]]]:
    """Headers and rows of the ranked trials (rank, trial, state, objective, epochs,
    run, each swept hyperparameter, why it was pruned or failed)."""
    names = [p.name for p in report.sweep.spec.params]
    headers = ["rank", "trial", "state", report.sweep.settings.objective, "epochs", "run"]
    headers += [*names, "reason"]
    rows: list[list[str]] = []
    for position, row in enumerate(report.rows, start=1):
        planned = f"/{row.epochs_planned}" if row.epochs_planned else ""
        scored = row.objective is not None and math.isfinite(row.objective)
        rows.append(
            [
                str(position) if scored else "—",
                str(row.number),
                row.state,
                _objective(row.objective),
                f"{row.epochs}{planned}" if row.state != "queued" else "—",
                "—" if row.run_id is None else str(row.run_id),
                *(format_value(row.params[n]) if n in row.params else "—" for n in names),
                row.reason or "",
            ]
        )
    return headers, rows


def importance_text(report: SweepReport) -> str:
    """One sentence: which evaluator, over how many trials, or why there are no figures."""
    imp = report.importance
    if not imp.values:
        return f"No importance: {imp.note}."
    caution = (
        f"; from only {imp.trials} finished trials, a rough guide"
        if imp.trials < FEW_TRIALS
        else ""
    )
    return (
        f"Optuna's get_param_importances with the {EVALUATOR} evaluator "
        f"(PedAnovaImportanceEvaluator), over the {imp.trials} finished trials{caution}."
    )


def parallel_chart(report: SweepReport) -> Any | None:
    """The parallel-coordinates figure (None with no trial that reached an objective)."""
    spec = report.sweep.spec
    if not spec.params:
        return None
    s = report.sweep.settings
    axes, polylines = parallel_coordinates(report.rows, spec.params, s.direction)
    if not polylines:
        return None
    states = {row.number: row.state for row in report.rows}
    lines = [
        ParallelLine(
            line.positions,
            line.shade if states.get(line.number) == "finished" else None,
            f"trial-{line.number}",
        )
        for line in polylines
    ]
    ticks: list[list[tuple[float, str]]] = []
    for axis, param in zip(axes, [*spec.params, None], strict=True):
        if param is not None and param.kind == "values" and len(param.values) > 2:
            # Every choice of a list, evenly spaced as the lines place them.
            count = len(param.values)
            ticks.append([(i / (count - 1), format_param(v)) for i, v in enumerate(param.values)])
        else:
            ticks.append([(0.0, axis.low), (1.0, axis.high)])
    # The last axis is the objective's: named after it.
    names = [a.name for a in axes[:-1]] + [s.objective]
    return parallel_figure(names, ticks, lines)


def _best_report(report: SweepReport) -> Report | None:
    if report.best is None:
        return None
    return Report([report.best], created_at=report.created_at, version=report.version)


def render_sweep_html(report: SweepReport) -> str:
    """The sweep's report as one HTML document that needs nothing but itself."""
    out = [
        *document_start(report.title, report.version, report.created_at),
        "<h2>Sweep</h2><table><tbody>",
    ]
    for label, text in settings_rows(report):
        out.append(f"<tr><th>{escape(label)}</th><td>{escape(text)}</td></tr>")
    out.append("</tbody></table>")

    headers, rows = leaderboard(report)
    out.append("<h2>Leaderboard</h2>")
    out.append(
        "<p>Finished trials first, by the objective (the best of their epochs), then pruned "
        "and stopped ones, then the rest.</p>"
    )
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    out.append(f'<table class="leaderboard"><thead><tr>{head}</tr></thead><tbody>')
    for row, trial in zip(rows, report.rows, strict=True):
        cls = ' class="diff"' if trial is report.best_trial else ""
        out.append(f"<tr{cls}>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>")
    out.append("</tbody></table>")

    out.append("<h2>Importance</h2>")
    out.append(f"<p>{escape(importance_text(report))}</p>")
    if report.importance.values:
        pairs = list(report.importance.values.items())
        out.append('<figure class="sweep-chart" data-chart="importance">')
        out.append(figure_svg(importance_figure(pairs)))
        out.append("</figure>")
        out.append('<table class="importance"><thead><tr><th>hyperparameter</th>')
        out.append('<th class="num">importance</th></tr></thead><tbody>')
        for name, share in pairs:
            out.append(f'<tr><th>{escape(name)}</th><td class="num">{share:.1%}</td></tr>')
        out.append("</tbody></table>")

    parallel = parallel_chart(report)
    out.append("<h2>Parallel coordinates</h2>")
    if parallel is None:
        out.append('<p class="missing">No trial reached an objective yet.</p>')
    else:
        out.append(
            "<p>One line per trial that reached an objective, through its value on each "
            "axis; finished trials coloured by the objective (brightest: best, at the "
            "top of its axis), pruned and stopped ones grey and dashed.</p>"
        )
        out.append('<figure class="sweep-chart" data-chart="parallel">')
        out.append(figure_svg(parallel))
        out.append("</figure>")

    best = _best_report(report)
    out.append("<h2>Best trial</h2>")
    if best is None:
        out.append('<p class="missing">No trial has finished yet, so there is no best trial.</p>')
    else:
        part = best.runs[0]
        top = report.best_trial
        number = top.number if top is not None else "?"

        out.append(
            f"<p>Trial {number}, run {part.run.id} ({escape(part.run.status)}); its whole "
            f"report: <code>ktui report {part.run.id}</code>.</p>"
        )
        groups = best.metric_groups()
        if groups:
            out.append('<div class="charts">')
            for metric in groups:
                fig = curve_figure(metric, curves_for(best, metric))
                out.append(f'<figure class="chart" data-metric="{escape(metric)}">')
                out.append(figure_svg(fig))
                out.append("</figure>")
            out.append("</div>")
            out.append("<table><thead><tr><th>metric</th><th>last epoch</th></tr></thead><tbody>")
            for name, cells in final_rows(best):
                out.append(
                    f'<tr><th>{escape(name)}</th><td class="num">{escape(cells[0])}</td></tr>'
                )
            out.append("</tbody></table>")
        else:
            out.append('<p class="missing">Its run recorded no epoch.</p>')

    if report.changes:
        out.append("<h2>History of changes</h2><ul>")
        for when, text in report.changes:
            out.append(f"<li>{escape(_time(when))}: {escape(text)}</li>")
        out.append("</ul>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def render_sweep_markdown(report: SweepReport, files: str) -> tuple[str, dict[str, bytes]]:
    """The sweep's report as Markdown and the PNG files it links to (in ``files``)."""
    pngs: dict[str, bytes] = {}
    out = [
        f"# {report.title}",
        "",
        f"A ktui {report.version} report, made {_time(report.created_at)}.",
        "",
        "## Sweep",
        "",
        *_md_table(["", "value"], [list(r) for r in settings_rows(report)]),
        "## Leaderboard",
        "",
    ]
    headers, rows = leaderboard(report)
    out += _md_table(headers, rows)
    out += ["## Importance", "", importance_text(report), ""]
    if report.importance.values:
        pairs = list(report.importance.values.items())
        pngs["importance.png"] = figure_png(importance_figure(pairs))
        out += [f"![importance]({files}/importance.png)", ""]
        out += _md_table(["hyperparameter", "importance"], [[n, f"{v:.1%}"] for n, v in pairs])
    parallel = parallel_chart(report)
    out += ["## Parallel coordinates", ""]
    if parallel is None:
        out += ["No trial reached an objective yet.", ""]
    else:
        pngs["parallel.png"] = figure_png(parallel)
        out += [f"![parallel coordinates]({files}/parallel.png)", ""]
    best = _best_report(report)
    out += ["## Best trial", ""]
    if best is None:
        out += ["No trial has finished yet, so there is no best trial.", ""]
    else:
        part = best.runs[0]
        out += [f"Run {part.run.id}; its whole report: `ktui report {part.run.id}`.", ""]
        for metric in best.metric_groups():
            name = f"best-{metric}.png"
            pngs[name] = figure_png(curve_figure(metric, curves_for(best, metric)))
            out += [f"![{metric}]({files}/{name})", ""]
        out += _md_table(["metric", "last epoch"], [[n, c[0]] for n, c in final_rows(best)])
    if report.changes:
        out += ["## History of changes", ""]
        out += [f"- {_time(when)}: {text}" for when, text in report.changes] + [""]
    return "\n".join(out).rstrip() + "\n", pngs
