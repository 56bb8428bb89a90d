"""The OpenAPI shape of ``explain`` (a best_match score's parts): documentation only,
the answers are :meth:`geo_discovery.models.Explanation.to_dict` (a test validates every
kind of explanation against these models)."""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = ["MemberParts", "ProfileParts", "ScoreParts", "TextParts", "WordMatchParts"]


class WordMatchParts(BaseModel):
    """How one word of q matched (``explain.text.words``)."""

    word: str
    field: str | None = Field(description="name, brand, cuisine, address or category.")
    term: str | None = Field(description="The indexed term it matched best.")
    typos: int = Field(ge=0)
    prefix: bool
    score: float


class TextParts(BaseModel):
    """The text query's part of the score (with q only)."""

    query: str
    relevance: float = Field(description="The factor q adds to the product.")
    exactness: float
    words: list[WordMatchParts]
    dropped: list[str] = Field(description="Words of q left out (the fallback).")


class MemberParts(BaseModel):
    """A member's lift (with member or visits): ``boost = min((1 + visits)^own_visits ×
    (1 + category_visits)^own_category, max_lift)``."""

    boost: float
    visits: int = Field(ge=0, description="The member's visits to this merchant.")
    category_visits: int = Field(ge=0, description="… and to its category.")
    own_visits: float
    own_category: float
    max_lift: float


class ProfileParts(BaseModel):
    """A learned ranking profile's part (``model`` "profile"): per feature its ``value``,
    learned ``weight`` and ``factor``; the product of the factors times ``scale``."""

    parts: dict[str, dict[str, float]]
    scale: float


class ScoreParts(BaseModel):
    """Every factor of a best_match score (``explain=true``): they multiply back to
    ``score``. Hand-set ranking: ``decay × wom_term × district_factor`` (× the member's
    ``boost``, × the text's ``relevance``); a learned profile: ``decay × Π profile
    factors × scale`` (× the same). docs/ranking.md describes each part."""

    model: str = Field(description="hand-set, or profile (a learned ranking profile).")
    distance_m: float
    consumption_radius_m: float
    decay: float
    wom_score: float
    wom_confidence: float
    district_id: str | None
    district_term: float
    wom_term: float | None = Field(default=None, description="Hand-set ranking only.")
    district_factor: float | None = Field(default=None, description="Hand-set ranking only.")
    weights: dict[str, float] | None = Field(default=None, description="Hand-set ranking only.")
    profile: ProfileParts | None = None
    member: MemberParts | None = None
    relevance: float | None = Field(default=None, description="With q only.")
    text: TextParts | None = None
    score: float
