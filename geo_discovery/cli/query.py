"""``geo-discovery query …``: nearby, radius, bbox and polygon search on the current snapshot.

Options are parsed into the library's query values (:mod:`geo_discovery.query`), by the
same code the HTTP API uses; results print as a table or as GeoJSON.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from ..errors import InvalidQueryError
from ..query import LIBRARY_SORT, SORTS, Filters, Member
from ..results import Results
from .common import (
    EXIT_CODES_HELP,
    CategoryOption,
    DataDirOption,
    ExcludeOption,
    GeoJSONOption,
    JsonOption,
    LatOption,
    LimitOption,
    LngOption,
    finite_or_none,
    handle_errors,
    open_engine,
    stdout_console,
)

if TYPE_CHECKING:
    from ..engine import DiscoveryEngine

__all__ = ["query_app"]

query_app = typer.Typer(
    help="Query the current snapshot: nearby (k nearest or best), radius, bbox, polygon, "
    "and the search box (--q, autocomplete).\n\n"
    "**Example**: geo-discovery query nearby --lat 40.7580 --lng -73.9855 -k 5",
    epilog=EXIT_CODES_HELP,
    no_args_is_help=True,
    rich_markup_mode="markdown",
)

SortOrder = StrEnum("SortOrder", {s.upper(): s for s in SORTS})  # type: ignore[misc]
"""``--sort`` choices: the library's sorts."""
_DEFAULT_SORT = SortOrder(LIBRARY_SORT)


TextOption = Annotated[
    str | None,
    typer.Option(
        "--q",
        help="Free text (the search box): names, brands, categories ('coffee' finds "
        "cafés), cuisines, streets; typos forgiven by word length, the last word "
        "completes. Weighs best_match, filters the other sorts.",
    ),
]
FilterTextOption = Annotated[
    str | None,
    typer.Option(
        "--q",
        help="Free text (the search box): names, brands, categories ('coffee' finds "
        "cafés), cuisines, streets; typos forgiven by word length, the last word "
        "completes. Keeps the merchants that match; it does not change the order.",
    ),
]


def _where(category: list[str] | None, exclude: list[str] | None, **more: Any) -> Filters:
    """The query's filters from repeatable (or comma-separated) category options."""
    return Filters(
        categories=tuple(category or ()), exclude_categories=tuple(exclude or ()), **more
    )


#: The column a table sorted by ``--sort`` shows its order by: (header, the value's text).
_SORT_COLUMNS: dict[str, tuple[str, Any]] = {
    "rating": ("stars (0-5)", lambda r: _stars(r.get("rating"), r.get("rating_scale"))),
    "review_count": ("review_count", lambda r: _text(r.get("review_count"), "{:,}")),
    "price": ("price_level", lambda r: _text(r.get("price_level"), "{}")),
}


def _text(value: Any, form: str) -> str:
    """``value`` in ``form``; blank when missing (such merchants sort last)."""
    return "" if value is None else form.format(value)


def _stars(rating: Any, scale: Any) -> str:
    """A rating on its source scale as stars 0-5 (what ``--sort rating`` orders by)."""
    if rating is None or not scale:
        return ""
    return f"{rating / scale * 5:.2f}"


