"""Redacting a lock URL for logs and error messages.

Its own module so that the lock backends (`_pglock`) and the lock front end (`locking`) both use
it without importing each other.
"""

from __future__ import annotations

from urllib.parse import urlsplit


def redact_url(url: str) -> str:
    """Return ``url`` without its password (for logs and error messages)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<unparsable lock URL>"
    user = f"{parts.username}@" if parts.username else ""
    return f"{parts.scheme}://{user}{host}{port}{parts.path}"


__all__ = ["redact_url"]
