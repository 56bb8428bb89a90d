"""``/healthz``, ``/readyz`` and ``/metrics``: for load balancers and Prometheus."""

from __future__ import annotations

from typing import Any

import anyio
from fastapi import APIRouter, Request
from starlette.responses import Response

from ..deps import HolderDep
from ..metrics import CONTENT_TYPE_LATEST, Metrics
from ..responses import JSONResponse
from ..schemas import HealthResponse, NotReadyResponse, ReadyResponse
from ..state import RETRY_S

__all__ = ["build_router"]


def build_router() -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", summary="The process is up", response_model=HealthResponse)
    async def healthz() -> Response:
        """Always 200 while the process answers, snapshot or not."""
        return JSONResponse({"status": "ok"}, headers={"Cache-Control": "no-store"})

    @router.get(
        "/readyz",
        summary="A snapshot is loaded",
        response_model=ReadyResponse,
        responses={503: {"model": NotReadyResponse, "description": "No snapshot loaded yet."}},
    )
    async def readyz(holder: HolderDep) -> Response:
        """200 with the snapshot version being served and the ranking profile ``best_match``
        uses (``null``: the hand-set ``ranking_*`` settings); 503 until a snapshot is loaded.
        ``last_reload_error`` says why a newer snapshot or profile is not served."""
        if holder.pruned():  # deleted by newer loads: not ready until the current one serves
            await anyio.to_thread.run_sync(holder.recover)
        pruned = holder.pruned()
        engine = None if pruned else holder.engine
        headers = {"Cache-Control": "no-store"}
        if engine is None:
            served = holder.current
            body: dict[str, Any] = {
                "status": "no_snapshot",
                "detail": (
                    f"snapshot {served.version} was deleted by newer loads"
                    if pruned and served is not None
                    else f"no snapshot is loaded from {holder.path}"
                ) + "; " + (
                    f"publish one with `geo-discovery load FILE --data-dir {holder.path}`"
                    if holder.last_error is None  # else the newest one failed to open: why
                    else "the current one could not be opened (last_reload_error says why; "
                    f"it is tried again every {RETRY_S:g} s)"
                ),
                "last_reload_error": holder.last_error,
            }
            return JSONResponse(body, status_code=503, headers={**headers, "Retry-After": "5"})
        snap, profile = engine.snapshot, engine.ranking.profile
        ready: dict[str, Any] = {
            "status": "ready",
            "snapshot": engine.version,
            "snapshot_id": snap.snapshot_id,
            "created_at": snap.manifest.get("created_at"),
            "merchants": len(engine),
            "ranking_profile": None if profile is None else {
                "path": str(holder.profile_path), "digest": profile.digest
            },
            "last_reload_error": holder.last_error,
        }
        return JSONResponse(ready, headers=headers)

    @router.get(
        "/metrics",
        summary="Prometheus metrics",
        response_class=Response,
        responses={
            200: {
                "content": {"text/plain": {"schema": {"type": "string"}}},
                "description": "Prometheus text format: request counts and latency "
                "histograms per route, and the snapshot version served.",
            }
        },
    )
    async def metrics(request: Request) -> Response:
        m: Metrics = request.app.state.metrics
        return Response(m.render(), media_type=CONTENT_TYPE_LATEST)

    return router
