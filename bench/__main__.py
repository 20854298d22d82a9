"""Dashboard refresh benchmark: recording rules against the same panels computed from raw series.

    python -m bench                      # 1,000 participants, 24h of history (6-7 minutes)
    python -m bench --participants 200 --repeats 3 --out build/bench-small.json
    python -m bench --recording-interval 1m   # what if the dashboards' rule groups ran every 1m

What it does, all on 127.0.0.1:

1. Renders the dev stack and starts a real Prometheus with its configuration (command line,
   global section, rule files), scraping a synthetic Vega (`demo.vega`: the API,
   the coordinator with its per-participant series, database, host and containers) live.
2. Builds the day of history before that moment from the same model, every target scraped
   each 15s, as TSDB blocks (`promtool tsdb create-blocks-from openmetrics`, see
   bench/data.py), and hands them to the running server.
3. Backfills the recorded series of every recording rule the dashboards read over the whole
   history with `promtool tsdb create-blocks-from rules`, hands those blocks over too, and
   waits until Prometheus has loaded and merged them (as a long-running server has them).
4. Checks that every panel query and its raw form (recording rules inlined,
   bench/promql.py) give the same result at evaluation timestamps of the backfill.
5. Times full refreshes of each dashboard (every request Grafana sends, one after the other,
   bench/refresh.py) over 6h and 24h, recorded and raw alternately, `--repeats` times
   after one warm-up, and reads the evaluation time of every rule group from /api/v1/rules,
   during the refreshes ("under load") and afterwards with nothing else querying ("quiet").

It prints the medians, their ratios and the targets (each dashboard's 24h refresh at least 5x
faster with recording rules and under 250 ms median; the 6h ratios for information), and
writes them as JSON to `--out`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from bench.data import History, backfill_rules, build_history, rule_backfill_file, set_group_interval
from bench.prom import (
    Api,
    PrometheusProcess,
    SyntheticServer,
    bench_config,
    free_port,
    local_args,
    move_blocks,
    rendered_prometheus_args,
    wait_compacted,
    wait_for,
    write_yaml,
)
from bench.promql import Rules, dependencies, inline, load_rules, recorded_names
from bench.refresh import Request, dashboard_targets, parse_duration, refresh_requests
from bench.report import (
    GroupStats,
    Refreshes,
    Row,
    as_json,
    format_groups,
    format_table,
    group_stats,
    readme_table,
    rows,
    slowest,
    targets_met,
)
from demo.vega import Scenario
from tests.support import upstream
from tools.dashboard_queries import dashboard_files, load
from tools.render import render

ROOT = Path(__file__).resolve().parent.parent
LOOKBACK = 300.0  # Prometheus' lookback delta and the recording rules' longest window (5m)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- dashboards


@dataclass(frozen=True)
class Dashboard:
    title: str
    path: Path


def dashboards() -> list[Dashboard]:
    """The stack's own dashboards (configs/grafana/dashboards/generated/)."""
    return [Dashboard(str(load(p).get("title", p.stem)), p) for p in dashboard_files(own=False)]


Key = tuple[str, str]  # (dashboard title, range label)


def plans(boards: Sequence[Dashboard], ranges: Mapping[str, float], scrape: float) -> dict[Key, list[Request]]:
    """(dashboard title, range label) -> the requests of one refresh."""
    out = {}
    for board in boards:
        targets = dashboard_targets(board.path)
        for label, seconds in ranges.items():
            out[(board.title, label)] = refresh_requests(targets, seconds, scrape)
    return out


def raw_form(request: Request, rules: Rules) -> Request:
    return Request(request.panel, inline(request.expr, rules), request.instant, request.step)


# --------------------------------------------------------------------------- equivalence


def _value(text: str) -> float:
    return float(text)  # Prometheus writes NaN, +Inf and -Inf as float() reads them


def _close(a: float, b: float, rel: float = 1e-9) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-12)


def _series(data: Mapping[str, Any]) -> dict[tuple[tuple[str, str], ...], float]:
    kind = data["resultType"]
    if kind == "scalar":
        return {(): _value(data["result"][1])}
    if kind != "vector":
        raise ValueError(f"unexpected result type {kind}")
    out = {}
    for item in data["result"]:
        labels = tuple(sorted((k, v) for k, v in item["metric"].items() if k != "__name__"))
        out[labels] = _value(item["value"][1])
    return out


