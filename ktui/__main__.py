"""``python -m ktui`` is the same as the ``ktui`` command."""

from __future__ import annotations

import sys

from ktui.cli import main

sys.exit(main())
