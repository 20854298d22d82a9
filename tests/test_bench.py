"""The benchmark's own logic (bench/*.py): the inlining of recording rules, Grafana's
request model, the synthetic history and its promtool backfill, the figures of the report,
and, on a tiny backfilled TSDB in a real Prometheus, that every panel query and its raw form
give the same values. Nothing here asserts a timing: `make bench` measures those."""

from __future__ import annotations

import math
import subprocess
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

import bench.__main__ as bench
from bench.data import BLOCK_SECONDS, History, OpenMetricsWriter, rule_backfill_file, split_at_blocks
from bench.prom import bench_config, local_args, overlapping, wait_for
from bench.promql import (
    RecordingRule,
    UnsupportedExpansion,
    dependencies,
    inline,
    label_survives,
    load_rules,
    recorded_names,
    selectors,
)
from bench.refresh import dashboard_targets, duration, interval_ms, refresh_requests, round_interval_ms
from bench.report import (
    Refreshes,
    as_json,
    format_groups,
    format_table,
    group_stats,
    readme_table,
    rows,
    targets_met,
)
from components.settings import configs_dir
from demo.vega import Scenario, SyntheticVega
from tools.dashboard_queries import dashboard_files, dashboard_prometheus_queries

RECORDING = configs_dir() / "prometheus" / "rules" / "recording.yml"
DASHBOARDS = dashboard_files(configs_dir() / "grafana" / "dashboards", own=False)  # what `make bench` times


def rules_of(*items: tuple[str, str] | tuple[str, str, dict[str, str]]) -> dict[str, tuple[RecordingRule, ...]]:
    out: dict[str, tuple[RecordingRule, ...]] = {}
    for item in items:
        rule = RecordingRule(item[0], item[1], item[2] if len(item) > 2 else {})
        out[rule.record] = (*out.get(rule.record, ()), rule)
    return out


# --------------------------------------------------------------------------- inlining


def test_a_matcher_on_a_kept_label_moves_into_the_raw_selectors() -> None:
    rules = rules_of(("silo:up:sum", "sum by (silo) (participant_up)"))
    assert inline('silo:up:sum{silo=~"s1|s2"}', rules) == '(sum by (silo) (participant_up{silo=~"s1|s2"}))'
    # existing matchers stay, ranges stay after the braces
    rules = rules_of(("job:r:rate5m", 'sum by (job) (rate(req_total{code=~"5.."}[5m]))'))
    assert inline('job:r:rate5m{job="api"} > 0', rules) == '(sum by (job) (rate(req_total{code=~"5..", job="api"}[5m]))) > 0'


def test_recording_rules_reading_recorded_series_are_inlined_recursively() -> None:
    rules = rules_of(
        ("p:bytes:rate5m", "sum by (p, silo) (rate(bytes_total[5m]))"),
        ("silo:bytes:rate5m", "sum by (silo) (p:bytes:rate5m)"),
    )
    raw = inline('sum(silo:bytes:rate5m{silo="a"})', rules)
    assert raw == 'sum((sum by (silo) ((sum by (p, silo) (rate(bytes_total{silo="a"}[5m]))))))'
    assert recorded_names(raw, rules) == set()
    assert dependencies(["silo:bytes:rate5m"], rules) == {"silo:bytes:rate5m", "p:bytes:rate5m"}


def test_a_matcher_on_a_dropped_label_is_dropped_only_when_it_matches_the_empty_value() -> None:
    rules = rules_of(("silo:up:sum", "sum by (silo) (participant_up)"))
    assert inline('silo:up:sum{participant=~".*"}', rules) == "(sum by (silo) (participant_up))"
    with pytest.raises(UnsupportedExpansion, match="drops participant"):
        inline('silo:up:sum{participant="p-1"}', rules)


@pytest.mark.parametrize(
    "expr",
    [
        "sum_over_time(a:b:sum[30m])",  # a range over a recorded series
        "a:b:sum offset 5m",
        "a:b:sum @ 1700000000",
    ],
)
def test_time_modifiers_on_recorded_series_are_refused(expr: str) -> None:
    with pytest.raises(UnsupportedExpansion):
        inline(expr, rules_of(("a:b:sum", "sum by (x) (m)")))


