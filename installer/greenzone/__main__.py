"""`python -m greenzone` is the same as the `greenzone` command."""

from __future__ import annotations

import sys

from greenzone.cli import main

sys.exit(main())
