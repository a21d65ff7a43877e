"""``ktui report``: a self-contained HTML (or Markdown) report of recorded runs.

One real training (``ktui run dummy_binary`` into a temporary store) is reported and
parsed back; the rest use runs recorded through the store's API (tests/runs_data.py).
"""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from conftest import run_ktui, run_python
from runs_data import SPECS, fill

from ktui.core.errors import KtuiError
from ktui.core.presets import load_catalog, shipped_presets_dir
from ktui.report import Report, collect, write_report
from ktui.report.charts import curve_figure
from ktui.report.collect import RunReport
from ktui.report.render import render_html
from ktui.store import RunStore

pytest.importorskip("matplotlib", reason="matplotlib is not installed (pip install 'ktui[report]')")

VOID = {"meta", "link", "img", "br", "hr", "input", "source", "col", "area", "base", "wbr"}


class Parsed(HTMLParser):
    """The parts of a report the tests look at, and every nesting mistake."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.svgs: list[dict[str, str | None]] = []
        self.figures: list[str | None] = []
        self.links: list[tuple[str, str]] = []
        self.images: list[str] = []
        self.diff_rows = 0
        self.text: list[str] = []
        self.doctype = False

    def handle_decl(self, decl: str) -> None:
        self.doctype = self.doctype or decl.lower() == "doctype html"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name, value in attrs:
            if name in ("src", "href") and value is not None:
                self.links.append((name, value))
        if tag == "svg" and not any(t == "svg" for t in self.stack):
            self.svgs.append(values)
        if tag == "figure" and values.get("class") == "chart":
            self.figures.append(values.get("data-metric"))
        if tag == "img":
            self.images.append(values.get("src") or "")
        if tag == "tr" and values.get("class") == "diff":
            self.diff_rows += 1
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value is not None:
                self.links.append((name, value))

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            if tag in self.stack:
                while self.stack and self.stack.pop() != tag:
                    pass
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        if not any(t in ("style", "svg") for t in self.stack):
            self.text.append(data)

    @property
    def words(self) -> str:
        return re.sub(r"\s+", " ", " ".join(self.text))


def parse(html: str) -> Parsed:
    parsed = Parsed()
    parsed.feed(html)
    parsed.close()
    assert parsed.doctype
    assert parsed.errors == []
    assert parsed.stack == []
    return parsed


def assert_self_contained(parsed: Parsed, html: str) -> None:
    for name, value in parsed.links:
        assert not value.startswith(("http://", "https://", "//")), (name, value)
    assert "https://" not in html and "<link" not in html and "<script" not in html
    for src in parsed.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with one real, tiny ``dummy_binary`` training (3 epochs)."""
    store = tmp_path_factory.mktemp("real") / "runs.sqlite"
    result = run_ktui("--store", str(store), "run", "dummy_binary", "--set", "epochs=3")
    assert result.returncode == 0, result.stderr
    return store


@pytest.fixture
def recorded(tmp_path: Path) -> Iterator[RunStore]:
    """Runs 1 to 6 of tests/runs_data.py (no predictions, curves with validation)."""
    store = RunStore(tmp_path / "runs.sqlite")
    fill(store, load_catalog([shipped_presets_dir()]))
    yield store
    store.close()