@dataclass
class Comparison:
    panel: str
    recorded: str
    raw: str
    times: list[float]
    series: int = 0  # series compared over all times
    max_relative_difference: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def compare(panel: str, recorded: str, raw: str, results: Sequence[tuple[float, Any, Any]]) -> Comparison:
    """Compare instant-query results of the two forms: (time, recorded data, raw data)."""
    out = Comparison(panel, recorded, raw, [t for t, _, _ in results])
    for t, a_data, b_data in results:
        a, b = _series(a_data), _series(b_data)
        if set(a) != set(b):
            out.problems.append(
                f"at {t:.0f}: series differ: only recorded {sorted(set(a) - set(b))[:3]}, "
                f"only raw {sorted(set(b) - set(a))[:3]}"
            )
            continue
        for labels, value in a.items():
            other = b[labels]
            out.series += 1
            if not _close(value, other):
                out.problems.append(f"at {t:.0f}: {dict(labels)} recorded {value!r} != raw {other!r}")
            elif math.isfinite(value) and value != 0:
                out.max_relative_difference = max(out.max_relative_difference, abs(value - other) / abs(value))
    if out.series == 0 and not out.problems:
        out.problems.append("no series at any checked time: nothing was compared")
    return out


def check_equivalence(api: Api, pairs: Sequence[tuple[str, str, str]], times: Sequence[float]) -> list[Comparison]:
    """(panel, recorded, raw) -> instant queries of both forms at each of `times`."""
    out = []
    for panel, recorded, raw in pairs:
        results = [(t, api.query(recorded, t), api.query(raw, t)) for t in times]
        out.append(compare(panel, recorded, raw, results))
    return out


def grid_times(api: Api, record: str, lo: float, hi: float, count: int, interval: float) -> list[float]:
    """`count` evaluation timestamps of the rule backfill between lo and hi, spread out."""
    probe = hi
    data = api.query(f"timestamp({record})", probe)
    stamps = [_value(item["value"][1]) for item in data["result"]]
    if not stamps:
        raise RuntimeError(f"{record} has no backfilled sample before {probe:.0f}")
    anchor = max(stamps)
    out = []
    for i in range(count):
        target = lo + (hi - lo) * (i + 1) / (count + 1)
        out.append(anchor - math.floor((anchor - target) / interval) * interval)
    return out


# --------------------------------------------------------------------------- the environment


@dataclass
class Options:
    participants: int = 1000
    silos: int = 20
    ranges: dict[str, float] = field(default_factory=lambda: {"6h": 6 * 3600.0, "24h": 24 * 3600.0})
    repeats: int = 7
    jobs: int = os.cpu_count() or 1
    stack: str = "dev"
    checks: int = 3  # timestamps per equivalence check
    compaction_timeout: float = 600.0
    restart_to_load: bool = False  # restart Prometheus to load the recorded series' blocks
    recording_interval: float | None = None  # "what if" the dashboards' rule groups ran at this interval


@dataclass
class Environment:
    """A running Prometheus on a backfilled TSDB, and what was learnt setting it up."""

    options: Options
    work: Path
    prometheus: PrometheusProcess
    server: SyntheticServer
    api: Api
    history: History
    rules: Rules
    backfilled: list[str]
    rule_start: float
    rule_end: float
    scrape_interval: float
    rule_interval: float  # evaluation interval of the recorded series the dashboards read
    live_since: float  # when Prometheus started scraping the live synthetic Vega (epoch seconds)
    timings: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def data_dir(self) -> Path:
        return self.work / "data"


def load_blocks(env_prometheus: PrometheusProcess, source: Path, data_dir: Path, restart: bool) -> int:
    """Move the blocks under `source` into the running server's data directory, as upstream
    documents for backfilled blocks: Prometheus loads them at its next periodic block reload
    (once a minute) and then merges overlapping blocks. `restart` loads them at once instead
    (the blocks then stay unmerged for a minute)."""
    if not restart:
        return move_blocks(source, data_dir)
    env_prometheus.stop()
    moved = move_blocks(source, data_dir)
    env_prometheus.start()
    return moved


