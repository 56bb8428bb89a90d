"""``/v1/admin``: operations behind the ``api_admin_key`` setting."""

from __future__ import annotations

import hmac
from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader
from starlette.responses import Response

from ..deps import HolderDep, SettingsDep
from ..errors import StrictQueryRoute
from ..responses import JSONResponse
from ..schemas import ErrorResponse, ReloadResponse

__all__ = ["build_router"]

_api_key = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="The api_admin_key setting (GEO_DISCOVERY_API_ADMIN_KEY).",
)


async def require_admin(
    settings: SettingsDep, key: Annotated[str | None, Security(_api_key)]
) -> None:
    expected = settings.api_admin_key
    if expected is None or not expected.get_secret_value():
        raise HTTPException(
            403, "admin endpoints are disabled: set GEO_DISCOVERY_API_ADMIN_KEY to enable them"
        )
    if key is None or not hmac.compare_digest(
        key.encode("utf-8", "surrogateescape"), expected.get_secret_value().encode()
    ):
        raise HTTPException(
            401, "missing or wrong X-API-Key header", headers={"WWW-Authenticate": "X-API-Key"}
        )


def build_router() -> APIRouter:
    router = APIRouter(
        prefix="/v1/admin",
        tags=["admin"],
        route_class=StrictQueryRoute,
        dependencies=[Depends(require_admin)],
        responses={
            401: {"model": ErrorResponse, "description": "Missing or wrong X-API-Key."},
            403: {"model": ErrorResponse, "description": "Admin endpoints are disabled."},
            422: {"model": ErrorResponse, "description": "Unknown parameter."},
        },
    )

    @router.post(
        "/reload",
        summary="Swap to the snapshot CURRENT names now",
        response_model=ReloadResponse,
        responses={
            409: {
                "model": ErrorResponse,
                "description": "The published snapshot failed to open; the previous one "
                "is still served.",
            }
        },
    )
    async def reload(request: Request, holder: HolderDep) -> Response:
        """Re-read the data dir's CURRENT pointer and swap to it (retrying one that failed).

        The server also does this by itself every ``api_reload_interval_ms``.
        """
        result = await anyio.to_thread.run_sync(lambda: holder.refresh(force=True))
        if result.error is not None:
            return JSONResponse({"detail": result.error, "errors": []}, status_code=409)
        body = {"changed": result.changed, "previous": result.previous, "snapshot": result.current}
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    return router
