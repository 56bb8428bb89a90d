"""``geo-discovery calibrate`` and ``geo-discovery evaluate ranking``: learn and measure.

Both read a visit log (the ``checkins`` profile's schemas: docs/ranking.md) and never
change the served snapshot: ``calibrate`` writes a ranking profile file that the engine
then reads (``best_match`` uses it), ``evaluate ranking`` prints the leak-free protocol's
table.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ..ranking.calibrate import MIN_CHOICES
from ..ranking_profile import PROFILE_FILE, RankingProfile
from .common import (
    DataDirOption,
    JsonOption,
    handle_errors,
    output_file,
    settings_for,
    stdout_console,
)

__all__ = ["calibrate", "evaluate_app"]

evaluate_app = typer.Typer(
    help="Measure ranking quality on real visits (a leak-free time split).\n\n"
    "**Example**: geo-discovery evaluate ranking checkins.csv.gz --until 2012-12-01",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)

LogArgument = Annotated[
    Path,
    typer.Argument(
        exists=True,
        dir_okay=False,
        help="Visit log (CSV, may be gzipped): generic user,venue,lat,lng,category,time "
        "or Foursquare TSMC2014.",
    ),
]
FitDaysOption = Annotated[
    float | None,
    typer.Option(
        "--fit-days",
        help="Calibration window: the days before --until whose choices are fitted "
        "(candidates' signals come from the visits before it). Default: the later half "
        "of the log before --until.",
        show_default=False,
    ),
]
MinChoicesOption = Annotated[
    int,
    typer.Option(
        "--min-choices",
        min=1,
        help="Refuse to fit a profile on fewer choices than this (the error says where the "
        "fit window's visits were lost and how to get more): on a few dozen the fit runs to "
        "the edges of its search range and ranks by noise. Lower it only deliberately.",
    ),
]
GapOption = Annotated[
    float,
    typer.Option(
        "--max-gap-h",
        help="A visit is a choice when the person's previous visit (the query point) was at "
        "most this many hours before.",
    ),
]


@handle_errors
def calibrate(
    log: LogArgument,
    until: Annotated[
        str | None,
        typer.Option(
            "--until",
            help="Fit on choices before this time (ISO 8601). Default: the whole log.",
            show_default=False,
        ),
    ] = None,
    fit_days: FitDaysOption = None,
    max_gap_h: GapOption = 6.0,
    min_choices: MinChoicesOption = MIN_CHOICES,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help=f"Where to write the profile. Default: DATA_DIR/{PROFILE_FILE}, which the "
            "engine (query, serve) then uses for best_match.",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
    data_dir: DataDirOption = None,
) -> None:
    """Learn best_match from a visit log: weights, distance exponent, radii, member weights.

    A discrete-choice (conditional logit) model is fitted by maximum likelihood to where
    people went next from where they stood; see docs/ranking.md. The profile is written
    as JSON; remove the file to go back to the hand-set ranking. Fewer choices than
    --min-choices are refused (nothing is written); a parameter that ends at an edge of
    its search range is reported as a warning on stderr.

    **Examples**

    * `geo-discovery calibrate checkins.csv.gz`
    * `geo-discovery calibrate checkins.csv.gz --until 2012-12-01 --fit-days 61 -o nyc.json`
    """
    from ..evaluation import Protocol
    from ..evaluation import calibrate as fit

    settings = settings_for(data_dir)
    target = out if out is not None else Path(settings.data_dir) / PROFILE_FILE
    output_file(target, "--out" if out is not None else "the profile", PROFILE_FILE, (".json",),
                inputs=[log])  # (a profile is JSON: prof.txt was written as JSON)
    protocol = Protocol(
        until=until, fit_days=fit_days, max_gap_h=max_gap_h, min_choices=min_choices
    )
    with stdout_console().status("fitting the ranking profile…"):
        profile = fit(log, protocol, settings=settings)
    profile.save(target)
    personal = profile.for_member()  # the model of queries with a member: fitted with them
    models = [("", profile)] + ([("with a member: ", personal)] if personal is not profile else [])
    for label, model in models:
        _warn_at_bounds(label, _meta_list(model, "at_bounds"))
    if as_json:
        typer.echo(profile.to_json())
        return
    meta = dict(profile.meta)
    table = Table(title=f"ranking profile from {log.name} ({meta.get('fit_window', '')})")
    table.add_column("part")
    table.add_column("learned value", justify="right")
    for label, model in models:
        edge = {found.split(" = ", 1)[0] for found in _meta_list(model, "at_bounds")}

        def row(part: str, value: str, label: str = label, edge: set[str] = edge) -> None:
            table.add_row(f"{label}{part}", value + (" (at bound)" if part in edge else ""))

        row("distance exponent γ", f"{model.gamma:.3f}")
        for prefix, metres in model.radii:
            row(f"consumption radius {prefix or '(fallback)'}", f"{metres:,.0f} m")
        for name, weight in model.weights:
            row(f"weight {name}", f"{weight:+.3f}")
        for dropped in _meta_list(model, "dropped_features"):
            name, _, why = dropped.partition(" (")
            row(f"weight {name}", f"dropped ({why}" if why else "dropped")
        if model is personal:
            for name, weight in personal.member_weights:
                row(f"member weight {name}", f"{weight:+.3f}", "")
    console = stdout_console()
    console.print(table)
    console.print(
        f"{meta.get('choices', '?')} choices among {meta.get('candidates', '?')} candidates; "
        f"log-likelihood per choice {meta.get('loglik_per_choice', '?')}; written to {target}"
    )


def _meta_list(profile: RankingProfile, key: str) -> list[str]:
    """A ``; ``-joined list in the profile's meta (``none`` or absent: empty)."""
    text = dict(profile.meta).get(key, "none")
    return [] if text == "none" else [part.strip() for part in text.split("; ") if part.strip()]


