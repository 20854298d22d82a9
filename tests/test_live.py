"""Live on loopback: a real Prometheus and Alertmanager from the rendered dev config, scraping
the synthetic Vega exporter (demo/vega.py). Every target is up, every rule evaluates,
every recording rule and every dashboard query returns data, exemplars carry trace ids, and the
seed's two alerts reach a webhook and resolve. What the harness rewrites: tests/support/harness.py.
"""

from __future__ import annotations

import math
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.settings import parse_duration
from demo.vega import API_ENDPOINTS, Scenario, SyntheticVega, fmt, trace_id
from tests.support.harness import (
    EVALUATION_INTERVAL,
    GROUP_WAIT,
    AlertRun,
    LiveStack,
    alert_rule,
    live_stack,
    load_rules,
    wait_until,
    write_report,
)
from tools.dashboard_queries import dashboard_files, dashboard_prometheus_queries

pytestmark = [pytest.mark.live, pytest.mark.tool]

# The 5xx storm: STORM_ERRORS_PER_SECOND extra 503 answers on one route for STORM_SECONDS.
# HighErrorRate compares a 5m rate with 0.1/s, so 60 errors put the rate at 0.2/s for as long
# as the storm lies inside the window: the condition holds for about five minutes (more than
# the rule's `for: 2m`) and then clears by itself, as the window moves past the storm.
STORM_ERRORS_PER_SECOND = 3.0
STORM_SECONDS = 20.0
STORM_ROUTE = "/models/{id}"


