"""The model preview process (ktui.core.preview, ktui.training.preview).

The dashboard asks a child process to build and summarise models, so loading
TensorFlow never holds its event loop. Real children here: one that summarises
``dummy_binary`` as Keras in this process does, one killed mid-request and replaced,
one whose stdin ends. Fake children (small scripts) for what a real one cannot be
made to do on cue: answer slowly (superseded requests), never answer (timeouts).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO_ROOT, child_env, make_app, run_python, wait_for
from fakes import SUMMARY, FakeTrainer

from ktui.core import backends
from ktui.core.errors import KtuiError
from ktui.core.events import ModelSummary
from ktui.core.presets import PresetCatalog, RunConfig, load_catalog, loads, shipped_presets_dir
from ktui.core.preview import (
    CHILD_MODULE,
    PreviewClosed,
    PreviewSuperseded,
    PreviewUnavailable,
    ProcessPreviewer,
    config_of,
    request_of,
    summary_of,
    summary_to_json,
)

CATALOG = load_catalog([shipped_presets_dir()])


def config(name: str = "dummy_binary", **values: Any) -> RunConfig:
    return CATALOG.presets[name].resolve(values)


def _json_round_trip(value: dict[str, Any]) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(json.dumps(value))
    return loaded


# --------------------------------------------------------------------------- protocol
@pytest.mark.parametrize("name", sorted(CATALOG.presets))
def test_a_request_carries_the_same_config_through_json(name: str) -> None:
    preset = CATALOG.presets[name]
    changed = {hp: spec.default for hp, spec in preset.hyperparameters.items()}
    batch = preset.hyperparameters.get("batch_size")
    if batch is not None:
        changed["batch_size"] = 7
    original = preset.resolve(changed, data="random")
    assert config_of(_json_round_trip(request_of(original))) == original


def test_a_preset_edited_in_memory_travels_as_its_text_not_its_file(tmp_path: Path) -> None:
    text = (shipped_presets_dir() / "dummy_binary.toml").read_text(encoding="utf-8")
    preset = loads(text.replace("units = 64", "units = 17", 1), source=str(tmp_path / "gone.toml"))
    original = preset.resolve()
    assert config_of(_json_round_trip(request_of(original))) == original


def test_a_summary_travels_through_json_unchanged() -> None:
    assert summary_of(_json_round_trip(summary_to_json(SUMMARY))) == SUMMARY


# --------------------------------------------------------------------------- the real child
@pytest.fixture(scope="module")
def previewer() -> Any:
    previewer = ProcessPreviewer()
    yield previewer
    previewer.close()


def test_the_preview_process_summarises_dummy_binary_as_keras_here_does(
    previewer: ProcessPreviewer,
) -> None:
    from ktui.training.engine import KerasTrainer  # Keras in this test process, to compare

    summary = previewer.describe(config("dummy_binary", units=48))
    assert summary == KerasTrainer(capture=None).describe(config("dummy_binary", units=48))
    assert summary.total_params == 20 * 48 + 48 + 48 * 48 + 48 + 48 + 1
    assert previewer.backend == backends.choose().name
    assert previewer.pid is not None and previewer.pid != os.getpid()


def test_a_model_keras_refuses_is_the_message_an_in_process_preview_gives(
    previewer: ProcessPreviewer,
) -> None:
    from ktui.training.engine import KerasTrainer

    text = (shipped_presets_dir() / "dummy_binary.toml").read_text(encoding="utf-8")
    # Valid as a preset (the loader cannot know), refused by Keras when built.
    reshape = 'type = "Reshape"\ntarget_shape = [7, 7]'
    broken = loads(
        text.replace('type = "Dropout"\nrate = "$dropout"', reshape, 1), source="broken.toml"
    )
    with pytest.raises(KtuiError) as here:
        KerasTrainer(capture=None).describe(broken.resolve())
    with pytest.raises(KtuiError) as there:
        previewer.describe(broken.resolve())
    assert str(there.value) == str(here.value)
    assert "The total size of the tensor must be unchanged" in str(there.value)


def test_a_child_killed_mid_request_fails_that_preview_and_the_next_one_works() -> None:
    previewer = ProcessPreviewer()
    try:
        outcome: list[BaseException | ModelSummary] = []

        def ask() -> None:
            try:
                outcome.append(previewer.describe(config()))
            except BaseException as exc:  # noqa: BLE001 - the test looks at it
                outcome.append(exc)

        asking = threading.Thread(target=ask)
        asking.start()
        deadline = time.monotonic() + 30
        while previewer.pid is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert previewer.pid is not None, "the preview process did not start"
        os.kill(previewer.pid, signal.SIGKILL)  # while it loads Keras for the request
        asking.join(60)
        assert len(outcome) == 1 and isinstance(outcome[0], KtuiError)
        message = str(outcome[0])
        assert "the model preview process stopped" in message
        assert "the next preview starts it again" in message
        assert "Traceback" not in message

        summary = previewer.describe(config("dummy_binary", units=8))
        assert summary.total_params == 20 * 8 + 8 + 8 * 8 + 8 + 8 + 1
        assert previewer.starts == 2
    finally:
        previewer.close()
    assert previewer.pid is None


def test_the_preview_process_exits_when_its_stdin_ends() -> None:
    """What happens when the dashboard dies: its end of the pipe closes."""
    child = subprocess.Popen(
        [sys.executable, "-m", CHILD_MODULE],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=child_env({"CUDA_VISIBLE_DEVICES": ""}),
        cwd=REPO_ROOT,
    )
    try:
        assert child.stdin is not None and child.stdout is not None
        request = {"id": 1, **request_of(config())}
        child.stdin.write(json.dumps(request) + "\n")
        child.stdin.flush()
        ready = json.loads(child.stdout.readline())
        answer = json.loads(child.stdout.readline())
        assert ready["ready"] is True
        assert answer["id"] == 1 and summary_of(answer["summary"]).total_params > 0
        child.stdin.close()
        assert child.wait(30) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


# --------------------------------------------------------------------------- fake children
FAKE_CHILD = """
import json, sys, time
from ktui.core.preview import summary_to_json
from fakes import SUMMARY
delay = float(sys.argv[1])
log = open(sys.argv[2], "a", buffering=1)
print(json.dumps({"ready": True, "backend": "fake"}), flush=True)
for line in sys.stdin:
    request = json.loads(line)
    log.write(f"{request['id']} {request['values']['units']}\\n")
    time.sleep(delay)
    print(json.dumps({"id": request["id"], "summary": summary_to_json(SUMMARY)}), flush=True)