@contextmanager
def environment(
    options: Options, work: Path, prometheus_bin: str, promtool: str, boards: Sequence[Dashboard]
) -> Iterator[Environment]:
    """Set everything up in `work` (see the module docstring, steps 1-3); stop it all after.

    Prometheus starts first, on an empty data directory, scraping the synthetic Vega live from
    the end of the history on: the live series continue the backfilled ones without a gap, and
    the rules' windows hold live data only by the time anything is timed."""
    timings: dict[str, float] = {}
    began = time.monotonic()
    rendered = work / "rendered"
    render(options.stack, rendered)
    prom_rendered = rendered / "config" / "prometheus"
    rendered_config = yaml.safe_load((prom_rendered / "prometheus.yml").read_text())
    scrape = parse_duration(rendered_config["global"]["scrape_interval"])
    evaluation = parse_duration(rendered_config["global"]["evaluation_interval"])
    rules = load_rules(sorted((prom_rendered / "rules").glob("*.yml")))
    wanted: set[str] = set()
    for board in boards:
        for target in dashboard_targets(board.path):
            wanted |= recorded_names(target.expr, rules)

    config_dir = work / "config"
    shutil.copytree(prom_rendered, config_dir)
    rule_interval = evaluation
    if options.recording_interval:
        rule_interval = options.recording_interval
        changed = set_group_interval(config_dir / "rules", dependencies(wanted, rules), f"{rule_interval:g}s")
        log(f"evaluating {', '.join(changed)} every {rule_interval:g}s")

    span = max(options.ranges.values()) + 2 * LOOKBACK
    live_since = math.floor(time.time() / scrape) * scrape
    scenario = Scenario(participants=options.participants, silos=options.silos)
    history = History(scenario, live_since - span, live_since, scrape)
    server = SyntheticServer(scenario, history.start)
    port = free_port()
    data = work / "data"
    argv = local_args(rendered_prometheus_args(rendered), config_dir, data, port)
    prometheus = PrometheusProcess(prometheus_bin, argv, work / "prometheus.log", port)
    api = Api(port)
    try:
        server.start()
        write_yaml(config_dir / "prometheus.yml", bench_config(rendered_config, list(history.targets), server.address))
        prometheus.start()

        log(f"building {span / 3600:.2f}h of history for {options.participants} participants in {options.silos} silos")
        windows = build_history(history, promtool, work / "om", work / "raw-blocks", jobs=options.jobs)
        samples = sum(w.samples for w in windows)
        # A restart loads the history at once; the periodic reload would take up to a minute.
        load_blocks(prometheus, work / "raw-blocks", data, restart=True)
        probe = history.start + LOOKBACK
        wait_for(lambda: api.query("count(up)", probe)["result"], 180, "Prometheus to load the history", 1.0)
        timings["history_seconds"] = time.monotonic() - began
        log(f"history: {len(windows)} blocks, {samples:,} samples, loaded after {timings['history_seconds']:.0f}s")

        # Recorded series over the history, from the raw series (bench_data explains why inlined).
        step_began = time.monotonic()
        rule_file = work / "backfill-rules.yml"
        backfilled = rule_backfill_file(rules, wanted, f"{rule_interval:g}s", rule_file)
        rule_start = history.start + LOOKBACK
        rule_end = history.end - scrape
        backfill_rules(promtool, rule_file, prometheus.url, rule_start, rule_end, work / "rule-blocks", options.jobs)
        moved = load_blocks(prometheus, work / "rule-blocks", data, options.restart_to_load)
        timings["rule_backfill_seconds"] = time.monotonic() - step_began
        log(f"recorded series: {len(backfilled)} rules as {moved} blocks in {timings['rule_backfill_seconds']:.0f}s")

        counts = {"samples_backfilled": samples, "raw_blocks": len(windows), "rule_blocks": moved}
        env = Environment(
            options, work, prometheus, server, api, history, rules, backfilled,
            rule_start, rule_end, scrape, rule_interval, live_since, timings, counts,
        )  # fmt: skip
        yield env
    finally:
        api.close()
        prometheus.stop()
        server.stop()