def test_selection_aggregations_only_take_a_filter_their_grouping_keeps() -> None:
    # topk over everything: filtering its input changes which series are on top.
    assert not label_survives("topk(3, m)", "silo")
    assert label_survives("topk by (silo) (3, m)", "silo")
    assert not label_survives("sum(m)", "silo")
    assert label_survives("sum(m) by (silo, job)", "silo")
    assert not label_survives("sum without (silo) (m)", "silo")
    assert label_survives("sum without (instance) (m)", "silo")
    assert not label_survives("histogram_quantile(0.9, sum by (le, job) (rate(b[5m])))", "le")
    assert label_survives("histogram_quantile(0.9, sum by (le, job) (rate(b[5m])))", "job")
    assert not label_survives('label_replace(m, "silo", "x", "", "")', "silo")
    assert not label_survives("a / on (job) b", "silo")
    assert label_survives("a / ignoring (le) b", "silo")
    with pytest.raises(UnsupportedExpansion):
        inline('t:top{silo="a"}', rules_of(("t:top", "topk(3, m)")))


def test_rule_labels_are_kept_and_decide_matchers_on_them() -> None:
    rules = rules_of(
        ("slo:err:rate5m", 'sum by (job) (rate(e_total{job="api"}[5m]))', {"slo": "api"}),
        ("slo:err:rate5m", 'sum by (job) (rate(e_total{job="web"}[5m]))', {"slo": "web"}),
    )
    one = inline('slo:err:rate5m{slo="web"}', rules)
    assert one == 'label_replace((sum by (job) (rate(e_total{job="web"}[5m]))), "slo", "web", "", "")'
    both = inline("slo:err:rate5m", rules)
    assert both.startswith("(label_replace(") and " or label_replace(" in both
    with pytest.raises(UnsupportedExpansion, match="no rule"):
        inline('slo:err:rate5m{slo="db"}', rules)


def test_strings_and_grouping_clauses_are_not_mistaken_for_series() -> None:
    rules = rules_of(("a:b:sum", "sum by (x) (m)"))
    expr = 'label_replace(up{job="a:b:sum"}, "x", "$1", "instance", "(a:b:sum).*") or sum by (a) (n)'
    assert [s.name for s in selectors(expr)] == ["up", "n"]
    assert inline(expr, rules) == expr
    assert [s.name for s in selectors("sum by (le) (rate(x[5m])) * 1e3 + node_load1 offset 1h")] == ["x", "node_load1"]


def test_every_dashboard_query_has_a_raw_form_without_recorded_series() -> None:
    rules = load_rules([RECORDING])
    inlined = 0
    for path in DASHBOARDS:
        for title, expr in dashboard_prometheus_queries(path):
            raw = inline(expr, rules)
            assert recorded_names(raw, rules) == set(), f"{title}: {raw}"
            inlined += raw != expr
    assert inlined >= 40, "the dashboards should read recording rules"