def _emit(
    results: Results,
    title: str,
    geojson: bool,
    engine: DiscoveryEngine,
    where: Filters,
    sort: str | None = None,
    *,
    counted: bool = False,
) -> None:
    """Print ``results`` as a table or GeoJSON; ``counted``: ``results.total`` counts every
    match (radius, box, polygon), which GeoJSON then says with ``truncated`` (a nearby
    answer's total is its own length: no count of what lies beyond its k)."""
    if results.dropped_words:  # the search box's fallback: say which words went
        left = ", ".join(repr(w) for w in results.dropped_words)
        typer.echo(f"note: no merchant matches every word of --q; left out: {left}", err=True)
    if unknown := results.unknown_visits:  # a visit that lifts nothing: say so
        typer.echo(
            f"note: --visit: snapshot {results.version} holds no merchant of {unknown} of the "
            f"ids given; those lift nothing (merchant ids as `query nearby` prints them)",
            err=True,
        )
    if not len(results) and where.categories:  # an empty answer: was it the category?
        for prefix in engine.snapshot.unknown_categories(where.categories):
            typer.echo(
                f"note: no merchant of snapshot {results.version} has the category "
                f"{prefix!r} (or one under it); `geo-discovery stats` lists its categories",
                err=True,
            )
    if geojson:
        collection = finite_or_none(results.to_geojson())
        collection["snapshot"] = results.version
        if counted:  # as the HTTP search says: how many matched, and whether --limit cut it
            collection["total"] = results.total
            collection["truncated"] = (results.total or 0) > len(results)
        typer.echo(json.dumps(collection, ensure_ascii=False, allow_nan=False))
        return
    total = f" (of {results.total} matches)" if (results.total or 0) > len(results) else ""
    table = Table(
        title=title, caption=f"{len(results)} results{total} · snapshot {results.version}"
    )
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("distance_m", justify="right", no_wrap=True)
    table.add_column("name", ratio=3)
    table.add_column("category", ratio=2)
    table.add_column("address", ratio=3)
    table.add_column("merchant_id", ratio=2, overflow="fold")
    by = _SORT_COLUMNS.get(sort or "")
    if by is not None:  # the order's own column
        table.add_column(by[0], justify="right", no_wrap=True)
    scored = results.scores is not None and sort in (None, "best_match")
    if scored:
        table.add_column("score", justify="right", no_wrap=True)
    for i, rec in enumerate(results.to_records(), 1):
        row = [
            str(i),
            f"{rec['distance_m']:,.1f}",
            str(rec["name"]),
            str(rec["category"]),
            str(rec.get("address") or ""),
            str(rec["merchant_id"]),
        ]
        if by is not None:
            row.append(by[1](rec))
        if scored:
            row.append(f"{rec['score']:.4f}")
        table.add_row(*row)
    stdout_console().print(table)