def _warn_at_bounds(label: str, found: list[str]) -> None:
    """On stderr, the fitted parameters that ended at an edge of their search range
    (``fit_profile``'s ``at_bounds`` meta): the distance exponent and radii one line each
    (the choices do not pin them down), the weights held at 0 in one line."""
    held = [f for f in found if f.startswith(("weight ", "member weight "))]
    for f in found:
        if f not in held:
            typer.echo(
                f"warning: {label}{f}: it ended at an edge of its search range, so the "
                "choices do not pin it down (on few choices, the sign of a fit to noise); "
                "check the profile before relying on it, or fit on more choices (a longer "
                "--fit-days, a larger --max-gap-h, a longer log)",
                err=True,
            )
    if held:
        typer.echo(
            f"warning: {label}{'; '.join(held)}: held at the edge of the allowed range "
            "(evidence and member weights are kept >= 0: the choices would have them lower)",
            err=True,
        )


@evaluate_app.command("ranking")
@handle_errors
def evaluate_ranking_command(
    log: LogArgument,
    until: Annotated[
        str | None,
        typer.Option(
            "--until",
            help="The time split (ISO 8601): signals from visits before it, choices after. "
            "Default: when 80 % of the log's merchant visits had happened.",
            show_default=False,
        ),
    ] = None,
    fit_days: FitDaysOption = None,
    max_gap_h: GapOption = 6.0,
    min_choices: MinChoicesOption = MIN_CHOICES,
    radius_m: Annotated[
        float, typer.Option("--radius-m", help="Radius of the popularity-within-radius baseline.")
    ] = 1_000.0,
    bootstrap: Annotated[
        int, typer.Option("--bootstrap", help="Bootstrap draws for the 95 % intervals.")
    ] = 1_000,
    user_split: Annotated[
        bool,
        typer.Option(
            "--user-split",
            help="Also fit on one half of the people and report on the other, both ways.",
        ),
    ] = False,
    max_events: Annotated[
        int | None,
        typer.Option("--max-events", help="Score only the first N choices (a quick look)."),
    ] = None,
    markdown: Annotated[
        Path | None, typer.Option("--markdown", help="Also write the table as markdown here.")
    ] = None,
    as_json: JsonOption = False,
    data_dir: DataDirOption = None,
) -> None:
    """Rank every held-out choice with every ranker; print Acc@1/5/10, MRR and NDCG@10.

    Rankers: distance, popularity within --radius-m, gravity, best_match hand-set and
    calibrated, the member's own past visits, calibrated + member history. Intervals are
    95 % bootstrap intervals over choices. Takes minutes on a city's log.

    **Examples**

    * `geo-discovery evaluate ranking checkins.csv.gz --until 2012-12-01 --fit-days 61`
    * `geo-discovery evaluate ranking checkins.csv.gz --user-split --markdown eval.md`
    """
    from ..evaluation import METRICS, Protocol, evaluate_ranking

    output_file(markdown, "--markdown", "eval.md", inputs=[log])
    protocol = Protocol(
        until=until,
        fit_days=fit_days,
        max_gap_h=max_gap_h,
        min_choices=min_choices,
        radius_m=radius_m,
        bootstrap=bootstrap,
        user_split=user_split,
        max_events=max_events,
    )
    with stdout_console().status("evaluating rankers…"):
        report = evaluate_ranking(log, protocol, settings=settings_for(data_dir))
    if markdown is not None:
        markdown.write_text(report.to_markdown() + "\n")
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
        return
    table = Table(
        title=f"{report.events} choices ({report.misses} at venues unseen before the split), "
        f"{report.candidates} candidates"
    )
    table.add_column("ranker")
    for m in METRICS:
        table.add_column(m, justify="right")
    for name, row in report.table.iterrows():
        table.add_row(str(name), *(f"{row[m]:.3f} [{row[m + '_lo']:.3f}, {row[m + '_hi']:.3f}]"
                                   for m in METRICS))  # bootstrap intervals are not symmetric
    console = stdout_console()
    console.print(table)
    for i, split in enumerate(report.splits, 1):
        values = split.to_dict(orient="index")["best_match (calibrated)"]
        acc, mrr = float(values["acc@10"]), float(values["mrr"])
        console.print(
            f"user split {i} (fitted on the other half of the people): calibrated best_match "
            f"acc@10 {acc:.3f}, mrr {mrr:.3f}"
        )
