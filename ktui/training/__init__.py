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
