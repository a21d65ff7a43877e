"""Which Keras backend a run uses: TensorFlow, JAX or PyTorch.

Keras 3 reads its backend once, when ``keras`` is first imported: from the
``KERAS_BACKEND`` environment variable, else from the ``"backend"`` key of
``keras.json`` in ``$KERAS_HOME`` (or ``~/.keras``), else TensorFlow. ktui follows
the same rules and adds two choices of its own in front (``ktui run --backend`` or
the form's field, then a preset's ``backend`` key). When nobody chose, ktui takes the
first of TensorFlow, JAX and PyTorch that is installed, so a JAX-only environment
works without any configuration.

Keras writes a ``keras.json`` itself the first time it is imported, if there is
none, always with ``"backend": "tensorflow"`` (it writes it before it reads
``KERAS_BACKEND``). That file is nobody's choice: ktui recognises it — its text is
exactly what Keras writes (:data:`KERAS_WRITTEN`) — and treats it as no choice, so
the first installed backend still applies. A ``keras.json`` a person edited (any
change: another backend, another key, even a reformatting) is their choice and wins.

Plain Python: whether a backend is installed is decided with
:func:`importlib.util.find_spec`, which finds a package without importing it, so
nothing here loads Keras, TensorFlow, JAX or PyTorch.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ktui.core.errors import KtuiError

#: The backends ktui supports, in the order the default prefers them.
BACKENDS: tuple[str, ...] = ("tensorflow", "jax", "torch")

#: The package each backend's Python module comes from, and ktui's extra that installs it.
_EXTRAS = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}

#: Names people write for a backend, beside the ones Keras uses.
_ALIASES = {"tf": "tensorflow", "pytorch": "torch"}

#: :attr:`BackendChoice.source` when nobody chose and ktui took the first installed.
DEFAULT_SOURCE = "the first installed"

#: The settings Keras 3 writes to a new ``keras.json`` on its first import
#: (``keras/src/backend/config.py``: its defaults, written with ``indent=4`` and no
#: newline, before ``KERAS_BACKEND`` is applied).
KERAS_DEFAULTS = {
    "floatx": "float32",
    "epsilon": 1e-07,
    "backend": "tensorflow",
    "image_data_format": "channels_last",
}

#: The exact text of a ``keras.json`` that Keras wrote and nobody changed.
KERAS_WRITTEN = json.dumps(KERAS_DEFAULTS, indent=4)


def written_by_keras(text: str) -> bool:
    """Whether a ``keras.json``'s text is the one Keras writes by itself (no choice)."""
    return text == KERAS_WRITTEN


@dataclass(frozen=True)
class BackendChoice:
    """A backend and who chose it."""

    name: str
    """``tensorflow``, ``jax`` or ``torch``."""
    source: str
    """Where the choice came from, in words: ``--backend``, ``KERAS_BACKEND``,
    ``/home/me/.keras/keras.json``, or :data:`DEFAULT_SOURCE`."""


def normalize(name: str, *, where: str = "backend") -> str:
    """``name`` as Keras spells it; a :class:`KtuiError` names the choices otherwise."""
    lowered = name.strip().lower()
    lowered = _ALIASES.get(lowered, lowered)
    if lowered not in BACKENDS:
        raise KtuiError(
            f"{where}: unknown Keras backend {name!r}",
            hint=f"Choose one of {', '.join(BACKENDS)}.",
        )
    return lowered