"""


def fake_previewer(tmp_path: Path, delay: float, **options: Any) -> tuple[ProcessPreviewer, Path]:
    script = tmp_path / "fake_child.py"
    script.write_text(FAKE_CHILD, encoding="utf-8")
    seen = tmp_path / "seen.txt"
    env = child_env()
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), str(REPO_ROOT / "tests")])
    command = [sys.executable, str(script), str(delay), str(seen)]
    return ProcessPreviewer(command=command, env=env, **options), seen


def test_a_newer_request_of_the_same_channel_supersedes_a_waiting_one(tmp_path: Path) -> None:
    previewer, seen = fake_previewer(tmp_path, delay=0.5)
    results: dict[int, BaseException | ModelSummary] = {}

    def ask(units: int, channel: str) -> None:
        try:
            results[units] = previewer.describe(config(units=units), channel=channel)
        except BaseException as exc:  # noqa: BLE001 - the test looks at it
            results[units] = exc

    try:
        threads = []
        for units, channel in ((1, "presets"), (2, "presets"), (3, "presets"), (4, "form")):
            threads.append(threading.Thread(target=ask, args=(units, channel)))
            threads[-1].start()
            time.sleep(0.1)  # 1 is in flight when 2, 3 and 4 come
        for thread in threads:
            thread.join(20)
    finally:
        previewer.close()
    assert isinstance(results[1], ModelSummary)
    assert isinstance(results[2], PreviewSuperseded)  # nobody looks at it any more
    assert isinstance(results[3], ModelSummary)
    assert isinstance(results[4], ModelSummary)  # another channel: not superseded
    sent = [int(line.split()[1]) for line in seen.read_text().splitlines()]
    assert sorted(sent) == [1, 3, 4]


def test_a_child_that_never_answers_times_out_and_the_next_request_starts_another(
    tmp_path: Path,
) -> None:
    command = [sys.executable, "-c", "import time; time.sleep(60)"]
    previewer = ProcessPreviewer(command=command, start_timeout=1.0)
    try:
        for attempt in (1, 2):
            started = time.monotonic()
            with pytest.raises(KtuiError, match="did not load Keras within 1 s") as caught:
                previewer.describe(config())
            assert time.monotonic() - started < 10
            assert "the next preview starts it again" in str(caught.value)
            assert previewer.starts == attempt
            assert previewer.pid is None  # the stuck one was stopped
    finally:
        previewer.close()


def test_a_child_that_answers_late_times_out_per_request(tmp_path: Path) -> None:
    previewer, _ = fake_previewer(tmp_path, delay=3.0, answer_timeout=0.5)
    try:
        with pytest.raises(KtuiError, match="did not answer within 0 s|did not answer within 1 s"):
            previewer.describe(config())
    finally:
        previewer.close()


def test_a_child_that_cannot_start_is_a_one_line_message(tmp_path: Path) -> None:
    previewer = ProcessPreviewer(command=[str(tmp_path / "no-such-python"), "-m", CHILD_MODULE])
    try:
        with pytest.raises(KtuiError) as caught:
            previewer.describe(config())
    finally:
        previewer.close()
    assert str(caught.value).startswith("the model preview process could not start (")
    assert "No such file or directory; the next preview starts it again" in str(caught.value)
    assert "\n" not in str(caught.value)
    assert "Traceback" not in str(caught.value)


def test_a_child_whose_keras_does_not_load_says_so(tmp_path: Path) -> None:
    """A child that cannot import Keras (here: a Keras module that raises) answers
    with what went wrong instead of a traceback on the screen."""
    broken = tmp_path / "broken"
    (broken / "keras").mkdir(parents=True)
    (broken / "keras" / "__init__.py").write_text("raise ImportError('no keras here')\n")
    env = child_env()
    env["PYTHONPATH"] = os.pathsep.join([str(broken), str(REPO_ROOT)])
    previewer = ProcessPreviewer(env=env, log_path=tmp_path / "preview.log")
    try:
        with pytest.raises(KtuiError) as caught:
            previewer.describe(config())
    finally:
        previewer.close()
    assert "the model preview cannot load Keras: ImportError: no keras here" in str(caught.value)


def test_closing_fails_waiting_requests_and_stops_the_child(tmp_path: Path) -> None:
    previewer, _ = fake_previewer(tmp_path, delay=5.0)
    outcome: list[BaseException] = []

    def ask() -> None:
        try:
            previewer.describe(config())
        except BaseException as exc:  # noqa: BLE001 - the test looks at it
            outcome.append(exc)

    asking = threading.Thread(target=ask)
    asking.start()
    deadline = time.monotonic() + 20
    while previewer.pid is None and time.monotonic() < deadline:
        time.sleep(0.01)
    pid = previewer.pid
    assert pid is not None
    previewer.close()
    asking.join(10)
    assert previewer.pid is None
    with pytest.raises(PreviewClosed):
        previewer.describe(config())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert outcome and isinstance(outcome[0], KtuiError)


# --------------------------------------------------------------------------- the app
class RecordingPreviewer:
    """A :class:`~ktui.core.preview.Previewer` that answers at once and remembers."""

    def __init__(
        self, supersede: set[str] | None = None, unavailable: set[str] | None = None
    ) -> None:
        self.asked: list[tuple[str, str]] = []
        self.closed = False
        self.supersede = set(supersede or ())
        self.unavailable = set(unavailable or ())

    def describe(self, config: RunConfig, *, channel: str = "preview") -> ModelSummary:
        self.asked.append((config.preset.name, channel.split(":")[0]))
        if config.preset.name in self.supersede:
            self.supersede.discard(config.preset.name)
            raise PreviewSuperseded
        if config.preset.name in self.unavailable:
            self.unavailable.discard(config.preset.name)
            raise PreviewUnavailable("the model preview process stopped (exit code -9)")
        return SUMMARY

    def close(self) -> None:
        self.closed = True


async def test_the_screens_ask_the_previewer_until_keras_is_loaded_here(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(backends, "loaded", lambda: None)  # other tests may have loaded it
    previewer = RecordingPreviewer(supersede={"dummy_binary"})
    trainer = FakeTrainer()
    created: list[FakeTrainer] = []

    def factory() -> FakeTrainer:
        created.append(trainer)
        return trainer

    app = make_app(trainer_factory=factory, previewer=previewer)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: ("dummy_binary", "presets") in previewer.asked)
        # Superseded once (the person moved on): asked again when it is highlighted again.
        await pilot.press("down", "up")
        await wait_for(pilot, lambda: previewer.asked.count(("dummy_binary", "presets")) == 2)
        await pilot.press("enter")
        await wait_for(pilot, lambda: ("dummy_binary", "form") in previewer.asked)
        await pilot.press("f3")
        await wait_for(pilot, lambda: ("dummy_binary", "model") in previewer.asked)
        assert created == []  # no trainer (no Keras) in the UI's process for any of it
        assert not previewer.closed

        app.trainer()  # a run started here: Keras is loaded in this process now
        asked = len(previewer.asked)
        await pilot.press("escape", "f3")  # the model view again: built here, at once
        await wait_for(pilot, lambda: previewer.closed, what="the preview process closed")
        await app.workers.wait_for_complete()
        await wait_for(pilot, lambda: getattr(app.screen, "summary", None) == SUMMARY)
    assert len(previewer.asked) == asked
    assert app.previewer is None


async def test_the_preview_process_ends_with_the_app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backends, "loaded", lambda: None)
    previewer, _ = fake_previewer(tmp_path, delay=0.0)
    app = make_app(previewer=previewer)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: previewer.pid is not None, what="the preview process")
        pid = previewer.pid
        await app.workers.wait_for_complete()
    assert previewer.pid is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


async def test_a_preview_process_that_failed_is_one_line_and_asked_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(backends, "loaded", lambda: None)
    previewer = RecordingPreviewer(unavailable={"dummy_binary"})
    app = make_app(previewer=previewer)
    async with app.run_test(size=(120, 40)) as pilot:
        note = app.screen.query_one("#preview-note")
        await wait_for(pilot, lambda: "exit code -9" in str(note.render()))
        shown = str(note.render())
        assert shown.count("\n") == 0 and "the next preview starts it again" in shown
        await pilot.press("down", "up")  # back on it: the preview is asked for again
        await wait_for(pilot, lambda: "1,409 parameters" in str(note.render()))
    assert previewer.asked.count(("dummy_binary", "presets")) == 2


def test_the_app_uses_a_preview_process_with_the_real_trainer_only() -> None:
    from ktui.app import create_app

    catalog = PresetCatalog()
    real = create_app(catalog)
    assert isinstance(real.previewer, ProcessPreviewer)
    assert real.previewer.log_path is not None and real.previewer.log_path.name == "preview.log"
    real.previewer.close()
    assert create_app(catalog, trainer_factory=FakeTrainer).previewer is None


def test_enter_while_the_preview_loads_keras_opens_the_form_and_keras_stays_out() -> None:
    """The lead's finding: Enter right after start waited seconds on TensorFlow's import
    in a thread. Now the import is in the preview process: the UI's process never loads
    Keras, the key is handled, and the previews still come."""
    code = textwrap.dedent(
        """
        import asyncio, sys, time
        from ktui.core.presets import load_catalog, shipped_presets_dir
        from ktui.app import create_app

        async def drive(pilot):
            await pilot.pause()
            await asyncio.sleep(1.0)
            previewer = pilot.app.previewer
            assert previewer.pid is not None and previewer.backend is None, "not loading"
            await pilot.press("enter")
            assert type(pilot.app.screen).__name__ == "FormScreen"
            print("form while loading:", previewer.backend is None, flush=True)
            await pilot.press("f4")  # the key once reported lost while TensorFlow loaded
            print("sweep mode:", pilot.app.screen.sweep_mode, flush=True)
            await pilot.press("f4")
            deadline = time.monotonic() + 150
            derived = pilot.app.screen.query_one("#derived")
            while "counting" in str(derived.render()) and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            print("parameters:", str(derived.render()).split("Parameters")[-1].split()[0])
            print("keras here:", sorted({"tensorflow", "keras"} & set(sys.modules)))
            pilot.app.exit(0)

        app = create_app(load_catalog([shipped_presets_dir()]))
        app.run(headless=True, auto_pilot=drive)
        """
    )
    result = run_python(code, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert "form while loading: True" in lines
    assert "sweep mode: True" in lines
    # dummy_binary's defaults (Dense 64, Dense 64, Dense 1 on 20 inputs), counted by the child
    assert f"parameters: {20 * 64 + 64 + 64 * 64 + 64 + 64 + 1:,}" in lines
    assert "keras here: []" in lines
