#!/usr/bin/env python3
"""Set up ktui's environment on first use, then run ktui or its tests.

    python3 bootstrap.py ktui [ARGS...]    # start ktui (ARGS go to ktui)
    python3 bootstrap.py test [ARGS...]    # run the test suite (ARGS go to pytest)

Needs only Python 3.10+. The first call creates ``.venv`` beside this file and
installs ktui with TensorFlow, its default Keras backend, into it (a few minutes);
later calls reinstall only when ``pyproject.toml`` changed. ``KTUI_VENV`` puts the
environment elsewhere; ``KTUI_EXTRAS=jax`` (or ``torch``, ``gpu``; comma-separated)
installs other backends instead of TensorFlow.

The tests run in parallel processes (pytest-xdist, one test file per process at a
time): ``KTUI_TEST_WORKERS`` sets how many (default: the CPU count, at most 4;
``1`` runs them in this process, as plain pytest does). ARGS that choose ``-n``
themselves win.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("KTUI_VENV", ROOT / ".venv"))
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")


def ensure_environment(extras: str) -> None:
    """Create the venv and install ktui with ``extras`` unless already up to date."""
    stamp = VENV / f".ktui-installed{extras}"
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == wanted:
        return
    if not (BIN / "python").exists():
        print(f"bootstrap: creating {VENV}", file=sys.stderr)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print(f"bootstrap: installing ktui{extras} (first time: a few minutes)", file=sys.stderr)
    pip = [str(BIN / "python"), "-m", "pip", "--disable-pip-version-check"]
    subprocess.run([*pip, "install", "--quiet", "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "install", "--quiet", "-e", f"{ROOT}{extras}"], check=True)
    stamp.write_text(wanted)


def parallel(args: list[str]) -> list[str]:
    """pytest-xdist's options for the suite, unless ``args`` choose their own."""
    chosen = ("-n", "--numprocesses", "no:xdist")
    if any(a in chosen or a.startswith(("-n", "--numprocesses=")) for a in args):
        return []
    default = min(os.cpu_count() or 1, 4)
    workers = int(os.environ.get("KTUI_TEST_WORKERS", default) or default)
    # A file's tests share its module fixtures (one training, one server): keep them in
    # one process.
    return ["-n", str(workers), "--dist", "loadfile"] if workers > 1 else []


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("ktui", "test"):
        print(__doc__, file=sys.stderr)
        return 2
    command, rest = argv[0], argv[1:]
    # TensorFlow is an extra (a JAX or PyTorch user need not install it), and the
    # default here.
    backends = os.environ.get("KTUI_EXTRAS", "tensorflow").strip() or "tensorflow"
    if command == "ktui":
        ensure_environment(f"[{backends}]")
        args = [str(BIN / "ktui"), *rest]
    else:
        ensure_environment(f"[{backends},test]")
        args = [str(BIN / "python"), "-m", "pytest", *parallel(rest), *rest]
    if os.name == "nt":
        return subprocess.call(args, cwd=ROOT if command == "test" else None)
    if command == "test":
        os.chdir(ROOT)
    os.execv(args[0], args)
    return 0  # not reached


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except subprocess.CalledProcessError as exc:
        print(f"bootstrap: installing failed ({exc}); see the pip output above.", file=sys.stderr)
        sys.exit(1)