def is_installed(name: str) -> bool:
    """Whether the backend's package can be imported here (without importing it)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        # A module in sys.modules with no spec (a stub, or None) answers ValueError.
        return False


def installed() -> tuple[str, ...]:
    """The supported backends that are installed here, in :data:`BACKENDS` order."""
    return tuple(name for name in BACKENDS if is_installed(name))


def keras_home(env: Mapping[str, str] | None = None) -> Path:
    """The folder Keras reads ``keras.json`` from: ``$KERAS_HOME``, else ``~/.keras``.

    Keras falls back to ``/tmp/.keras`` when the home folder is not writable; so does
    this, so both read the same file.
    """
    env = os.environ if env is None else env
    if env.get("KERAS_HOME"):
        return Path(env["KERAS_HOME"])
    base = Path(os.path.expanduser("~"))
    if not os.access(base, os.W_OK):
        base = Path("/tmp")
    return base / ".keras"


def configured(env: Mapping[str, str] | None = None) -> BackendChoice | None:
    """The backend the person configured for Keras itself (``KERAS_BACKEND``, then
    ``keras.json``), or None when neither says — and when ``keras.json`` is the file
    Keras wrote by itself (:func:`written_by_keras`). A value ktui does not support is
    returned as written: Keras would use it, so ktui reports it rather than overrule it."""
    env = os.environ if env is None else env
    value = env.get("KERAS_BACKEND", "").strip()
    if value:
        return BackendChoice(_ALIASES.get(value.lower(), value.lower()), "KERAS_BACKEND")
    path = keras_home(env) / "keras.json"
    try:
        text = path.read_text(encoding="utf-8")
        settings = json.loads(text)
    except (OSError, ValueError):
        return None  # Keras ignores a missing or unreadable keras.json too
    if written_by_keras(text):
        return None  # Keras's own first-import file: nobody chose TensorFlow
    backend = settings.get("backend") if isinstance(settings, dict) else None
    if isinstance(backend, str) and backend.strip():
        return BackendChoice(_ALIASES.get(backend.lower(), backend.lower()), str(path))
    return None


def choose(
    explicit: str | None = None,
    *,
    source: str = "--backend",
    env: Mapping[str, str] | None = None,
) -> BackendChoice:
    """The backend to use: ``explicit`` (from ``source``), else Keras's own setting,
    else the first installed of :data:`BACKENDS` (TensorFlow when none is installed,
    so that :func:`require` says how to install it)."""
    if explicit:
        return BackendChoice(normalize(explicit, where=source), source)
    chosen = configured(env)
    if chosen is not None:
        return chosen
    found = installed()
    return BackendChoice(found[0] if found else BACKENDS[0], DEFAULT_SOURCE)


def install_hint(name: str) -> str:
    """How to install a backend, for messages."""
    extra = _EXTRAS.get(name)
    if extra is None:
        return f"ktui supports {', '.join(BACKENDS)}."
    return f"Install it with `pip install 'ktui[{extra}]'` (or `pip install {extra}`)."


def require(choice: BackendChoice) -> BackendChoice:
    """``choice`` if ktui supports it and it is installed; else a :class:`KtuiError`
    that says who chose it and how to install it."""
    if choice.name not in BACKENDS:
        raise KtuiError(
            f"the Keras backend {choice.name!r} (from {choice.source}) is not one ktui supports",
            hint=f"Choose one of {', '.join(BACKENDS)} with --backend, KERAS_BACKEND or "
            "keras.json.",
        )
    if not is_installed(choice.name):
        if choice.source == DEFAULT_SOURCE:
            raise KtuiError(
                f"no Keras backend is installed (ktui looks for {', '.join(BACKENDS)})",
                hint="Install one: `pip install 'ktui[tensorflow]'`, `pip install 'ktui[jax]'` "
                "or `pip install 'ktui[torch]'`.",
            )
        raise KtuiError(
            f"the Keras backend {choice.name!r} (from {choice.source}) is not installed",
            hint=install_hint(choice.name),
        )
    return choice


def loaded() -> str | None:
    """The backend of the Keras already imported in this process, or None."""
    keras = sys.modules.get("keras")
    backend = getattr(getattr(keras, "backend", None), "backend", None)
    if not callable(backend):
        return None
    try:
        name = backend()
    except Exception:  # noqa: BLE001 - a half-imported Keras: as if not loaded
        return None
    return str(name) if name else None


def activate(choice: BackendChoice) -> BackendChoice:
    """Make ``choice`` the backend Keras loads in this process (``KERAS_BACKEND``).

    Only ktui's own processes call this (``ktui run``, the dashboard), before Keras is
    imported: a script using ``ktui.Dashboard`` keeps whatever the person set up.
    Once Keras is loaded its backend cannot change; asking for another is a
    :class:`KtuiError`.
    """
    require(choice)
    current = loaded()
    if current is not None:
        if current != choice.name:
            raise KtuiError(
                f"Keras is already loaded with the {current} backend in this process; "
                f"the {choice.name} backend (from {choice.source}) needs a process of its own",
                hint="Start the run in the background (ctrl+b in the form, or "
                f"`ktui run --backend {choice.name}`).",
            )
        return choice
    os.environ["KERAS_BACKEND"] = choice.name
    return choice


def current(env: Mapping[str, str] | None = None) -> str:
    """The backend this process uses or will use once Keras loads."""
    return loaded() or choose(env=env).name


def writer(name: str) -> str:
    """Who writes the fd-2 lines ktui captures on backend ``name``, for messages."""
    return {"tensorflow": "TensorFlow", "jax": "JAX (XLA)", "torch": "PyTorch"}.get(name, "Keras")


def recorded(versions: Mapping[str, str]) -> str:
    """A recorded run's backend and its version, e.g. ``jax 0.10.2`` (``—`` if unknown).

    Runs recorded before ktui knew backends have no ``backend`` entry; they ran on
    TensorFlow, whose version they list.
    """
    name = versions.get("backend") or ("tensorflow" if "tensorflow" in versions else "")
    if not name:
        return "—"
    version = versions.get(name)
    return f"{name} {version}" if version else name


#: The backends' short names, for a column that shows one per run.
SHORT_NAMES = {"tensorflow": "tf", "jax": "jax", "torch": "torch"}


def compact(recorded_text: str) -> str:
    """:func:`recorded`'s text for a narrow column: ``tf 2.21.0``, ``jax 0.10.2``,
    ``torch 2.13.0`` (a build suffix such as ``+cpu`` dropped)."""
    name, _, version = recorded_text.partition(" ")
    version = version.split("+", 1)[0]
    short = SHORT_NAMES.get(name, name)
    return f"{short} {version}" if version else short


def layout_note(backend: str, order: str | None) -> str | None:
    """What the backend does with images in ``order`` (``channels_first`` or
    ``channels_last``), when it is not simply run as it is; for the model view.

    From Keras 3's backends: TensorFlow pools channels last only, so Keras transposes
    channels-first images around each pooling layer (its convolution runs channels
    first); PyTorch works channels first, so there it is channels-last images that
    Keras transposes around each convolution and pooling; JAX (XLA) takes either.
    The cost per epoch on the reference machine is in the README (Performance).
    """
    if backend == "tensorflow" and order == "channels_first":
        return (
            "On TensorFlow, Keras transposes channels-first images to channels last and back "
            "around each pooling layer (TensorFlow pools channels last only); the "
            "convolution runs channels first. The README's Performance section says what "
            "that costs."
        )
    if backend == "torch" and order == "channels_last":
        return (
            "On PyTorch, Keras transposes channels-last images to channels first and back "
            "around each convolution and pooling layer (PyTorch works channels first)."
        )
    if backend == "jax" and order is not None:
        return f"On JAX, XLA runs {order.replace('_', ' ')} images as they are."
    return None
