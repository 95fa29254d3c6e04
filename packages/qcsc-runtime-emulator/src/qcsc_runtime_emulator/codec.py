"""Identifiers, tokens and the RuntimeEncoder JSON codec."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any

from qiskit_ibm_runtime import RuntimeDecoder, RuntimeEncoder

_B32HEX = "0123456789abcdefghijklmnopqrstuv"


def new_id() -> str:
    """Return a 20-character lowercase base32hex id, like the service's job ids."""
    return "".join(_B32HEX[b % 32] for b in secrets.token_bytes(20))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def token_secret(api_key: str) -> bytes:
    """Derive the HMAC secret for access tokens from the API key.

    Deriving it (instead of a random secret) keeps tokens valid across an
    emulator restart, as a real IAM token outlives a service restart.
    """
    return hashlib.sha256(b"qcsc-runtime-emulator:" + api_key.encode()).digest()


def make_jwt(secret: bytes, subject: str, lifetime: int = 3600) -> tuple[str, int]:
    """Issue an HS256 JWT with ``iat`` and ``exp`` claims.

    Args:
        secret: HMAC key.
        subject: ``sub`` claim.
        lifetime: Seconds until expiry.

    Returns:
        The token and its expiry as epoch seconds.
    """
    now = int(time.time())
    exp = now + lifetime
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = {"iat": now, "exp": exp, "sub": subject, "iss": "qcsc-runtime-emulator"}
    payload = _b64url(json.dumps(claims).encode())
    signing_input = f"{header}.{payload}".encode()
    sig = _b64url(hmac.new(secret, signing_input, hashlib.sha256).digest())
    return f"{header}.{payload}.{sig}", exp


def verify_jwt(secret: bytes, token: str) -> bool:
    """Check a token's signature and expiry.

    Args:
        secret: HMAC key.
        token: The bearer token.

    Returns:
        True if the token was issued with ``secret`` and has not expired.
    """
    parts = token.split(".")
    if len(parts) != 3:
        return False
    expected = _b64url(hmac.new(secret, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(expected, parts[2]):
        return False
    try:
        claims = json.loads(_b64url_decode(parts[1]))
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(claims, dict) and float(claims.get("exp", 0)) > time.time()


def decode_params(params: dict[str, Any]) -> dict[str, Any]:
    """Decode job parameters sent in ``POST /jobs`` with the service's RuntimeDecoder.

    Args:
        params: The plain JSON ``params`` object.

    Returns:
        Parameters with circuits, arrays and observables rebuilt.
    """
    decoded: dict[str, Any] = json.loads(json.dumps(params), cls=RuntimeDecoder)
    return decoded


def encode_result(result: Any) -> str:
    """Encode a primitive result as the service's RuntimeEncoder JSON text."""
    return json.dumps(result, cls=RuntimeEncoder)
