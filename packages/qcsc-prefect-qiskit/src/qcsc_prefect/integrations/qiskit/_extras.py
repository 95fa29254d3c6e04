"""Optional dependencies: which extra gives which feature, and the error when one is missing.

The bare install talks to IBM Quantum (or the emulator) over HTTP. Two features need more:

* ``channel="local"`` simulates on the fake backends with ``qiskit-aer`` (extra ``local``);
* a PostgreSQL submit lock (``QISKIT_LOCK_URL=postgresql://...``) uses ``asyncpg``
  (extra ``postgres``; Prefect's own PostgreSQL support installs it too).

A third extra, ``prefect38``, keeps ``fastapi`` below 0.151 for users on Prefect 3.8, which
leaves it open (Prefect 3.9 bounds it itself); see docs/development.md.
"""

from __future__ import annotations

import importlib.util
import re
import sys
import warnings
from importlib import metadata
from typing import Final

from .errors import RuntimeConfigError

DISTRIBUTION: Final = "qcsc-prefect-qiskit"

#: The import name each extra provides, and what needs it.
EXTRAS: Final[dict[str, tuple[str, str]]] = {
    "local": ("qiskit_aer", 'channel="local" (simulation on the fake backends)'),
    "postgres": ("asyncpg", "a PostgreSQL submit lock"),
}


def has_extra(extra: str) -> bool:
    """Whether the module that ``extra`` installs can be imported here."""
    module, _ = EXTRAS[extra]
    if module in sys.modules:  # imported already, or blocked (``None``)
        return sys.modules[module] is not None
    return importlib.util.find_spec(module) is not None


def require_extra(extra: str) -> None:
    """Raise a :class:`RuntimeConfigError` naming ``extra`` when its module is missing.

    Raises:
        RuntimeConfigError: The module is not installed; nothing was submitted.
    """
    if has_extra(extra):
        return
    module, feature = EXTRAS[extra]
    raise RuntimeConfigError(
        f"{feature} needs the '{module}' package, which is not installed. Install the "
        f"'{extra}' extra: pip install '{DISTRIBUTION}[{extra}]'. Nothing was submitted."
    )


def warn_if_prefect38_without_fastapi_bound() -> None:
    """Warn when Prefect 3.8 sits beside a fastapi it cannot serve with (0.151 or newer)."""
    try:
        prefect = metadata.version("prefect")
        fastapi = metadata.version("fastapi")
    except metadata.PackageNotFoundError:
        return
    if _release(prefect)[:2] == (3, 8) and _release(fastapi)[:2] >= (0, 151):
        warnings.warn(
            f"Prefect {prefect} with fastapi {fastapi}: Prefect 3.8's server and client reads "
            "break on fastapi 0.151 or newer. Install the 'prefect38' extra "
            f"(pip install '{DISTRIBUTION}[prefect38]'), which keeps fastapi below 0.151, "
            "or upgrade to Prefect 3.9.",
            RuntimeWarning,
            stacklevel=2,
        )


def _release(version: str) -> tuple[int, ...]:
    """The leading numeric release of ``version`` (``"0.151.0rc1"`` -> ``(0, 151, 0)``)."""
    parts: list[int] = []
    for piece in version.split("."):
        match = re.match(r"\d+", piece)
        if match is None:
            break
        parts.append(int(match.group()))
        if match.end() < len(piece):  # a pre-release or local tail ends the release
            break
    return tuple(parts)
