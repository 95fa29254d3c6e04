"""``python stack/stack.py up|down|status``: the same as ``python -m qcsc_stack``.

The stack is the package ``qcsc_stack`` beside this file (installed editable into ``.venv`` by
``make venv``); this script stays for the commands the docs show.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from qcsc_stack import main

raise SystemExit(main())
