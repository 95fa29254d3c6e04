"""Whether the client's ``POST /jobs`` reached the service in one HTTP attempt.

qiskit-ibm-runtime's session retries a ``POST /jobs`` by itself after a 5xx or a broken
connection, and a service that created the job before failing then holds two. The robust submit
looks its idempotency tag up after posting to cancel such a second job. When the post went
through on its first attempt, the client sent it once, and that lookup can find nothing the
client made: this module tells which case happened, from the client's own HTTP response
(urllib3 records the attempts it retried in ``response.raw.retries.history``).

A response hook is added to the connection's session; the outcome is kept per thread, since a
submission runs on one client-pool thread from its start to its end. Anything unexpected (no
hook, no retry record) reads as "unknown", and the caller looks the tag up as before.
"""

from __future__ import annotations

import threading
from typing import Any, Final
from urllib.parse import urlsplit

#: The attribute that marks a session whose job posts are watched.
_MARK: Final = "_qcsc_watches_posts"

_last: Final = threading.local()


def watch_posts(connection: Any) -> None:
    """Record, for each ``POST /jobs`` through ``connection``, whether it was sent once.

    ``connection`` is a qiskit-ibm-runtime ``RuntimeClient``; one without a requests session
    is left alone (its posts read as unknown). Idempotent.
    """
    session = getattr(connection, "_session", None)
    hooks = getattr(session, "hooks", None)
    if not isinstance(hooks, dict) or getattr(session, _MARK, False):
        return
    hooks.setdefault("response", []).append(_note_post)
    setattr(session, _MARK, True)


def _note_post(response: Any, *args: Any, **kwargs: Any) -> None:
    request = getattr(response, "request", None)
    if getattr(request, "method", None) != "POST":
        return
    if not urlsplit(str(getattr(request, "url", ""))).path.endswith("/jobs"):
        return
    history = getattr(getattr(getattr(response, "raw", None), "retries", None), "history", None)
    _last.sent_once = isinstance(history, tuple) and not history


def forget_last_post() -> None:
    """Clear this thread's record (call right before posting)."""
    _last.sent_once = None


def last_post_sent_once() -> bool:
    """Whether this thread's last ``POST /jobs`` was sent once; ``False`` when not known."""
    return getattr(_last, "sent_once", None) is True


__all__ = ["forget_last_post", "last_post_sent_once", "watch_posts"]
