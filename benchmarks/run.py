"""`make bench`: native Qiskit vs this library vs the incumbent, on one emulator, in one run.

Usage::

    .venv/bin/python benchmarks/run.py [--quick] [--only 1,3,7] [--no-install] [--update-docs]

What it does:

1. Creates (once; a stamp file records what was installed) ``benchmarks/.venv-incumbent`` with
   ``qcsc-prefect-qiskit==0.3.0`` under the project's ``constraints.txt`` (same pins as ours), and
   ``benchmarks/.venv-qiskit1`` with qiskit 1.x for the cross-version load of workload 6.
2. Starts ONE Prefect server (``prefect server start``, SQLite, temporary home) and ONE Runtime
   emulator (``qcsc-runtime-emulator serve --noise none --latency 0.04``) for the whole run.
3. Runs every workload in fresh processes (``benchmarks/workloads/*.py``): native and ours with
   this interpreter, the incumbent with its venv's interpreter; several repetitions each.
4. Prints a Markdown table (median and [min-max] over repetitions, ratios, target, verdict),
   writes it to ``benchmarks/results/latest.md``, the raw numbers to ``latest.json``
   (git-ignored) and a chart of the timing rows to ``latest.png`` (needs matplotlib; skipped with
   a message otherwise). ``--update-docs`` also refreshes the table in ``docs/performance.md``.

``--quick`` uses tiny sizes and one repetition (the smoke test); it implies ``--no-install``:
missing venvs are reported, not created. Absolute times on a shared 2-core machine are noisy;
compare the ratios measured within one run.

The work is done by the ``runner`` package next to this file, one module per concern.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from runner import environments, report
from runner.config import ALL_WORKLOADS, QUICK, RESULTS, Sizes, log
from runner.servers import Runner, emulator, prefect_server
from runner.session import Session, run_selected


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, 1 repetition")
    parser.add_argument("--only", default=ALL_WORKLOADS, help="workloads to run, e.g. 1,3")
    parser.add_argument("--no-install", action="store_true", help="do not create missing venvs")
    parser.add_argument("--no-incumbent", action="store_true", help="skip the incumbent")
    parser.add_argument("--out", type=Path, default=RESULTS, help="directory for latest.*")
    parser.add_argument("--update-docs", action="store_true", help="refresh docs/performance.md")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Prepare the venvs, start the servers, run the workloads, write and print the report."""
    args = parse_args(argv)
    started = time.monotonic()
    sizes: Sizes = QUICK if args.quick else Sizes()
    only = {part.strip() for part in args.only.split(",") if part.strip()}
    install = not (args.quick or args.no_install)
    envs = environments.prepare(install, not args.no_incumbent, "6" in only)
    setup = time.monotonic() - started
    with tempfile.TemporaryDirectory(prefix="qcsc-bench-") as tmp_name:
        tmp = Path(tmp_name)
        log("starting one Prefect server and one Runtime emulator (--noise none, 40 ms latency)")
        with prefect_server(tmp) as api_url, emulator(tmp) as emu:
            session = Session(Runner(tmp, api_url, emu, envs.pythons), sizes, envs)
            session.raw.update(sizes=sizes.__dict__, libs=envs.libs)
            session.notes += envs.notes
            run_selected(session, only, args.out / "logs" if args.quick else None)
    total = time.monotonic() - started
    markdown = report.page(session.rows, session.notes, quick=args.quick, total=total, setup=setup)
    report.write(args.out, markdown, session.raw, session.series, envs.libs)
    if args.update_docs:
        report.update_docs(markdown.split("\n", 2)[2])
    log(f"done in {total / 60:.1f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
