"""``geo-discovery districts …`` and ``catchment``: business districts and their pull.

Every command reads the snapshot through :class:`~geo_discovery.engine.DiscoveryEngine`
(``districts evaluate`` reads ground-truth and merchant files, not the store).
"""

from __future__ import annotations

import json
import math
import numbers
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ..catchment.district import DEMAND_CHOICES, MAX_RADIUS_M, CatchmentParams
from ..districts.profile import TIERS
from ..errors import DemandUnavailableError, InvalidQueryError
from .common import (
    DataDirOption,
    JsonOption,
    handle_errors,
    open_engine,
    output_file,
    settings_for,
    stdout_console,
)

__all__ = ["catchment_command", "districts_app"]

districts_app = typer.Typer(
    help="Business districts detected at load time: list, show, export, and score them "
    "against ground-truth polygons.\n\n"
    "**Example**: geo-discovery districts list --tier regional",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)


class ExportFormat(StrEnum):
    GEOJSON = "geojson"
    GEOPARQUET = "geoparquet"


def _cell(value: Any, digits: int = 2) -> str:
    if isinstance(value, float):
        return "" if value != value else f"{value:,.{digits}f}"
    return str(value)


def _strict(value: Any) -> Any:
    """``value`` for strict JSON: NumPy scalars as Python's, NaN and ±inf as ``None``."""
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_strict(v) for v in value]
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        value = value.item()
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
        return float(value) if math.isfinite(value) else None
    return value


def _percent(value: Any) -> str:
    return f"{value:.1%}" if isinstance(value, numbers.Real) and math.isfinite(value) else ""


@districts_app.command("list")
@handle_errors
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
    engine = open_engine(data_dir)
    if tier is not None and tier not in TIERS:
        raise InvalidQueryError(f"--tier {tier!r} is not a tier; allowed: {', '.join(TIERS)}")
    if limit < 1:
        raise InvalidQueryError(f"--limit {limit} is out of range; allowed: --limit >= 1")
    frame = engine.districts()
    found = engine.snapshot.require_districts()
    total = len(frame)
    if not total:  # say why: detection leaves categories out and needs a few merchants
        _why_none(engine, found.info.get("params") or {})
    frame = frame if tier is None else frame[frame["tier"] == tier]
    shown = f"{total} districts" if tier is None else f"{len(frame)} {tier} of {total} districts"
    if len(frame) > limit:
        shown = f"{limit} of " + shown + " (--limit)"
    frame = frame.head(limit)
    cols = ["name", "tier", "n_merchants", "area_km2", "density_per_km2", "vitality"]
    if as_json:
        typer.echo(frame[cols].reset_index().to_json(orient="records", indent=2))
        return
    method = found.info.get("method", "?")
    table = Table(title=f"{shown} ({method}, res {found.resolution})")
    for col in ("district_id", *cols):
        table.add_column(
            col, justify="right" if col not in ("district_id", "name", "tier") else "left"
        )
    for district_id, row in frame.iterrows():
        table.add_row(str(district_id), *[_cell(row[c]) for c in cols])
    stdout_console().print(table)


def _why_none(engine: Any, params: dict[str, Any]) -> None:
    """A note on stderr when detection found no district."""
    left_out = tuple(params.get("exclude_categories") or ())
    counts = {c.path: c.count for c in engine.categories()}
    excluded = sum(counts.get(c, 0) for c in left_out)
    typer.echo(
        f"note: detection found no district among {len(engine):,} merchants; it leaves out "
        f"{', '.join(left_out) or 'no category'} ({excluded:,} of them) and needs at least "
        f"{params.get('min_merchants', '?')} merchants close together for a district",
        err=True,
    )


@districts_app.command("show")
@handle_errors
def show_district(
    district_id: Annotated[str, typer.Argument(help="A district id from `districts list`.")],
    as_json: JsonOption = False,
    data_dir: DataDirOption = None,
) -> None:
    """Every statistic of one district, and its polygon's bounds.

    **Example**: `geo-discovery districts show d892a100d67bffff`
    """
    feature = open_engine(data_dir).district(district_id)
    facts: dict[str, Any] = {
        k: (None if isinstance(v, float) and v != v else v)
        for k, v in feature["properties"].items()
    }
    facts["bounds"] = facts.pop("bbox")
    if as_json:
        typer.echo(json.dumps(facts, indent=2, default=str))
        return
    table = Table(title=f"district {district_id}", show_header=False)
    table.add_column("field")
    table.add_column("value")
    for key, value in facts.items():
        table.add_row(key, _cell(value, 4))
    stdout_console().print(table)