@query_app.command()
@handle_errors
def nearby(
    lat: LatOption,
    lng: LngOption,
    k: Annotated[
        int, typer.Option("-k", "--k", help="How many merchants (<= max_k setting).")
    ] = 10,
    radius_m: Annotated[
        float | None, typer.Option("--radius-m", help="Only within this many metres.")
    ] = None,
    category: CategoryOption = None,
    exclude_category: ExcludeOption = None,
    sort: Annotated[
        SortOrder,
        typer.Option(
            "--sort",
            help="distance (exact kNN), best_match (distance decay x word of mouth x "
            "district, see docs/ranking.md), rating, review_count or price (cheap first).",
        ),
    ] = _DEFAULT_SORT,
    min_rating: Annotated[
        float | None,
        typer.Option("--min-rating", help="Only merchants rated at least this (0-5 stars)."),
    ] = None,
    min_reviews: Annotated[
        int | None,
        typer.Option("--min-reviews", help="Only merchants with at least this many reviews."),
    ] = None,
    open_now: Annotated[
        bool, typer.Option("--open-now", help="Only merchants whose opening hours say open now.")
    ] = False,
    explain: Annotated[
        bool,
        typer.Option(
            "--explain",
            help="Print each result's best_match score parts (with another --sort, a note "
            "says they are best_match's, not the order's).",
        ),
    ] = False,
    q: TextOption = None,
    member: Annotated[
        str | None,
        typer.Option(
            "--member",
            help="A member id whose history the snapshot holds: best_match lifts the places "
            "they return to (with --sort best_match).",
        ),
    ] = None,
    visit: Annotated[
        list[str] | None,
        typer.Option(
            "--visit",
            help="A merchant id the member visited (repeatable; 'id@time' allowed): lifts it "
            "and its category under best_match.",
        ),
    ] = None,
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            help="When the visit would be (ISO 8601; without an offset: local time at the "
            "point). With a learned profile that weighs popular times, best_match favours "
            "places busy then (with --sort best_match).",
        ),
    ] = None,
    geojson: GeoJSONOption = False,
    data_dir: DataDirOption = None,
) -> None:
    """The k merchants nearest to a point (exact haversine; ties by merchant_id).

    With `--sort` other than distance, the k best by that order among the matches
    (within `--radius-m` if given), still exact. With `--q`, only merchants matching the
    text; under best_match its relevance joins the score.

    **Examples**

    * `geo-discovery query nearby --lat 60.1699 --lng 24.9384 -k 5`
    * `geo-discovery query nearby --lat 40.7580 --lng -73.9855 -k 10 --radius-m 500 --category food`
    * `geo-discovery query nearby --lat 40.7580 --lng -73.9855 --sort best_match --open-now`
    * `geo-discovery query nearby --lat 40.7580 --lng -73.9855 --sort best_match --q piza --explain`
    * `geo-discovery query nearby --lat 40.758 --lng -73.986 --sort best_match --at 2024-07-13T22`
    * `geo-discovery query nearby --lat 60.1699 --lng 24.9384 --geojson > nearby.geojson`
    """
    where = _where(
        category, exclude_category, min_rating=min_rating, min_reviews=min_reviews,
        open_now=open_now, text=q,
    )  # fmt: skip
    person = None if member is None and not visit else Member(visits=visit, member_id=member)
    engine = open_engine(data_dir)
    try:
        results = engine.nearby(
            lat, lng, k, radius_m=radius_m, sort=sort.value, where=where, explain=explain,
            member=person, at=at,
        )  # fmt: skip
    except InvalidQueryError as exc:  # the library's words name its own parameters
        person_option = "--member" if member is not None else "--visit"
        raise _in_cli_words(exc, sort.value, person_option) from None
    within = f" within {radius_m:g} m" if radius_m is not None else ""
    order = "nearest" if sort.value == "distance" else f"by {sort.value}"
    title = f"{k} {order} to ({lat:g}, {lng:g}){within}"
    _emit(results, title, geojson, engine, where, sort.value)
    if explain and not geojson and results.explanations is not None:
        if sort.value != "best_match":
            typer.echo(
                f"note: --explain shows each result's best_match score parts; this list is "
                f"ordered by --sort {sort.value}, not by those scores",
                err=True,
            )
        for i, ex in enumerate(results.explanations, 1):
            typer.echo(f"{i}: {ex.describe()}")


def _in_cli_words(exc: InvalidQueryError, sort: str, person: str) -> InvalidQueryError:
    """``exc`` with the library's "member ranks best_match only; got sort='distance'"
    said with this command's options (``--member``/``--visit``, ``--at``, ``--sort``)."""
    if not any("ranks best_match only" in p.get("message", "") for p in exc.problems):
        return exc
    problems = []
    for problem in exc.problems:
        option = {"member": person, "at": "--at"}.get(problem.get("parameter", ""))
        if option is not None and "ranks best_match only" in problem.get("message", ""):
            message = (
                f"{option} ranks best_match only; got --sort {sort} (allowed with {option}: "
                "--sort best_match)"
            )
            problem = {**problem, "message": message}
        problems.append(problem)
    return InvalidQueryError("; ".join(p["message"] for p in problems), problems)


@query_app.command()
@handle_errors
def radius(
    lat: LatOption,
    lng: LngOption,
    radius_m: Annotated[float, typer.Option("--radius-m", help="Radius in metres (inclusive).")],
    limit: LimitOption = 50,
    category: CategoryOption = None,
    exclude_category: ExcludeOption = None,
    q: FilterTextOption = None,
    geojson: GeoJSONOption = False,
    data_dir: DataDirOption = None,
) -> None:
    """Every merchant within --radius-m metres of a point, nearest first (up to --limit).

    **Example**

    * `geo-discovery query radius --lat 60.1699 --lng 24.9384 --radius-m 250 --limit 20`
    """
    where = _where(category, exclude_category, text=q)
    engine = open_engine(data_dir)
    results = engine.within_radius(lat, lng, radius_m, where=where, limit=limit)
    title = f"within {radius_m:g} m of ({lat:g}, {lng:g})"
    _emit(results, title, geojson, engine, where, counted=True)


