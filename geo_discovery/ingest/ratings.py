"""Ratings and the scale they are on, decided only from clear evidence.

A cell can state its own scale: ``4.5/5`` or ``8 out of 10`` (the number after the
slash), ``95%`` (0–100). Otherwise the scale is the one given (``rating_scale`` of a
mapping, ``--rating-scale``), else inferred per file from its ratings:

- 0–5 unless *most* ratings say otherwise: at least half above 5 gives 0–10, and at
  least half above 10 gives 0–100 (a 0–100 file is mostly 60–100; a single ``7``
  among stars is an outlier, not a new scale);
- ratings outside the scale are left empty, each a warning naming the value and the
  scale; so is a rating of 10 or less in a file inferred to be 0–100 (such a file is
  mostly 60–100, and 20 is one star: 4.95 there is a rating on another scale, from a
  file that mixes two); when more than 5 % of them are outside it, or a scale above 5
  rests on fewer than 5 ratings, the scale is reported as *ambiguous*;
- rows already rejected (``skip``: a wrong field count puts another column's value, a
  zip code, where the rating is) take no part in the guess, nor in its note's counts.

The summary prints each file's scale (``0–5 (inferred)``, ``0–100 (given)``,
``0–5 (ambiguous)``…) and a note for outliers and ambiguity.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .validate import Problems, fmt_number, keep_mask, missing_mask, parse_float
from .values import read_numbers

__all__ = ["ScaleInference", "infer_rating_scale", "rating_columns", "scale_label"]

#: A larger scale needs at least this share of the ratings above the smaller one.
CLEAR_MAJORITY = 0.5
#: More than this share of ratings outside the inferred scale makes it ambiguous.
OUTLIER_SHARE = 0.05
#: A scale above 5 inferred from fewer ratings than this is ambiguous.
MIN_EVIDENCE = 5
#: In a file inferred to be 0–100, a rating above 0 and at most this is on another scale.
LOW_ON_100 = 10.0
_FRACTION = r"^(.+?)[ ]*(?:/|[ ]out[ ]of[ ])[ ]*([0-9]+(?:[.,][0-9]+)?)$"


@dataclass(frozen=True)
class ScaleInference:
    """A file's inferred rating scale, whether the evidence is clear, and why."""

    scale: float
    clear: bool
    evidence: str
    #: Ratings above 0 and at most this are outliers too (10 for an inferred 0–100).
    floor: float = 0.0


def scale_label(scale: float) -> str:
    """``0–5`` for a scale whose top is 5."""
    return f"0–{fmt_number(scale)}"


def infer_rating_scale(rating: np.ndarray) -> ScaleInference:
    """The top of a file's rating scale from its ratings (see the module docstring).

    Examples
    --------
    >>> infer_rating_scale(np.array([4.5, np.nan, 5.0, 7.0] + [4.0] * 30)).scale
    5.0
    >>> infer_rating_scale(np.array([94.0, 88.0, 100.0, 3.0, 97.0, 91.0])).scale
    100.0
    >>> infer_rating_scale(np.array([94.0, 88.0, 4.9, 4.5, 97.0, 91.0])).clear  # two scales
    False
    >>> infer_rating_scale(np.array([4.0, 7.0, 3.0])).clear  # a third above 5: unclear
    False
    """
    values = rating[np.isfinite(rating) & (rating >= 0)]
    if not values.size:
        return ScaleInference(5.0, True, "no ratings")
    scale = 5.0
    if np.mean(values > 5.0) >= CLEAR_MAJORITY:
        scale = 100.0 if np.mean(values > 10.0) >= CLEAR_MAJORITY else 10.0
    floor = LOW_ON_100 if scale == 100.0 else 0.0
    low = int(((values > 0) & (values <= floor)).sum())  # on another scale (a 0–100 file)
    within = int((values <= scale).sum()) - low
    outside = values.size - within
    clear = outside <= OUTLIER_SHARE * values.size and (
        scale == 5.0 or values.size >= MIN_EVIDENCE
    )
    evidence = (f"{int((values <= scale).sum()):,} of {values.size:,} ratings are "
                f"<= {fmt_number(scale)}")
    if scale > 5.0:
        above = int((values > (5.0 if scale == 10.0 else 10.0)).sum())
        evidence += f", {above:,} above {5 if scale == 10.0 else 10}"
    if low:
        evidence += f", {low:,} of 10 or less (as on a 0–5 or 0–10 scale)"
    return ScaleInference(scale, clear, evidence, floor)


