"""The learned ranking profile: a frozen value holding fitted ``best_match`` parameters.

:mod:`geo_discovery.ranking.calibrate` fits it from visits, :mod:`geo_discovery.ranking.profile`
turns it into per-merchant scores; this module only holds the value, checks it and reads and
writes it as JSON (a :class:`~geo_discovery.query.Ranking` carries one).

Examples
--------
>>> p = RankingProfile(weights=(("volume", 0.7), ("wom", 1.0)), gamma=1.1,
...                    radii=(("", 800.0), ("food", 500.0)))
>>> p.radius_for("food/coffee"), p.radius_for("shop/clothes")
(500.0, 800.0)
>>> RankingProfile.from_json(p.to_json()) == p
True
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from .errors import InvalidQueryError
from .timeofweek import N_BINS

__all__ = ["PROFILE_FEATURES", "PROFILE_FILE", "PROFILE_MEMBER_FEATURES", "RankingProfile"]

#: A snapshot's (or a data dir's) learned profile: the engine reads it when present.
PROFILE_FILE = "ranking_profile.json"

#: Merchant features a learned ranking profile may weigh (geo_discovery.ranking.profile).
PROFILE_FEATURES: tuple[str, ...] = (
    "wom",
    "volume",
    "recency",
    "repeat",
    "district",
    "category",
    "busy",
)
#: Member features: log(1 + the member's visits to this merchant / to its category).
PROFILE_MEMBER_FEATURES: tuple[str, ...] = ("own_visits", "own_category")


def _lookup(table: Mapping[str, float], category: str, default: float) -> float:
    path = str(category)
    while True:
        if path in table:
            return float(table[path])
        if "/" not in path:
            return float(table.get("", default))
        path = path.rsplit("/", 1)[0]


@dataclass(frozen=True)
class RankingProfile:
    """Fitted ``best_match`` parameters (module doc). Frozen and hashable.

    Parameters
    ----------
    weights
        ``(feature, weight)`` pairs over :data:`FEATURES`.
    gamma
        Distance exponent ``γ > 0``: the decay is ``(1 + (d/R)²)^-γ``.
    radii
        ``(category prefix, metres)``: ``R_c`` by longest prefix; ``""`` is the fallback.
    category_log_share
        ``(category prefix, log share of chosen visits)`` for the ``category`` feature.
    member_weights
        ``(feature, weight)`` over :data:`MEMBER_FEATURES` (empty: no personal terms).
    personal
        The model for a query with a member (:meth:`for_member`): fitted jointly with
        the member weights, so its own weights, γ and radii; ``None``: this one.
    time_bin
        The time-of-week bin the ``busy`` feature is read at
        (:mod:`geo_discovery.timeofweek`; :meth:`at_bin`); ``None``: no time, ``busy`` is 0.
    meta
        ``(key, value)`` facts about the fit (data, window, log-likelihood…), as text.
    """

    weights: tuple[tuple[str, float], ...]
    gamma: float
    radii: tuple[tuple[str, float], ...]
    category_log_share: tuple[tuple[str, float], ...] = ()
    member_weights: tuple[tuple[str, float], ...] = ()
    personal: RankingProfile | None = None
    time_bin: int | None = None
    meta: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        problems = []
        unknown = [f for f, _ in self.weights if f not in PROFILE_FEATURES]
        unknown += [f for f, _ in self.member_weights if f not in PROFILE_MEMBER_FEATURES]
        if unknown:
            problems.append(
                f"profile features {unknown} are not known; allowed: "
                f"{', '.join(PROFILE_FEATURES + PROFILE_MEMBER_FEATURES)}"
            )
        if not (math.isfinite(self.gamma) and 0.01 <= self.gamma <= 20):
            problems.append(f"profile gamma={self.gamma!r} is out of range; allowed: 0.01 … 20")
        bad = [(k, r) for k, r in self.radii if not (math.isfinite(r) and 1 <= r <= 1e6)]
        if bad or "" not in dict(self.radii):
            problems.append(
                "profile radii must hold a fallback '' and metres in 1 … 1e6; got "
                f"{bad or 'no fallback'}"
            )
        if any(not math.isfinite(w) for _, w in self.weights + self.member_weights):
            problems.append("profile weights must be finite")
        if self.time_bin is not None and (
            type(self.time_bin) is not int or not 0 <= self.time_bin < N_BINS
        ):
            problems.append(
                f"profile time_bin={self.time_bin!r} is out of range; allowed: 0 … {N_BINS - 1}"
            )
        if problems:
            raise InvalidQueryError("; ".join(problems))

    # ------------------------------------------------------------------ io
    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> RankingProfile:
        try:
            return cls._from_raw(json.loads(text))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise InvalidQueryError(f"ranking profile is malformed: {exc}") from None

    @classmethod
    def _from_raw(cls, raw: Mapping[str, Any]) -> RankingProfile:
        personal = raw.get("personal")
        if personal is not None and not isinstance(personal, Mapping):
            raise ValueError(
                f"personal={personal!r} must be a nested profile (a JSON object) or null"
            )
        return cls(
            weights=tuple((str(k), float(v)) for k, v in raw["weights"]),
            gamma=float(raw["gamma"]),
            radii=tuple((str(k), float(v)) for k, v in raw["radii"]),
            category_log_share=tuple(
                (str(k), float(v)) for k, v in raw.get("category_log_share", [])
            ),
            member_weights=tuple((str(k), float(v)) for k, v in raw.get("member_weights", [])),
            personal=None if personal is None else cls._from_raw(personal),
            time_bin=None if raw.get("time_bin") is None else int(raw["time_bin"]),
            meta=tuple((str(k), str(v)) for k, v in raw.get("meta", [])),
        )

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(self.to_json())
        return path

    @classmethod
    def load(cls, path: str | Path) -> RankingProfile:
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise InvalidQueryError(f"ranking profile {path} is unreadable: {exc}") from None
        return cls.from_json(text)

    # --------------------------------------------------------------- scoring
    def weight(self, feature: str) -> float:
        return dict(self.weights).get(feature, 0.0)

    def member_weight(self, feature: str) -> float:
        return dict(self.member_weights).get(feature, 0.0)

    def for_member(self) -> RankingProfile:
        """The profile a query with a member ranks by: :attr:`personal`, else this one."""
        return self.personal or self

    def at_bin(self, time_bin: int | None) -> RankingProfile:
        """This profile (and its ``personal`` model) read at a time-of-week bin. A model
        without a ``busy`` weight keeps ``time_bin=None``: a time changes nothing it does
        not score, and its cached arrays stay shared."""
        personal = None if self.personal is None else self.personal.at_bin(time_bin)
        own = time_bin if self.weight("busy") else None
        if own == self.time_bin and personal == self.personal:
            return self
        return replace(self, time_bin=own, personal=personal)

    def radius_for(self, category: str) -> float:
        return _lookup(dict(self.radii), category, 1_500.0)

    def category_share(self, category: str) -> float:
        table = dict(self.category_log_share)
        return _lookup(table, category, min(table.values(), default=0.0))
