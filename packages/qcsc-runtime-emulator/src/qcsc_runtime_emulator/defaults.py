"""Default credentials and names used by the emulator (stdlib only)."""

from __future__ import annotations

DEFAULT_API_KEY = "qcsc-emulator-api-key"
"""API key the emulator accepts unless another one is configured."""

API_KEY_ENV = "QCSC_EMULATOR_API_KEY"
"""Environment variable ``qcsc-runtime-emulator serve`` reads its API key from."""

DEFAULT_INSTANCE = "crn:v1:bluemix:public:quantum-computing:us-east:a/emulator:emulator::"
"""Service CRN of the single instance the emulator serves."""

RUNTIME_PREFIXES = ("/experimental/api/v1", "/api/v1")
"""Path prefixes under which the runtime API is served (longest first)."""

CONTROL_PREFIX = "/_emulator"
"""Path prefix of the control API."""
