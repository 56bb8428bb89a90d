"""The app factory, its lifespan (open the snapshot once, watch for new ones) and ``serve``.

>>> from geo_discovery_api.app import create_app  # doctest: +SKIP
>>> app = create_app(data_dir="~/.local/share/geo-discovery")  # doctest: +SKIP

``uvicorn --factory geo_discovery_api.app:create_app`` works too: settings (and the data
dir) then come from the environment (``GEO_DISCOVERY_DATA_DIR`` …).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import anyio
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from pydantic.json_schema import models_json_schema
from starlette.middleware import Middleware
from starlette.staticfiles import StaticFiles

from geo_discovery.settings import Settings, get_settings

from . import schemas
from .errors import install_error_handlers
from .fastpath import FastLaneMiddleware
from .metrics import Metrics, MetricsMiddleware
from .middleware import BodySizeLimitMiddleware, GzipMiddleware, MethodsMiddleware
from .responses import JSONResponse
from .routes import (
    admin,
    aggregate,
    catchment,
    districts,
    health,
    merchants,
    pages,
    text,
    tiles,
)
from .state import EngineHolder

__all__ = ["create_app", "serve", "uvicorn_options"]

log = logging.getLogger("geo_discovery.api")

# uvicorn's supervisor pings each worker process and replaces one that does not answer in
# time (its default is 5 s). A worker's start-up (imports, opening and warming a snapshot,
# loading compiled kernels) holds the GIL for long stretches, so on a busy host the pong
# thread missed 5 s and the supervisor killed and restarted every worker forever.
_WORKER_HEALTHCHECK_S = 60

# Models referenced only from extra media types (application/geo+json answers).
_EXTRA_SCHEMAS = (
    schemas.HitFeatureCollection,
    schemas.SearchFeatureCollection,
    schemas.MerchantFeature,
    schemas.AggregateFeatureCollection,
    schemas.DistrictFeature,
    schemas.DistrictFeatureCollection,
    schemas.CatchmentFeatureCollection,
)

_DESCRIPTION = """
Discover local merchants: exact nearby search with ranking and filters, search in a
box or polygon, one merchant by id, business districts and their catchments, and H3
aggregates for map heatmaps. Answers come from one immutable snapshot,
memory-mapped; a newly published snapshot is swapped in atomically.

* Coordinates are `lat`, `lng` in parameters; GeoJSON (`format=geojson`) is (lng, lat).
* Distances are exact great-circle metres (`distance_m` on every result).
* Errors: 422 names the parameter, its value and the allowed range; 404 unknown id;
  503 no snapshot loaded. Unknown query parameters are refused, never ignored.
* Caching: `ETag` is the snapshot version; send it back in `If-None-Match` for a 304.

* Catchments: `/v1/districts/{id}/catchment` gives a district's Huff market share and
  trade areas; the response names its demand source.
* Maps: `/v1/tiles/{z}/{x}/{y}.mvt` serves vector tiles of the merchants and districts
  (`/v1/tiles.json` is their TileJSON); the map explorer at `/` draws them.

Not available yet: per-request best_match weights, and ranking filters on box and
polygon search.
"""


def _version() -> str:
    try:
        return version("geo-discovery")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0.0.0"


async def _watch(holder: EngineHolder, interval_s: float) -> None:
    """Check CURRENT every ``interval_s`` and swap when it changed (loads off the loop)."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await anyio.to_thread.run_sync(holder.refresh)
        except Exception:  # keep watching whatever happened; the old engine keeps serving
            log.exception("snapshot check failed")


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    spec = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
    )
    _, defs = models_json_schema(
        [(m, "serialization") for m in _EXTRA_SCHEMAS],
        ref_template="#/components/schemas/{model}",
    )
    components = spec.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in defs.get("$defs", {}).items():
        components.setdefault(name, schema)
    app.openapi_schema = spec
    return spec


