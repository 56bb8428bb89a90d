"""The map explorer (``/``) and the API docs (``/docs``, ``/redoc``), all offline.

Every file these pages load is in the package (``static/``: the page's own HTML, JS and
CSS, and in ``static/vendor/`` MapLibre GL JS, Swagger UI and ReDoc, vendored from npm by
``scripts/vendor_static.sh``): nothing comes from a CDN, so they work without internet
and without Node. The map draws on a plain background unless the ``map_style_url``
setting names a MapLibre style (a real basemap), fetched by the browser.

(Not in the OpenAPI spec: these are pages, not API operations.)
"""

from __future__ import annotations

import json
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from starlette.responses import HTMLResponse

from geo_discovery.settings import Settings

__all__ = ["STATIC_DIR", "build_router", "map_page_html"]

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
_VENDOR = "/static/vendor"
_CONFIG_MARK = "<!--GD_CONFIG-->"


def map_page_html(settings: Settings, root_path: str = "") -> str:
    """``static/index.html`` with the page's settings filled in (a JSON script block)."""
    config = {
        "root": root_path,
        "styleUrl": settings.map_style_url,
        "maxListResults": min(20, settings.max_k),
    }
    text = json.dumps(config).replace("<", "\\u003c")  # never closes the script element
    block = f'<script id="gd-config" type="application/json">{text}</script>'
    html = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    return html.replace(_CONFIG_MARK, block).replace("{{root}}", root_path)


def build_router(settings: Settings) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    pages: dict[str, str] = {}

    @router.get("/", response_class=HTMLResponse)
    async def map_explorer(request: Request) -> HTMLResponse:
        """The map explorer: merchants and districts from the tiles, the ranked list."""
        root = request.scope.get("root_path", "")
        if root not in pages:
            pages[root] = map_page_html(settings, root)
        return HTMLResponse(pages[root], headers={"Cache-Control": "no-cache"})

    @router.get("/docs", response_class=HTMLResponse)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}/openapi.json",
            title="geo-discovery API",
            swagger_js_url=f"{root}{_VENDOR}/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{_VENDOR}/swagger-ui/swagger-ui.css",
            swagger_favicon_url=f"{root}{_VENDOR}/swagger-ui/favicon-32x32.png",
            oauth2_redirect_url=f"{root}/docs/oauth2-redirect",
            swagger_ui_parameters={"validatorUrl": None},  # no call to swagger.io
        )

    @router.get("/docs/oauth2-redirect", response_class=HTMLResponse)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @router.get("/redoc", response_class=HTMLResponse)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}/openapi.json",
            title="geo-discovery API",
            redoc_js_url=f"{root}{_VENDOR}/redoc/redoc.standalone.js",
            redoc_favicon_url=f"{root}/static/favicon.svg",
            with_google_fonts=False,
        )

    return router
