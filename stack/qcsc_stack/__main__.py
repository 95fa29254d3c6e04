"""``python -m qcsc_stack up|down|status``."""

from .cli import main

raise SystemExit(main())
