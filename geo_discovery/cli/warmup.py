"""``geo-discovery warm-up``: compile every cached numba kernel once, at install time.

The kernels (:mod:`geo_discovery.search.kernels`, ``ranked``, ``shortlist``, ``textvocab``,
``textscore``, ``sparsebounds``, :mod:`geo_discovery.distance`, :mod:`geo_discovery.tiles.mvt`)
are ``@njit(cache=True)``: the first process that calls one with a given argument-type
signature compiles it (seconds each, ~30 s for the parallel ``knn_batch``) and writes it to
``__pycache__`` beside the source; later processes load it from there. numba keys a cached
kernel by its source file's folder (a fresh clone has none), the file's content, the
signature and the CPU, so ``make install`` runs this once in the checkout it installed.

Rather than guess signatures, :func:`warm_up` runs the same calls real use makes, on a
small generated city: a load through the pipeline (index build, derivers), then every
query kind on the snapshot opened from disk (memory-mapped, read-only arrays) and on the
same merchants in memory (:meth:`DiscoveryEngine.from_table`: writable arrays, the other
signature the tests and notebooks use). Before that it builds the single-query kernels
ahead of time (:mod:`geo_discovery.search.aot`), which a fresh process calls without
numba's start-up.

Examples
--------
>>> from geo_discovery.cli.warmup import city_csv
>>> text = city_csv(30, seed=1)
>>> text.splitlines()[0].split(",")[:4]
['id', 'name', 'lat', 'lng']
"""

from __future__ import annotations

import functools
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from ..engine import DiscoveryEngine
from ..models import BBox
from ..query import Filters, Member
from ..ranking.derived import member_ranking
from ..search import aot
from ..search.shortlist import MEMBER_K, K
from ..settings import Settings
from ..snapshot.pipeline import load

__all__ = ["city_csv", "exercise", "warm_up", "warm_up_command"]

_CATEGORIES = ("cafe", "restaurant", "bar", "bakery", "pharmacy", "supermarket")
_SORTS = ("distance", "best_match", "rating", "review_count", "price")
_CENTRE = (60.17, 24.94)


def city_csv(n: int = 600, *, seed: int = 7) -> str:
    """A generic-profile CSV of ``n`` merchants in a few dense blocks around Helsinki
    (blocks so districts form), with ratings, reviews, prices, hours and brands."""
    rng = np.random.default_rng(seed)
    block = rng.integers(0, 4, n)
    lat = _CENTRE[0] + block * 0.01 + rng.normal(0, 0.0015, n)
    lng = _CENTRE[1] + block * 0.015 + rng.normal(0, 0.0025, n)
    lines = [
        "id,name,lat,lng,category,price_level,opening_hours,rating,rating_scale,"
        "review_count,reviews_per_month,first_review,last_review,brand"
    ]
    for i in range(n):
        cat = _CATEGORIES[i % len(_CATEGORIES)]
        brand = "Chain" if i % 9 == 0 else ""
        hours = "Mo-Su 00:00-24:00" if i % 3 else "Mo-Fr 09:00-17:00"
        lines.append(
            f"w{i},{cat.title()} {i},{lat[i]:.6f},{lng[i]:.6f},{cat},{1 + i % 4},{hours},"
            f"{1 + (i * 7) % 40 / 10:.1f},5,{(i * 13) % 300},{(i % 11) / 3:.2f},"
            f"2021-0{1 + i % 9}-01,2024-0{1 + i % 9}-15,{brand}"
        )
    return "\n".join(lines) + "\n"


def _shortlisted(engine: DiscoveryEngine, lat: float, lng: float, member: Member) -> object:
    """Build the default ranking's cell shortlists and its members' deeper ones now (a
    query builds them on a thread, which may not finish before this process ends) and
    answer queries from them: a member's twice (the first makes the leaf's list under
    their lift, the second reads it: search/memberlists.py)."""
    for ranking, depth in ((engine.ranking, K), (member_ranking(engine.ranking), MEMBER_K)):
        lists = engine.planner.shortlists(ranking, depth)
        if lists is not None:
            lists.build_all()
    engine.nearby(lat, lng, 10, sort="best_match", member=member)
    engine.nearby(lat, lng, 10, sort="best_match", member=member)
    return engine.nearby(lat, lng, 20, sort="best_match")


