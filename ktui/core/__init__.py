"""The plain-Python core of ktui: presets, data, events and controls.

Nothing under ``ktui.core`` imports Textual, TensorFlow or Keras, so the UI and the
command line can load presets and describe data instantly.
"""
