"""IAM token, Global Search and Global Catalog endpoints."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ..codec import make_jwt, verify_jwt
from ..errors import ApiError, IamError
from . import Request, Response, Router

if TYPE_CHECKING:
    from ..server import EmulatorApp

router = Router()

PLAN_ID = "qcsc-emulator-plan"


@router.add("POST", r"/identity/token")
def iam_token(app: EmulatorApp, req: Request, _: dict[str, str]) -> Response:
    """Exchange an API key for a JWT access token, as IBM Cloud IAM does."""
    form = req.form()
    if form.get("grant_type") != "urn:ibm:params:oauth:grant-type:apikey":
        raise IamError(400, "Unsupported grant type.", "BXNIM0109E")
    if not form.get("apikey"):
        raise IamError(400, "Property missing or empty: apikey.", "BXNIM0415E")
    if form["apikey"] != app.api_key:
        raise IamError(400, "Provided API key could not be found.", "BXNIM0415E")
    token, exp = make_jwt(app.secret, "emulator-user")
    return Response(
        200,
        {
            "access_token": token,
            "refresh_token": "not_supported",
            "token_type": "Bearer",
            "expires_in": exp - int(time.time()),
            "expiration": exp,
            "scope": "ibm openid",
        },
    )


def require_bearer(app: EmulatorApp, req: Request) -> None:
    """Require a valid IAM bearer token (Global Search/Catalog style).

    Raises:
        ApiError: 401 without a valid token.
    """
    auth = req.header("authorization") or ""
    if auth.startswith("Bearer ") and verify_jwt(app.secret, auth[7:]):
        return
    raise ApiError(401, "The provided access token is invalid or expired.")


@router.add("POST", r"/gs/v3/resources/search")
def search(app: EmulatorApp, req: Request, _: dict[str, str]) -> Response:
    """Global Search: list the emulator's single quantum-computing instance."""
    require_bearer(app, req)
    item = {
        "crn": app.instance,
        "name": "qcsc-runtime-emulator",
        "tags": [],
        "service_plan_unique_id": PLAN_ID,
        "doc": {"extensions": {"virtual_private_endpoints": {}, "emulator": True}},
    }
    return Response(200, {"items": [item], "limit": 100, "search_cursor": None})


@router.add("GET", r"/gc/api/v1/(?P<plan>[^/]+)")
def catalog_entry(app: EmulatorApp, req: Request, params: dict[str, str]) -> Response:
    """Global Catalog: describe the instance's plan."""
    require_bearer(app, req)
    if params["plan"] != PLAN_ID:
        raise ApiError(404, f"Catalog entry {params['plan']} not found")
    return Response(
        200,
        {
            "id": PLAN_ID,
            "name": "emulator",
            "overview_ui": {"en": {"display_name": "Emulator"}},
            "metadata": {"pricing": {"type": "free"}},
        },
    )
