"""Lets the local tests import their helpers (local_support, and aws_support it builds on) by name."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "aws"))
