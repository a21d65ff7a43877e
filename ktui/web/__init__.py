"""The dashboard in a browser: ``ktui serve`` (see :mod:`ktui.web.server`)."""
