"""The service seam: every module that talks to qiskit-ibm-runtime lives in this folder.

A client upgrade lands here and nowhere else:

* `services`: building ``QiskitRuntimeService`` and backends (the only reader of a token);
* `native`: primitives, submitting, a job's status, result and metrics;
* `listing`: the service's job list, parsed once (tag lookups and the status poller);
* `translate`: the one table from upstream exceptions to the library's error tree;
* `pool`: the bounded client pool every blocking client call runs on;
* `poller`: the shared status poller, one per event loop and service connection.

Modules here import only each other and the package's bottom layer (`errors`, `jobs`,
`_logging`, and `blocks` for type hints); the import-linter contract checks it.
"""
