"""The Keras training backend: the only package of ktui that imports TensorFlow/Keras.

Importing ``ktui.training`` itself stays cheap; Keras is imported by the modules
inside it, so ``from ktui.training import engine`` is the moment TensorFlow loads.
"""

from __future__ import annotations

import os

# Keras 3 picks its backend from this variable at import; ktui is built on TensorFlow.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
