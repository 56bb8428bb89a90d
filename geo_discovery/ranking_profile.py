"""The learned ranking profile: a frozen value holding fitted ``best_match`` parameters.

:mod:`geo_discovery.ranking.calibrate` fits it from visits, :mod:`geo_discovery.ranking.profile`
turns it into per-merchant scores; this module only holds the value, checks it and reads and
writes it as JSON (a :class:`~geo_discovery.query.Ranking` carries one), and says which file
applies (:func:`profile_file`) and when it changed (:func:`file_stamp`: a server's cheap check).

A file that is not a profile (any JSON shape, truncated, not text) is one
:class:`~geo_discovery.errors.InvalidQueryError` line naming the file and what is expected.

Examples
--------
>>> p = RankingProfile(weights=(("volume", 0.7), ("wom", 1.0)), gamma=1.1,
...                    radii=(("", 800.0), ("food", 500.0)))
>>> p.radius_for("food/coffee"), p.radius_for("shop/clothes")
(500.0, 800.0)
>>> RankingProfile.from_json(p.to_json()) == p
True
>>> RankingProfile.from_json('[]')
Traceback (most recent call last):
...
geo_discovery.errors.InvalidQueryError: ranking profile is malformed: the profile is an array, \
not a JSON object with weights, gamma and radii
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from .errors import InvalidQueryError
from .settings import MEMBER_FEATURES, MEMBER_WEIGHT_MAX
from .timeofweek import N_BINS

__all__ = [
    "PROFILE_FEATURES",
    "PROFILE_FILE",
    "PROFILE_MEMBER_FEATURES",
    "PROFILE_WEIGHT_MAX",
    "RankingProfile",
    "file_stamp",
    "profile_file",
]

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
PROFILE_MEMBER_FEATURES: tuple[str, ...] = MEMBER_FEATURES
#: The largest merchant-feature weight a profile may hold, either sign (calibrate fits
#: single digits): 1e308 ended the CLI with an internal error, 1e3 made explain's factors inf.
PROFILE_WEIGHT_MAX = 100.0

#: What a profile file holds, and what to do about one that is not (in error messages).
_EXPECTED = (
    'a profile is a JSON object {"weights": [[feature, weight], ...], "gamma": number, '
    '"radii": [[category prefix, metres], ...], ...} as `geo-discovery calibrate` writes it: '
    "run calibrate again to rewrite it, or remove the file (best_match then uses the "
    "hand-set ranking_* settings)"
)
_JSON_KINDS = ((dict, "an object"), (list, "an array"), (str, "a string"), (bool, "a boolean"),
               (int, "a number"), (float, "a number"), (type(None), "null"))  # fmt: skip


def _kind(value: object) -> str:
    """The JSON kind of a parsed value, for a message ("an array", "a string"…)."""
    return next((name for t, name in _JSON_KINDS if isinstance(value, t)), type(value).__name__)


def _number(value: object, what: str) -> float:
    """A JSON number as a finite float (``true``, text, NaN, 1e999 are refused)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{what} must be a number, got {_kind(value)}")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise ValueError(f"{what} must be a finite number, got {value!r}")
    return number