def wait_until_compacted(env: Environment) -> None:
    began = time.monotonic()
    log("waiting for Prometheus to merge the backfilled blocks")
    found = wait_compacted(env.data_dir, env.options.compaction_timeout)
    env.timings["compaction_wait_seconds"] = time.monotonic() - began
    env.counts["blocks_after_compaction"] = len(found)
    log(f"compacted into {len(found)} blocks after {env.timings['compaction_wait_seconds']:.0f}s")


# --------------------------------------------------------------------------- timing


def epoch(stamp: str) -> float:
    """Seconds since the epoch of an RFC 3339 time as Prometheus writes it (nanoseconds)."""
    match = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", stamp)
    if not match:
        raise ValueError(f"not an RFC 3339 time: {stamp!r}")
    whole, digits, zone = match.groups()
    base = datetime.fromisoformat(whole + ("+00:00" if zone == "Z" else zone)).timestamp()
    return base + (int(digits) / 10 ** len(digits) if digits else 0.0)


class RuleWatch:
    """Evaluation times of every rule group, one per distinct lastEvaluation at or after
    `since` (epoch seconds)."""

    def __init__(self, since: float = 0.0) -> None:
        self.since = since
        self.samples: dict[tuple[str, str], dict[str, float]] = {}
        self.info: dict[tuple[str, str], tuple[float, int]] = {}

    def poll(self, api: Api) -> None:
        for group in api.get("rules")["groups"]:
            key = (Path(group["file"]).name, group["name"])
            self.info[key] = (float(group.get("interval") or 0), len(group.get("rules") or []))
            last = group.get("lastEvaluation") or ""
            if last and not last.startswith("0001-") and epoch(last) >= self.since:
                self.samples.setdefault(key, {})[last] = float(group.get("evaluationTime") or 0)

    def stats(self) -> list[GroupStats]:
        return group_stats(self.samples, self.info)


def observe_rule_groups(env: Environment) -> RuleWatch:
    """The rule groups' evaluations while nothing else queries Prometheus, over three intervals
    of the slowest group (at most two minutes), once the rules' 5m windows hold live data only
    (until then they also read the backfilled blocks, which a long-running server would not)."""
    watch = RuleWatch()
    watch.poll(env.api)
    longest = max((interval for interval, _ in watch.info.values()), default=env.rule_interval)
    seconds = min(120.0, 3 * longest + 5)
    settle = max(0.0, env.live_since + LOOKBACK + 5 - time.time())
    log(f"watching the rule groups evaluate for {seconds:.0f}s" + (f" after {settle:.0f}s" if settle else ""))
    time.sleep(settle)
    watch = RuleWatch(since=time.time())
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(1.0)
        watch.poll(env.api)
    return watch


def refresh(api: Api, requests: Sequence[Request], range_seconds: float) -> dict[str, float]:
    """One refresh: every request in order; seconds per request (keyed panel #n)."""
    now = time.time()
    out = {}
    for i, request in enumerate(requests):
        path, params = request.params(now, range_seconds)
        elapsed, _ = api.timed(path, params)
        out[f"{request.panel} #{i + 1}"] = elapsed
    return out


def run_timings(
    env: Environment,
    recorded: Mapping[Key, list[Request]],
    raw: Mapping[Key, list[Request]],
    watch: RuleWatch,
) -> list[Refreshes]:
    runs = {(key, form): Refreshes(key[0], key[1], form) for key in recorded for form in ("recorded", "raw")}
    plans_by_form = {"recorded": recorded, "raw": raw}
    ranges = env.options.ranges
    for key in recorded:  # warm-up
        for form in ("recorded", "raw"):
            refresh(env.api, plans_by_form[form][key], ranges[key[1]])
    watch.poll(env.api)
    for rep in range(env.options.repeats):
        forms = ("recorded", "raw") if rep % 2 == 0 else ("raw", "recorded")
        for key in recorded:
            for form in forms:
                runs[(key, form)].add(refresh(env.api, plans_by_form[form][key], ranges[key[1]]))
            watch.poll(env.api)
        log(f"repeat {rep + 1}/{env.options.repeats} done")
    return list(runs.values())