@pytest.mark.tool
def test_the_raw_forms_and_the_backfill_rules_are_valid_promql(tool: Callable[[str], str], tmp_path: Path) -> None:
    """promtool parses every raw form (as a recording rule) and the backfill rule file."""
    import yaml

    promtool = tool("promtool")
    rules = load_rules([RECORDING])
    raw = sorted({inline(expr, rules) for p in DASHBOARDS for _, expr in dashboard_prometheus_queries(p)})
    doc = {"groups": [{"name": "raw", "rules": [{"record": f"raw:q{i}", "expr": e} for i, e in enumerate(raw)]}]}
    (tmp_path / "raw.yml").write_text(yaml.safe_dump(doc))
    names = rule_backfill_file(rules, rules, "15s", tmp_path / "backfill.yml")
    assert names == sorted(rules)
    for name in ("raw.yml", "backfill.yml"):
        result = subprocess.run([promtool, "check", "rules", str(tmp_path / name)], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr


# --------------------------------------------------------------------------- Grafana's requests


def test_grafana_rounds_the_interval_as_it_does() -> None:
    assert round_interval_ms(86_400_000 / 932) == 120_000  # 24h on a half-width panel: 2m
    assert round_interval_ms(21_600_000 / 932) == 20_000  # 6h: 20s
    assert round_interval_ms(86_400_000 / 304) == 300_000  # 24h on a stat panel: 5m
    assert round_interval_ms(1) == 1 and round_interval_ms(10**12) == 31_536_000_000
    assert interval_ms(3600, 1900, 15) == 15_000  # never below the scrape interval
    assert duration(135_000) == "135s" and duration(120_000) == "2m" and duration(1500) == "1500ms"


def test_a_refresh_sends_what_grafana_sends() -> None:
    overview = next(p for p in DASHBOARDS if "overview" in p.name)
    targets = dashboard_targets(overview)
    titles = {t.panel for t in targets}
    assert "PostgreSQL up" not in titles, "panels of a collapsed row are not queried"
    assert {"Request rate", "Endpoints", "CPU by container"} <= titles
    requests = refresh_requests(targets, 24 * 3600, 15)
    assert len(requests) == len(targets)
    endpoints = [r for r in requests if r.panel == "Endpoints"]
    assert endpoints and all(r.instant and r.step == 0 for r in endpoints)
    stat = next(r for r in requests if r.panel == "Request rate")
    assert stat.step == 300  # a 4-column panel over 24h
    cpu = next(r for r in requests if r.panel == "CPU by container")
    assert cpu.step == 300  # a panel of at most 300 points (maxDataPoints) over 24h
    federated = next(p for p in DASHBOARDS if "federated" in p.name)
    rounds = next(r for r in refresh_requests(dashboard_targets(federated), 24 * 3600, 15) if r.panel == "Rounds aggregated per hour")
    assert rounds.step == 120 and "[135s]" in rounds.expr  # $__rate_interval = 2m + 15s
    assert all("$" not in r.expr for r in requests)
    path, params = stat.params(1_700_000_123.4, 86400)
    assert path == "query_range"
    assert float(params["end"]) % 300 == 0 and float(params["start"]) % 300 == 0
    assert float(params["end"]) - float(params["start"]) == 86400


# --------------------------------------------------------------------------- synthetic history


def test_history_windows_cover_every_scrape_once_at_block_boundaries() -> None:
    start = 1_700_000_000.0
    history = History(Scenario(participants=3), start, start + 5 * 3600 + 30, 15.0)
    windows = history.windows()
    assert all(math.floor(lo / BLOCK_SECONDS) == math.floor((hi - 1) / BLOCK_SECONDS) for lo, hi in windows)
    covered = [t for lo, hi in windows for t in history.times(lo, hi)]
    assert covered == list(history.times(history.start, history.end))
    assert len(covered) == (5 * 3600 + 30) // 15  # end excluded


def test_rule_backfill_ranges_are_contiguous_and_split_at_blocks() -> None:
    parts = split_at_blocks(1_700_000_100, 1_700_090_000, 2)
    assert len(parts) == 2
    assert parts[0][0] == 1_700_000_100 and parts[-1][1] == 1_700_090_000
    assert parts[1][0] == parts[0][1] + 1 and parts[1][0] % BLOCK_SECONDS == 0
    assert split_at_blocks(100, 200, 4) == [(100, 200)]


def _expected_lines(model: SyntheticVega, target: str, t: float) -> list[str]:
    out = []
    for fam in model.families(target, t):
        for s in fam.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in (*s.labels, ("instance", f"{target}:synthetic"), ("job", target)))
            out.append(f"{fam.name}{s.suffix}{{{labels}}} {float(s.value)!r} {t!r}")
    out.append(f'up{{instance="{target}:synthetic",job="{target}"}} 1 {t!r}')
    return out


def _normalise(line: str) -> str:
    series, value, stamp = line.rsplit(" ", 2)
    return f"{series} {float(value)!r} {float(stamp)!r}"


def test_backfill_lines_follow_the_model_when_its_series_change() -> None:
    start = 1_700_000_000.0
    model = SyntheticVega(Scenario(participants=4, silos=2), start=start)
    writer = OpenMetricsWriter(model, ["vega-database", "vega-coordinator"])
    first = writer.lines(start + 15)
    assert [_normalise(x) for x in first] == [
        _normalise(x) for t in ("vega-database", "vega-coordinator") for x in _expected_lines(model, t, start + 15)
    ]
    model.update(at=start + 20, database_up=False, participants=6)  # fewer database series, more participants
    second = writer.lines(start + 30)
    expected = [x for t in ("vega-database", "vega-coordinator") for x in _expected_lines(model, t, start + 30)]
    assert [_normalise(x) for x in second] == [_normalise(x) for x in expected]
    assert len(second) != len(first)


@pytest.mark.tool
def test_promtool_turns_one_window_into_one_block_with_every_sample(tool: Callable[[str], str], tmp_path: Path) -> None:
    promtool = tool("promtool")
    start = 1_700_006_400.0  # a block boundary
    history = History(Scenario(participants=5, silos=2), start, start + 600, 15.0)
    path = tmp_path / "h.om"
    samples = OpenMetricsWriter(history.model(), history.targets).write(path, history.times(start, start + 600))
    out = tmp_path / "blocks"
    result = subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(path), str(out)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    listing = subprocess.run([promtool, "tsdb", "list", str(out)], capture_output=True, text=True, timeout=60)
    rows_ = [line.split() for line in listing.stdout.splitlines()[1:] if line.strip()]
    assert len(rows_) == 1
    assert int(rows_[0][4]) == samples  # NUM SAMPLES
    assert int(rows_[0][1]) == start * 1000 and int(rows_[0][2]) == (start + 585) * 1000 + 1


