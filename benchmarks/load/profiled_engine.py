"""A profiled flow-run process: run instead of ``python -m prefect.engine``.

Starts :mod:`cpu_profile`'s sampler before Prefect is imported, runs the engine as the process
worker's default command would, and writes the profile when the engine exits. ``make load``
gives this command (and ``QCSC_LOAD_PROFILE``) to the flow runs it profiles.
"""

from __future__ import annotations

import runpy

import cpu_profile  # this script's directory is sys.path[0]

cpu_profile.start()
try:
    runpy.run_module("prefect.engine", run_name="__main__", alter_sys=True)
finally:
    cpu_profile.finish()
