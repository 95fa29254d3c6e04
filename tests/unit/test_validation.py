"""Input validation: every bad input names its argument and says what is wrong."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from prefect.client.schemas.actions import ArtifactCreate
from pydantic import ValidationError
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.primitives.containers.sampler_pub import SamplerPub
from qiskit.quantum_info import SparsePauliOp
from qiskit.transpiler import generate_preset_pass_manager
from qiskit_ibm_runtime.fake_provider import FakeManilaV2

from qcsc_prefect.integrations.qiskit.errors import InvalidInputError
from qcsc_prefect.integrations.qiskit.validation import (
    validate_artifact_key,
    validate_estimator_inputs,
    validate_precision,
    validate_sampler_inputs,
    validate_shots,
)

BACKEND = FakeManilaV2()
PASS_MANAGER = generate_preset_pass_manager(backend=BACKEND, optimization_level=1)


def bell(measure: bool = True) -> QuantumCircuit:
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    if measure:
        circuit.measure_all()
    return circuit


ISA_BELL = PASS_MANAGER.run(bell())
ISA_BELL_UNMEASURED = PASS_MANAGER.run(bell(measure=False))


def test_valid_sampler_pubs_are_coerced_with_default_shots() -> None:
    theta = Parameter("θ")
    parametrized = QuantumCircuit(1)
    parametrized.rx(theta, 0)
    parametrized.measure_all()
    isa_parametrized = PASS_MANAGER.run(parametrized)

    pubs = validate_sampler_inputs(
        [ISA_BELL, (isa_parametrized, [[0.1], [0.2]], 50)], backend=BACKEND, shots=100
    )

    assert all(isinstance(pub, SamplerPub) for pub in pubs)
    assert [pub.shots for pub in pubs] == [100, 50]
    assert pubs[1].parameter_values.shape == (2,)


def test_valid_estimator_pubs_are_coerced_with_default_precision() -> None:
    observable = SparsePauliOp(["ZZ", "XX"]).apply_layout(ISA_BELL_UNMEASURED.layout)
    pubs = validate_estimator_inputs(
        [(ISA_BELL_UNMEASURED, observable), (ISA_BELL_UNMEASURED, observable, None, 0.2)],
        backend=BACKEND,
        precision=0.05,
    )
    assert all(isinstance(pub, EstimatorPub) for pub in pubs)
    assert [pub.precision for pub in pubs] == [0.05, 0.2]


def test_generators_are_accepted_once() -> None:
    pubs = validate_sampler_inputs((c for c in [ISA_BELL, ISA_BELL]), backend=BACKEND)
    assert len(pubs) == 2


@pytest.mark.parametrize("pubs", [[], ()])
def test_empty_pubs(pubs: list[object]) -> None:
    with pytest.raises(InvalidInputError, match="empty") as info:
        validate_sampler_inputs(pubs, backend=BACKEND)
    assert info.value.argument == "pubs"


def test_a_bare_circuit_must_be_wrapped_in_a_list() -> None:
    with pytest.raises(InvalidInputError, match=r"wrap it in a list") as info:
        validate_sampler_inputs(ISA_BELL, backend=BACKEND)
    assert info.value.argument == "pubs"


@pytest.mark.parametrize("bad", ["not a pub", 42, None, {"circuit": 1}])
def test_non_pub_objects_are_rejected(bad: object) -> None:
    with pytest.raises(InvalidInputError, match="pub 1") as info:
        validate_sampler_inputs([ISA_BELL, bad], backend=BACKEND)
    assert info.value.argument == "pubs"
    with pytest.raises(InvalidInputError, match="pub 0"):
        validate_estimator_inputs([bad], backend=BACKEND)


def test_estimator_rejects_a_bare_circuit_as_a_pub() -> None:
    with pytest.raises(InvalidInputError, match="pub 0"):
        validate_estimator_inputs([ISA_BELL_UNMEASURED], backend=BACKEND)


@pytest.mark.parametrize("shots", [0, -5, 1.5, True, False, "100", 10.0, np.float64(3)])
def test_bad_shots(shots: object) -> None:
    with pytest.raises(InvalidInputError, match="shots") as info:
        validate_sampler_inputs([ISA_BELL], backend=BACKEND, shots=shots)
    assert info.value.argument == "shots"


@pytest.mark.parametrize("shots", [1, 1024, np.int64(7)])
def test_good_shots(shots: object) -> None:
    assert validate_shots(shots) == int(shots)  # type: ignore[call-overload]
    assert type(validate_shots(shots)) is int


@pytest.mark.parametrize(
    "precision", [0, 0.0, -0.1, math.nan, math.inf, -math.inf, True, "0.1", [0.1]]
)
def test_bad_precision(precision: object) -> None:
    with pytest.raises(InvalidInputError, match="precision") as info:
        validate_precision(precision)
    assert info.value.argument == "precision"
    with pytest.raises(InvalidInputError):
        validate_estimator_inputs(
            [(ISA_BELL_UNMEASURED, SparsePauliOp("I" * 5))], backend=BACKEND, precision=precision
        )


def test_pub_level_bad_shots_and_precision() -> None:
    with pytest.raises(InvalidInputError, match="pub 0") as info:
        validate_sampler_inputs([(ISA_BELL, None, 0)], backend=BACKEND)
    assert info.value.argument == "pubs"
    with pytest.raises(InvalidInputError, match="pub 0"):
        validate_estimator_inputs(
            [(ISA_BELL_UNMEASURED, SparsePauliOp("I" * 5), None, math.inf)], backend=BACKEND
        )


def test_circuit_wider_than_the_backend() -> None:
    wide = QuantumCircuit(6)
    wide.x(5)
    wide.measure_all()
    with pytest.raises(InvalidInputError, match=r"6 qubits .* only 5") as info:
        validate_sampler_inputs([wide], backend=BACKEND)
    assert info.value.argument == "pubs"


def test_non_isa_gate_points_to_transpilation() -> None:
    with pytest.raises(InvalidInputError) as info:
        validate_sampler_inputs([bell()], backend=BACKEND)
    message = str(info.value)
    assert "not an ISA circuit" in message
    assert "'h'" in message
    assert "generate_preset_pass_manager(backend=" in message


def test_non_isa_coupling_is_named() -> None:
    # FakeManila is a line 0-1-2-3-4: no cx between qubits 0 and 2.
    circuit = QuantumCircuit(3)
    circuit.cx(0, 2)
    circuit.measure_all()
    with pytest.raises(InvalidInputError, match=r"'cx' is not supported on qubits \[0, 2\]"):
        validate_sampler_inputs([circuit], backend=BACKEND)
    circuit = QuantumCircuit(3)
    circuit.cx(0, 1)
    circuit.measure_all()
    assert validate_sampler_inputs([circuit], backend=BACKEND)


def test_non_isa_gate_inside_control_flow_is_found() -> None:
    circuit = QuantumCircuit(2, 1)
    circuit.measure(0, 0)
    with circuit.if_test((circuit.clbits[0], 1)):
        circuit.h(1)
    circuit.measure(1, 0)
    with pytest.raises(InvalidInputError, match="'h'"):
        validate_sampler_inputs([circuit], backend=BACKEND)


def test_sampler_circuit_without_measurements() -> None:
    with pytest.raises(InvalidInputError, match="no measurements") as info:
        validate_sampler_inputs([ISA_BELL_UNMEASURED], backend=BACKEND)
    assert info.value.argument == "pubs"


def test_observables_not_matching_the_circuit_point_to_apply_layout() -> None:
    two_qubit_observable = SparsePauliOp(["ZZ"])  # the ISA circuit has 5 qubits
    with pytest.raises(InvalidInputError, match="apply_layout") as info:
        validate_estimator_inputs([(ISA_BELL_UNMEASURED, two_qubit_observable)], backend=BACKEND)
    assert info.value.argument == "pubs"
    assert "observables" in str(info.value)


def test_non_isa_estimator_circuit() -> None:
    with pytest.raises(InvalidInputError, match="generate_preset_pass_manager"):
        validate_estimator_inputs([(bell(measure=False), SparsePauliOp("ZZ"))], backend=BACKEND)


def _prefect_accepts(key: str) -> bool:
    try:
        ArtifactCreate(key=key, type="markdown", data="x")
    except ValidationError:
        return False
    return True


@given(st.text(alphabet="abcXYZ019-_ .é/", max_size=12))
def test_artifact_key_rules_agree_with_prefect(key: str) -> None:
    ours = True
    try:
        validate_artifact_key(key)
    except InvalidInputError as exc:
        assert exc.argument == "artifact_key"
        ours = False
    # Prefect accepts "" (it means "no key"); we require a real key.
    assert ours == (_prefect_accepts(key) and key != "")


def test_artifact_key_error_gives_an_example() -> None:
    with pytest.raises(InvalidInputError, match="lowercase letters, digits and dashes"):
        validate_artifact_key("My_Key")
    assert validate_artifact_key("native-qiskit-sampler-2") == "native-qiskit-sampler-2"