# --------------------------------------------------------------------------- the report


def _refreshes(dashboard: str, range_: str, form: str, totals: list[float]) -> Refreshes:
    run = Refreshes(dashboard, range_, form)
    for total in totals:
        run.add({"a #1": total * 0.25, "b #2": total * 0.75})
    return run


def test_the_report_takes_medians_ratios_and_targets() -> None:
    runs = [
        _refreshes("D", "6h", "recorded", [0.1, 0.3, 0.2]),
        _refreshes("D", "6h", "raw", [1.0, 2.0, 1.5, 9.0]),
        _refreshes("D", "24h", "recorded", [0.2, 0.26, 0.3]),
        _refreshes("D", "24h", "raw", [5.2, 5.2, 5.2]),
    ]
    table = {(r.dashboard, r.range): r for r in rows(runs, {("D", "6h"): 2, ("D", "24h"): 2})}
    six, day = table[("D", "6h")], table[("D", "24h")]
    assert six.recorded_ms == pytest.approx(200) and six.raw_ms == pytest.approx(1750)
    assert six.ratio == pytest.approx(8.75) and six.speedup_ok and six.budget_ok is None
    assert day.recorded_ms == pytest.approx(260) and day.ratio == pytest.approx(20)
    assert day.budget_ok is False and not targets_met(list(table.values()))
    # The targets are the 24h refresh's: a slow 6h ratio shows, but does not decide.
    fast_day = [_refreshes("D", "24h", "recorded", [0.2]), _refreshes("D", "24h", "raw", [1.2])]
    slow_six = [_refreshes("D", "6h", "recorded", [0.1]), _refreshes("D", "6h", "raw", [0.3])]
    mixed = rows(fast_day + slow_six, {})
    assert not next(r for r in mixed if r.range == "6h").speedup_ok and targets_met(mixed)
    assert not targets_met(rows(slow_six, {}))
    assert runs[0].per_query["a #1"] == pytest.approx([0.025, 0.075, 0.05])
    text = format_table(list(table.values()))
    assert "1750.0" in text and "8.8x" in text and "NO" in text
    with pytest.raises(ValueError, match="both forms"):
        rows(runs[:1], {})
    readme = readme_table({"refresh": [asdict(r) for r in table.values()]}).splitlines()
    assert readme[0].startswith("| Dashboard | Range |") and len(readme) == 4
    assert readme[2] == "| D | 6h | 200 ms | 1.8 s | 8.8× | (≥5×) |"
    assert readme[3] == "| D | 24h | 260 ms | 5.2 s | 20.0× | **not met** |"


def test_rule_group_statistics_and_json() -> None:
    stats = group_stats(
        {("recording.yml", "g"): {"t1": 0.010, "t2": 0.030, "t3": 0.020}},
        {("recording.yml", "g"): (15.0, 4), ("slo.yml", "never"): (15.0, 2)},
    )
    g, never = stats
    assert (g.evaluations, g.median_ms, g.max_ms) == (3, pytest.approx(20), pytest.approx(30))
    assert never.evaluations == 0 and math.isnan(never.median_ms)
    text = format_groups(stats, [g])
    assert "20.0" in text and "30.0" in text and "never" in text
    assert as_json({"x": [math.nan, math.inf, 1.5]}) == {"x": [None, None, 1.5]}


def test_rule_evaluation_times_are_read_to_the_nanosecond() -> None:
    assert bench.epoch("2026-11-28T01:57:09.123456789Z") == pytest.approx(1795831029.123456789)
    assert bench.epoch("2026-11-28T02:57:09.5+01:00") == pytest.approx(1795831029.5)
    with pytest.raises(ValueError):
        bench.epoch("yesterday")


def _vector(*series: tuple[dict[str, str], str]) -> dict[str, Any]:
    return {"resultType": "vector", "result": [{"metric": m, "value": [0, v]} for m, v in series]}


