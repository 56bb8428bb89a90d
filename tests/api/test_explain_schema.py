"""``explain`` is documented field by field in the OpenAPI document (it was an untyped
object in /docs): every kind of explanation the engine makes fits the documented shape,
with no field the documentation lacks."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from pydantic import BaseModel

from geo_discovery.query import Filters, Member, Ranking
from geo_discovery.ranking_profile import RankingProfile
from geo_discovery_api.score_schemas import (
    MemberParts,
    ProfileParts,
    ScoreParts,
    TextParts,
    WordMatchParts,
)

PROFILE = RankingProfile(
    weights=(("wom", 2.0), ("volume", 0.6), ("district", 0.5)),
    gamma=0.8,
    radii=(("", 600.0), ("food", 300.0)),
    member_weights=(("own_visits", 1.7), ("own_category", 0.4)),
)
NESTED: dict[str, type[BaseModel]] = {"member": MemberParts, "profile": ProfileParts,
                                      "text": TextParts}  # fmt: skip


def _documented(parts: dict[str, Any], model: type[BaseModel]) -> None:
    model.model_validate(parts)
    extra = set(parts) - set(model.model_fields)
    assert not extra, f"{model.__name__} does not document {sorted(extra)}"
    for name, sub in NESTED.items():
        if model is ScoreParts and parts.get(name) is not None:
            _documented(parts[name], sub)
    for word in parts.get("words", []) if model is TextParts else []:
        _documented(word, WordMatchParts)


@pytest.mark.parametrize(
    ("profiled", "member", "text"), list(itertools.product([False, True], repeat=3))
)
def test_every_explanation_fits_the_documented_shape(
    sample_engine: Any, profiled: bool, member: bool, text: bool
) -> None:
    ids = sample_engine.merchants.column("merchant_id").to_pylist()[:3]
    res = sample_engine.nearby(
        60.17, 24.94, 8, sort="best_match", explain=True,
        ranking=Ranking(profile=PROFILE) if profiled else None,
        member=Member(visits=ids) if member else None,
        where=Filters(text="cafe") if text else None,
    )  # fmt: skip
    assert len(res) and res.explanations is not None
    for explanation in res.explanations:
        parts = explanation.to_dict()
        _documented(parts, ScoreParts)
        assert ("profile" in parts) == profiled and ("text" in parts) == text
        assert ("member" in parts) == member


def test_the_openapi_document_shows_the_parts(sample_data_dir: Any) -> None:
    from api_support import app_client

    with app_client(sample_data_dir) as client:
        schemas = client.get("/openapi.json").json()["components"]["schemas"]
    explain = schemas["MerchantHit"]["properties"]["explain"]
    assert {"$ref": "#/components/schemas/ScoreParts"} in explain["anyOf"]
    assert {"decay", "wom_term", "member", "profile", "text", "score"} <= set(
        schemas["ScoreParts"]["properties"]
    )
