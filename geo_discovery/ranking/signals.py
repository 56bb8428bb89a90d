"""Word-of-mouth signals: every rating, sub-score, inspection and review date on one unit scale."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from ..schema import attributes_of
from ..settings import Settings

__all__ = [
    "GRADE_BAND_SCORES",
    "INSPECTION_ZERO_SCORE",
    "SUBSCORE_KEYS",
    "Attributes",
    "as_frame",
    "column_or_none",
    "float_column",
    "grade_to_unit",
    "inspection_score_to_unit",
    "inspection_signal",
    "mean_decay",
    "review_recency",
    "stars_to_unit",
    "subscore_scale",
    "subscore_unit",
    "subscores_outside",
    "to_days",
]


FloatArray = NDArray[np.float64]


DAYS_PER_MONTH = 365.25 / 12


LTM_DAYS = 365.0


#: One star out of five: the floor of every star scale, as a fraction of its top.
STAR_FLOOR = 0.2


#: Inspection score (violation points, lower is better) that maps to 0: twice the NYC
#: C-grade cutoff of 28. A clean inspection (0 points) maps to 1.
INSPECTION_ZERO_SCORE = 56.0


#: Midpoint score of each NYC letter-grade band (A 0–13, B 14–27, C 28+, taken as 28–42).
GRADE_BAND_SCORES: Mapping[str, float] = {"A": 6.5, "B": 20.5, "C": 35.0}


#: Inside Airbnb sub-scores, read from ``attributes``.
SUBSCORE_KEYS = (
    "review_scores_accuracy",
    "review_scores_cleanliness",
    "review_scores_checkin",
    "review_scores_communication",
    "review_scores_location",
    "review_scores_value",
)


_LTM_KEY = "number_of_reviews_ltm"


_INSPECTION_LIST_KEYS = ("grades_json", "grades")


_INSPECTION_COUNT_KEY = "n_inspections"


_ATTR_KEYS = ("review_scores_", _LTM_KEY, "grades", _INSPECTION_COUNT_KEY)


_NEEDED = (
    "category",
    "lat",
    "lng",
    "rating",
    "rating_scale",
    "review_count",
    "reviews_per_month",
    "first_review",
    "last_review",
    "quality_grade",
    "inspection_score",
    "source_file",
    "attributes",
)


# --------------------------------------------------------------------------- unit scales
def stars_to_unit(rating: Any, scale: Any) -> FloatArray:
    """Star ratings on their own scale → 0 (one star) … 1 (the top); NaN when unrated.

    A rating of 0 or less, or a missing scale, means "no rating" (Inside Airbnb writes
    0.0 for some unrated listings; no star scale goes below one star).

    Examples
    --------
    >>> stars_to_unit([5.0, 4.8, 1.0, 94.0, 0.0], [5, 5, 5, 100, 5]).round(3).tolist()
    [1.0, 0.95, 0.0, 0.925, nan]
    """
    r = np.asarray(rating, dtype=np.float64)
    s = np.asarray(scale, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = np.clip((r / s - STAR_FLOOR) / (1.0 - STAR_FLOOR), 0.0, 1.0)
    return np.where((r > 0) & (s > 0) & np.isfinite(r) & np.isfinite(s), unit, np.nan)


def inspection_score_to_unit(score: Any) -> FloatArray:
    """Inspection scores (violation points, lower is better) → 1 (clean) … 0 (56+ points).

    Examples
    --------
    >>> inspection_score_to_unit([0, 13, 28, 80, float("nan")]).round(3).tolist()
    [1.0, 0.768, 0.5, 0.0, nan]
    """
    s = np.asarray(score, dtype=np.float64)
    return np.clip(1.0 - np.maximum(s, 0.0) / INSPECTION_ZERO_SCORE, 0.0, 1.0)


def grade_to_unit(grade: Any) -> FloatArray:
    """Letter grades A/B/C → the unit value of their band's midpoint score; else NaN.

    Examples
    --------
    >>> grade_to_unit(["A", "b", "C", "Z", None]).round(3).tolist()
    [0.884, 0.634, 0.375, nan, nan]
    """
    scores = [
        GRADE_BAND_SCORES.get(str(g).strip().upper(), np.nan) if g else np.nan
        for g in np.asarray(grade, dtype=object).tolist()
    ]
    return inspection_score_to_unit(np.asarray(scores, dtype=np.float64))


def mean_decay(age_new_days: Any, age_old_days: Any, half_life_days: float) -> FloatArray:
    """Mean of ``2 ** (-age / half_life)`` over ages spread evenly in ``[new, old]`` days.

    Negative ages (dates after ``as_of``) count as 0; equal ends give the point value.

    Examples
    --------
    >>> mean_decay([0, 365, 0], [0, 365, 730], 365.0).round(4).tolist()
    [1.0, 0.5, 0.541]
    """
    lam = math.log(2.0) / float(half_life_days)
    a0 = np.maximum(np.asarray(age_new_days, dtype=np.float64), 0.0)
    a1 = np.maximum(np.asarray(age_old_days, dtype=np.float64), a0)
    x = lam * (a1 - a0)
    with np.errstate(invalid="ignore", divide="ignore"):
        spread = np.where(x > 1e-9, -np.expm1(-x) / np.where(x > 0, x, 1.0), 1.0)
    return np.asarray(np.exp(-lam * a0) * spread, dtype=np.float64)


# --------------------------------------------------------------------------- inputs
def as_frame(merchants: pd.DataFrame | pa.Table) -> tuple[pd.DataFrame, pd.Index]:
    if isinstance(merchants, pa.Table):
        cols = [c for c in _NEEDED if c in merchants.column_names]
        frame = merchants.select(cols).to_pandas()
        index: pd.Index = pd.RangeIndex(len(frame))
    elif isinstance(merchants, pd.DataFrame):
        frame = merchants.loc[:, [c for c in _NEEDED if c in merchants.columns]]
        index = merchants.index
        frame = frame.reset_index(drop=True)
    else:
        kind = type(merchants).__name__
        raise TypeError(f"merchants must be a pandas DataFrame or a pyarrow Table, got {kind}")
    for col in ("category", "lat", "lng"):
        if col not in frame.columns:
            raise ValueError(
                f"merchants is missing the column {col!r}; allowed: the canonical schema"
            )
    return frame, index


def float_column(frame: pd.DataFrame, col: str) -> FloatArray:
    if col not in frame.columns:
        return np.full(len(frame), np.nan)
    return np.asarray(
        pd.to_numeric(frame[col], errors="coerce").astype("float64"), dtype=np.float64
    )


def to_days(values: Any) -> FloatArray:
    """Dates → float days since 1970-01-01; NaN where missing or unparseable."""
    series = values if isinstance(values, pd.Series) else pd.Series(values, dtype=object)
    if not pd.api.types.is_datetime64_any_dtype(series.dtype):
        series = pd.to_datetime(series.astype(object), errors="coerce", format="mixed")
    out = series.to_numpy(dtype="datetime64[s]")
    days = out.astype("int64").astype(np.float64) / 86400.0
    days[np.isnat(out)] = np.nan
    return days


def _numbers(values: list[Any]) -> FloatArray:
    out = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(np.float64)
    return np.where(np.isfinite(out), out, np.nan)


class Attributes:
    """Signals that live in the untouched source row (``attributes`` JSON)."""

    def __init__(self, frame: pd.DataFrame) -> None:
        n = len(frame)
        self.subscores = np.full((n, len(SUBSCORE_KEYS)), np.nan)
        self.ltm = np.full(n, np.nan)
        self.inspection_count = np.full(n, np.nan)
        rows: list[int] = []
        dates: list[Any] = []
        scores: list[Any] = []
        grades: list[str] = []
        if "attributes" in frame.columns and n:
            hit = _rows_with_signals(frame["attributes"])
            # only the rows that mention a key become Python strings (~200 B a row)
            texts = frame["attributes"].iloc[hit].to_numpy(dtype=object)
            parsed = [attributes_of(v) for v in texts]
            for j, key in enumerate(SUBSCORE_KEYS):
                self.subscores[hit, j] = _numbers([p.get(key) for p in parsed])
            self.ltm[hit] = _numbers([p.get(_LTM_KEY) for p in parsed])
            self.inspection_count[hit] = _numbers([p.get(_INSPECTION_COUNT_KEY) for p in parsed])
            for i, attrs in zip(hit.tolist(), parsed, strict=True):
                for item in _inspection_list(attrs):
                    rows.append(i)
                    dates.append(_date_text(item.get("date")))
                    scores.append(item.get("score"))
                    grades.append(str(item.get("grade") or ""))
        self.insp_row = np.asarray(rows, dtype=np.int64)
        self.insp_day = to_days(dates) if dates else np.zeros(0)
        unit = inspection_score_to_unit(_numbers(scores))
        self.insp_unit = np.where(np.isfinite(unit), unit, grade_to_unit(grades)) if rows else unit


def _rows_with_signals(column: pd.Series) -> NDArray[np.intp]:
    """Rows whose attributes mention a recognised key (a plain substring test, then parse):
    Arrow's substring kernel over the column (a Python ``in`` per row and key took ~3 s a
    million rows); a column Arrow cannot read as strings is tested row by row.

    >>> _rows_with_signals(pd.Series(['{"grades": []}', None, "{}", 7, '{"n_inspections": 2}']))
    array([0, 4])
    """
    try:
        arr = pa.array(column, type=pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        values = column.to_numpy(dtype=object).tolist()
        return np.flatnonzero([isinstance(v, str) and any(k in v for k in _ATTR_KEYS)
                               for v in values])
    hit = np.zeros(len(arr), dtype=bool)
    for key in _ATTR_KEYS:
        hit |= pc.fill_null(pc.match_substring(arr, key), False).to_numpy(zero_copy_only=False)
    return np.flatnonzero(hit)


def _num(value: Any) -> float:
    if value is None or value == "" or isinstance(value, bool):
        return np.nan
    try:
        out = float(value)
    except (TypeError, ValueError):
        return np.nan
    return out if math.isfinite(out) else np.nan


def _inspection_list(attrs: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    for key in _INSPECTION_LIST_KEYS:
        value = attrs.get(key)
        if isinstance(value, str) and value.strip().startswith("["):
            try:
                value = orjson.loads(value)
            except orjson.JSONDecodeError:
                continue
        if isinstance(value, list):
            return [v for v in value if isinstance(v, Mapping)]
    return []


def _date_text(value: Any) -> Any:
    if isinstance(value, Mapping):  # MongoDB extended JSON {"$date": ...}
        value = value.get("$date")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return pd.Timestamp(value, unit="ms")  # epoch milliseconds
    return value


def subscore_scale(
    cells: FloatArray, above5: FloatArray, above10: FloatArray, rating_scale_max: FloatArray
) -> FloatArray:
    """Each source file's sub-score scale from its sub-score cells (``cells`` of them,
    ``above5`` and ``above10`` above 5 and 10), by the rule a file's rating scale follows
    (:func:`~geo_discovery.ingest.ratings.infer_rating_scale`): 0–5 unless at least half
    of them are above 5 (0–10) or above 10 (0–100), at least 10 where the file's star
    scale is 100 (Inside Airbnb's 0-100 era had 0-10 sub-scores); NaN for a file without
    sub-scores. A stray 10 or 50 among 0–5 sub-scores is an outlier, not a new scale:
    :func:`subscore_unit` leaves it out.

    >>> subscore_scale(np.array([9.0, 9, 9, 9, 0]), np.array([0.0, 1, 9, 0, 0]),
    ...                np.array([0.0, 1, 0, 0, 0]), np.array([5.0, 5, 5, 100, 0])).tolist()
    [5.0, 5.0, 10.0, 10.0, nan]
    """
    half = 0.5 * np.asarray(cells, dtype=np.float64)
    scale = np.where(above5 >= half, np.where(above10 >= half, 100.0, 10.0), 5.0)
    scale = np.where(rating_scale_max >= 100, np.fmax(scale, 10.0), scale)
    return np.where(cells > 0, scale, np.nan)


def subscore_unit(subscores: FloatArray, scale: FloatArray) -> FloatArray:
    """Mean unit value of each row's sub-scores, on its row's ``scale``
    (:func:`subscore_scale` of its source file); NaN where it has none. A sub-score above
    the scale is left out (an outlier of its file, see :func:`subscore_scale`)."""
    top = np.asarray(scale, dtype=np.float64)[:, None]
    with np.errstate(invalid="ignore"):
        within = np.where(subscores <= top, subscores, np.nan)
    unit = stars_to_unit(within, top)
    with np.errstate(all="ignore"):
        counts = np.isfinite(unit).sum(axis=1)
        return np.where(counts > 0, np.nansum(unit, axis=1) / np.maximum(counts, 1), np.nan)


def subscores_outside(subscores: FloatArray, scale: FloatArray) -> int:
    """How many sub-scores :func:`subscore_unit` leaves out as above their file's scale."""
    with np.errstate(invalid="ignore"):
        return int((subscores > np.asarray(scale, dtype=np.float64)[:, None]).sum())


def column_or_none(frame: pd.DataFrame, col: str) -> Any:
    return frame[col] if col in frame.columns else [None] * len(frame)


def review_recency(
    n: FloatArray,
    ltm: FloatArray,
    start: FloatArray,
    end: FloatArray,
    newest: FloatArray,
    now: FloatArray,
    half_life: float,
) -> FloatArray:
    """Mean decay weight of a merchant's reviews; 1 where they are undated."""
    whole = mean_decay(now - end, now - start, half_life)
    # with a last-12-months count: ltm reviews in [max(start, cut), end], the rest before cut
    cut = newest - LTM_DAYS
    split = np.isfinite(ltm) & (n > 0) & np.isfinite(start) & np.isfinite(cut)
    share = np.where(split, np.clip(ltm, 0.0, n) / np.where(n > 0, n, 1.0), 0.0)
    recent = mean_decay(now - end, now - np.fmax(start, np.fmin(cut, end)), half_life)
    older = mean_decay(now - np.fmin(end, cut), now - np.fmin(start, cut), half_life)
    weight = np.where(split, share * recent + (1 - share) * older, whole)
    return np.where(np.isfinite(weight), weight, 1.0)


def inspection_signal(
    frame: pd.DataFrame, attrs: Attributes, now: FloatArray, n_rows: int, s: Settings
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Inspection signal (unit scale), evidence (review-equivalents), mean decay per row."""
    signal: FloatArray = np.full(n_rows, np.nan)
    evidence: FloatArray = np.zeros(n_rows)
    recency: FloatArray = np.full(n_rows, np.nan)
    listed = np.zeros(n_rows, dtype=bool)
    ok = np.isfinite(attrs.insp_unit) if len(attrs.insp_row) else np.zeros(0, dtype=bool)
    if ok.any():
        rows, unit = attrs.insp_row[ok], attrs.insp_unit[ok]
        age = now[rows] - attrs.insp_day[ok]
        w = mean_decay(age, age, s.wom_half_life_days)
        w = np.where(np.isfinite(w), w, 1.0)
        wsum = np.bincount(rows, weights=w, minlength=n_rows)
        wq = np.bincount(rows, weights=w * unit, minlength=n_rows)
        listed = wsum > 0
        signal = np.where(listed, wq / np.where(listed, wsum, 1.0), np.nan)
        evidence = np.asarray(s.wom_inspection_weight * wsum, dtype=np.float64)
        seen = np.bincount(rows, minlength=n_rows)
        recency = np.where(listed, wsum / np.maximum(seen, 1), np.nan)
    # no inspection list: the summary score and/or grade, undated
    score_unit = inspection_score_to_unit(float_column(frame, "inspection_score"))
    grade_unit = grade_to_unit(column_or_none(frame, "quality_grade"))
    both = np.vstack([score_unit, grade_unit])
    known = np.isfinite(both).sum(axis=0)
    summary = np.where(known > 0, np.nansum(both, axis=0) / np.maximum(known, 1), np.nan)
    count = attrs.inspection_count
    summary_n = np.where(np.isfinite(count) & (count > 0), count, 1.0)
    use = ~listed & np.isfinite(summary)
    signal = np.where(use, summary, signal)
    evidence = np.where(use, s.wom_inspection_weight * summary_n, evidence)
    recency = np.where(use, 1.0, recency)
    return signal, evidence, recency
