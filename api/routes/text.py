"""``/v1/autocomplete`` and ``/v1/categories``: the search box's suggestions and the
category tree for filter chips. (Free text on nearby and area search is the ``q``
parameter of :mod:`.merchants`.)

(No ``from __future__ import annotations``: see :mod:`api.routes.merchants`.)
"""

from typing import Annotated

from fastapi import APIRouter
from starlette.responses import Response

from geo_discovery.settings import Settings

from ..deps import TEXT_FALLBACK, TEXT_HELP, EngineDep, IfNoneMatch, Lat, Lng, limit_query, query
from ..errors import StrictQueryRoute
from ..responses import not_modified, respond
from ..schemas import AutocompleteResponse, CategoriesResponse
from . import ERRORS, NOT_MODIFIED

__all__ = ["build_router"]


def build_router(settings: Settings) -> APIRouter:
    router = APIRouter(
        prefix="/v1", tags=["search box"], route_class=StrictQueryRoute, responses=ERRORS
    )
    max_age = settings.api_cache_max_age_s
    limit = limit_query(settings, 8, "merchants and categories each")
    default = min(8, settings.max_k)

    @router.get(
        "/autocomplete",
        summary="Suggestions while typing: merchants nearby and categories",
        response_model=AutocompleteResponse,
        responses=NOT_MODIFIED,
    )
    async def autocomplete(
        engine: EngineDep,
        q: Annotated[
            str, query("joe's pi", TEXT_HELP + TEXT_FALLBACK, min_length=1, max_length=200)
        ],
        lat: Lat,
        lng: Lng,
        limit: Annotated[int, limit] = default,
        if_none_match: IfNoneMatch = None,
    ) -> Response:
        """Up to ``limit`` merchants for the text typed so far, ranked as ``best_match``
        with the text's relevance (the last word completes as a prefix), each with the
        spans of its name to highlight; and up to ``limit`` categories whose words match
        every word (a chip to filter by), with labels and merchant counts.

        A text without a letter or digit is refused (422).
        """
        found = engine.autocomplete(q, lat, lng, limit)  # a refused text: 422, never a 304
        if (cached := not_modified(engine, if_none_match, max_age)) is not None:
            return cached
        return respond({"snapshot": engine.version, **found.to_dict()}, engine, max_age)

    @router.get(
        "/categories",
        summary="The category tree with labels and counts (filter chips)",
        response_model=CategoriesResponse,
        responses=NOT_MODIFIED,
    )
    async def categories(engine: EngineDep, if_none_match: IfNoneMatch = None) -> Response:
        """Every category path in the snapshot and each of its parents, sorted by path:
        its human label (the source's own wording where it has one) and how many
        merchants are under it. Pass a path as ``categories=`` to filter a search."""
        if (cached := not_modified(engine, if_none_match, max_age)) is not None:
            return cached
        nodes = [
            {**c.to_dict(), "parent": c.path.rsplit("/", 1)[0] if "/" in c.path else None}
            for c in engine.categories()
        ]
        return respond({"snapshot": engine.version, "categories": nodes}, engine, max_age)

    return router
