"""The benchmark's figures: medians, ratios, targets, and the printed table."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# The targets, both on each dashboard's refresh over BUDGET_RANGE: at least SPEEDUP_TARGET
# times faster with recording rules, and a median under BUDGET_SECONDS. Other ranges are
# measured and shown against the same ratio, for information.
SPEEDUP_TARGET = 5.0
BUDGET_SECONDS = 0.250
BUDGET_RANGE = "24h"


@dataclass
class Refreshes:
    """The timed refreshes of one dashboard over one time range in one form."""

    dashboard: str
    range: str
    form: str  # "recorded" (the dashboard's queries) or "raw" (recording rules inlined)
    seconds: list[float] = field(default_factory=list)  # one total per refresh
    per_query: dict[str, list[float]] = field(default_factory=dict)  # panel/target -> seconds

    def add(self, query_seconds: Mapping[str, float]) -> None:
        self.seconds.append(sum(query_seconds.values()))
        for key, value in query_seconds.items():
            self.per_query.setdefault(key, []).append(value)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


@dataclass(frozen=True)
class Row:
    dashboard: str
    range: str
    queries: int
    recorded_ms: float
    raw_ms: float
    ratio: float
    speedup_ok: bool
    budget_ok: bool | None  # None where no budget applies (other ranges)


def rows(runs: Iterable[Refreshes], queries: Mapping[tuple[str, str], int]) -> list[Row]:
    """One row per (dashboard, range): medians, their ratio and the targets."""
    by_key: dict[tuple[str, str], dict[str, Refreshes]] = {}
    for run in runs:
        by_key.setdefault((run.dashboard, run.range), {})[run.form] = run
    out = []
    for (dashboard, range_label), forms in by_key.items():
        if set(forms) != {"recorded", "raw"}:
            raise ValueError(f"{dashboard} {range_label}: need both forms, have {sorted(forms)}")
        recorded = median(forms["recorded"].seconds)
        raw = median(forms["raw"].seconds)
        ratio = raw / recorded if recorded > 0 else math.inf
        budget = recorded <= BUDGET_SECONDS if range_label == BUDGET_RANGE else None
        out.append(
            Row(
                dashboard, range_label, queries.get((dashboard, range_label), 0),
                recorded * 1000, raw * 1000, ratio, ratio >= SPEEDUP_TARGET, budget,
            )
        )  # fmt: skip
    return out


def targets_met(table: Sequence[Row]) -> bool:
    """Every dashboard's BUDGET_RANGE refresh meets both targets."""
    budget = [r for r in table if r.range == BUDGET_RANGE]
    return bool(budget) and all(r.speedup_ok and r.budget_ok for r in budget)


def slowest(runs: Iterable[Refreshes], form: str, range_label: str, count: int = 5) -> list[tuple[str, str, float]]:
    """The `count` queries with the highest median in `form` over `range_label`:
    (dashboard, query, median ms)."""
    found = []
    for run in runs:
        if run.form == form and run.range == range_label:
            found += [(run.dashboard, key, median(v) * 1000) for key, v in run.per_query.items()]
    return sorted(found, key=lambda item: -item[2])[:count]


@dataclass(frozen=True)
class GroupStats:
    file: str
    name: str
    interval: float
    rules: int
    evaluations: int
    median_ms: float
    max_ms: float


def group_stats(
    samples: Mapping[tuple[str, str], Mapping[str, float]], info: Mapping[tuple[str, str], tuple[float, int]]
) -> list[GroupStats]:
    """Per rule group: the evaluation times seen (one per distinct lastEvaluation)."""
    out = []
    for key in sorted(info):
        seen = list((samples.get(key) or {}).values())
        interval, count = info[key]
        out.append(
            GroupStats(
                key[0], key[1], interval, count, len(seen),
                median(seen) * 1000 if seen else math.nan, max(seen) * 1000 if seen else math.nan,
            )
        )  # fmt: skip
    return out


def _mark(ok: bool | None) -> str:
    return "-" if ok is None else ("yes" if ok else "NO")


def format_table(table: Sequence[Row]) -> str:
    head = (
        f"{'dashboard':<32} {'range':>5} {'queries':>7} {'recorded ms':>11} {'raw ms':>9} {'ratio':>6}"
        f"  {'>=5x':>4}  {'<250ms':>6}"
    )
    lines = [head, "-" * len(head)]
    for r in table:
        lines.append(
            f"{r.dashboard:<32} {r.range:>5} {r.queries:>7} {r.recorded_ms:>11.1f} {r.raw_ms:>9.1f} "
            f"{r.ratio:>5.1f}x  {_mark(r.speedup_ok):>4}  {_mark(r.budget_ok):>6}"
        )
    return "\n".join(lines)


def format_groups(quiet: Sequence[GroupStats], loaded: Sequence[GroupStats]) -> str:
    """Evaluation times of every rule group with Prometheus otherwise idle ("quiet") and
    while the dashboards were being refreshed ("under load")."""
    head = (
        f"{'rule group':<28} {'file':<22} {'rules':>5} {'every':>5}  {'quiet: n':>8} {'median ms':>9}"
        f"  {'under load: n':>13} {'median ms':>9} {'max ms':>7}"
    )
    lines = [head, "-" * len(head)]
    busy = {(g.file, g.name): g for g in loaded}
    for g in quiet:
        b = busy.get((g.file, g.name))
        load_n, load_med, load_max = (b.evaluations, b.median_ms, b.max_ms) if b else (0, math.nan, math.nan)
        lines.append(
            f"{g.name:<28} {g.file:<22} {g.rules:>5} {g.interval:>4g}s  {g.evaluations:>8} {g.median_ms:>9.1f}"
            f"  {load_n:>13} {load_med:>9.1f} {load_max:>7.1f}"
        )
    return "\n".join(lines)


def readme_table(report: Mapping[str, Any]) -> str:
    """The README's table from a report `python -m bench` wrote (its "refresh" rows)."""
    lines = [
        f"| Dashboard | Range | With rules | Raw series | Faster | Target: ≥{SPEEDUP_TARGET:g}×, {BUDGET_RANGE} "
        f"< {BUDGET_SECONDS * 1000:.0f} ms |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in sorted(report["refresh"], key=lambda r: (r["dashboard"], _seconds(r["range"]))):
        r = Row(**row)
        if r.range == BUDGET_RANGE:
            verdict = "met" if r.speedup_ok and r.budget_ok else "**not met**"
        else:
            verdict = f"({'≥' if r.speedup_ok else 'under '}{SPEEDUP_TARGET:g}×)"
        name = r.dashboard.removeprefix("Vega 2.0 - ")
        lines.append(f"| {name} | {r.range} | {_ms(r.recorded_ms)} | {_ms(r.raw_ms)} | {r.ratio:.1f}× | {verdict} |")
    return "\n".join(lines)


def _ms(value: float) -> str:
    return f"{value / 1000:.1f} s" if value >= 1000 else f"{value:.0f} ms"


def _seconds(label: str) -> float:
    units = {"m": 60, "h": 3600, "d": 86400}
    return float(label[:-1]) * units.get(label[-1], 1)


def as_json(value: Any) -> Any:
    """`value` with NaN and infinities as None (JSON has neither)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): as_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [as_json(v) for v in value]
    return value