def rating_columns(
    series: pd.Series,
    field: str,
    problems: Problems,
    *,
    scale: float | None = None,
    skip: np.ndarray | None = None,
    decimal: str | None = None,
    fallback_decimal: str | None = None,
) -> dict[str, pd.Series]:
    """``rating`` and ``rating_scale`` columns from a source column of ratings.

    Unreadable ratings and ratings outside their scale are warnings (left empty).

    Examples
    --------
    >>> p = Problems(4)
    >>> cols = rating_columns(pd.Series(["4.5", "9/10", "95%", "4,5"]), "stars", p)
    >>> cols["rating"].tolist(), cols["rating_scale"].tolist()
    ([4.5, 9.0, 95.0, 4.5], [5.0, 10.0, 100.0, 5.0])
    >>> p.info["rating scale"]
    '0–5 (inferred); some per value'
    """
    n = len(series)
    keep = keep_mask(skip, n)
    if series.dtype.kind in "fiu":
        values = parse_float(series, field, problems, skip=skip)
        row_scale = np.full(n, np.nan)
    else:
        values, row_scale = _read_cells(series, field, problems, keep, decimal,
                                        fallback_decimal)
    given = scale is not None
    # Rows already rejected (``skip``: field count, encoding…) take no part: their cells
    # are other columns' values (a zip code where a rating should be).
    inference = infer_rating_scale(values[keep & ~np.isfinite(row_scale)])
    top = float(scale) if scale is not None else inference.scale
    scales = np.where(np.isfinite(row_scale), row_scale, top)
    rated = np.isfinite(values) & keep
    implicit = rated & ~np.isfinite(row_scale)
    floor = 0.0 if given else inference.floor
    with np.errstate(invalid="ignore"):
        low = implicit & (values > 0) & (values <= floor)
        off = rated & ((values < 0) | (values > scales) | low)
    how = "given" if given else f"inferred: {inference.evidence}"

    def message(idx: np.ndarray) -> list[str]:
        out = []
        for i in idx:
            source = how if np.isnan(row_scale[i]) else "written in the cell"
            if low[i]:
                out.append(f"{field} {fmt_number(values[i])} is not on its file's "
                           f"{scale_label(scales[i])} rating scale ({source}; allowed there: "
                           f"0 or above {fmt_number(floor)}): a rating on another scale")
                continue
            out.append(f"{field} {fmt_number(values[i])} is outside its "
                       f"{scale_label(scales[i])} rating scale ({source})")
        return out

    problems.add(off, message, warning=True)  # (messages are built later: keep the arrays)
    kept = np.where(off, np.nan, values)
    kept_scales = np.where(np.isfinite(kept), scales, np.nan)
    if rated.any():
        problems.info["rating scale"] = _label(top, given, inference, implicit, rated)
        outliers = off & implicit
        if not given and not inference.clear:
            problems.note(
                f"{field}: the rating scale is ambiguous ({inference.evidence}); read as "
                f"{scale_label(top)} and {int(outliers.sum())} rating(s) outside it left "
                "empty; pass --rating-scale to state it"
            )
        elif outliers.any():
            example = fmt_number(float(values[np.flatnonzero(outliers)[0]]))
            problems.note(
                f"{field}: {int(outliers.sum())} rating(s) outside the {scale_label(top)} "
                f"scale ({how}), such as {example}, left empty"
            )
    return {"rating": pd.Series(kept), "rating_scale": pd.Series(kept_scales)}


def _label(
    top: float, given: bool, inference: ScaleInference, implicit: np.ndarray, rated: np.ndarray
) -> str:
    if not implicit.any():
        return "per value"
    word = "given" if given else "inferred" if inference.clear else "ambiguous"
    label = f"{scale_label(top)} ({word})"
    return label + "; some per value" if (rated & ~implicit).any() else label


def _read_cells(
    series: pd.Series,
    field: str,
    problems: Problems,
    keep: np.ndarray,
    decimal: str | None,
    fallback: str | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Values and per-cell scales (``4.5/5``, ``95%``; NaN when the cell gives none)."""
    text = series.astype("str").fillna("").str.strip()
    missing = missing_mask(text)
    parts = text.str.extract(_FRACTION)
    fraction = np.asarray(parts[0].notna(), dtype=bool) & ~missing
    numerators = text.where(~fraction, parts[0].fillna("").str.strip())
    reading = read_numbers(numerators, missing, field=field, decimal=decimal, fallback=fallback)
    row_scale = np.full(len(text), np.nan)
    row_scale[reading.percent] = 100.0
    bad = reading.bad.copy()
    if fraction.any():
        tops = read_numbers(parts[1].fillna("").where(fraction, ""), ~fraction, field=field,
                            decimal=decimal, decorations=False)
        row_scale[fraction] = tops.values[fraction]
        with np.errstate(invalid="ignore"):
            bad |= fraction & (tops.bad | ~(tops.values > 0))
    endless = np.isinf(reading.values) & ~bad  # "inf", "1e400": read, but no rating
    values = np.where(bad | endless, np.nan, reading.values)
    row_scale[bad | endless] = np.nan

    def message(what: str) -> Callable[[np.ndarray], list[str]]:
        return lambda idx: [f"{field} {cell!r} {what}" for cell in text.iloc[idx].tolist()]

    problems.add(bad & keep, message("is not a number"), warning=True)
    problems.add(endless & keep, message("is not a finite number"), warning=True)
    if (keep & ~missing).any():
        problems.note(reading.note)
    return values, row_scale
