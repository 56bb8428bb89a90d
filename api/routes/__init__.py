"""Route modules. Each exposes ``build_router(...) -> APIRouter``."""

from __future__ import annotations

from typing import Any

from ..responses import GEOJSON
from ..schemas import ErrorResponse

__all__ = ["ERRORS", "NOT_MODIFIED", "geojson_content"]

# Error answers every /v1 operation may give (documented once, used by all routers).
ERRORS: dict[int | str, dict[str, Any]] = {
    422: {
        "model": ErrorResponse,
        "description": "A parameter is invalid, out of range, unknown or not supported yet; "
        "detail names it, its value and the allowed range.",
    },
    503: {
        "model": ErrorResponse,
        "description": "No snapshot is loaded yet (publish one with `geo-discovery load`).",
    },
}

NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not modified: If-None-Match matched the snapshot's ETag."}
}


def geojson_content(model_name: str) -> dict[str, Any]:
    """The ``application/geo+json`` alternative of a 200 answer (``format=geojson``)."""
    return {
        "content": {GEOJSON: {"schema": {"$ref": f"#/components/schemas/{model_name}"}}},
        "description": "The answer; with format=geojson, a GeoJSON document.",
    }
