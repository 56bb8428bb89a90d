"""CLI faces of districts and catchments: ``geo-discovery districts …`` and ``catchment``.

``cli.py`` registers them::

    from .cli_districts import catchment_command, districts_app
    app.add_typer(districts_app, name="districts")
    app.command("catchment")(catchment_command)

Exit codes are the main CLI's: 0 success, 1 error (one line on stderr), 2 usage error.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from ..errors import GeoDiscoveryError

__all__ = ["catchment_command", "districts_app"]

districts_app = typer.Typer(
    help="Business districts detected at load time: list, show, export, and score them "
    "against ground-truth polygons.\n\n"
    "**Example**: geo-discovery districts list --tier regional",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)

DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        envvar="GEO_DISCOVERY_DATA_DIR",
        help="Folder of the snapshot store (or one snapshot's folder). Default: "
        "$GEO_DISCOVERY_DATA_DIR, else $XDG_DATA_HOME/geo-discovery.",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]

F = TypeVar("F", bound=Callable[..., Any])


class ExportFormat(StrEnum):
    GEOJSON = "geojson"
    GEOPARQUET = "geoparquet"


def _errors(fn: F) -> F:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (GeoDiscoveryError, ValueError, KeyError, OSError) as exc:
            message = " ".join(str(exc).split()) or type(exc).__name__
            typer.echo(f"error: {message}", err=True)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def _console() -> Console:
    if not Console().is_terminal and "COLUMNS" not in os.environ:
        return Console(highlight=False, soft_wrap=False, width=160)
    return Console(highlight=False, soft_wrap=False)


def _districts(data_dir: Path | None) -> Any:
    from ..districts.detect import load_districts
    from ..settings import Settings
    from ..snapshot.store import resolve_snapshot_dir

    settings = Settings(data_dir=data_dir) if data_dir is not None else Settings()
    return load_districts(resolve_snapshot_dir(settings.data_dir))


def _fmt(value: Any, digits: int = 2) -> str:
    if isinstance(value, float):
        return "" if value != value else f"{value:,.{digits}f}"
    return str(value)


@districts_app.command("list")
@_errors
def list_districts(
    tier: Annotated[
        str | None, typer.Option(help="Only this tier: regional, major, neighbourhood, local.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="Most rows to print.")] = 50,
    as_json: JsonOption = False,
    data_dir: DataDirOption = None,
) -> None:
    """Districts of the current snapshot, largest first.

    **Examples**

    * `geo-discovery districts list`
    * `geo-discovery districts list --tier major --json`
    """
    d = _districts(data_dir)
    frame = d.frame if tier is None else d.frame[d.frame["tier"] == tier]
    frame = frame.head(limit)
    cols = ["name", "tier", "n_merchants", "area_km2", "density_per_km2", "vitality"]
    if as_json:
        typer.echo(frame[cols].reset_index().to_json(orient="records", indent=2))
        return
    table = Table(title=f"{len(d)} districts ({d.info.get('method', '?')}, res {d.resolution})")
    for col in ("district_id", *cols):
        table.add_column(
            col, justify="right" if col not in ("district_id", "name", "tier") else "left"
        )
    for district_id, row in frame.iterrows():
        table.add_row(str(district_id), *[_fmt(row[c]) for c in cols])
    _console().print(table)


@districts_app.command("show")
@_errors
def show_district(
    district_id: Annotated[str, typer.Argument(help="A district id from `districts list`.")],
    as_json: JsonOption = False,
    data_dir: DataDirOption = None,
) -> None:
    """Every statistic of one district, and its polygon's bounds.

    **Example**: `geo-discovery districts show d892a100d67bffff`
    """
    d = _districts(data_dir)
    row = d.get(district_id)
    facts: dict[str, Any] = {
        str(k): (None if isinstance(v, float) and v != v else v) for k, v in row.items()
    }
    facts.pop("geometry")
    facts["category_mix"] = json.loads(str(facts["category_mix"]))
    facts["bounds"] = list(row.geometry.bounds)
    facts["district_id"] = district_id
    if as_json:
        typer.echo(json.dumps(facts, indent=2, default=str))
        return
    table = Table(title=f"district {district_id}", show_header=False)
    table.add_column("field")
    table.add_column("value")
    for key, value in facts.items():
        table.add_row(key, _fmt(value, 4))
    _console().print(table)


@districts_app.command("export")
@_errors
def export_districts(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write; GeoJSON may go to stdout.")
    ] = None,
    fmt: Annotated[
        ExportFormat, typer.Option("--format", "-f", help="geojson or geoparquet.")
    ] = ExportFormat.GEOJSON,
    data_dir: DataDirOption = None,
) -> None:
    """Export the districts (polygons and statistics) as GeoJSON or GeoParquet.

    **Examples**

    * `geo-discovery districts export > districts.geojson`
    * `geo-discovery districts export --format geoparquet -o districts.parquet`
    """
    d = _districts(data_dir)
    if fmt is ExportFormat.GEOPARQUET:
        if output is None:
            raise ValueError("--format geoparquet needs --output FILE")
        d.frame.reset_index().to_parquet(output, index=False)
    else:
        text = json.dumps(d.to_geojson())
        if output is None:
            typer.echo(text)
        else:
            output.write_text(text)
    if output is not None:
        typer.echo(f"wrote {len(d)} districts to {output}", err=True)


@districts_app.command("evaluate")
@_errors
def evaluate_command(
    truth: Annotated[
        Path | None,
        typer.Option(help="Truth polygons (default: REAL_DATA/nyc/nyc_bids_2015.geojson)."),
    ] = None,
    merchants: Annotated[
        list[Path] | None,
        typer.Option(help="Merchant files (default: NYC food stores + DOHMH restaurants)."),
    ] = None,
    real_data: Annotated[
        Path | None,
        typer.Option(envvar="GEO_DISCOVERY_REAL_DATA", help="Folder with nyc/ (../shared/data)."),
    ] = None,
    default_only: Annotated[bool, typer.Option(help="Score the default method only.")] = False,
    min_coverage: Annotated[float, typer.Option(help="Share of a truth polygon to cover.")] = 0.3,
    csv: Annotated[Path | None, typer.Option(help="Also write the table to this CSV.")] = None,
    plot: Annotated[Path | None, typer.Option(help="Save recall against area as a PNG.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Score every detection method against ground truth (BID recall at 30 % coverage,
    share of in-BID merchants assigned, total district area).

    **Examples**

    * `geo-discovery districts evaluate`
    * `geo-discovery districts evaluate --default-only --json`
    """
    from ..districts import evaluate as ev

    base = ev._real_data_dir(str(real_data) if real_data else None)
    truth_frame = ev.load_truth(truth or base / ev.NYC_TRUTH_FILE)
    frame = ev.read_merchants(merchants or [base / f for f in ev.NYC_MERCHANT_FILES])
    sweep = ev.DEFAULT_SWEEP[:1] if default_only else ev.DEFAULT_SWEEP
    table = ev.compare_methods(frame, truth_frame, sweep, min_coverage=min_coverage)
    if csv:
        table.to_csv(csv, index=False)
    if plot:
        _plot_recall_area(table, plot)
    if as_json:
        typer.echo(json.dumps(table.to_dict(orient="records"), indent=2))
        return
    out = Table(title=f"districts vs {len(truth_frame)} truth polygons")
    for col in table.columns:
        out.add_column(col)
    for rec in table.itertuples(index=False):
        out.add_row(*[_fmt(v, 4) for v in rec])
    _console().print(out)


