"""Identifiers, tokens and the RuntimeEncoder JSON codec."""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from typing import Any

import jwt
from qiskit_ibm_runtime import RuntimeDecoder, RuntimeEncoder

_B32HEX = "0123456789abcdefghijklmnopqrstuv"
_ISSUER = "qcsc-runtime-emulator"


def new_id() -> str:
    """Return a 20-character lowercase base32hex id, like the service's job ids."""
    return "".join(_B32HEX[b % 32] for b in secrets.token_bytes(20))


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
    claims = {"iat": now, "exp": exp, "sub": subject, "iss": _ISSUER}
    return jwt.encode(claims, secret, algorithm="HS256"), exp


def verify_jwt(secret: bytes, token: str) -> bool:
    """Check a token's signature, issuer and expiry.

    Args:
        secret: HMAC key.
        token: The bearer token.

    Returns:
        True if the token was issued with ``secret`` and has not expired.
    """
    try:
        jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            issuer=_ISSUER,
            options={"require": ["exp", "iat"]},
        )
    except jwt.InvalidTokenError:
        return False
    return True


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