# --------------------------------------------------------------------------- main


def prometheus_version(binary: str) -> str:
    result = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30, check=False)
    first = (result.stdout or result.stderr or "unknown").splitlines()[0]
    parts = first.split()
    return f"Prometheus {parts[2]}" if len(parts) > 2 and parts[1] == "version" else first


def tsdb_status(api: Api) -> dict[str, Any]:
    head = api.get("status/tsdb")["headStats"]
    return {"head_series": head.get("numSeries"), "head_chunks": head.get("chunkCount")}


def verify(
    env: Environment, recorded: Mapping[Key, list[Request]], raw: Mapping[Key, list[Request]]
) -> list[Comparison]:
    """Every distinct panel query that reads recorded series against its raw form, at
    evaluation timestamps of the backfill spread over the history."""
    pairs = sorted(
        {(r.panel, r.expr, q.expr) for key in recorded for r, q in zip(recorded[key], raw[key], strict=True)}
    )
    pairs = [p for p in pairs if p[1] != p[2]]
    lo, hi = env.rule_start + LOOKBACK, env.rule_end
    times = grid_times(env.api, env.backfilled[0], lo, hi, env.options.checks, env.rule_interval)
    log(f"checking {len(pairs)} panel queries against their raw form at {len(times)} timestamps")
    comparisons = check_equivalence(env.api, pairs, times)
    for c in comparisons:
        if not c.ok:
            log(f"NOT EQUIVALENT: {c.panel}: {c.recorded}\n  raw: {c.raw}\n  " + "\n  ".join(c.problems[:3]))
    return comparisons


def run(options: Options, prometheus_bin: str, promtool: str, out: Path, keep: Path | None = None) -> dict[str, Any]:
    """The whole benchmark; writes the JSON report to `out`, prints the tables, returns the report."""
    boards = dashboards()
    if keep is not None:
        shutil.rmtree(keep, ignore_errors=True)
        keep.mkdir(parents=True)
    work = keep if keep is not None else Path(tempfile.mkdtemp(prefix="vega-bench-"))
    started = time.monotonic()
    try:
        with environment(options, work, prometheus_bin, promtool, boards) as env:
            recorded = plans(boards, options.ranges, env.scrape_interval)
            raw = {key: [raw_form(r, env.rules) for r in reqs] for key, reqs in recorded.items()}
            wait_until_compacted(env)
            comparisons = verify(env, recorded, raw)
            watch = RuleWatch(since=env.live_since + LOOKBACK)  # see observe_rule_groups
            log(f"timing {len(recorded)} dashboard/range pairs, {options.repeats} refreshes each per form")
            load_before = os.getloadavg()[0]
            runs = run_timings(env, recorded, raw, watch)
            load_after = os.getloadavg()[0]
            quiet = observe_rule_groups(env)
            history = {
                "participants": options.participants,
                "silos": options.silos,
                "hours": (env.history.end - env.history.start) / 3600,
                "scrape_interval_seconds": env.history.step,
                "recording_interval_seconds": env.rule_interval,
                "targets": list(env.history.targets),
                **env.counts,
                **tsdb_status(env.api),
            }
            setup = dict(env.timings)
            backfilled = list(env.backfilled)
    finally:
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)

    longest = max(options.ranges, key=lambda label: options.ranges[label])
    table = rows(runs, {key: len(reqs) for key, reqs in recorded.items()})
    groups = watch.stats()
    quiet_groups = quiet.stats()
    report = {
        "environment": {
            "prometheus": prometheus_version(prometheus_bin),
            "cpus": os.cpu_count(),
            "machine": platform.machine(),
            "python": platform.python_version(),
            # 1-minute load average before and after the timed refreshes: on 2 CPUs, much
            # above 1-2 means something else competed with Prometheus for them.
            "load_average": [round(load_before, 2), round(load_after, 2)],
        },
        "history": history,
        "setup_seconds": {**setup, "total": time.monotonic() - started},
        "recorded_rules_backfilled": backfilled,
        "repeats": options.repeats,
        "refresh": [asdict(r) for r in table],
        "targets_met": targets_met(table),
        "equivalent": all(c.ok for c in comparisons),
        "equivalence": [asdict(c) | {"ok": c.ok} for c in comparisons],
        "rule_groups": {"quiet": [asdict(g) for g in quiet_groups], "under_load": [asdict(g) for g in groups]},
        "slowest_queries_ms": {form: [list(i) for i in slowest(runs, form, longest)] for form in ("recorded", "raw")},
        "refresh_seconds": [asdict(r) for r in runs],
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(as_json(report), indent=2) + "\n")
    print(format_report(table, quiet_groups, groups, report))
    return report


