"""StderrCapture: what is written to fd 2 lands in the capture, not on the process's stderr.

Redirecting fd 2 inside pytest's own process would fight pytest's capturing, so the
redirecting tests run a small script in a child process and inspect its real stderr.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO_ROOT, child_env

from ktui.core.capture import StderrCapture

CHILD = textwrap.dedent(
    """
    import json, os, sys, warnings
    from pathlib import Path
    from ktui.core.capture import StderrCapture

    log = Path(sys.argv[1]) if len(sys.argv) > 1 else None
    cap = StderrCapture()
    seen = []
    cap.start(log)
    cap.start(log)  # idempotent
    active = cap.active
    cap.subscribe(seen.append)

    def broken(line):
        raise RuntimeError("a broken subscriber must not stop the capture")

    cap.subscribe(broken)
    os.write(2, b"from C: hello\\n")
    os.write(2, b"two\\nlines\\r\\n")
    sys.stderr.write("python sys.stderr line\\n")
    sys.stderr.flush()
    os.write(2, b"x" * 200_000 + b"\\n")  # more than a pipe holds: the reader must drain it
    warnings.warn("careful")
    print("ktui's own message", file=cap.terminal)
    os.write(2, b"no newline at the end")
    cap.stop()
    os.write(2, b"after stop\\n")
    print(json.dumps({
        "lines": cap.lines(), "seen": seen, "count": cap.line_count,
        "active": active, "after": cap.active,
    }))
    """
)


def _run_child(*args: str) -> tuple[dict[str, Any], str]:
    result = subprocess.run(
        [sys.executable, "-c", CHILD, *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=child_env(),
        cwd=REPO_ROOT,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout), result.stderr


def test_fd2_writes_land_in_the_capture_not_on_stderr(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "capture.log"
    report, stderr = _run_child(str(log))
    lines = report["lines"]
    assert isinstance(lines, list)
    expected = [
        "from C: hello",
        "two",
        "lines",
        "python sys.stderr line",
        "x" * 200_000,
    ]
    assert lines[: len(expected)] == expected
    assert lines[len(expected)].startswith("UserWarning: careful (")
    assert lines[-1] == "no newline at the end"
    assert report["count"] == len(lines) == 7
    assert report["seen"] == lines
    assert report["active"] is True and report["after"] is False

    # The real stderr got ktui's own message and what came after stop(), nothing else.
    assert stderr.splitlines() == ["ktui's own message", "after stop"]

    # Every captured line is also in the log file.
    assert log.read_text(encoding="utf-8").splitlines() == lines


def test_capture_without_a_log_file() -> None:
    report, stderr = _run_child()
    assert "from C: hello" in report["lines"]
    assert "from C" not in stderr


def test_lines_are_a_ring_buffer() -> None:
    capture = StderrCapture(max_lines=3)
    for i in range(5):
        capture.write_line(f"line {i}")
    assert capture.lines() == ["line 2", "line 3", "line 4"]
    assert capture.line_count == 5
    assert not capture.active


def test_unsubscribe() -> None:
    capture = StderrCapture()
    seen: list[str] = []
    undo = capture.subscribe(seen.append)
    capture.write_line("one")
    undo()
    undo()  # twice is harmless
    capture.write_line("two")
    assert seen == ["one"]


def test_terminal_follows_sys_stderr_when_not_capturing(monkeypatch: pytest.MonkeyPatch) -> None:
    capture = StderrCapture()
    replaced = io.StringIO()
    monkeypatch.setattr(sys, "stderr", replaced)
    print("message", file=capture.terminal)
    assert replaced.getvalue() == "message\n"
