"""Small statistics and time helpers for the table cells."""

from __future__ import annotations

import datetime as dt
import statistics


def med(values: list[float]) -> float:
    """Median, or NaN for no values."""
    return statistics.median(values) if values else float("nan")


def spread(values: list[float], scale: float = 1.0, digits: int = 0) -> str:
    """``median [min-max]`` of ``values`` times ``scale``; the median alone for one value."""
    if not values:
        return "n/a"
    fmt = f"{{:.{digits}f}}"
    middle = fmt.format(med(values) * scale)
    if len(values) == 1:
        return middle
    low = fmt.format(min(values) * scale)
    high = fmt.format(max(values) * scale)
    return f"{middle} [{low}\u2013{high}]"


def parse_time(text: str | None) -> float | None:
    """Seconds since the epoch of an ISO time from the emulator, or ``None``."""
    if not text:
        return None
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
