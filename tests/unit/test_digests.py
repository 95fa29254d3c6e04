"""Input digests: exact, canonical, stable across processes, non-mutating, validated."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import textwrap
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prefect import flow
from qiskit.circuit import ClassicalRegister, Parameter, ParameterVector, QuantumCircuit
from qiskit.primitives.containers import BindingsArray, SamplerPub
from qiskit.quantum_info import SparsePauliOp
from qiskit_ibm_runtime.options import EstimatorOptions, SamplerOptions

from qcsc_prefect.integrations.qiskit.digests import (
    DIGEST_SCHEMA,
    build_qiskit_estimator_input_digest,
    build_qiskit_sampler_input_digest,
    is_input_digest,
    repeated_digest,
)
from qcsc_prefect.integrations.qiskit.errors import InvalidInputError

GLOBAL: dict[str, Any] = {"backend_name": "ibm_fez", "cache_scope": "global"}


def bell() -> QuantumCircuit:
    circuit = QuantumCircuit(2, name="bell")
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure_all()
    return circuit


def ansatz(num_qubits: int = 3) -> QuantumCircuit:
    theta = ParameterVector("θ", 2 * num_qubits)
    phi = Parameter("φ")
    circuit = QuantumCircuit(num_qubits)
    for q in range(num_qubits):
        circuit.ry(theta[q], q)
        circuit.rz(2 * theta[num_qubits + q] + phi, q)
    for q in range(num_qubits - 1):
        circuit.cz(q, q + 1)
    circuit.measure_all()
    return circuit


def sampler_digest(pubs: Any, **kwargs: Any) -> str:
    return build_qiskit_sampler_input_digest(pubs, **{**GLOBAL, **kwargs})


def estimator_digest(pubs: Any, **kwargs: Any) -> str:
    return build_qiskit_estimator_input_digest(pubs, **{**GLOBAL, **kwargs})


VALUES = np.linspace(0.0, 1.0, 4 * 7).reshape(4, 7)
OBSERVABLES = [SparsePauliOp.from_list([("XZI", 0.5), ("YYZ", -1.25)]), "ZZZ"]


def estimator_circuit() -> QuantumCircuit:
    circuit = ansatz()
    circuit.remove_final_measurements()
    return circuit


# ------------------------------------------------------------------------------------ shape


def test_digest_is_64_lowercase_hex_and_deterministic() -> None:
    first = sampler_digest([bell()], shots=100)
    assert is_input_digest(first)
    assert first == sampler_digest([bell()], shots=100)
    assert DIGEST_SCHEMA.endswith("v1")


def test_golden_digest_of_a_bell_circuit() -> None:
    # A deliberate change of the digest layout must bump DIGEST_SCHEMA and this value.
    assert sampler_digest([bell()], shots=100) == GOLDEN_BELL


GOLDEN_BELL = "aba44ee864c3fd00e1543392c6da13ca06b63ccb6b1c7f02703595a692d2cb75"


def test_equal_but_distinct_objects_give_equal_digests() -> None:
    values = VALUES.copy()
    assert sampler_digest([(ansatz(), VALUES)]) == sampler_digest([(ansatz(), values)])
    assert sampler_digest([(ansatz(), VALUES)]) == sampler_digest(
        [SamplerPub.coerce((ansatz(), VALUES))]
    )


def test_circuit_name_and_metadata_are_not_part_of_the_identity() -> None:
    renamed = bell()
    renamed.name = "something-else"
    renamed.metadata = {"note": "ignored"}
    assert sampler_digest([renamed]) == sampler_digest([bell()])


def test_bindings_grouping_is_canonical() -> None:
    circuit = ansatz()
    names = [p.name for p in circuit.parameters]
    split = BindingsArray.coerce({tuple(names[:3]): VALUES[:, :3], tuple(names[3:]): VALUES[:, 3:]})
    assert sampler_digest([(circuit, split)]) == sampler_digest([(circuit, VALUES)])


# ------------------------------------------------------------------------------ sensitivity


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(index=st.tuples(st.integers(0, 3), st.integers(0, 6)), delta=st.sampled_from([1e-12, 0.5]))
def test_changing_any_parameter_value_changes_the_digest(
    index: tuple[int, int], delta: float
) -> None:
    changed = VALUES.copy()
    changed[index] += delta
    assert sampler_digest([(ansatz(), changed)]) != sampler_digest([(ansatz(), VALUES)])


def test_negative_zero_and_shape_of_values_matter() -> None:
    circuit = ansatz()
    zeros = np.zeros((2, 7))
    negative = zeros.copy()
    negative[1, 1] = -0.0
    assert sampler_digest([(circuit, zeros)]) != sampler_digest([(circuit, negative)])
    assert sampler_digest([(circuit, np.zeros((2, 7)))]) != sampler_digest(
        [(circuit, np.zeros((1, 2, 7)))]
    )


@settings(max_examples=20, deadline=None)
@given(term=st.integers(0, 1), coefficient=st.floats(-10, 10, allow_nan=False))
def test_changing_any_observable_coefficient_changes_the_digest(
    term: int, coefficient: float
) -> None:
    labels = [("XZI", 0.5), ("YYZ", -1.25)]
    base = estimator_digest([(estimator_circuit(), [SparsePauliOp.from_list(labels)], VALUES)])
    if coefficient == labels[term][1]:
        return
    labels[term] = (labels[term][0], coefficient)
    changed = estimator_digest([(estimator_circuit(), [SparsePauliOp.from_list(labels)], VALUES)])
    assert changed != base


def test_observable_forms_and_shapes() -> None:
    circuit = estimator_circuit()
    as_op = estimator_digest([(circuit, SparsePauliOp("ZZZ"), VALUES)])
    assert as_op == estimator_digest([(circuit, "ZZZ", VALUES)])
    assert as_op == estimator_digest([(circuit, {"ZZZ": 1.0}, VALUES)])
    assert as_op != estimator_digest([(circuit, "ZZX", VALUES)])
    assert as_op != estimator_digest([(circuit, ["ZZZ"], VALUES[None, :, :])])  # shape (1,)
    # Term order inside one observable does not matter; labels and coefficients do.
    assert estimator_digest(
        [(circuit, SparsePauliOp.from_list([("XZI", 0.5), ("YYZ", -1.25)]), VALUES)]
    ) == estimator_digest(
        [(circuit, SparsePauliOp.from_list([("YYZ", -1.25), ("XZI", 0.5)]), VALUES)]
    )


def test_shots_precision_none_and_per_pub_values_are_distinct() -> None:
    pubs = [(ansatz(), VALUES)]
    digests = {
        sampler_digest(pubs),
        sampler_digest(pubs, shots=100),
        sampler_digest(pubs, shots=101),
        sampler_digest([(ansatz(), VALUES, 100)]),
        sampler_digest([(ansatz(), VALUES, 100)], shots=100),
    }
    assert len(digests) == 5
    epubs = [(estimator_circuit(), OBSERVABLES[1], VALUES)]
    edigests = {
        estimator_digest(epubs),
        estimator_digest(epubs, precision=0.2),
        estimator_digest(epubs, precision=0.1),
        estimator_digest([(*epubs[0], 0.2)]),
    }
    assert len(edigests) == 4


def test_settings_each_change_the_digest() -> None:
    pubs = [bell()]
    base = sampler_digest(pubs, shots=100)
    variants = [
        sampler_digest(pubs, shots=100, backend_name="ibm_torino"),
        sampler_digest(pubs, shots=100, channel="ibm_quantum_platform"),
        sampler_digest(pubs, shots=100, instance="crn:v1:a"),
        sampler_digest(pubs, shots=100, instance="crn:v1:b"),
        sampler_digest(pubs, shots=100, options={"default_shots": 100}),
        sampler_digest(pubs, shots=100, cache_scope="flow", flow_name="one"),
        sampler_digest(pubs, shots=100, cache_scope="flow", flow_name="two"),
    ]
    assert len({base, *variants}) == len(variants) + 1


def test_primitive_is_part_of_the_identity() -> None:
    circuit = QuantumCircuit(1)
    circuit.h(0)
    sampler = sampler_digest([circuit])
    estimator = estimator_digest([(circuit, "Z")])
    assert sampler != estimator


def test_flow_scope_ignores_flow_name_for_global() -> None:
    assert sampler_digest([bell()], flow_name="a") == sampler_digest([bell()], flow_name="b")


# ---------------------------------------------------------------------------------- options


def test_options_dict_is_order_independent_and_nested() -> None:
    a = {"dynamical_decoupling": {"enable": True, "sequence_type": "XX"}, "default_shots": 10}
    b = {"default_shots": 10, "dynamical_decoupling": {"sequence_type": "XX", "enable": True}}
    assert sampler_digest([bell()], options=a) == sampler_digest([bell()], options=b)
    c = {"default_shots": 10, "dynamical_decoupling": {"sequence_type": "XY4", "enable": True}}
    assert sampler_digest([bell()], options=a) != sampler_digest([bell()], options=c)


@settings(max_examples=15, deadline=None)
@given(shots=st.integers(1, 10_000), enable=st.booleans())
def test_runtime_options_objects_are_canonical(shots: int, enable: bool) -> None:
    options = SamplerOptions()
    options.default_shots = shots
    options.dynamical_decoupling.enable = enable
    same = SamplerOptions(default_shots=shots, dynamical_decoupling={"enable": enable})
    assert sampler_digest([bell()], options=options) == sampler_digest([bell()], options=same)
    other = SamplerOptions(default_shots=shots + 1, dynamical_decoupling={"enable": enable})
    assert sampler_digest([bell()], options=options) != sampler_digest([bell()], options=other)


def test_estimator_options_object_is_accepted() -> None:
    circuit = estimator_circuit()
    pubs = [(circuit, "ZZZ", VALUES)]
    low = estimator_digest(pubs, options=EstimatorOptions(resilience_level=1))
    high = estimator_digest(pubs, options=EstimatorOptions(resilience_level=2))
    assert is_input_digest(low) and low != high


# -------------------------------------------------------------------------------- structure


def _variants() -> list[QuantumCircuit]:
    a = Parameter("a")
    base = QuantumCircuit(2)
    base.rz(a, 0)
    base.cz(0, 1)
    gate = QuantumCircuit(2)  # different gate
    gate.rz(a, 0)
    gate.cx(0, 1)
    qubit = QuantumCircuit(2)  # different qubit
    qubit.rz(a, 1)
    qubit.cz(0, 1)
    expression = QuantumCircuit(2)  # different symbolic parameter expression
    expression.rz(2 * a, 0)
    expression.cz(0, 1)
    name = QuantumCircuit(2)  # different parameter name
    name.rz(Parameter("b"), 0)
    name.cz(0, 1)
    phase = base.copy()
    phase.global_phase = 0.25
    register = QuantumCircuit(2)
    register.add_register(ClassicalRegister(2, "meas"))
    register.rz(a, 0)
    register.cz(0, 1)
    delay = base.copy()
    delay.delay(100, 0, unit="dt")
    delay_ns = base.copy()
    delay_ns.delay(100, 0, unit="ns")
    measured = base.copy()
    measured.measure_all()
    return [base, gate, qubit, expression, name, phase, register, delay, delay_ns, measured]


def test_every_structural_change_changes_the_digest() -> None:
    digests = []
    for circuit in _variants():
        values = np.zeros(circuit.num_parameters)
        digests.append(sampler_digest([(circuit, values)]))
    assert len(set(digests)) == len(digests)


def test_custom_gate_definitions_and_control_flow_are_included() -> None:
    def custom(angle: float) -> QuantumCircuit:
        inner = QuantumCircuit(1, name="mygate")
        inner.rx(angle, 0)
        circuit = QuantumCircuit(1, 1)
        circuit.append(inner.to_gate(), [0])
        circuit.measure(0, 0)
        with circuit.if_test((circuit.clbits[0], 1)):
            circuit.x(0)
        circuit.measure(0, 0)
        return circuit

    assert sampler_digest([custom(0.1)]) == sampler_digest([custom(0.1)])
    assert sampler_digest([custom(0.1)]) != sampler_digest([custom(0.2)])

    def branch(value: int) -> QuantumCircuit:
        circuit = QuantumCircuit(1, 1)
        circuit.measure(0, 0)
        with circuit.if_test((circuit.clbits[0], value)):
            circuit.x(0)
        return circuit

    assert sampler_digest([branch(0)]) != sampler_digest([branch(1)])


def test_shared_circuit_object_and_equal_copies_agree() -> None:
    circuit = ansatz()
    shared = [(circuit, VALUES), (circuit, VALUES * 2)]
    copies = [(ansatz(), VALUES), (ansatz(), VALUES * 2)]
    assert sampler_digest(shared) == sampler_digest(copies)
    assert sampler_digest(shared) != sampler_digest(list(reversed(shared)))


# ----------------------------------------------------------------------------- no mutation


def test_inputs_are_not_mutated() -> None:
    circuit = ansatz()
    values = VALUES.copy()
    before_circuit = copy.deepcopy(circuit)
    options = {"default_shots": 5, "twirling": {"enable_gates": True}}
    before_options = copy.deepcopy(options)
    pubs = [(circuit, values)]
    sampler_digest(pubs, options=options, shots=10)
    assert circuit == before_circuit and circuit.name == before_circuit.name
    assert np.array_equal(values, VALUES) and values.flags.writeable
    assert options == before_options
    assert pubs == [(circuit, values)]


# ---------------------------------------------------------------------- across processes

_SUBPROCESS = textwrap.dedent(
    """
    import numpy as np
    from qiskit.circuit import Parameter, ParameterVector, QuantumCircuit
    from qcsc_prefect.integrations.qiskit.digests import (
        build_qiskit_estimator_input_digest, build_qiskit_sampler_input_digest)
    theta = ParameterVector("θ", 4)
    extra = {Parameter(name) for name in ("zeta", "alpha", "mu")}
    circuit = QuantumCircuit(2)
    for i, p in enumerate(theta):
        circuit.ry(p * 0.5 + 1, i % 2)
    for p in sorted(extra, key=lambda p: p.name):
        circuit.rz(p, 0)
    values = np.arange(14, dtype=float).reshape(2, 7) / 7
    options = {"twirling": {"enable_gates": True, "strategy": "active"}, "default_shots": 3}
    print(build_qiskit_sampler_input_digest([(circuit, values, 64)], backend_name="ibm_fez",
          shots=100, options=options, cache_scope="flow", flow_name="demo", instance="crn:x"))
    print(build_qiskit_estimator_input_digest([(circuit, {"XZ": 0.5, "ZY": 1.5}, values)],
          backend_name="ibm_fez", precision=0.1, options=options, cache_scope="global"))
    """
)


def _digests_in_subprocess(seed: str) -> list[str]:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    out = subprocess.run(
        [sys.executable, "-c", _SUBPROCESS], env=env, capture_output=True, text=True, check=True
    )
    return out.stdout.split()


def test_digests_are_equal_across_processes_and_hash_seeds() -> None:
    first = _digests_in_subprocess("1")
    second = _digests_in_subprocess("4242")
    assert len(first) == 2 and all(is_input_digest(d) for d in first)
    assert first == second


# ------------------------------------------------------------------------------ validation


@pytest.mark.parametrize(
    ("pubs", "kwargs", "argument"),
    [
        ([], {}, "pubs"),
        (bell(), {}, "pubs"),
        ("not pubs", {}, "pubs"),
        ([("not a circuit",)], {}, "pubs"),
        ([(ansatz(), np.zeros((2, 3)))], {}, "pubs"),
        ([bell()], {"shots": 0}, "shots"),
        ([bell()], {"shots": -5}, "shots"),
        ([bell()], {"shots": True}, "shots"),
        ([bell()], {"shots": 1.5}, "shots"),
        ([bell()], {"backend_name": ""}, "backend_name"),
        ([bell()], {"cache_scope": "glboal"}, "cache_scope"),
        ([bell()], {"options": ["default_shots", 3]}, "options"),
        ([bell()], {"options": {"callback": object()}}, "options"),
        ([bell()], {"instance": ""}, "instance"),
    ],
)
def test_invalid_sampler_inputs_are_rejected(
    pubs: Any, kwargs: dict[str, Any], argument: str
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        sampler_digest(pubs, **kwargs)
    assert caught.value.argument == argument


@pytest.mark.parametrize("precision", [0, -0.1, float("nan"), float("inf"), True])
def test_invalid_precision_is_rejected(precision: Any) -> None:
    with pytest.raises(InvalidInputError) as caught:
        estimator_digest([(estimator_circuit(), "ZZZ", VALUES)], precision=precision)
    assert caught.value.argument == "precision"


def test_flow_scope_outside_a_flow_says_what_to_do() -> None:
    with pytest.raises(InvalidInputError) as caught:
        build_qiskit_sampler_input_digest([bell()], backend_name="ibm_fez", cache_scope="flow")
    assert caught.value.argument == "cache_scope"
    assert "flow_name" in str(caught.value) and '"global"' in str(caught.value)


def test_flow_scope_is_the_default_and_uses_flow_name() -> None:
    explicit = build_qiskit_sampler_input_digest(
        [bell()], backend_name="ibm_fez", flow_name="my-flow"
    )
    assert explicit == sampler_digest([bell()], cache_scope="flow", flow_name="my-flow")
    assert explicit != sampler_digest([bell()])


# ------------------------------------------------------------- inside a real Prefect flow


@flow(name="digest-flow-a")
def _digest_in_flow_a() -> str:
    return build_qiskit_sampler_input_digest([bell()], backend_name="ibm_fez", shots=100)


@flow(name="digest-flow-b")
def _digest_in_flow_b() -> str:
    return build_qiskit_sampler_input_digest([bell()], backend_name="ibm_fez", shots=100)


def test_flow_scope_uses_the_running_flows_name() -> None:
    a = _digest_in_flow_a()
    assert a == _digest_in_flow_a()
    assert a != _digest_in_flow_b()
    assert a == sampler_digest([bell()], shots=100, cache_scope="flow", flow_name="digest-flow-a")


# ------------------------------------------------------------------------------------ repeat


def test_repeat_none_keeps_the_digest_of_the_inputs() -> None:
    assert sampler_digest([bell()], shots=100, repeat=None) == GOLDEN_BELL


def test_each_repeat_value_is_its_own_digest_and_stable() -> None:
    plain = sampler_digest([bell()], shots=100)
    digests = {sampler_digest([bell()], shots=100, repeat=value) for value in (0, 1, "b")}
    assert len(digests) == 3 and plain not in digests
    assert all(is_input_digest(digest) for digest in digests)
    assert sampler_digest([bell()], shots=100, repeat=1) == sampler_digest(
        [bell()], shots=100, repeat="1"
    )
    assert sampler_digest([bell()], shots=100, repeat=1) == repeated_digest(plain, 1)
    pub = (estimator_circuit(), OBSERVABLES[1], VALUES)
    assert estimator_digest([pub], repeat=2) == repeated_digest(estimator_digest([pub]), 2)


@pytest.mark.parametrize("bad", [True, -1, 1.5, "", "   ", "x" * 201, ["a"]])
def test_a_bad_repeat_is_refused(bad: object) -> None:
    with pytest.raises(InvalidInputError) as caught:
        sampler_digest([bell()], shots=100, repeat=bad)
    assert caught.value.argument == "repeat"