def create_app(settings: Settings | None = None, data_dir: str | Path | None = None) -> FastAPI:
    """Build the API app serving the snapshots of ``data_dir`` (default: the setting).

    ``data_dir`` may also be one snapshot's folder, served as is (never swapped).
    The snapshot opens in the lifespan (or at the first request without one); every
    ``api_reload_interval_ms`` the app checks for a newly published one.
    """
    settings = settings or get_settings()
    path = Path(data_dir).expanduser() if data_dir is not None else settings.data_dir
    metrics = Metrics()
    holder = EngineHolder(
        path,
        settings,
        on_swap=metrics.on_swap,
        on_error=lambda _msg: metrics.on_failed_reload(),
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await anyio.to_thread.run_sync(holder.refresh)
        if holder.engine is None:
            log.warning("no snapshot in %s yet; serving 503 until one is published", path)
        task = None
        if settings.api_reload_interval_ms > 0 and not holder.fixed_snapshot:
            task = asyncio.create_task(_watch(holder, settings.api_reload_interval_ms / 1000))
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    middleware = [Middleware(MetricsMiddleware, metrics=metrics)]
    if settings.api_cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=settings.api_cors_origins,
                allow_methods=["GET", "HEAD", "POST"],
                allow_headers=["Content-Type", "If-None-Match", "X-API-Key"],
                expose_headers=["ETag"],
                max_age=600,
            )
        )
    nearby_lane = merchants.build_nearby_lane(settings)
    merchant_routes = merchants.build_router(settings, nearby_lane)
    middleware.append(
        Middleware(
            FastLaneMiddleware,
            lane=nearby_lane,
            route=next(
                r for r in merchant_routes.routes if getattr(r, "path", "") == merchants.NEARBY_PATH
            ),
            vary_from_bytes=settings.api_gzip_min_bytes,
        )
    )
    middleware.append(Middleware(MethodsMiddleware))
    middleware.append(Middleware(GzipMiddleware, minimum_size=settings.api_gzip_min_bytes))
    middleware.append(Middleware(BodySizeLimitMiddleware, max_bytes=settings.api_max_body_bytes))

    app = FastAPI(
        title="geo-discovery",
        version=_version(),
        description=_DESCRIPTION,
        lifespan=lifespan,
        default_response_class=JSONResponse,
        middleware=middleware,
        docs_url=None,  # /docs and /redoc come from routes/pages.py, with local assets
        redoc_url=None,
        openapi_tags=[
            {"name": "merchants", "description": "Nearby, search and lookup."},
            {"name": "search box", "description": "Autocomplete and the category tree."},
            {"name": "aggregate", "description": "Counts in H3 bins for map layers."},
            {"name": "districts", "description": "Business districts: polygons and stats."},
            {"name": "tiles", "description": "Vector tiles (MVT) and TileJSON for web maps."},
            {"name": "operations", "description": "Health, readiness and metrics."},
            {"name": "admin", "description": "Needs the X-API-Key header."},
        ],
    )
    app.state.settings = settings
    app.state.holder = holder
    app.state.metrics = metrics
    install_error_handlers(app)
    app.include_router(merchant_routes)
    app.include_router(aggregate.build_router(settings))
    app.include_router(districts.build_router(settings))
    app.include_router(catchment.build_router(settings))
    app.include_router(tiles.build_router(settings))
    app.include_router(text.build_router(settings))
    app.include_router(admin.build_router())
    app.include_router(health.build_router())
    app.include_router(pages.build_router(settings))
    app.mount("/static", StaticFiles(directory=pages.STATIC_DIR), name="static")
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _fast_protocols() -> dict[str, str]:
    """uvloop and httptools (one write per response) where installed; uvicorn's defaults
    otherwise."""
    options = {}
    if importlib.util.find_spec("uvloop") is not None:
        options["loop"] = "uvloop"
    if importlib.util.find_spec("httptools") is not None:
        options["http"] = "geo_discovery_api.uvicorn_http:CoalescingHttpToolsProtocol"
    return options


def uvicorn_options(settings: Settings, host: str, port: int) -> dict[str, Any]:
    """The keyword arguments ``serve`` gives ``uvicorn.run`` (loop, HTTP protocol, logs).

    ``benchmarks/bench_http.py`` runs its bare-ASGI ceiling with the same ones.
    """
    return {
        "host": host,
        "port": port,
        "access_log": settings.api_access_log,
        "log_level": "info",
        "server_header": False,
        **_fast_protocols(),
    }


def serve(
    data_dir: str | Path | None = None,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    *,
    cors_origins: Sequence[str] | None = None,
) -> None:
    """Run the API with uvicorn until interrupted.

    ``cors_origins`` (``--cors-origin``), when given, replaces the ``api_cors_origins``
    setting.

    With ``workers > 1`` each worker process opens the same snapshot files
    (memory-mapped, so the index arrays are shared through the page cache, not copied)
    and watches ``CURRENT`` on its own; ``/metrics`` aggregates all workers.
    """
    import uvicorn

    settings = get_settings()
    if cors_origins is not None:
        settings = settings.model_copy(update={"api_cors_origins": list(cors_origins)})
    path = Path(data_dir).expanduser() if data_dir is not None else settings.data_dir
    if workers < 1:
        raise ValueError(f"workers={workers} is out of range; allowed: workers >= 1")
    options = uvicorn_options(settings, host, port)
    if workers == 1:
        uvicorn.run(create_app(settings, path), **options)
        return
    os.environ["GEO_DISCOVERY_DATA_DIR"] = str(path)
    os.environ["GEO_DISCOVERY_API_CORS_ORIGINS"] = json.dumps(settings.api_cors_origins)
    own_dir = None
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        own_dir = tempfile.mkdtemp(prefix="geo-discovery-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = own_dir
    try:
        uvicorn.run(
            "geo_discovery_api.app:create_app",
            factory=True,
            workers=workers,
            timeout_worker_healthcheck=_WORKER_HEALTHCHECK_S,
            **options,
        )
    finally:
        if own_dir is not None:
            shutil.rmtree(own_dir, ignore_errors=True)
            os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