def test_the_equivalence_check_catches_differences() -> None:
    same = bench.compare(
        "p", "r", "q",
        [(1.0, _vector(({"__name__": "r", "silo": "a"}, "0.5"), ({"silo": "b"}, "NaN")), _vector(({"silo": "a"}, "0.5"), ({"silo": "b"}, "NaN")))],
    )  # fmt: skip
    assert same.ok and same.series == 2
    off = bench.compare("p", "r", "q", [(1.0, _vector(({"silo": "a"}, "0.5")), _vector(({"silo": "a"}, "0.5001")))])
    assert not off.ok
    missing = bench.compare("p", "r", "q", [(1.0, _vector(({"silo": "a"}, "1")), _vector())])
    assert not missing.ok
    empty = bench.compare("p", "r", "q", [(1.0, _vector(), _vector())])
    assert not empty.ok, "comparing nothing proves nothing"


# --------------------------------------------------------------------------- configuration


def test_the_bench_prometheus_runs_the_rendered_configuration(rendered: Callable[[str], Path]) -> None:
    import yaml

    out = rendered("dev")
    config = yaml.safe_load((out / "config" / "prometheus" / "prometheus.yml").read_text())
    bench_doc = bench_config(config, ["vega-api", "vega-coordinator"], "127.0.0.1:9999")
    assert bench_doc["global"] == config["global"] and bench_doc["rule_files"] == config["rule_files"]
    assert "alerting" not in bench_doc
    jobs = {j["job_name"]: j for j in bench_doc["scrape_configs"]}
    assert set(jobs) == {"vega-api", "vega-coordinator"}
    assert jobs["vega-coordinator"]["metrics_path"] == "/metrics/vega-coordinator"
    assert jobs["vega-coordinator"]["relabel_configs"][0]["replacement"] == "vega-coordinator:synthetic"
    from bench.prom import rendered_prometheus_args

    args = local_args(rendered_prometheus_args(out), Path("/tmp/c"), Path("/tmp/d"), 1234)
    assert "--config.file=/tmp/c/prometheus.yml" in args and "--storage.tsdb.path=/tmp/d" in args
    assert args[-1] == "--web.listen-address=127.0.0.1:1234"
    assert overlapping([("a", 0, 10), ("b", 10, 20)]) is False
    assert overlapping([("a", 0, 10), ("b", 5, 20)]) is True


# --------------------------------------------------------------------------- on a real TSDB


@pytest.mark.tool
@pytest.mark.live
def test_every_panel_query_equals_its_raw_form_on_a_backfilled_tsdb(tool: Callable[[str], str], tmp_path: Path) -> None:
    """The benchmark's setup at a tiny scale: history backfilled with promtool, recorded
    series backfilled with promtool from the raw ones, a real Prometheus; then every panel
    query that reads a recording rule against its raw form, at evaluation timestamps."""
    options = bench.Options(participants=12, silos=3, ranges={"1h": 3600.0}, repeats=1, jobs=2, restart_to_load=True)
    boards = bench.dashboards()
    with bench.environment(options, tmp_path, tool("prometheus"), tool("promtool"), boards) as env:
        recorded = bench.plans(boards, options.ranges, env.scrape_interval)
        raw = {key: [bench.raw_form(r, env.rules) for r in reqs] for key, reqs in recorded.items()}
        comparisons = bench.verify(env, recorded, raw)
        assert len(comparisons) >= 40
        bad = [f"{c.panel}: {c.problems[:2]}" for c in comparisons if not c.ok]
        assert not bad, "\n".join(bad)
        assert sum(c.series for c in comparisons) > 100

        # The check has teeth on real data: a raw form that reads max instead of avg differs.
        wrong = next(c for c in comparisons if "avg by (silo)" in c.raw)
        pair = (wrong.panel, wrong.recorded, wrong.raw.replace("avg by", "max by"))
        broken = bench.check_equivalence(env.api, [pair], wrong.times)
        assert not broken[0].ok

        # A timed refresh of each form runs every request without an error.
        watch = bench.RuleWatch()
        runs = bench.run_timings(env, recorded, raw, watch)
        table = rows(runs, {key: len(reqs) for key, reqs in recorded.items()})
        assert {(r.dashboard, r.range) for r in table} == set(recorded)
        assert all(len(run.seconds) == 1 and len(run.per_query) == len(recorded[(run.dashboard, run.range)]) for run in runs)

        # The rule groups report their evaluations (the first comes within one interval).
        def evaluated() -> bool:
            watch.poll(env.api)
            return all(g.evaluations >= 1 for g in watch.stats() if g.file == "recording.yml")

        wait_for(evaluated, 60, "the recording rule groups to be evaluated", interval=1.0)
        groups = {g.name for g in watch.stats() if g.file == "recording.yml"}
        assert groups == {"vega-api.recording", "vega-federation.recording", "vega-resources.recording"}
