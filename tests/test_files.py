"""Owner-only folders: ktui's own are tightened, a shared one is never touched."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ktui.core.capture import StderrCapture
from ktui.core.files import private_dir


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_an_existing_folder_of_ktuis_is_made_owner_only(tmp_path: Path) -> None:
    folder = tmp_path / "runs"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)
    private_dir(folder)
    assert _mode(folder) == 0o700
    private_dir(folder / "new" / "deeper")
    assert _mode(folder / "new" / "deeper") == 0o700


def test_a_shared_sticky_folder_like_tmp_is_left_as_it_is(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    private_dir(shared)
    assert _mode(shared) == 0o1777


def test_a_log_file_in_a_shared_folder_does_not_lock_others_out(tmp_path: Path) -> None:
    shared = tmp_path / "tmp"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    capture = StderrCapture()
    capture.start(shared / "ktui.log")
    try:
        os.write(2, b"a line from C++\n")
    finally:
        capture.stop()
    assert _mode(shared) == 0o1777
    assert _mode(shared / "ktui.log") == 0o600
    assert "a line from C++" in (shared / "ktui.log").read_text()