@pytest.fixture(scope="module")
def stack(tool: Callable[[str], str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    with live_stack(
        tmp_path_factory.mktemp("live"),
        tool("prometheus"),
        tool("prometheus-alertmanager"),
        promtool=tool("promtool"),
        scenario=Scenario(),
    ) as running:
        running.wait_targets_up(running.prometheus[0])
        yield running


def wait_for_data(stack: LiveStack, queries: list[tuple[str, str]], timeout: float) -> dict[str, str]:
    """Query every (label, expr) until each returned data once; {label: expr} of those that
    never did within `timeout`."""
    prom = stack.prometheus[0]
    pending = dict(queries)
    deadline = time.monotonic() + timeout
    errors: dict[str, str] = {}
    while pending and time.monotonic() < deadline:
        for label, expr in list(pending.items()):
            try:
                if prom.query(expr):
                    del pending[label]
            except AssertionError as error:  # a query Prometheus rejects never returns data
                errors[label] = str(error)
                del pending[label]
        if pending:
            time.sleep(1.0)
    return {**pending, **errors}


@pytest.mark.timeout(180)
def test_every_target_of_every_rendered_job_is_up(stack: LiveStack) -> None:
    targets = stack.wait_targets_up(stack.prometheus[0])
    jobs = {t["labels"]["job"] for t in targets}
    assert jobs == set(stack.jobs), f"scraped jobs {sorted(jobs)} differ from the rendered jobs {sorted(stack.jobs)}"
    assert {"vega-api", "vega-coordinator", "vega-database", "node-exporter", "cadvisor"} <= jobs
    down = [(t["labels"]["job"], t["lastError"]) for t in targets if t["health"] != "up"]
    assert not down, down


@pytest.mark.timeout(180)
def test_a_scrape_job_the_user_adds_is_served_and_up(
    tool: Callable[[str], str], configs_copy: Path, tmp_path: Path
) -> None:
    """A job added the documented way (a file in configs/prometheus/scrape_configs/) is
    rendered, scraped on its own metrics_path from the harness' stand-in target, and up."""
    job = {"job_name": "custom-service", "metrics_path": "/custom/metrics", "static_configs": [{"targets": ["custom-service:9000"]}]}
    (configs_copy / "prometheus" / "scrape_configs" / "custom-service.yml").write_text(yaml.safe_dump({"scrape_configs": [job]}))
    with live_stack(tmp_path, tool("prometheus"), tool("prometheus-alertmanager"), promtool=tool("promtool")) as added:
        assert "custom-service" in added.jobs, f"the added job is not rendered: {added.jobs}"
        prom = added.prometheus[0]
        added.wait_targets_up(prom)
        up = wait_until(lambda: prom.query('up{job="custom-service"}'), 30, "up of the added job", added.logs)
        assert [row["value"][1] for row in up] == ["1"], up
        assert "/custom/metrics" in added.stand_in.paths, added.stand_in.paths


@pytest.mark.timeout(120)
def test_every_rule_evaluates_without_error(stack: LiveStack) -> None:
    prom = stack.prometheus[0]
    expected = {(r["group"], r.get("alert") or r["record"]) for r in load_rules(stack.rules_dir)}

    def evaluated() -> list[dict[str, Any]] | None:
        rules = [rule for group in prom.api("rules")["groups"] for rule in group["rules"]]
        return rules if rules and not any(r["lastEvaluation"].startswith("0001-") for r in rules) else None

    rules = wait_until(evaluated, 60, "every rule to be evaluated once", stack.logs)
    loaded = {(g["name"], r["name"]) for g in prom.api("rules")["groups"] for r in g["rules"]}
    assert loaded == expected, f"rules loaded by Prometheus differ from the rendered files: {loaded ^ expected}"
    failing = [(r["name"], r["lastError"]) for r in rules if r["health"] != "ok"]
    assert not failing, failing


@pytest.mark.timeout(180)
def test_every_recording_rule_produces_series(stack: LiveStack) -> None:
    records = [(r["record"], r["record"]) for r in load_rules(stack.rules_dir) if "record" in r]
    assert records, "the rendered rule files have no recording rule"
    empty = wait_for_data(stack, records, timeout=90)
    assert not empty, f"recording rules without a series: {sorted(empty)}"


def dashboard_queries(stack: LiveStack, *, alerts: bool) -> list[tuple[str, str]]:
    """(label, expr) of every query of the rendered dashboards (generated and the user's own)
    that reads ALERTS (alerts=True) or does not. A query over ALERTS has data only while an
    alert fires: the alert scenario checks those."""
    rendered = stack.workdir / "render" / "config" / "grafana" / "dashboards"
    dashboards = dashboard_files(rendered)
    assert dashboards, f"no dashboards in {rendered}"
    queries = [
        (f"{path.name}: {title}: {expr}", expr) for path in dashboards for title, expr in dashboard_prometheus_queries(path)
    ]
    return [(label, expr) for label, expr in queries if bool(re.search(r"\bALERTS\b", expr)) == alerts]


@pytest.mark.timeout(180)
def test_every_dashboard_query_returns_data(stack: LiveStack) -> None:
    queries = dashboard_queries(stack, alerts=False)
    assert queries, "the dashboards have no Prometheus query"
    empty = wait_for_data(stack, queries, timeout=90)
    assert not empty, "dashboard queries without data:\n" + "\n".join(sorted(empty))


@pytest.mark.timeout(120)
def test_exemplars_carry_the_trace_ids_the_api_recorded(stack: LiveStack) -> None:
    prom = stack.prometheus[0]

    def exemplars() -> list[dict[str, Any]] | None:
        now = time.time()
        found = prom.api("query_exemplars", query="http_request_duration_seconds_bucket", start=now - 120, end=now)
        return found if any(series["exemplars"] for series in found) else None

    found = wait_until(exemplars, 60, "exemplars of http_request_duration_seconds_bucket", stack.logs)
    checked = 0
    for series in found:
        labels = series["seriesLabels"]
        assert labels["__name__"] == "http_request_duration_seconds_bucket"
        # Prometheus 3 normalises `le` of classic histograms on ingestion (1 -> 1.0); the exporter
        # keyed its trace ids on its own spelling of the bound.
        le = fmt(float(labels["le"]))
        route = (("method", labels["method"]), ("endpoint", labels["endpoint"]), ("le", le))
        for exemplar in series["exemplars"]:
            tid = exemplar["labels"].get("trace_id", "")
            assert re.fullmatch(r"[0-9a-f]{32}", tid), exemplar
            window = round(float(exemplar["timestamp"]) / 10)
            assert tid == trace_id(route, window), f"{tid} is not the trace the exporter attached to {route}"
            upper = math.inf if labels["le"] == "+Inf" else float(labels["le"])
            assert float(exemplar["value"]) <= upper
            checked += 1
    assert checked >= len(API_ENDPOINTS)


@pytest.mark.timeout(120)
def test_the_synthetic_history_backfills_with_promtool(tool: Callable[[str], str], tmp_path: Path) -> None:
    """The model's backfill output (what a benchmark feeds promtool) is valid OpenMetrics that
    promtool turns into TSDB blocks with every series of every step."""
    promtool = tool("promtool")
    end = math.floor(time.time() / 60) * 60
    start, step = end - 1800, 15.0
    model = SyntheticVega(Scenario(participants=40, silos=4), start=start)
    source = tmp_path / "history.om"
    source.write_text("\n".join(model.backfill(start, end, step)) + "\n")
    out = tmp_path / "blocks"
    result = subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(source), str(out)],
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (out / "wal").mkdir()  # promtool tsdb dump reads a WAL; backfilled blocks have none
    dump = subprocess.run(
        [promtool, "tsdb", "dump", "--match", "federated_participant_up", str(out)],
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert dump.returncode == 0, dump.stderr
    ups = [line for line in dump.stdout.splitlines() if line.startswith('{__name__="federated_participant_up"')]
    assert {line.split("}")[0] for line in ups} == {
        f'{{__name__="federated_participant_up", instance="vega-coordinator:synthetic", job="vega-coordinator", '
        f'participant_id="{pid}", silo="{silo}"'
        for pid, silo, _ in model.participants()
    }
    assert len(ups) == 40 * (1800 / step), f"expected one sample per participant and step, got {len(ups)}"


def test_counters_of_the_synthetic_model_never_go_backwards() -> None:
    """Scenario changes bend the counters without a reset (a reset would fake a rate spike),
    and histogram buckets stay cumulative."""
    model = SyntheticVega(Scenario(), start=1_000_000.0)
    changes: list[dict[str, Any]] = [
        {"storm_errors_per_second": 50.0}, {"active": 0}, {"requests_per_second": 0.5, "rounds_advancing": False},
        {"participants": 12, "silos": 5}, {"storm_errors_per_second": 0.0, "latency_factor": 4.0},
    ]  # fmt: skip
    previous: dict[tuple[str, str, str], float] = {}
    for i, change in enumerate([{}, *changes]):
        t = 1_000_000.0 + 60 * (i + 1)
        model.update(at=t - 30, **change)
        for target in ("vega-api", "vega-coordinator", "vega-database", "node-exporter", "cadvisor"):
            for fam in model.families(target, t):
                if fam.type == "gauge":
                    continue
                buckets: dict[str, list[float]] = {}
                for sample in fam.samples:
                    key = (target, fam.name + sample.suffix, repr(sample.labels))
                    assert sample.value >= previous.get(key, 0.0), f"{key} went backwards after {change}"
                    previous[key] = sample.value
                    if sample.suffix == "_bucket":
                        route = repr([kv for kv in sample.labels if kv[0] != "le"])
                        buckets.setdefault(route, []).append(sample.value)
                assert all(values == sorted(values) for values in buckets.values()), f"{fam.name} buckets not cumulative"


@pytest.mark.timeout(600)
def test_seed_alerts_reach_the_webhook_and_resolve(
    stack: LiveStack, capsys: pytest.CaptureFixture[str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Both scenarios at once, in one Prometheus: participants fall below 2 (until the firing
    notification arrives, then they come back), and a 20-second 5xx storm on one route."""
    prom, hook, model = stack.prometheus[0], stack.webhook, stack.model
    down_rule = alert_rule(stack.rules_dir, "FederatedParticipantDown")
    error_rule = alert_rule(stack.rules_dir, "HighErrorRate")
    floor = {
        name: parse_duration(rule["for"]) + EVALUATION_INTERVAL + GROUP_WAIT
        for name, rule in (("FederatedParticipantDown", down_rule), ("HighErrorRate", error_rule))
    }
    assert not hook.notifications("FederatedParticipantDown") and not hook.notifications("HighErrorRate")

    start = time.time()
    model.update(at=start, active=1, storm_errors_per_second=STORM_ERRORS_PER_SECOND, storm_route=STORM_ROUTE)
    events: dict[str, float] = {"start": start}
    deadline = start + 480
    while not {"down_resolved", "errors_resolved"} <= set(events):
        now = time.time()
        if "storm_end" not in events and now >= start + STORM_SECONDS:
            model.update(at=now, storm_errors_per_second=0.0)
            events["storm_end"] = now
        if "down_fired" not in events and (fired := hook.notifications("FederatedParticipantDown", "firing", start)):
            events["down_fired"] = fired[0].at
            model.update(active=None)  # every participant is back
            events["restored"] = time.time()
        if "errors_fired" not in events and (fired := hook.notifications("HighErrorRate", "firing", start)):
            events["errors_fired"] = fired[0].at
        for name, key, after in (
            ("FederatedParticipantDown", "down_resolved", "restored"),
            ("HighErrorRate", "errors_resolved", "errors_fired"),
        ):
            if after in events and key not in events and (resolved := hook.notifications(name, "resolved", events[after])):
                events[key] = resolved[0].at
        if now > deadline:
            seen = {k: round(v - start, 1) for k, v in events.items()}
            pytest.fail(f"alert scenarios incomplete after {deadline - start:.0f}s; events {seen}\n{stack.logs()}")
        time.sleep(0.2)

    # Exactly one firing and one resolved notification each, with the labels the routing needs.
    for name, labels in (
        ("FederatedParticipantDown", {"severity": "critical", "job": "vega-coordinator"}),
        ("HighErrorRate", {"severity": "warning", "job": "vega-api", "endpoint": STORM_ROUTE}),
    ):
        firing = hook.notifications(name, "firing", start)
        resolved = hook.notifications(name, "resolved", start)
        assert len(firing) == 1, f"{name}: {len(firing)} firing notifications"
        assert len(resolved) == 1, f"{name}: {len(resolved)} resolved notifications"
        alert = firing[0].alerts(name)[0]
        assert labels.items() <= alert["labels"].items(), alert["labels"]
        assert alert["annotations"].get("summary") and alert["annotations"].get("runbook_url")
        assert firing[0].payload["receiver"] == f"vega-{labels['severity']}"

    # The dashboards' alert panels (queries over ALERTS) show an alert of their scope when it fires.
    fired_at = (events["down_fired"], events["errors_fired"])
    blank = [label for label, expr in dashboard_queries(stack, alerts=True) if not any(prom.query(expr, at=at) for at in fired_at)]
    assert not blank, f"dashboard alert panels empty when FederatedParticipantDown and HighErrorRate fired: {blank}"

    # `for` is honoured, and the storm's alert resolves only once its 5m rate is below the threshold.
    assert events["down_fired"] - start >= parse_duration(down_rule["for"])
    assert events["errors_fired"] - start >= parse_duration(error_rule["for"])
    assert events["down_resolved"] > events["restored"]
    assert prom.query(error_rule["expr"], at=events["errors_fired"]), "HighErrorRate's condition was false when it fired"
    assert not prom.query(error_rule["expr"], at=events["errors_resolved"]), "HighErrorRate resolved while its condition held"

    # When the storm's condition cleared: the last second the alert expression had a result.
    held = prom.api(
        "query_range", query=f"count({error_rule['expr']})", start=events["errors_fired"], end=events["errors_resolved"], step=1
    )
    cleared = max(float(ts) for series in held["result"] for ts, _ in series["values"]) + 1.0
    began = prom.api("query_range", query=f"count({error_rule['expr']})", start=start, end=events["errors_fired"], step=1)
    crossed = min(float(ts) for series in began["result"] for ts, _ in series["values"])
    runs = [
        AlertRun(
            "participants fall below 2", "FederatedParticipantDown", start, events["down_fired"],
            floor["FederatedParticipantDown"], events["restored"], events["down_resolved"],
        ),
        AlertRun(
            "5xx storm", "HighErrorRate", start, events["errors_fired"], floor["HighErrorRate"], cleared,
            events["errors_resolved"],
            notes=f"{STORM_ERRORS_PER_SECOND:g}/s of 503 for {STORM_SECONDS:g}s; the 5m rate crossed the threshold "
            f"{crossed - start:.0f}s and fell below it {cleared - start:.0f}s after the storm began",
        ),
    ]
    report = write_report(tmp_path_factory.mktemp("latency") / "live-alert-latency.json", runs)
    with capsys.disabled():
        print("\nlive alert latency (seconds from condition start to webhook delivery):\n" + report)