@districts_app.command("export")
@handle_errors
def export_districts(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write; GeoJSON may go to stdout.")
    ] = None,
    fmt: Annotated[
        ExportFormat | None,
        typer.Option("--format", "-f", help="geojson or geoparquet. Default: from the "
                     "--output extension (.geojson/.json, .parquet/.geoparquet); GeoJSON to "
                     "stdout."),
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Export the districts (polygons and statistics) as GeoJSON or GeoParquet.

    **Examples**

    * `geo-discovery districts export > districts.geojson`
    * `geo-discovery districts export -o districts.parquet`
    """
    by_suffix = {".geojson": ExportFormat.GEOJSON, ".json": ExportFormat.GEOJSON,
                 ".parquet": ExportFormat.GEOPARQUET, ".geoparquet": ExportFormat.GEOPARQUET}
    if output is not None:
        implied = by_suffix.get(output.suffix.lower())
        if implied is not None and fmt is not None and implied is not fmt:
            raise InvalidQueryError(
                f"--format {fmt.value} does not match --output {output} ({implied.value}); "
                "give one of them, or both alike"
            )
        example = f"districts.{'parquet' if fmt is ExportFormat.GEOPARQUET else 'geojson'}"
        output_file(output, "--output", example, () if fmt else list(by_suffix),
                    ", or give --format")  # fmt: skip
        fmt = fmt or implied
    fmt = fmt or ExportFormat.GEOJSON
    engine = open_engine(data_dir)
    found = engine.snapshot.require_districts()
    if fmt is ExportFormat.GEOPARQUET:
        if output is None:
            raise InvalidQueryError("--format geoparquet needs --output FILE")
        engine.districts().reset_index().to_parquet(output, index=False)
    else:
        text = json.dumps(found.to_geojson())
        if output is None:
            typer.echo(text)
        else:
            output.write_text(text)
    if output is not None:
        typer.echo(f"wrote {len(found)} districts to {output}", err=True)


@districts_app.command("evaluate")
@handle_errors
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

    if not 0 < min_coverage <= 1:  # before minutes of loading
        raise InvalidQueryError(
            f"--min-coverage {min_coverage:g} is out of range; allowed: 0 < min_coverage <= 1"
        )
    base = ev.real_data_dir(str(real_data) if real_data else None)
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
        out.add_row(*[_cell(v, 4) for v in rec])
    stdout_console().print(out)


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


@handle_errors
def catchment_command(
    district_id: Annotated[str, typer.Argument(help="The district whose catchment to compute.")],
    demand: Annotated[
        Path | None,
        typer.Option(
            help="CSV of population points: lat/lng (or centroid_lat/centroid_lon) and "
            "population (or pop); or a kind of demand: `merchants` (each merchant one "
            "unit), `uniform` (each cell one unit), `population` (the "
            "catchment_demand_path setting's file), `auto`. Default: the "
            "catchment_demand_path setting, else each merchant counts as one unit of demand."
        ),
    ] = None,
    export: Annotated[
        Path | None,
        typer.Option(
            help="Write the share surface and the trade areas to one file: .geojson (or .json), "
            "or .parquet (or .geoparquet; GeoParquet); EPSG:4326, one feature per row, told "
            "apart by `layer`. "
            "Rows with layer `cell`: every demand cell of the study area whose share is at "
            "least --min-share (by default all of them), as its H3 hexagon (Polygon; "
            "MultiPolygon where ±180 cuts it), with cell_id (hex), lat/lng (its centre), "
            "population, share, expected (share × population) and in_district; their "
            "population sums to demand_total when --min-share is 0. Then one row each with "
            "layer `primary` and `secondary`: the trade area's outline (Polygon or "
            "MultiPolygon; empty, null in GeoJSON, when it holds no cell), facility (the "
            "district), min_share, "
            "cells, population, expected, area_km2; leave these two rows out when summing "
            "the cells."
        ),
    ] = None,
    min_share: Annotated[
        float,
        typer.Option(
            "--min-share",
            help="With --export: write only the demand cells whose share is at least this, "
            "0 … 1 (0: every cell). The trade areas and the printed figures stay as they are.",
        ),
    ] = 0.0,
    alpha: Annotated[float, typer.Option(help="Huff attractiveness exponent, 0 … 5.")] = 1.0,
    beta: Annotated[float, typer.Option(help="Huff distance-decay exponent, 0 … 5.")] = 2.0,
    resolution: Annotated[int, typer.Option(help="H3 resolution of the demand cells, 6 … 10.")] = 9,
    radius_m: Annotated[
        float,
        typer.Option(
            "--radius-m", help=f"Study area around the district, metres, 100 … {MAX_RADIUS_M:g}."
        ),
    ] = 5000.0,
    as_json: JsonOption = False,
    data_dir: DataDirOption = None,
) -> None:
    """Huff catchment of one district against all the others: captured demand, primary
    (share ≥ 50 %) and secondary (20–50 %) trade areas with their area, and its strongest
    competitors (by the demand they capture in the study area).

    **Example**: `geo-discovery catchment d892a100d67bffff --demand
    ../shared/data/nyc/nyc_census2020_tract_population.csv --export catchment.geojson`
    """
    import geopandas as gpd
    import pandas as pd

    from ..engine import DiscoveryEngine

    if not 0 <= min_share <= 1:  # (NaN too)
        raise InvalidQueryError(
            f"--min-share {min_share:g} is out of range; allowed: 0 <= min_share <= 1"
        )
    if min_share and export is None:  # it filters the export only: say so, not nothing
        typer.echo("note: --min-share filters the cells --export writes; without --export it "
                   "changes nothing", err=True)  # fmt: skip
    kinds = (".geojson", ".json", ".parquet", ".geoparquet")  # (GeoJSON went anywhere)
    output_file(export, "--export", "catchment.geojson", kinds, inputs=[demand] if demand else [])
    settings = settings_for(data_dir)
    kind = "auto"  # a kind of demand by name (a file of that name must be written ./uniform)
    if demand is not None and str(demand) in DEMAND_CHOICES and not demand.is_file():
        kind, demand = str(demand), None
    if demand is not None:
        settings = settings.model_copy(update={"catchment_demand_path": demand})
    engine = DiscoveryEngine.from_snapshot(settings.data_dir, settings=settings)
    params = CatchmentParams(alpha=alpha, beta=beta, resolution=resolution, radius_m=radius_m)
    try:
        out = engine.catchment(district_id, kind, params)
    except DemandUnavailableError as exc:  # the library names the file only (an API
        if demand is None:  # must not show server paths): name --demand as given
            raise
        text = str(exc).replace(f"file {demand.name} ", f"file {demand} ", 1)
        raise DemandUnavailableError(text) from None
    props = engine.district(district_id)["properties"]
    name = props.get("name")
    facts = {
        "district_id": district_id,
        "name": name,
        "alpha": alpha,
        "beta": beta,
        "demand_source": out.demand_source,
        "demand_total": out.demand_total,
        "captured": out.captured,
        "share": out.share,
        "trade_areas": out.trade_areas.drop(columns="geometry")
        .reset_index()
        .to_dict(orient="records"),
        "competitors": out.competitors.reset_index().to_dict(orient="records"),
    }
    if export is not None:
        # Every demand cell (at least --min-share) as the library's hexagon, then the
        # trade areas; `cell` (the H3 integer, unsafe in JSON) is kept as hex cell_id.
        surface = out.to_geodataframe(min_share=min_share)
        surface = surface.drop(columns=["cell"]).rename_axis("cell_id").reset_index()
        ta = out.trade_areas.reset_index().rename(columns={"kind": "layer"})
        layers = gpd.GeoDataFrame(
            pd.concat([surface.assign(layer="cell"), ta], ignore_index=True),
            geometry="geometry",
            crs=4326,
        )
        layers = layers[
            ["layer", *(c for c in layers.columns if c not in ("layer", "geometry")), "geometry"]
        ]
        if "cells" in layers.columns:  # a count, empty on the cell rows (the concat: 60.0)
            layers["cells"] = pd.Series([None if pd.isna(v) else int(v) for v in layers["cells"]],
                                        index=layers.index, dtype=object)  # fmt: skip
        if export.suffix.lower() in (".parquet", ".geoparquet"):
            layers.to_parquet(export, index=False)
        else:
            export.write_text(layers.to_json(drop_id=True))
        facts["export"] = str(export)
        facts["export_cells"] = len(surface)
    if as_json:
        typer.echo(json.dumps(_strict(facts), indent=2, default=str, allow_nan=False))
        return
    con = stdout_console()
    con.print(
        f"{name} ({district_id}): captures {out.captured:,.0f} of {out.demand_total:,.0f} "
        f"units of demand ({out.share:.2%}), α={alpha}, β={beta}; demand: "
        f"{out.demand_source['description']}"
    )
    t = Table(title="trade areas")
    for col in ("kind", "cells", "km²", "population", "expected"):
        t.add_column(col)
    for rec in facts["trade_areas"]:
        t.add_row(rec["kind"], str(rec["cells"]), _cell(rec["area_km2"], 2),
                  _cell(rec["population"], 0), _cell(rec["expected"], 0))  # fmt: skip
    con.print(t)
    t = Table(title="strongest competitors (the demand they capture in this area, most first)")
    for col in ("district_id", "name", "captured", "share"):
        t.add_column(col)
    for r in facts["competitors"]:
        t.add_row(str(r["index"] if "index" in r else r.get("district_id")), str(r["name"]),
                  _cell(r["captured"], 0), _percent(r["share"]))  # fmt: skip
    con.print(t)
    if export is not None:
        con.print(
            f"wrote {len(surface):,} demand cells (hexagons) and the trade areas to {export}"
        )