def _pairs(raw: Mapping[str, Any], key: str, text: bool = False) -> tuple[tuple[str, Any], ...]:
    """``raw[key]`` (absent: none) as ``(name, number)`` pairs (``text``: ``(name, text)``)."""
    value = raw.get(key, [])
    if not isinstance(value, list):
        raise ValueError(f"{key} must be a list of [name, value] pairs, got {_kind(value)}")
    out = []
    for i, pair in enumerate(value):
        if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)):
            raise ValueError(f"{key}[{i}] must be a [name, value] pair, got {_kind(pair)} "
                             f"{json.dumps(pair)[:40]}")  # fmt: skip
        out.append((pair[0], str(pair[1]) if text else _number(pair[1], f"{key}[{i}] value")))
    return tuple(out)


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
        numbers = self.weights + self.member_weights + self.category_log_share
        if any(not math.isfinite(w) for _, w in numbers):
            problems.append("profile weights and category shares must be finite")
        elif big := [(f, w) for f, w in self.weights if abs(w) > PROFILE_WEIGHT_MAX]:
            problems.append(f"profile weights {big} are out of range; allowed: "
                            f"-{PROFILE_WEIGHT_MAX:g} … {PROFILE_WEIGHT_MAX:g}")  # fmt: skip
        elif bad := [(f, w) for f, w in self.member_weights if not 0 <= w <= MEMBER_WEIGHT_MAX]:
            problems.append(f"profile member weights {bad} are out of range; allowed: 0 … "
                            f"{MEMBER_WEIGHT_MAX:g} (a lift, never a penalty)")  # fmt: skip
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

    @functools.cached_property
    def digest(self) -> str:
        """A short hash of the whole profile (its JSON, ``meta`` included): equal digests,
        equal answers (an ETag or a readiness report can name the profile by it)."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]

    @classmethod
    def from_json(cls, text: str) -> RankingProfile:
        """Parse a profile; anything else is one :class:`InvalidQueryError` line."""
        try:
            raw = json.loads(text, parse_constant=_refuse_constant)
        except json.JSONDecodeError as exc:
            raise InvalidQueryError(f"ranking profile is malformed: not JSON ({exc})") from None
        except (ValueError, RecursionError) as exc:
            raise InvalidQueryError(f"ranking profile is malformed: {exc}") from None
        try:
            return cls._from_raw(raw)
        except InvalidQueryError:  # a value out of range (__post_init__), already one line
            raise
        except (ValueError, TypeError, RecursionError) as exc:
            raise InvalidQueryError(f"ranking profile is malformed: {exc}") from None

    @classmethod
    def _from_raw(cls, raw: Any, where: str = "") -> RankingProfile:
        if not isinstance(raw, Mapping):
            raise ValueError(f"the{where} profile is {_kind(raw)}, not a JSON object with "
                             "weights, gamma and radii")  # fmt: skip
        missing = [key for key in ("weights", "gamma", "radii") if key not in raw]
        if missing:
            raise ValueError(f"the{where} profile has no {' or '.join(missing)}")
        personal = raw.get("personal")
        if personal is not None and not isinstance(personal, Mapping):
            raise ValueError(
                f"personal={personal!r:.40} must be a nested profile (a JSON object) or null"
            )
        time_bin = raw.get("time_bin")
        if time_bin is not None and (isinstance(time_bin, bool) or not isinstance(time_bin, int)):
            raise ValueError(f"time_bin must be an integer or null, got {_kind(time_bin)}")
        return cls(
            weights=_pairs(raw, "weights"),
            gamma=_number(raw["gamma"], "gamma"),
            radii=_pairs(raw, "radii"),
            category_log_share=_pairs(raw, "category_log_share"),
            member_weights=_pairs(raw, "member_weights"),
            personal=None if personal is None else cls._from_raw(personal, " personal"),
            time_bin=time_bin,
            meta=_pairs(raw, "meta", text=True),
        )

    def save(self, path: str | Path) -> Path:
        """Write the profile to ``path`` atomically (a reader, e.g. a server checking the
        file, sees the old file or the new one, never half of one)."""
        path = Path(path)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            tmp.write_text(self.to_json())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return path

    @classmethod
    def load(cls, path: str | Path) -> RankingProfile:
        """Read a profile file; an error names the file and what a profile file holds.

        Examples
        --------
        >>> bad = getfixture("tmp_path") / "ranking_profile.json"
        >>> _ = bad.write_text('{"weights": "a", "gamma": 1, "radii": []}')
        >>> RankingProfile.load(bad)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        geo_discovery.errors.InvalidQueryError: ranking profile .../ranking_profile.json is \
malformed: weights must be a list of [name, value] pairs, got a string; a profile is a JSON...
        """
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise InvalidQueryError(
                f"ranking profile {path} is unreadable: {exc.strerror or exc}"
            ) from None
        try:
            text = data.decode("utf-8")
            if text.strip():
                return cls.from_json(text)
            problem = "the file is empty"
        except UnicodeDecodeError:
            problem = "the file is not UTF-8 text"
        except InvalidQueryError as exc:
            problem = str(exc).removeprefix("ranking profile is malformed: ")
        raise InvalidQueryError(f"ranking profile {path} is malformed: {problem}; {_EXPECTED}")

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


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number a profile may hold")


def profile_file(setting: str | Path | None, snapshot: Path | None) -> Path | None:
    """The profile file ``best_match`` uses: ``setting`` (the ``ranking_profile`` setting)
    when set, else the snapshot folder's :data:`PROFILE_FILE`, else its data dir's (where
    ``geo-discovery calibrate`` writes); ``None``: no file, the hand-set ranking.

    Examples
    --------
    >>> profile_file(None, None) is None, profile_file("p.json", None)
    (True, PosixPath('p.json'))
    """
    if setting is not None:
        return Path(setting).expanduser()
    if snapshot is None:
        return None
    for folder in (snapshot, snapshot.parent.parent):
        if (folder / PROFILE_FILE).exists():  # a folder of that name: said, not ignored
            return folder / PROFILE_FILE
    return None


def file_stamp(path: Path | None) -> tuple[str, int, int, int] | None:
    """What changes when ``path`` is written, replaced or removed: (path, mtime_ns, size,
    inode), ``-1`` each when it cannot be seen; ``None`` for no file. One ``stat``.

    Examples
    --------
    >>> file_stamp(None) is None, file_stamp(Path("/nonexistent/p.json"))[1:]
    (True, (-1, -1, -1))
    """
    if path is None:
        return None
    try:
        st = path.stat()
    except OSError:
        return (str(path), -1, -1, -1)
    return (str(path), st.st_mtime_ns, st.st_size, st.st_ino)