def test_the_report_of_a_real_run(real_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = run_ktui("--store", str(real_run), "report", "1", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert f"to {out}" in result.stdout
    html = out.read_text(encoding="utf-8")
    parsed = parse(html)
    assert_self_contained(parsed, html)
    # dummy_binary records loss and accuracy: one SVG chart each.
    assert parsed.figures == ["loss", "accuracy"]
    from ktui.store.system import read_samples, read_timings

    with RunStore(real_run) as store:
        run = store.get_run(1)
        epochs = store.epochs(1)
        samples = read_samples(store, 1)
        timings = read_timings(store, 1)
    # The run sampled its machine (its first sample comes 0.25 s in) and timed its
    # steps: the report draws them, CPU and memory over time and the wait per epoch.
    system = re.findall(r'<figure class="system" data-figure="([^"]+)">', html)
    assert samples and "cpu" in system and "memory" in system
    assert ("waiting" in system) == any(t.waiting_share is not None for t in timings)
    assert len(parsed.svgs) == 2 + len(system)
    words = parsed.words
    assert "Run 1 — dummy_binary" in words
    assert "Changed from the preset's defaults: epochs." in words
    # The final metrics, the confusion matrix and the model are the recorded ones.
    assert f"{epochs[-1].metrics['loss']:.4f}" in words
    assert "Confusion matrix (test set)" in words and "100 test samples" in words
    assert "Wrong predictions" in words and "The inputs are not images" in words
    assert run.model is not None
    for layer in run.model["layers"]:
        assert layer["name"] in words
    assert f"{run.model['total_params']:,} parameters" in words
    assert "Not in this report" not in words


def test_a_screenshot_of_the_report_in_chromium(real_run: Path, tmp_path: Path) -> None:
    from browser import chromium
    from selenium.webdriver.common.by import By

    out = tmp_path / "report.html"
    with RunStore(real_run) as store:
        write_report(store, [1], out)
    shot = tmp_path / "report.png"
    with chromium(1200, 1800) as driver:
        driver.get(out.as_uri())
        assert driver.find_element(By.TAG_NAME, "h1").text == "Run 1 — dummy_binary"
        charts = driver.find_elements(By.CSS_SELECTOR, "figure.chart svg")
        assert len(charts) == 2
        # Drawn, not just present: each chart has a real size on the page.
        for chart in charts:
            assert chart.size["width"] > 300 and chart.size["height"] > 150
        driver.save_screenshot(str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


def test_several_runs_show_what_differs(recorded: RunStore, tmp_path: Path) -> None:
    out = write_report(recorded, [1, 2, 3, 4], tmp_path / "four.html")
    html = out.read_text(encoding="utf-8")
    parsed = parse(html)
    assert_self_contained(parsed, html)
    assert parsed.figures == ["loss", "accuracy"]
    words = parsed.words
    assert "Runs 1, 2, 3, 4" in words
    # Runs 1-2 are dummy_binary, 3-4 mnist_mlp with other hyperparameters.
    assert "What differs:" in words and "units" in words and "learning_rate" in words
    assert parsed.diff_rows >= 2
    # Training solid and validation dashed, in each run's colour, in each chart.
    for svg_text in re.findall(r"<svg.*?</svg>", html, re.S):
        assert svg_text.count("stroke-dasharray") >= 4
        for label in ("run 1 training", "run 4 validation"):
            assert label in svg_text


def test_a_run_without_predictions_says_what_is_missing(recorded: RunStore, tmp_path: Path) -> None:
    out = write_report(recorded, [5], tmp_path / "failed.html")
    words = parse(out.read_text(encoding="utf-8")).words
    assert "Not in this report" in words
    assert "the run saved no predictions.npz" in words
    assert "Error: ValueError" in words  # run 5 failed; its error is shown


def test_tags_and_notes_where_the_store_has_them(recorded: RunStore) -> None:
    report = collect(recorded, [1])
    (part,) = report.runs
    assert part.tags == [] and part.notes == "" and part.samples == [] and part.timings == []
    assert "Tags and notes" not in render_html(report)
    with_notes = RunReport(
        run=part.run,
        epochs=part.epochs,
        evaluation=None,
        tags=["baseline", "<b>bold</b>"],
        notes="Lower lr next time.\n<script>alert(1)</script>",
    )
    html = render_html(dataclasses.replace(report, runs=[with_notes]))
    parsed = parse(html)
    assert "Tags and notes" in parsed.words and "baseline" in parsed.words
    assert "<script>" not in html and "&lt;script&gt;" in html and "&lt;b&gt;" in html


def test_markdown_with_png_files_beside_it(recorded: RunStore, tmp_path: Path) -> None:
    out = write_report(recorded, [1, 2], tmp_path / "two.md", "md")
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# Runs 1, 2\n")
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert links == ["two_files/curve-loss.png", "two_files/curve-accuracy.png"]
    for link in links:
        assert (tmp_path / link).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| **units** |" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["report", "99"], "no run 99 in"),
        (["report", "1", "98", "99"], "no runs 98, 99 in"),
        (["report", "one"], "'one' is not a run id"),
        (["report", "1", "1"], "run 1 is named twice"),
        (["report", "1", "-o", "/nonexistent/folder/r.html"], "the folder /nonexistent/folder"),
    ],
    ids=["unknown", "unknown-several", "not-a-number", "twice", "no-folder"],
)
def test_bad_input_is_a_clear_message(
    recorded: RunStore, args: list[str], message: str, tmp_path: Path
) -> None:
    result = run_ktui("--store", str(recorded.path), *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_an_output_that_cannot_be_written(recorded: RunStore, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    for target, message in (
        (blocker / "r.html", "does not exist"),  # its "folder" is a file
        (tmp_path, "it is a folder"),
    ):
        result = run_ktui("--store", str(recorded.path), "report", "1", "-o", str(target))
        assert result.returncode == 2
        assert f"cannot write the report to {target}" in result.stderr, result.stderr
        assert message in result.stderr
    # Nothing half-written is left behind.
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_missing_matplotlib_says_how_to_install_it(recorded: RunStore) -> None:
    code = (
        "import sys\nsys.modules['matplotlib'] = None\n"
        f"from ktui.cli import main\nsys.exit(main(['--store', {str(recorded.path)!r}, "
        "'report', '1']))"
    )
    result = run_python(code)
    assert result.returncode == 2
    assert "reports need matplotlib" in result.stderr
    assert "pip install 'ktui[report]'" in result.stderr


def test_the_report_package_loads_no_keras_tensorflow_or_textual() -> None:
    code = (
        "import sys, ktui.report, ktui.report.render, ktui.web.server, ktui.cli.serve, "
        "ktui.cli.report\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'tensorflow', 'keras', 'textual'}))"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


# What a fresh `ktui report` must not load: it reads the store and draws, so the UI,
# the training side, the system sampler, the sweep engine and presets, the recorder and
# the control channel are dead weight there (each cost the command line's start), and
# pyplot would go looking for a GUI toolkit.
NOT_FOR_A_REPORT = (
    "textual",
    "rich",
    "tensorflow",
    "keras",
    "psutil",
    "shtab",
    "matplotlib.pyplot",
    "ktui.app",
    "ktui.training",
    "ktui.cli.sweep",
    "ktui.cli.runs",
    "ktui.cli.run",
    "ktui.core.presets",
    "ktui.core.data",
    "ktui.core.sweep",
    "ktui.store.control",
    "ktui.store.recorder",
    "ktui.store.sweeps",
)


def test_ktui_report_loads_only_what_draws_the_report(recorded: RunStore, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    argv = ["--store", str(recorded.path), "report", "1", "2", "-o", str(out)]
    code = (
        f"import gc, json, sys\nfrom ktui.cli import main\ncode = main({argv!r})\n"
        "print(json.dumps({'code': code, 'gc': gc.isenabled(), 'modules': sorted(sys.modules)}))"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["code"] == 0 and out.is_file()
    modules = set(seen["modules"])
    # The check sees real imports: the report was drawn by matplotlib's SVG backend.
    assert {"matplotlib.figure", "matplotlib.backends.backend_svg", "ktui.store.db"} <= modules
    loaded = sorted(
        m for m in modules for heavy in NOT_FOR_A_REPORT if m == heavy or m.startswith(heavy + ".")
    )
    assert loaded == [], loaded
    assert seen["gc"] is True  # paused while the report is made, not after


@pytest.mark.parametrize("enabled", [True, False])
def test_the_garbage_collector_rests_while_a_report_is_made_and_is_as_it_was_after(
    recorded: RunStore, tmp_path: Path, enabled: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gc

    import ktui.report.render

    drawing: list[bool] = []

    def render(report: Report) -> str:
        drawing.append(gc.isenabled())
        return render_html(report)

    monkeypatch.setattr(ktui.report.render, "render_html", render)
    after: list[bool] = []
    original = gc.isenabled()
    try:
        if not enabled:
            gc.disable()
        write_report(recorded, [1], tmp_path / "r.html")
        after.append(gc.isenabled())
        with pytest.raises(KtuiError):
            write_report(recorded, [999], tmp_path / "r.html")
        after.append(gc.isenabled())
    finally:
        if original:
            gc.enable()
    assert drawing == [False]
    assert after == [enabled, enabled]


def test_chart_titles_sit_where_matplotlib_itself_would_put_them(recorded: RunStore) -> None:
    from ktui.report.charts import figure_svg, series_figure
    from ktui.report.render import curves_for

    report = collect(recorded, [1, 2])
    figures = [
        curve_figure("loss", curves_for(report, "loss")),
        series_figure("memory", [("process", [0.0, 1.0, 2.0], [1.0, None, 3.0])]),
    ]
    for fig in figures:
        fixed = figure_svg(fig)
        axes = fig.axes[0]
        axes.set_title(axes.get_title())  # no y: matplotlib places it, measuring the ticks
        assert figure_svg(fig) == fixed


assert len(SPECS) >= 5  # runs_data's runs 1-5 are used above


def test_wrong_predictions_of_images_are_inline_pngs(recorded: RunStore, tmp_path: Path) -> None:
    import numpy as np

    from ktui.core.insight import PREDICTIONS_FILE, Evaluation, Mistakes

    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(12, 28, 28)).astype(np.uint8)
    mistakes = Mistakes(
        index=np.arange(12) * 3,
        true=np.full(12, 7),
        predicted=np.full(12, 1),
        probability=np.linspace(0.99, 0.6, 12),
        images=images,
    )
    matrix = np.diag(np.full(10, 90)) + 1
    labels = tuple(f"digit {i}" for i in range(10))
    Evaluation(labels, matrix, mistakes, images_total=12).save(
        recorded.folder(3) / PREDICTIONS_FILE
    )
    html = write_report(recorded, [3], tmp_path / "digits.html").read_text(encoding="utf-8")
    parsed = parse(html)
    assert_self_contained(parsed, html)
    assert len(parsed.images) == 8  # the 8 most confident of the 12
    from PIL import Image

    first = base64.b64decode(parsed.images[0].split(",", 1)[1])
    with Image.open(io.BytesIO(first)) as picture:
        assert picture.size == (112, 112)  # 28×28, each pixel a 4×4 block
    words = parsed.words
    assert "8 of 12 wrong predictions" in words
    assert "#0: digit 7 → digit 1 (0.99)" in words
    assert "1,000 test samples" in words  # 10×90 right + 100 off the diagonal


def test_wrong_prediction_images_are_exact_pngs() -> None:
    from matplotlib.image import imread

    from ktui.report.charts import IMAGE_SCALE, image_png

    rng = np.random.default_rng(1)
    for pixels in (rng.random((28, 28)), rng.random((8, 6, 3))):
        png = image_png(pixels)
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        back = imread(io.BytesIO(png))  # decoded by Pillow, not by ktui
        expected = np.round(pixels * 255) / 255
        expected = np.repeat(np.repeat(expected, IMAGE_SCALE, axis=0), IMAGE_SCALE, axis=1)
        assert back.shape == expected.shape
        assert np.allclose(back, expected, atol=1e-6)
