"""The system panel: what the machine does while the run trains, with sparklines.

Fed one :class:`~ktui.core.system.SystemSample` at a time (:meth:`SystemPanel.add_sample`,
from the UI thread), it shows the training process's CPU and resident memory, the
machine's CPU and free memory, per GPU its utilisation and memory (with power and
temperature in its label), and the backend's own device memory, each with a
sparkline over the run. Without GPU figures it says why in one line.

Below :data:`EXPANDED_FROM_HEIGHT` terminal rows (so at 80×24) it collapses to one
line, the same compact line ``ktui run`` prints; from there it grows one row per
figure pair. The widget imports only the plain-Python sample types, never the store.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.events import Resize
from textual.widgets import Sparkline, Static

from ktui.core.system import (
    HISTORY,
    GpuSample,
    SystemSample,
    compact_line,
    format_bytes,
    format_pair,
)

__all__ = ["EXPANDED_FROM_HEIGHT", "SystemPanel"]

#: Terminal rows from which the panel shows its rows of sparklines; below it, one line
#: (at 24 rows the epoch table and charts need every row the screen has).
EXPANDED_FROM_HEIGHT = 32

_MIB = 2**20


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f}%"


class _Cell(Horizontal):
    """A label and a sparkline of one figure's history."""

    DEFAULT_CSS = """
    _Cell { width: 1fr; height: 1; padding: 0 1 0 0; }
    _Cell > Static { width: 32; height: 1; }
    _Cell#sys-device > Static { width: 52; }
    _Cell > Sparkline { width: 1fr; height: 1; }
    """

    def __init__(self, key: str) -> None:
        super().__init__(id=f"sys-{key}")
        self.key = key
        self.values: list[float] = []
        self.label: Text | str = ""

    def compose(self) -> ComposeResult:
        yield Static(self.label, classes="sys-label")
        yield Sparkline(list(self.values))

    def show(self, label: Text | str, value: float | None) -> None:
        """Set the label and append ``value`` (None leaves the line as it was)."""
        self.label = label
        if value is not None:
            self.values.append(value)
            del self.values[:-HISTORY]
        if self.is_mounted and self.children:
            self.query_one(Static).update(label)
            self.query_one(Sparkline).data = list(self.values)


