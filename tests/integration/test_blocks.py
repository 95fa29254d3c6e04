"""QiskitRuntimeConfig as a real Prefect Block: standards, save/load, registration, resolving."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from typing import TYPE_CHECKING

import pytest
from prefect.settings import PREFECT_API_URL
from prefect.testing.standard_test_suites import BlockStandardTestSuite

from qcsc_prefect.integrations.qiskit import (
    AtomicLocalFileSystem,
    QiskitRuntimeConfig,
    RuntimeConfigError,
)
from qcsc_prefect.integrations.qiskit.blocks import aresolve_runtime_config

if TYPE_CHECKING:
    from prefect.blocks.core import Block


@pytest.mark.parametrize("block", [QiskitRuntimeConfig, AtomicLocalFileSystem])
class TestBlockStandards(BlockStandardTestSuite):
    @pytest.fixture
    def block(self, block: type[Block]) -> type[Block]:
        return block

    def test_has_a_valid_image(self, block: type[Block]) -> None:
        # Prefect's version downloads the logo, which needs the internet. The project ships
        # no logo yet, so the UI shows its default icon.
        assert block._logo_url is None


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def test_save_and_load_round_trip_keeps_the_secret() -> None:
    name = unique("cfg")
    config = QiskitRuntimeConfig(
        backend_name="ibm_fez",
        channel="ibm_quantum_platform",
        instance="crn:v1:test",
        token="saved-token-value",
        proxies={"urls": {"https": "http://proxy:8080"}},
        plans_preference=["open"],
    )
    await config.asave(name)
    loaded = await QiskitRuntimeConfig.aload(name)
    assert loaded.backend_name == "ibm_fez"
    assert loaded.instance == "crn:v1:test"
    assert loaded.proxies == {"urls": {"https": "http://proxy:8080"}}
    assert loaded.token is not None
    assert loaded.token.get_secret_value() == "saved-token-value"
    assert "saved-token-value" not in repr(loaded)
    assert "saved-token-value" not in str(loaded)


def test_cli_registration_and_loading_by_slug_in_a_fresh_process() -> None:
    name = unique("slug")
    QiskitRuntimeConfig(backend_name="fake_manila", channel="local").save(name)
    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())}
    registered = subprocess.run(
        [
            sys.executable,
            "-m",
            "prefect",
            "block",
            "register",
            "-m",
            "qcsc_prefect.integrations.qiskit",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert registered.returncode == 0, registered.stderr
    assert "Successfully registered" in registered.stdout
    assert "Qiskit Runtime Config" in registered.stdout
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "from prefect.blocks.core import Block;"
            f"b = Block.load('qiskit-runtime-config/{name}');"
            "print(type(b).__name__, b.backend_name, b.channel)",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.split() == ["QiskitRuntimeConfig", "fake_manila", "local"]


@pytest.mark.parametrize("both", [True, False])
async def test_exactly_one_of_config_or_block_name(both: bool) -> None:
    config = QiskitRuntimeConfig(backend_name="fake_manila", channel="local")
    with pytest.raises(RuntimeConfigError) as info:
        if both:
            await aresolve_runtime_config(config, "some-block")
        else:
            await aresolve_runtime_config(None, None)
    message = str(info.value)
    assert "runtime_config" in message and "runtime_block_name" in message
    assert ("both" if both else "neither") in message


async def test_missing_block_says_how_to_create_it() -> None:
    name = unique("missing")
    with pytest.raises(RuntimeConfigError) as info:
        await aresolve_runtime_config(None, name)
    message = str(info.value)
    assert name in message
    assert "qiskit-runtime-config" in message
    assert f'QiskitRuntimeConfig(backend_name="ibm_fez").save("{name}")' in message
    assert "prefect block register -m qcsc_prefect.integrations.qiskit" in message
    assert info.value.__cause__ is None


async def test_resolving_a_saved_block_by_name() -> None:
    name = unique("byname")
    await QiskitRuntimeConfig(backend_name="fake_lima", channel="local").asave(name)
    resolved = await aresolve_runtime_config(None, name)
    assert resolved.backend_name == "fake_lima"
    assert resolved.get_backend().name == "fake_lima"


async def test_wrong_type_for_runtime_config() -> None:
    with pytest.raises(RuntimeConfigError, match="must be a QiskitRuntimeConfig"):
        await aresolve_runtime_config({"backend_name": "x"}, None)  # type: ignore[arg-type]


def test_has_token_reports_presence_only() -> None:
    assert not QiskitRuntimeConfig(backend_name="ibm_fez").has_token
    with_token = QiskitRuntimeConfig(backend_name="ibm_fez", token="abc-secret")
    assert with_token.has_token is True
    assert "has_token" not in QiskitRuntimeConfig.model_fields  # not stored in the Block
