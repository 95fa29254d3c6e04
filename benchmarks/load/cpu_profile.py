"""A CPU profile of one flow-run process, by sampling every thread's own CPU clock.

``make load`` starts a profiled flow run with ``profiled_engine.py`` as its command: that
starts this sampler before anything else is imported, then runs ``prefect.engine`` as Prefect's
process worker would. Every ``INTERVAL`` seconds the sampler reads each Python thread's CPU
clock (``pthread_getcpuclockid``) and its stack (``sys._current_frames``), and books the CPU
the thread used since the last sample to what the stack shows at that moment:

- **imports**: the stack runs module-level code under ``importlib`` (booked also per package:
  the innermost module being executed or loaded, e.g. ``qiskit_aer`` when qiskit-ibm-runtime
  imports it; and inclusively, to every package whose import is under way on the stack);
- otherwise the innermost frame of a known package, searching outwards: **ours**
  (``qcsc_prefect``), **prefect**, **client** (``qiskit*``, ``rustworkx``); so numpy called by
  qiskit is the client's, pydantic called by Prefect is Prefect's, hashlib called by us is ours;
- **other**: no known package on the stack (the event loop, threading, stdlib alone).

Each booking also goes to a phase: **start-up** (process start until the flow function starts:
interpreter, Prefect engine, imports, pull steps, loading the flow), **flow** (the function's
body) and **teardown** (after it returns: result persistence, final state, shutdown).
``flows.py`` marks the two boundaries (:func:`mark`). CPU used before the sampler started
(the interpreter's own start-up) is booked as ``pre-sample``; CPU of threads that ended
between two samples is ``unsampled``; the sampler's own CPU is reported, never booked.

:func:`finish` writes one JSON file per process into the directory named by
``QCSC_LOAD_PROFILE``.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from types import CodeType, FrameType

ENV = "QCSC_LOAD_PROFILE"
INTERVAL = float(os.environ.get("QCSC_LOAD_PROFILE_INTERVAL", "0.005"))
CATEGORIES = ("pre-sample", "imports", "ours", "prefect", "client", "other", "unsampled")
_SITE = re.compile(r"[/\\]site-packages[/\\]([A-Za-z0-9_]+)")
_CLIENT = ("qiskit", "rustworkx", "symengine")
_IMPORT_FILES = ("<frozen importlib._bootstrap>", "<frozen importlib._bootstrap_external>")


def _package(filename: str) -> str:
    """The top-level package a source file belongs to ('' for the stdlib and scripts)."""
    if "qcsc_prefect" in filename:
        return "qcsc_prefect"
    match = _SITE.search(filename)
    return match.group(1) if match else ""


def _category(package: str) -> str | None:
    if package == "qcsc_prefect":
        return "ours"
    if package == "prefect":
        return "prefect"
    if package.startswith(_CLIENT):
        return "client"
    return None


def _importing(frame: FrameType) -> str:
    """The top-level package of the module importlib is finding or loading in ``frame``."""
    if frame.f_code.co_name in ("_find_and_load", "_find_and_load_unlocked", "_load_unlocked"):
        name = frame.f_locals.get("name") or getattr(frame.f_locals.get("spec"), "name", "")
        if isinstance(name, str) and name:
            return name.split(".")[0]
    return ""


class Sampler:
    """Books each thread's CPU to the category and phase its stack shows."""

    def __init__(self) -> None:
        self.started_wall = time.monotonic()
        self.before = time.process_time()  # interpreter start-up, before the sampler existed
        self.phase = "startup"
        self.booked: dict[str, Counter[str]] = {}
        self.imports: Counter[str] = Counter()
        self.imports_inclusive: Counter[str] = Counter()
        self.hot: dict[str, Counter[str]] = {"ours": Counter(), "prefect": Counter()}
        self.hot["client"] = Counter()
        self.under_ours: Counter[str] = Counter()
        self.seen: dict[int, float] = {}
        self.codes: dict[CodeType, tuple[str, str | None]] = {}
        self.threads_max = 0
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="cpu-profile", daemon=True)
        self.phase_marks: dict[str, float] = {"startup": 0.0}
        self.sampler_cpu = 0.0
        self.lock = threading.Lock()

    def start(self) -> None:
        """Start sampling; CPU the threads used before now stays in ``pre-sample``."""
        for ident in sys._current_frames():
            self.seen[ident] = self._cpu(ident) or 0.0
        self.thread.start()

    def _loop(self) -> None:
        own = threading.get_ident()
        while not self.stop_event.wait(INTERVAL):
            self.sample(own)
        self.sampler_cpu = time.thread_time()

    def _cpu(self, ident: int) -> float | None:
        try:  # not cached: a thread id can be reused by a new thread
            return time.clock_gettime(time.pthread_getcpuclockid(ident))
        except (OSError, OverflowError):
            return None

    def sample(self, own: int) -> None:
        """Book every thread's CPU since the last sample to its current stack."""
        with self.lock:
            self._sample(own)

    def _sample(self, own: int) -> None:
        frames = sys._current_frames()
        self.threads_max = max(self.threads_max, len(frames))
        for ident, frame in frames.items():
            if ident == own:
                continue
            now = self._cpu(ident)
            if now is None:
                continue
            before = self.seen.get(ident, 0.0)
            used = now - before if now >= before else now  # lower: a new thread, same id
            self.seen[ident] = now
            if used > 0:
                self._book(frame, used)

    def _code(self, code: CodeType) -> tuple[str, str | None]:
        known = self.codes.get(code)
        if known is None:
            package = _package(code.co_filename)
            known = self.codes[code] = (package, _category(package))
        return known

    def _book(self, frame: FrameType, used: float) -> None:
        category: str | None = None
        where = ""
        module = ""  # the innermost module body on the stack
        importing = ""
        imported = False
        chain: set[str] = set()  # every package being imported, outermost included
        ours = False
        current: FrameType | None = frame
        while current is not None:
            code = current.f_code
            package, known = self._code(code)
            if not module and code.co_name == "<module>":
                module = package or Path(code.co_filename).stem
            if code.co_filename in _IMPORT_FILES:
                imported = True
                name = _importing(current)
                chain.add(name)
                importing = importing or module or name
            if known is not None and category is None:
                category, where = known, f"{package}:{code.co_name}"
            ours = ours or known == "ours"
            current = current.f_back
        phase = self.booked.setdefault(self.phase, Counter())
        if importing or imported:
            importing = importing or "(import machinery)"
            phase["imports"] += used
            self.imports[importing] += used
            for name in chain - {""}:
                self.imports_inclusive[name] += used
            return
        phase[category or "other"] += used
        if category is not None:
            self.hot[category][where] += used
            if ours and category != "ours":
                self.under_ours[category] += used

    def finish(self) -> dict[str, Any]:
        """Stop sampling; return the profile (CPU-seconds per phase and category)."""
        self.stop_event.set()
        self.thread.join(timeout=2)
        sampler_cpu = self.sampler_cpu
        self.sample(self.thread.ident or 0)
        total = time.process_time()
        self.booked.setdefault("startup", Counter())["pre-sample"] += self.before
        booked = sum(sum(counter.values()) for counter in self.booked.values())
        unsampled = max(0.0, total - sampler_cpu - booked)
        self.booked.setdefault(self.phase, Counter())["unsampled"] += unsampled
        return {
            "pid": os.getpid(),
            "flow_run_id": os.environ.get("PREFECT__FLOW_RUN_ID"),
            "wall_s": round(time.monotonic() - self.started_wall, 3),
            "process_cpu_s": round(total, 3),
            "sampler_cpu_s": round(sampler_cpu, 3),
            "interval_s": INTERVAL,
            "threads_max": self.threads_max,
            "phase_wall_s": {k: round(v, 3) for k, v in self.phase_marks.items()},
            "phases": {k: _rounded(v) for k, v in self.booked.items()},
            "imports_by_package": _rounded(self.imports),
            "imports_inclusive": _rounded(self.imports_inclusive),
            "called_from_ours": _rounded(self.under_ours),
            "hot": {k: _rounded(Counter(dict(v.most_common(8)))) for k, v in self.hot.items()},
        }


def _rounded(counter: Counter[str]) -> dict[str, float]:
    return {key: round(value, 4) for key, value in counter.most_common()}


_SAMPLER: Sampler | None = None


def start() -> None:
    """Start sampling this process (once)."""
    global _SAMPLER
    if _SAMPLER is None:
        _SAMPLER = Sampler()
        _SAMPLER.start()


def mark(phase: str) -> None:
    """From now on, book CPU to ``phase`` (``flow`` or ``teardown``); no-op unless sampling."""
    if _SAMPLER is not None:
        _SAMPLER.sample(_SAMPLER.thread.ident or 0)  # close the previous phase's interval
        _SAMPLER.phase = phase
        _SAMPLER.phase_marks[phase] = round(time.monotonic() - _SAMPLER.started_wall, 3)


def finish() -> None:
    """Stop sampling and write the profile to ``$QCSC_LOAD_PROFILE/<pid>.json``."""
    if _SAMPLER is None or not os.environ.get(ENV):
        return
    profile = _SAMPLER.finish()
    directory = Path(os.environ[ENV])
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{os.getpid()}.json").write_text(json.dumps(profile, indent=1) + "\n")
