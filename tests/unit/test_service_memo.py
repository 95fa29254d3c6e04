"""The service and backend memos: built once per key, bounded, oldest forgotten first."""

from __future__ import annotations

from qcsc_prefect.integrations.qiskit._runtime.services import _OncePerKey


def test_each_key_is_built_once_and_the_oldest_is_forgotten_past_the_limit() -> None:
    builds: list[str] = []
    memo: _OncePerKey[str, str] = _OncePerKey(2)

    def get(key: str) -> str:
        return memo.get(key, lambda: builds.append(key) or key.upper())

    assert [get("a"), get("a"), get("b"), get("c")] == ["A", "A", "B", "C"]
    assert len(memo) == 2
    assert get("a") == "A"  # "a" was the oldest: forgotten, built again
    assert builds == ["a", "b", "c", "a"]


def test_a_failed_build_is_not_remembered() -> None:
    memo: _OncePerKey[str, str] = _OncePerKey(4)

    def fail() -> str:
        raise RuntimeError("service unreachable")

    try:
        memo.get("k", fail)
    except RuntimeError:
        pass
    assert memo.get("k", lambda: "built") == "built"
