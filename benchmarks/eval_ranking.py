"""Ranking quality on real visits: next-place prediction, every ranker, one run.

The protocol of :mod:`geo_discovery.evaluation` (docs/ranking.md, "Evaluation") on the
Foursquare NYC check-ins (TSMC2014, half of the users: ``../shared/data/checkins``; Yang,
Zhang, Zheng and Yu, IEEE Trans. SMC: Systems 45(1), 2015 — evaluation only, never
committed or shipped): the time split at 2012-12-01 (popularity only from visits before
it), test choices after it whose previous check-in (the query point) was at most 6 h
before, calibration on the 61 days before the split with candidates from the visits
before that window, and a user split (fit on one half of the people, report on the
other, both ways) to show how far the figures move on people the fit never saw.

Rankers: distance; popularity within 1 km; gravity ``log(1 + visits) − 2·log(d_km +
0.05)``; ``best_match`` hand-set and calibrated (the engine's own score arrays); the
member's own past visits, then distance; calibrated + member history. Metrics Acc@1/5/10,
MRR, NDCG@10 with 95 % bootstrap intervals.

Checks (exit 1 when one fails): every metric within its interval and in [0, 1]; the fit
converged; ranks agree with the engine's own search for a sample of choices (the
calibrated profile's ``nearby(sort="best_match")`` puts the chosen venue where the
evaluation says).

``--smoke`` runs on a slice (a tenth of the people of the real log, or a synthetic log
when ``../shared/data`` is absent), 100 bootstrap draws, into a temporary folder.

Examples
--------
    python -m benchmarks.eval_ranking                # the full protocol (~5 min)
    python -m benchmarks.eval_ranking --smoke        # CI: a slice, seconds
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geo_discovery.distance import latlng_to_xyz
from geo_discovery.engine import DiscoveryEngine
from geo_discovery.evaluation import METRICS, EvaluationReport, Protocol, evaluate_ranking
from geo_discovery.ingest.checkins import read_visits
from geo_discovery.ingest.options import ReadOptions
from geo_discovery.query import Member, Ranking
from geo_discovery.ranking.calibrate import MIN_CHOICES, choice_events
from geo_discovery.ranking.derived import member_ranking
from geo_discovery.settings import Settings
from geo_discovery.snapshot.pipeline import load
from geo_discovery.timeofweek import time_bin

from . import harness
from .visit_log import write_visit_log

__all__ = ["LOG", "main"]

LOG = "checkins/nyc_tsmc2014_checkins_half.csv.gz"
UNTIL, FIT_DAYS = "2012-12-01", 61.0
GOALS = {"acc@10": 1.2, "mrr": 1.2}  # calibrated best_match over gravity (issue goals)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--smoke", action="store_true", help="a slice, seconds (CI)")
    p.add_argument("--out-dir", help="where results/ and RESULTS.md go (default benchmarks/)")
    p.add_argument("--real-data", help="../shared/data by default")
    p.add_argument("--bootstrap", type=int, default=1_000)
    p.add_argument("--no-user-split", action="store_true", help="skip the user split")
    p.add_argument("--check", type=int, default=25, help="choices checked against the engine")
    return p


def _slice(log: Path, out: Path, share: int = 10) -> Path:
    """The visits of one person in ``share`` (by a hash of the id): a smaller real log."""
    frame = pd.read_csv(log, dtype={"user_id": str, "venue_id": str})
    keep = frame["user_id"].map(lambda u: hashlib.sha256(f"slice:{u}".encode()).digest()[0] % share)
    with gzip.open(out, "wt") as f:
        frame[keep == 0].to_csv(f, index=False)
    return out


def _check_against_engine(
    log: Path, report: EvaluationReport, work: Path, n: int
) -> tuple[int, int]:
    """Search the calibrated engine for ``n`` choices, each without and with the person's
    history (``member=`` their id: the snapshot holds their visits before the split);
    ``(checked, mismatches)``.

    The evaluation ranks every candidate with the engine's score arrays; here the engine's
    own ``nearby(sort="best_match", at=the query's local time)`` must put the chosen venue
    at that rank (the arrays are the profile's at that time-of-week bin; with a member,
    its member model's, times the member's lift scored for every merchant).
    """
    visits = read_visits(log)
    until = pd.Timestamp(report.protocol.until)
    data_dir = work / "check"
    settings = Settings(data_dir=data_dir)
    load([log], data_dir=data_dir, profile="checkins", settings=settings,
         options=ReadOptions(until=until.to_pydatetime()))  # fmt: skip
    engine = DiscoveryEngine.from_snapshot(data_dir, settings=settings)
    ranking = Ranking(profile=report.profile)
    events = choice_events(visits, until, visits["time"].max() + pd.Timedelta(seconds=1))
    xyz = np.empty((len(engine), 3))
    xyz[np.asarray(engine.index.positions)] = np.asarray(engine.index.xyz)
    codes = engine.snapshot.categories[0]
    checked = mismatches = 0
    for ev in events.itertuples():
        if checked >= 2 * n:  # about half of them with a member
            break
        row = engine.snapshot.row_or_none(f"checkins:{ev.venue}")
        if row is None:
            continue
        at = ev.local_time.to_pydatetime()
        c2 = ((xyz - latlng_to_xyz(ev.qlat, ev.qlng)) ** 2).sum(axis=1)
        for member in (None, Member(member_id=str(ev.user))):
            model = ranking if member is None else member_ranking(ranking)
            binned = Ranking(profile=model.profile.at_bin(time_bin(at)))  # type: ignore[union-attr]
            qual, factor = engine.planner.best_match_arrays(binned)
            score = qual / (1.0 + c2 * factor)
            if member is not None:
                lift = engine.member_boost(member, binned).log_boost(np.arange(len(xyz)), codes)
                score = score * np.exp(lift)
            if (score == score[row]).sum() > 1:
                continue  # a tie: the rank is a half-count there
            rank = int((score > score[row]).sum()) + 1
            if rank > 200:
                continue
            res = engine.nearby(ev.qlat, ev.qlng, rank, sort="best_match", ranking=ranking,
                                at=at, member=member)  # fmt: skip
            checked += 1
            if res.positions[-1] != row:
                mismatches += 1
                what = "without" if member is None else "with"
                harness.eprint(f"MISMATCH {what} a member: choice at rank {rank}, engine elsewhere")
    return checked, mismatches


def _markdown(report: EvaluationReport, dataset: str, cmd: str, ratios: dict[str, float]) -> str:
    lines = [
        "## Ranking quality: next-place prediction on real check-ins",
        "",
        f"{dataset}. {report.events} test choices ({report.misses} at venues nobody visited "
        f"before the split: a miss for every ranker), {report.candidates} candidate merchant "
        "venues. Value [95 % bootstrap interval].",
        "",
        report.to_markdown(),
        "",
        "Calibrated best_match over gravity: "
        + ", ".join(
            f"{m} ×{r:.3f} (goal ×{GOALS[m]}: {'met' if r >= GOALS[m] else 'not met'})"
            for m, r in ratios.items()
        ),
        "",
    ]
    for i, split in enumerate(report.splits, 1):
        row = split.to_dict(orient="index")
        lines.append(
            f"User split {i} (fitted on the other half of the people): "
            + ", ".join(
                f"{name} acc@10 {row[name]['acc@10']:.3f} / mrr {row[name]['mrr']:.3f}"
                for name in (
                    "gravity",
                    "best_match (calibrated)",
                    "best_match (calibrated) + member",
                )
            )
        )
    p = report.profile
    personal = p.for_member()
    lines += [
        "",
        f"Fitted profile: γ {p.gamma:.2f}; radii "
        + ", ".join(f"{k or '*'} {v:.0f} m" for k, v in p.radii)
        + "; weights "
        + ", ".join(f"{k} {v:+.2f}" for k, v in p.weights)
        + f"; with a member (fitted with the member terms): γ {personal.gamma:.2f}, weights "
        + ", ".join(f"{k} {v:+.2f}" for k, v in personal.weights + personal.member_weights),
        "",
        f"Reproduce: `{cmd}`",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the evaluation; 0 when every check passed, 1 otherwise."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    tmp = tempfile.TemporaryDirectory(prefix="eval-ranking-")
    work = Path(tmp.name)
    bootstrap = min(args.bootstrap, 100) if args.smoke else args.bootstrap
    try:
        real = harness.real_data_dir(args.real_data) / LOG
    except harness.RealDataMissing as exc:
        if not args.smoke:
            print(f"SKIPPED: {exc}")
            return 0
        real = None
    if real is not None and real.exists():
        log = _slice(real, work / "slice.csv.gz") if args.smoke else real
        # the smoke slice (a tenth of the people) checks that the protocol runs, not what
        # it learns: ~50 choices in a user-split half, below the minimum of a real fit
        protocol = Protocol(until=UNTIL, fit_days=FIT_DAYS, bootstrap=bootstrap,
                            user_split=not args.no_user_split,
                            min_choices=20 if args.smoke else MIN_CHOICES)  # fmt: skip
        dataset = "Foursquare NYC check-ins (TSMC2014, half of the users" + (
            "; smoke: a tenth of them)" if args.smoke else ")"
        )
    else:
        log = write_visit_log(work / "synthetic.csv", seed=1)
        protocol = Protocol(bootstrap=bootstrap, user_split=not args.no_user_split)
        dataset = "A synthetic visit log (smoke: no real data)"
    t0 = time.perf_counter()
    report = evaluate_ranking(log, protocol)
    seconds = time.perf_counter() - t0
    checked, mismatches = _check_against_engine(log, report, work, 8 if args.smoke else args.check)
    t = report.table
    sane = bool(
        all(
            ((t[m + "_lo"] <= t[m]) & (t[m] <= t[m + "_hi"]) & t[m].between(0, 1)).all()
            for m in METRICS
        )
        and dict(report.profile.meta).get("converged") == "True"
    )
    ratios = {m: float(t.loc["best_match (calibrated)", m] / t.loc["gravity", m]) for m in GOALS}
    correct = sane and checked > 0 and mismatches == 0
    out_dir = Path(args.out_dir) if args.out_dir else (work if args.smoke else harness.BENCH_DIR)
    cmd = harness.command_line("benchmarks.eval_ranking", argv)
    markdown = _markdown(report, dataset, cmd, ratios)
    result: dict[str, Any] = {
        "order": 60,
        "dataset": dataset,
        "correct": correct,
        "checked_against_engine": checked,
        "mismatches": mismatches,
        "seconds": seconds,
        "ratios_calibrated_to_gravity": ratios,
        "report": report.to_dict(),
        "machine": harness.machine_info(),
    }
    harness.write_results(out_dir, "ranking_eval" + ("_smoke" if args.smoke else ""),
                          result, markdown)  # fmt: skip
    print(markdown)
    print(f"\n{seconds:.0f} s; checked {checked} pages against the engine (each choice "
          f"without and with the person's history), {mismatches} mismatches; "
          f"sane={sane}")  # fmt: skip
    return 0 if correct else 1


if __name__ == "__main__":
    raise SystemExit(main())