def _plot_recall_area(table: Any, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for method, group in table.groupby("method"):
        g = group.sort_values("area_km2")
        ax.plot(g["area_km2"], g["recall"], marker="o", label=method)
    ax.axhline(0.8, color="grey", ls="--", lw=0.8)
    ax.axvline(40, color="grey", ls="--", lw=0.8)
    ax.set_xlabel("total district area (km²)")
    ax.set_ylabel("BID recall (≥ 30 % covered)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


@_errors
def catchment_command(
    district_id: Annotated[str, typer.Argument(help="The district whose catchment to compute.")],
    demand: Annotated[
        Path,
        typer.Option(
            help="CSV of population points: lat/lng (or centroid_lat/centroid_lon) "
            "and population (or pop)."
        ),
    ],
    export: Annotated[
        Path | None,
        typer.Option(help="Write the share surface and trade areas (.geojson or .parquet)."),
    ] = None,
    alpha: Annotated[float, typer.Option(help="Huff attractiveness exponent.")] = 1.0,
    beta: Annotated[float, typer.Option(help="Huff distance-decay exponent.")] = 2.0,
    resolution: Annotated[int, typer.Option(help="H3 resolution of the demand cells.")] = 9,
    spread_k: Annotated[int, typer.Option(help="Spread each point over this grid disk.")] = 1,
    as_json: JsonOption = False,
    data_dir: DataDirOption = None,
) -> None:
    """Huff catchment of one district against all the others: captured demand, primary
    (share ≥ 50 %) and secondary (20–50 %) trade areas, and its closest competitors.

    **Example**: `geo-discovery catchment d892a100d67bffff --demand
    ../shared/data/nyc/nyc_census2020_tract_population.csv --export catchment.geojson`
    """
    import geopandas as gpd
    import pandas as pd

    from .. import catchment as cm

    d = _districts(data_dir)
    d.get(district_id)
    points = cm.read_demand(demand)
    cells = cm.demand_from_points(
        points["lat"].to_numpy(),
        points["lng"].to_numpy(),
        points["population"].to_numpy(),
        resolution=resolution,
        spread_k=spread_k,
    )  # fmt: skip
    facilities = cm.facilities_from_districts(d)
    probs = cm.huff_probabilities(cells, facilities, alpha=alpha, beta=beta)
    captured = cm.captured_demand(probs, cells["population"])
    areas = cm.trade_areas(cells, probs, district_id)
    rivals = []
    for other in captured.sort_values("captured", ascending=False).index[:40]:
        if other == district_id:
            continue
        ov = cm.competitor_overlap(probs, cells["population"], district_id, other)
        rivals.append({"district_id": other, "name": d.frame.loc[other, "name"], **ov})
    rivals.sort(key=lambda r: -r["b_takes_from_a"])
    facts = {
        "district_id": district_id,
        "name": d.frame.loc[district_id, "name"],
        "alpha": alpha,
        "beta": beta,
        "demand_total": float(cells["population"].sum()),
        "captured": float(captured["captured"].to_numpy()[captured.index.get_loc(district_id)]),
        "share": float(captured["share"].to_numpy()[captured.index.get_loc(district_id)]),
        "trade_areas": areas.drop(columns="geometry").reset_index().to_dict(orient="records"),
        "competitors": rivals[:5],
    }
    if export is not None:
        surface = cm.share_surface(cells, probs, district_id)
        surface = surface[surface["share"] >= 0.01].assign(layer="cell")
        ta = areas.reset_index().rename(columns={"kind": "layer"})
        layers = pd.concat([surface.reset_index(), ta], ignore_index=True)
        out = gpd.GeoDataFrame(layers.drop(columns=["cell"]), geometry="geometry", crs=4326)
        if export.suffix.lower() in (".parquet", ".geoparquet"):
            out.to_parquet(export, index=False)
        else:
            export.write_text(out.to_json(drop_id=True))
        facts["export"] = str(export)
    if as_json:
        typer.echo(json.dumps(facts, indent=2, default=str))
        return
    con = _console()
    con.print(
        f"{facts['name']} ({district_id}): captures {facts['captured']:,.0f} of "
        f"{facts['demand_total']:,.0f} people ({facts['share']:.2%}), α={alpha}, β={beta}"
    )
    t = Table(title="trade areas")
    for col in ("kind", "cells", "population", "expected"):
        t.add_column(col)
    for rec in facts["trade_areas"]:
        t.add_row(
            rec["kind"], str(rec["cells"]), _fmt(rec["population"], 0), _fmt(rec["expected"], 0)
        )
    con.print(t)
    t = Table(title="closest competitors (demand each would return if it closed)")
    for col in ("district_id", "name", "takes", "rate", "contested"):
        t.add_column(col)
    for r in facts["competitors"]:
        t.add_row(r["district_id"], str(r["name"]), _fmt(r["b_takes_from_a"], 0),
                  f"{r['cannibalisation_a']:.1%}", _fmt(r["contested"], 0))  # fmt: skip
    con.print(t)
    if export is not None:
        con.print(f"wrote share surface and trade areas to {export}")
