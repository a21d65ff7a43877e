"""Is the process that records a run still alive? (pid, host and a start-time token)

A run's row keeps the pid, the host and a token of the process recording it; a run
whose process is gone is marked ``interrupted``, and only a live run can be steered.
A pid alone is not enough (pids are reused), so on Linux the token is the boot id and
the process's start time. Plain Python: no TensorFlow, Keras or Textual.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

#: Overrides the host name ktui records: for machines (containers, cloned VMs) that
#: share a host name, so each is told apart, and never mistaken for this one.
HOST_ENV = "KTUI_HOST"


def this_host() -> str:
    """The host name runs and sweep trials are recorded with (``$KTUI_HOST`` when set)."""
    return os.environ.get(HOST_ENV, "").strip() or socket.gethostname()


def _proc_stat(pid: int) -> tuple[str, str] | None:
    """(state, start time since boot) of a Linux process; ``None`` if unknown."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses; the rest follows the last ")".
    fields = text[text.rfind(")") + 2 :].split()
    if len(fields) < 20:
        return None
    return fields[0], fields[19]


def boot_id() -> str:
    """This boot of the machine (Linux), so a pid from before a reboot is never taken for alive."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def process_token(pid: int) -> str | None:
    """What tells this process from a later one that gets the same pid (Linux only)."""
    stat = _proc_stat(pid)
    boot = boot_id()
    return f"{boot}/{stat[1]}" if stat and boot else None


def process_alive(pid: int, token: str | None = None) -> bool:
    """Is process ``pid`` of this host still running (and the same one as ``token``)?"""
    if pid <= 0:
        return False
    if sys.platform == "win32":
        # os.kill(pid, 0) would terminate the process on Windows; never guess there.
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, as another user's process
    except OSError:
        return True
    stat = _proc_stat(pid)
    if stat is None:
        return True  # no /proc: the pid alone has to do
    if stat[0] in ("Z", "X"):
        return False  # a zombie is dead; only its parent has not reaped it yet
    return token is None or token == process_token(pid)


def recorded_alive(pid: int | None, host: str | None, token: str | None) -> bool:
    """Is the process recorded for a run alive? Another host's cannot be checked: yes."""
    return host != this_host() or process_alive(pid or 0, token)