def format_report(
    table: Sequence[Row], quiet: Sequence[GroupStats], loaded: Sequence[GroupStats], report: Mapping[str, Any]
) -> str:
    h, env = report["history"], report["environment"]
    checks = report["equivalence"]
    recording = [g.median_ms for g in quiet if g.file == "recording.yml" and math.isfinite(g.median_ms)]
    lines = [
        "",
        f"Dashboard refresh (every request Grafana sends, one after the other), median of {report['repeats']}:",
        f"{h['participants']} participants in {h['silos']} silos, {h['hours']:.1f}h of history scraped every "
        f"{h['scrape_interval_seconds']:g}s, recorded every {h['recording_interval_seconds']:g}s; "
        f"{env['prometheus']}, {env['cpus']} CPUs (load average {env['load_average'][0]} before timing, "
        f"{env['load_average'][1]} after)",
        "",
        format_table(table),
        "",
        f"Equivalence: {sum(1 for c in checks if c['ok'])}/{len(checks)} panel queries give the same result as their "
        "raw form",
        "",
        "Rule group evaluation time on the live data (quiet: nothing else querying, after the timed refreshes):",
        "",
        format_groups(quiet, loaded),
        "",
        f"recording.yml groups together: {sum(recording):.1f} ms per evaluation (sum of quiet medians)",
        "",
        "Slowest queries over the longest range (median ms):",
    ]
    for form, items in report["slowest_queries_ms"].items():
        lines += [f"  {form:<8} {ms:8.1f}  {dashboard}: {query}" for dashboard, query, ms in items]
    verdict = "met" if report["targets_met"] else "NOT met"
    lines += ["", f"Targets (each dashboard's 24h refresh >= 5x faster recorded and < 250 ms median): {verdict}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--participants", type=int, default=Options.participants)
    parser.add_argument("--silos", type=int, default=Options.silos)
    parser.add_argument(
        "--repeats", type=int, default=Options.repeats, help="timed refreshes per dashboard, range and form"
    )
    parser.add_argument("--ranges", default="6h,24h", help="comma-separated time ranges, e.g. 6h,24h")
    parser.add_argument("--jobs", type=int, default=Options.jobs, help="processes building the history")
    parser.add_argument("--stack", default="dev")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "bench.json")
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it (TSDB, logs, rule files)")
    parser.add_argument(
        "--recording-interval",
        help="what if: the rule groups the dashboards read evaluate at this interval (e.g. 1m), not the rendered one",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument(
        "--readme-table", type=Path, metavar="REPORT", help="print the README's table of a report, run nothing"
    )
    args = parser.parse_args(argv)
    if args.readme_table:
        print(readme_table(json.loads(args.readme_table.read_text())))
        return 0
    binaries = {name: upstream.find(name) for name in ("prometheus", "promtool")}
    problems = [str(found) for found in binaries.values() if found.problem]
    if problems:
        print("bench: " + "\n".join(problems), file=sys.stderr)
        return 2
    ranges = {label.strip(): parse_duration(label.strip()) for label in args.ranges.split(",") if label.strip()}
    options = Options(args.participants, args.silos, ranges, args.repeats, args.jobs, args.stack)
    if args.recording_interval:
        options.recording_interval = parse_duration(args.recording_interval)
    report = run(options, str(binaries["prometheus"].path), str(binaries["promtool"].path), args.out, args.keep)
    print(f"\nwrote {args.out}")
    if not report["equivalent"]:
        return 1
    return 1 if args.strict and not report["targets_met"] else 0


if __name__ == "__main__":
    sys.exit(main())