@query_app.command()
@handle_errors
def bbox(
    box: Annotated[
        str,
        typer.Option(
            "--bbox",
            help="west,south,east,north in degrees (west > east crosses the antimeridian).",
            metavar="W,S,E,N",
        ),
    ],
    limit: LimitOption = 50,
    category: CategoryOption = None,
    exclude_category: ExcludeOption = None,
    q: FilterTextOption = None,
    geojson: GeoJSONOption = False,
    data_dir: DataDirOption = None,
) -> None:
    """Every merchant inside a box, nearest to its centre first (up to --limit).

    **Example**

    * `geo-discovery query bbox --bbox 24.93,60.165,24.95,60.175 --limit 20 --q kahvila`
    """
    where = _where(category, exclude_category, text=q)
    engine = open_engine(data_dir)
    results = engine.within_bbox(box, where=where, limit=limit)
    _emit(results, f"inside bbox {box}", geojson, engine, where, counted=True)


@query_app.command()
@handle_errors
def polygon(
    file: Annotated[
        Path,
        typer.Argument(
            help="GeoJSON file: a Polygon/MultiPolygon geometry, Feature or FeatureCollection, "
            "(lng, lat) order.",
            exists=True,
            dir_okay=False,
        ),
    ],
    limit: LimitOption = 50,
    category: CategoryOption = None,
    exclude_category: ExcludeOption = None,
    q: FilterTextOption = None,
    geojson: GeoJSONOption = False,
    data_dir: DataDirOption = None,
) -> None:
    """Every merchant inside a GeoJSON polygon (boundary included), up to --limit.

    **Example**

    * `geo-discovery query polygon district.geojson --category food --geojson`
    """
    where = _where(category, exclude_category, text=q)
    try:
        text = file.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidQueryError(
            f"polygon file {file} is not UTF-8 text (byte {exc.object[exc.start]:#04x} at "
            f"offset {exc.start}); allowed: GeoJSON, which is UTF-8 (RFC 8259, RFC 7946)"
        ) from None
    engine = open_engine(data_dir)
    results = engine.within_polygon(text, where=where, limit=limit)
    _emit(results, f"inside polygon {file.name}", geojson, engine, where, counted=True)


@query_app.command()
@handle_errors
def autocomplete(
    text: Annotated[str, typer.Argument(help="What was typed so far, e.g. \"joe's pi\".")],
    lat: LatOption,
    lng: LngOption,
    limit: LimitOption = 8,
    as_json: JsonOption = False,
    data_dir: DataDirOption = None,
) -> None:
    """What the search box suggests for TEXT typed at a point: merchants nearby (best
    match, the last word completing as a prefix; matched spans in brackets) and the
    categories whose words match.

    **Example**

    * `geo-discovery query autocomplete "joe's pi" --lat 40.7580 --lng -73.9855`
    """
    found = open_engine(data_dir).autocomplete(text, lat, lng, limit)
    if found.dropped_words:  # the search box's fallback, as query nearby --q says it
        left = ", ".join(repr(w) for w in found.dropped_words)
        typer.echo(f"note: no merchant matches every word; left out: {left}", err=True)
    if as_json:
        typer.echo(json.dumps(finite_or_none(found.to_dict()), ensure_ascii=False))
        return
    table = Table(title=f"suggestions for {found.query!r} at ({lat:g}, {lng:g})")
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("name", ratio=3)
    table.add_column("category", ratio=2)
    table.add_column("distance_m", justify="right", no_wrap=True)
    for i, m in enumerate(found.merchants, 1):
        name, shift = m.name, 0
        for a, b in m.highlight:  # mark the matched spans
            name = f"{name[: a + shift]}[{name[a + shift : b + shift]}]{name[b + shift :]}"
            shift += 2
        table.add_row(str(i), name, m.category, f"{m.distance_m:,.0f}")
    console = stdout_console()
    console.print(table)
    for c in found.categories:
        console.print(f"category {c.path} ({c.label}): {c.count:,} merchants")
