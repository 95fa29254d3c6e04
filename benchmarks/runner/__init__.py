"""The benchmark runner behind ``benchmarks/run.py``, one module per concern.

* :mod:`.config`: paths, sizes and the log line;
* :mod:`.environments`: the incumbent's and the qiskit 1.x virtualenvs;
* :mod:`.servers`: the Prefect server, the Runtime emulator and the workload process launcher;
* :mod:`.workloads`: one function per workload, returning its raw records;
* :mod:`.rows`: table rows, targets and verdicts computed from those records;
* :mod:`.session`: runs the selected workloads and collects rows, chart series and notes;
* :mod:`.report`: the Markdown table, the JSON dump, the chart and the docs update.
"""