class SystemPanel(Vertical):
    """CPU, memory and GPUs over the run; one line at 80×24, rows of sparklines above."""

    DEFAULT_CSS = """
    SystemPanel { height: auto; padding: 0 1; }
    SystemPanel > #sys-line { height: 1; }
    SystemPanel > .sys-row { height: 1; }
    SystemPanel > #sys-note { height: 1; color: $text-muted; }
    SystemPanel.-collapsed > .sys-row { display: none; }
    SystemPanel.-collapsed > #sys-note { display: none; }
    SystemPanel > #sys-note.-empty { display: none; }
    SystemPanel.-expanded > #sys-line { display: none; }
    """

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual's name
        super().__init__(id=id)
        self.latest: SystemSample | None = None
        self.estimate: int | None = None
        """The form's estimate of the memory a step needs, shown beside the real peak."""
        self._cells = {key: _Cell(key) for key in ("cpu", "machine-cpu", "rss", "free")}
        self._gpu_rows: set[int] = set()
        self._device_row = False
        self.add_class("-collapsed")

    def compose(self) -> ComposeResult:
        yield Static(Text("System: waiting for the first sample…", style="dim"), id="sys-line")
        cells = self._cells
        yield Horizontal(cells["cpu"], cells["machine-cpu"], classes="sys-row", id="sys-row-cpu")
        yield Horizontal(cells["rss"], cells["free"], classes="sys-row", id="sys-row-memory")
        yield Static("", id="sys-note", classes="-empty")

    def on_mount(self) -> None:
        self._fit(self.app.size.height)

    def on_resize(self, event: Resize) -> None:
        self._fit(self.app.size.height)

    def _fit(self, height: int) -> None:
        expanded = height >= EXPANDED_FROM_HEIGHT
        self.set_class(expanded, "-expanded")
        self.set_class(not expanded, "-collapsed")

    @property
    def collapsed(self) -> bool:
        """Whether the panel shows its one line only."""
        return self.has_class("-collapsed")

    # ------------------------------------------------------------------ data
    def ended(self) -> None:
        """The run is over: with no sample at all, say so instead of waiting."""
        if self.latest is None:
            self.query_one("#sys-line", Static).update(
                Text("System: no sample was recorded for this run", style="dim")
            )

    def add_samples(self, samples: Iterable[SystemSample]) -> None:
        """Add several samples (an attached run's recorded history), oldest first."""
        for sample in samples:
            self.add_sample(sample)

    def add_sample(self, sample: SystemSample) -> None:
        """Show ``sample`` and append it to the sparklines."""
        self.latest = sample
        line = Text("System  ", style="bold") + compact_line(sample)
        self.query_one("#sys-line", Static).update(line)
        self._cell("cpu").show(
            self._label("ktui CPU", _percent(sample.process_cpu)), sample.process_cpu
        )
        self._cell("machine-cpu").show(
            self._label("machine CPU", _percent(sample.machine_cpu)), sample.machine_cpu
        )
        rss = sample.process_rss
        self._cell("rss").show(
            self._label("ktui memory", "–" if rss is None else format_bytes(rss)),
            None if rss is None else rss / _MIB,
        )
        free, total = sample.memory_available, sample.memory_total
        self._cell("free").show(
            self._label("free", "–" if free is None or total is None else format_pair(free, total)),
            None if free is None else free / _MIB,
        )
        for gpu in sample.gpus:
            self._show_gpu(gpu)
        if sample.device_memory is not None:
            self._show_device(sample)
        note = self.query_one("#sys-note", Static)
        text = sample.gpu_note if not sample.gpus and sample.gpu_note else ""
        note.update(text)
        note.set_class(not text, "-empty")

    def _cell(self, key: str) -> _Cell:
        return self._cells[key]

    def _add_row(self, index: str, *keys: str) -> None:
        for key in keys:
            self._cells[key] = _Cell(key)
        row = Horizontal(*(self._cells[k] for k in keys), classes="sys-row", id=f"sys-row-{index}")
        self.mount(row, before=self.query_one("#sys-note"))

    @staticmethod
    def _label(name: str, value: str, extra: str = "") -> Text:
        text = Text.assemble((name, "bold"), " ", value)
        if extra:
            text.append(f" {extra}", style="dim")
        return text

    def _show_gpu(self, gpu: GpuSample) -> None:
        if gpu.index not in self._gpu_rows:
            self._gpu_rows.add(gpu.index)
            self._add_row(f"gpu{gpu.index}", f"gpu{gpu.index}", f"gpu{gpu.index}-memory")
        extra = " ".join(
            part
            for part in (
                f"{gpu.power_watts:.0f} W" if gpu.power_watts is not None else "",
                f"{gpu.temperature_c:.0f}°C" if gpu.temperature_c is not None else "",
            )
            if part
        )
        self._cell(f"gpu{gpu.index}").show(
            self._label(f"GPU{gpu.index}", _percent(gpu.utilization), extra), gpu.utilization
        )
        used, total = gpu.memory_used, gpu.memory_total
        self._cell(f"gpu{gpu.index}-memory").show(
            self._label(
                f"GPU{gpu.index} memory",
                "–" if used is None or total is None else format_pair(used, total),
            ),
            None if used is None else used / _MIB,
        )

    def _show_device(self, sample: SystemSample) -> None:
        if not self._device_row:
            self._device_row = True
            self._add_row("device", "device")
        current, peak = sample.device_memory, sample.device_memory_peak
        extra = "" if peak is None else f"peak {format_bytes(peak)}"
        if self.estimate is not None:
            extra += f" est. {format_bytes(self.estimate)}"
        self._cell("device").show(
            self._label(
                "device",
                "–" if current is None else format_bytes(current),
                extra.strip(),
            ),
            None if current is None else current / _MIB,
        )
