"""The Keras training backend: the only package of ktui that imports Keras.

Importing ``ktui.training`` itself stays cheap; Keras is imported by the modules
inside it, so ``from ktui.training import engine`` is the moment Keras (and its
backend: TensorFlow, JAX or PyTorch) loads.

Nothing here chooses Keras's backend. ``from ktui import Dashboard`` in a person's
script must train on whatever their ``KERAS_BACKEND`` or ``keras.json`` says, so
only ktui's own processes (``ktui run``, the dashboard) set one, through
:func:`ktui.core.backends.activate`, before Keras is imported.
"""

from __future__ import annotations

import os

# GPU hygiene: TensorFlow and JAX take (nearly) all of a GPU's memory at their first
# use unless told otherwise, so a model preview or a second run would starve the
# others. Both read these variables when they first touch the GPU, so setting them
# here, before any module of this package imports Keras, is early enough. A value the
# person set is kept; KTUI_MEMORY_GROWTH=0 keeps the frameworks' own defaults.
if os.environ.get("KTUI_MEMORY_GROWTH", "1") != "0":
    os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