def exercise(engine: DiscoveryEngine) -> int:
    """Make every kind of query once on ``engine`` (each kernel with this engine's array
    types); returns the number of calls."""
    lat, lng = _CENTRE[0] + 0.01, _CENTRE[1] + 0.015
    codes, vocab = engine.snapshot.categories
    top = Filters(categories=(vocab[int(np.bincount(codes).argmax())],))
    first = str(engine.merchants.column("merchant_id")[0].as_py())
    member = Member(visits=[first, first])
    box = BBox(south=lat - 0.01, west=lng - 0.02, north=lat + 0.01, east=lng + 0.02)
    ring = [[box.west, box.south], [box.east, box.south], [box.east, box.north]]
    ring.append(ring[0])
    triangle = {"type": "Polygon", "coordinates": [ring]}
    calls: list[Callable[[], Any]] = [
        lambda: engine.warm(),
        lambda: _shortlisted(engine, lat, lng, member),
        lambda: engine.nearby(lat, lng, 20),
        lambda: engine.nearby(lat, lng, 20, radius_m=400.0),
        lambda: engine.within_radius(lat, lng, 500.0),
        lambda: engine.within_radius(lat, lng, 500.0, where=top),
        lambda: engine.nearby(lat, lng, 10, sort="best_match", member=member),
        lambda: engine.nearby(lat, lng, 10, where=Filters(text="cafe"), sort="best_match"),
        lambda: engine.nearby(lat, lng, 10, where=Filters(text="bakery")),
        lambda: engine.nearby(lat, lng, 10, where=Filters(open_now=True), sort="rating"),
        lambda: engine.within_bbox(box, where=top),
        lambda: engine.within_bbox(box, sort="rating", origin=(lat, lng)),
        lambda: engine.within_polygon(triangle),
        lambda: engine.nearby_many([lat, lat + 0.001, 89.9], [lng, lng, -179.9], 5),
        lambda: engine.nearby_many([lat, lat + 0.001], [lng, lng], 5, radius_m=300.0, where=top),
        lambda: engine.autocomplete("caf", lat, lng),
        lambda: engine.tile(14, 9326, 4742),
        lambda: engine.tile(12, 2331, 1185, where=top),
        lambda: engine.aggregate(box, 9),
        lambda: engine.categories(),
        lambda: engine.stats(),
    ]
    for sort in _SORTS:
        for where in (None, top):
            calls.append(functools.partial(_two_pages, engine, lat, lng, sort, where))
    districts = engine.snapshot.districts
    if districts is not None and len(districts.ids):
        district = str(districts.ids[0])
        calls.append(lambda: engine.catchment(district, "merchants"))
        calls.append(lambda: engine.district_at(lat, lng))
    for call in calls:
        call()
    return len(calls)


def _two_pages(engine: DiscoveryEngine, lat: float, lng: float, sort: str, where: Any) -> None:
    page = engine.nearby(lat, lng, 5, sort=sort, where=where, explain=True)
    if page.next_cursor:
        engine.nearby(lat, lng, 5, sort=sort, where=where, cursor=page.next_cursor)


def warm_up(n: int = 600, *, log: Callable[[str], None] | None = None) -> dict[str, float]:
    """Load a generated city of ``n`` merchants into a temporary data dir and query it from
    disk and in memory, so every cached kernel is compiled (or found) for the signatures
    real use makes. Returns seconds per phase."""
    say = log or (lambda _msg: None)
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    try:
        built = aot.build()
    except Exception as exc:  # no C compiler, a read-only install, …: the build is optional
        say(f"ahead-of-time kernels not built ({type(exc).__name__}: {exc}); jitted ones answer")
    else:
        times["ahead of time"] = time.perf_counter() - t0
        say(f"ahead-of-time kernels: {built.name} in {times['ahead of time']:.1f} s")
    with tempfile.TemporaryDirectory(prefix="geo-discovery-warm-up-") as tmp:
        csv = Path(tmp) / "city.csv"
        csv.write_text(city_csv(n))
        data_dir = Path(tmp) / "data"
        settings = Settings(data_dir=data_dir)
        t0 = time.perf_counter()
        load([csv], data_dir=data_dir, profile="generic", settings=settings)
        times["load"] = time.perf_counter() - t0
        say(f"load (index, derivers): {times['load']:.1f} s")
        on_disk = DiscoveryEngine.from_snapshot(data_dir, settings=settings)
        in_memory = DiscoveryEngine.from_table(on_disk.merchants, settings=settings)
        for name, engine in (("snapshot on disk", on_disk), ("in memory", in_memory)):
            t0 = time.perf_counter()
            calls = exercise(engine)
            times[name] = time.perf_counter() - t0
            say(f"{name}: {calls} query kinds in {times[name]:.1f} s")
    return times


def warm_up_command(
    merchants: Annotated[
        int, typer.Option("--merchants", min=50, help="Size of the generated city.")
    ] = 600,
) -> None:
    """Compile every numba kernel into the install's cache (``make install`` runs it).

    First builds the single-query kNN and radius kernels ahead of time into a small C
    extension (numba.pycc; needs a C compiler), so a fresh process answers its first query
    without numba's start-up (about 0.35 s); without a compiler it says so and goes on. Then
    loads a small generated city into a temporary folder and runs every kind of query on
    it, from disk and in memory; later processes load the compiled kernels from
    ``__pycache__`` instead of compiling them at their first query.

    **Example**

    * `geo-discovery warm-up` (about 2 minutes of CPU; again after upgrading the package)
    * `geo-discovery warm-up --merchants 2000` (a larger city: more code paths taken)
    """
    t0 = time.perf_counter()
    warm_up(merchants, log=typer.echo)
    typer.echo(f"kernels compiled or found in the cache in {time.perf_counter() - t0:.1f} s")
