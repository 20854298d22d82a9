"""The provisioned Grafana dashboards: the stack's two, generated from tools/dashboards.py
without drift, and every dashboard of the user's own in configs/grafana/dashboards/, checked
alike: wired to the pinned datasources, every Prometheus expression accepted by promtool,
every metric one the stack has. For the stack's two: the heavy queries served by the
recording rules, the panels that need docs/metrics.md's extended contract saying so, and
the alerts firing listed and marked on the time series they concern."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from bench.promql import selectors
from components.endpoints import DATASOURCE_UIDS
from components.grafana import config as grafana_config
from components.settings import configs_dir
from demo.vega import Scenario, SyntheticVega
from tests.conftest import ROOT
from tools import dashboard_queries, dashboards
from tools.dashboard_queries import (
    FILTER_GUARD_LABEL,
    dashboard_files,
    dashboard_prometheus_queries,
    metric_names,
    panels,
    substitute,
    variable_prometheus_selectors,
)

DASHBOARDS = configs_dir() / "grafana" / "dashboards"
GENERATED = DASHBOARDS / "generated"
OVERVIEW = GENERATED / "vega-system-overview.json"
FEDERATED = GENERATED / "vega-federated-learning.json"
FILES = (OVERVIEW, FEDERATED)  # the stack's own
EVERY = tuple(dashboard_files(DASHBOARDS))  # ... and the user's, whatever is there
RULES = configs_dir() / "prometheus" / "rules"
RECORDING = RULES / "recording.yml"

# Exporter metrics the dashboards may read, as the upstream projects name them: cAdvisor
# (docs/storage/prometheus.md), node-exporter (meminfo, cpu, diskstats, netdev, filesystem,
# loadavg collectors), postgres_exporter (pg_up, collector/pg_stat_database.go).
CADVISOR = {
    "container_cpu_usage_seconds_total", "container_memory_working_set_bytes", "container_spec_memory_limit_bytes",
    "container_network_receive_bytes_total", "container_network_transmit_bytes_total",
    "container_fs_reads_bytes_total", "container_fs_writes_bytes_total", "container_last_seen",
}  # fmt: skip
NODE_EXPORTER = {
    "node_cpu_seconds_total", "node_memory_MemAvailable_bytes", "node_memory_MemTotal_bytes",
    "node_network_receive_bytes_total", "node_network_transmit_bytes_total", "node_disk_read_bytes_total",
    "node_disk_written_bytes_total", "node_filesystem_avail_bytes", "node_filesystem_size_bytes", "node_load1",
}  # fmt: skip
POSTGRES_EXPORTER = {
    "pg_up", "pg_stat_database_xact_commit", "pg_stat_database_xact_rollback", "pg_stat_database_numbackends",
    "pg_stat_database_blks_hit", "pg_stat_database_blks_read", "pg_stat_database_deadlocks",
}  # fmt: skip


def load(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text())
    return doc


def contract(extended: bool | None = None) -> set[str]:
    """Metric names of docs/metrics.md (the seed's, those its "Extended contract" section
    adds, or all with None); a histogram stands for its _bucket, _sum and _count."""
    names = set()
    in_extended = False
    for line in (ROOT / "docs" / "metrics.md").read_text().splitlines():
        if line.startswith("#"):
            in_extended = "extended contract" in line.lower()
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) < 2 or (extended is not None and in_extended != extended):
            continue
        for name in re.findall(r"`([a-z_:][a-z0-9_:]*)`", cells[0]):
            names.add(name)
            if cells[1] == "histogram":
                names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    return names


def vega_metrics() -> set[str]:
    return contract()


def recording_rules(paths: tuple[Path, ...] = (RECORDING,)) -> dict[str, str]:
    """{record name: expression} of the rule files (recording.yml unless told)."""
    out: dict[str, str] = {}
    for path in paths:
        for group in (yaml.safe_load(path.read_text()) or {}).get("groups") or []:
            out |= {rule["record"]: rule["expr"] for rule in group.get("rules") or [] if "record" in rule}
    return out


def all_panels(path: Path) -> list[dict[str, Any]]:
    return list(panels(load(path)))


def walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def variables(path: Path) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in load(path)["templating"]["list"]}


def loki_exprs(path: Path) -> list[tuple[str, str]]:
    return [
        (p["title"], t["expr"])
        for p in all_panels(path)
        for t in p["targets"]
        if t["datasource"]["uid"] == DATASOURCE_UIDS["loki"]
    ]


# --- files -----------------------------------------------------------------------------------


def test_committed_dashboards_match_the_generator() -> None:
    """The JSON files are generated: an edit by hand (or to the generator alone) fails here,
    and generated/ holds nothing else (a user's own dashboard goes one folder up)."""
    generated = dashboards.render()
    assert set(generated) == {p.name for p in GENERATED.glob("*.json")}
    for name, text in generated.items():
        assert (GENERATED / name).read_text() == text, f"{name} is out of date: run `python -m tools.dashboards`"
    assert dashboards.main(["--check"]) == 0


def test_both_dashboards_exist_with_their_titles_and_uids() -> None:
    assert load(OVERVIEW)["title"] == "Vega 2.0 - System Overview"
    assert load(OVERVIEW)["uid"] == "vega-system-overview"
    assert load(FEDERATED)["title"] == "Vega 2.0 - Federated Learning"
    assert load(FEDERATED)["uid"] == "vega-federated-learning"
    # grafana.ini makes this file the home dashboard.
    assert OVERVIEW.name == grafana_config.HOME_DASHBOARD


def test_every_dashboard_is_provisioned_generated_and_own_apart() -> None:
    """Each file lands in Grafana: generated/ and the user's own each through its provider."""
    assert (grafana_config.GENERATED, grafana_config.CUSTOM) == (dashboard_queries.GENERATED, dashboard_queries.CUSTOM)
    provisioned = grafana_config.dashboards()
    expected = {f"{grafana_config.GENERATED}/{p.name}" for p in GENERATED.glob("*.json")}
    expected |= {f"{grafana_config.CUSTOM}/{p.name}" for p in DASHBOARDS.glob("*.json")}
    assert set(provisioned) == expected
    for path in EVERY:
        assert path.read_text() in provisioned.values(), path.name
    folders = sorted({name.split("/")[0] for name in provisioned})
    providers = grafana_config.dashboard_provider(tuple(folders))["providers"]
    assert [p["options"]["path"] for p in providers] == [f"{grafana_config.DASHBOARDS_DIR}/{f}" for f in folders]
    assert len({p["name"] for p in providers}) == len(providers)


def test_the_users_dashboards_folder_says_how_to_add_one() -> None:
    readme = (DASHBOARDS / "README.md").read_text()
    assert "generated/" in readme and "python -m tools.dashboards" in readme
    assert all(uid in readme for uid in ("vega-prometheus", "vega-loki", "vega-jaeger"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_schema_refresh_and_time_picker(path: Path) -> None:
    doc = load(path)
    assert doc["schemaVersion"] == 41
    assert doc["refresh"] == "10s"
    assert {"5s", "10s"} <= set(doc["timepicker"]["refresh_intervals"])
    # grafana.ini's min_refresh_interval is 5s: no choice may be faster.
    seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    assert all(int(i[:-1]) * seconds[i[-1]] >= 5 for i in doc["timepicker"]["refresh_intervals"])


# --- datasources, panels, layout (every dashboard, the user's own too) ------------------------


@pytest.mark.parametrize("path", EVERY, ids=lambda p: p.stem)
def test_every_datasource_reference_is_a_pinned_uid_of_the_right_type(path: Path) -> None:
    refs = [node["datasource"] for node in walk(load(path)) if "datasource" in node]
    assert refs
    for ref in refs:
        assert isinstance(ref, dict), f"datasource by name: {ref!r}"
        assert ref["uid"] in DATASOURCE_UIDS.values(), ref
        assert DATASOURCE_UIDS[ref["type"]] == ref["uid"], ref


@pytest.mark.parametrize("path", EVERY, ids=lambda p: p.stem)
def test_every_panel_has_a_datasource_and_targets(path: Path) -> None:
    found = all_panels(path)
    assert found, "no panels"
    for panel in found:
        title = panel.get("title")
        assert title, panel.get("id")
        assert isinstance(panel.get("datasource"), dict), title
        targets = panel.get("targets") or []
        assert targets, f"{title}: no targets"
        refs = [t["refId"] for t in targets]
        assert len(set(refs)) == len(refs), f"{title}: duplicate refIds"
        for target in targets:
            ds = target.get("datasource", panel["datasource"])
            assert ds == panel["datasource"], f"{title}: target on another datasource"
            assert target.get("expr") or target.get("queryType") == "search", f"{title}: empty target"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_the_stacks_panels_are_described(path: Path) -> None:
    found = all_panels(path)
    assert len(found) >= 20
    assert all(panel.get("description") for panel in found), [p["title"] for p in found if not p.get("description")]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_panel_titles_are_unique(path: Path) -> None:
    """Titles name the queries dashboard_prometheus_queries() returns: they must be unambiguous."""
    titles = [p["title"] for p in all_panels(path)]
    assert len(set(titles)) == len(titles), sorted(t for t in titles if titles.count(t) > 1)


@pytest.mark.parametrize("path", EVERY, ids=lambda p: p.stem)
def test_panel_ids_are_unique_and_panels_do_not_overlap(path: Path) -> None:
    doc = load(path)
    everything = []
    for panel in doc["panels"]:
        everything.append(panel)
        everything += panel.get("panels", [])
    ids = [p["id"] for p in everything]
    assert len(set(ids)) == len(ids)
    cells: dict[tuple[int, int], str] = {}
    for panel in everything:
        g = panel["gridPos"]
        assert g["w"] >= 1 and g["x"] >= 0 and g["x"] + g["w"] <= 24, panel["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]


# --- Prometheus expressions -------------------------------------------------------------------


def prometheus_exprs(paths: tuple[Path, ...] = EVERY) -> list[tuple[str, str]]:
    """(where, expression) of every Prometheus query of the dashboards, variables substituted:
    panel targets, and the series selectors of label_values() variables."""
    out = []
    for path in paths:
        out += [(f"{path.stem} / {title}", expr) for title, expr in dashboard_prometheus_queries(path)]
        out += [(f"{path.stem} / ${name}", expr) for name, expr in variable_prometheus_selectors(path)]
    return out


def _check_rules(promtool: str, exprs: list[str], work: Path) -> subprocess.CompletedProcess[str]:
    rules = {"groups": [{"name": "dashboards", "rules": [{"record": f"dashboard:query_{i}", "expr": e}
                                                         for i, e in enumerate(exprs)]}]}  # fmt: skip
    path = work / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump(rules))
    return subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)


@pytest.mark.tool
def test_every_prometheus_expression_parses_with_promtool(tool: Callable[[str], str], tmp_path: Path) -> None:
    """Every query, as Prometheus receives it (variables substituted as tools/dashboard_queries.py
    documents: template variables -> `.*`, $__rate_interval -> 1m), written as recording rules
    into a temporary rule file and checked with `promtool check rules`."""
    promtool = tool("promtool")
    queries = prometheus_exprs()
    assert len(queries) > 50
    for _, expr in queries:
        assert "$" not in expr, expr
    result = _check_rules(promtool, [e for _, e in queries], tmp_path)
    if result.returncode != 0:  # name the culprits, one promtool run each
        bad = [f"{where}: {e}" for where, e in queries if _check_rules(promtool, [e], tmp_path).returncode != 0]
        pytest.fail("promtool rejects:\n" + "\n".join(bad) + "\n" + result.stdout + result.stderr)
    assert f"SUCCESS: {len(queries)} rules found" in result.stdout


@pytest.mark.tool
def test_promtool_check_rejects_a_broken_dashboard_query(tool: Callable[[str], str], tmp_path: Path) -> None:
    """The check above can fail: a query with a syntax error is refused."""
    promtool = tool("promtool")
    assert _check_rules(promtool, ['sum by (endpoint) (up{job=~".*"}'], tmp_path).returncode != 0
    assert _check_rules(promtool, ['sum by (endpoint) (up{job=~".*"})'], tmp_path).returncode == 0


def test_every_metric_is_a_recording_rule_or_a_known_metric() -> None:
    """Every dashboard, the user's own too: a metric of docs/metrics.md, of an exporter the
    stack runs, `up`, Prometheus' ALERTS, or a recording rule of configs/prometheus/rules/."""
    known = vega_metrics() | CADVISOR | NODE_EXPORTER | POSTGRES_EXPORTER | {"up", "ALERTS"}
    records = set(recording_rules(tuple(sorted(RULES.glob("*.yml")))))
    unknown = {
        f"{where}: {name}" for where, expr in prometheus_exprs() for name in metric_names(expr) - known - records
    }
    assert not unknown, sorted(unknown)
    # ... and the recording rules themselves read only known metrics (or earlier rules).
    for record, expr in recording_rules().items():
        assert metric_names(expr) <= known | records, record


def test_docs_metrics_are_parsed() -> None:
    metrics = vega_metrics()
    assert {"http_requests_total", "http_request_duration_seconds_bucket", "federated_participant_up",
            "federated_bytes_sent_total", "process_resident_memory_bytes"} <= metrics  # fmt: skip
    seed, extended = contract(extended=False), contract(extended=True)
    assert {"federated_participants_active", "federated_bytes_sent_total", "http_requests_total"} <= seed
    assert {"federated_participant_up", "federated_participant_accuracy"} <= extended - seed
    assert "federated_participant_up" not in seed


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_template_variables_are_used_only_as_regex_matchers(path: Path) -> None:
    """A variable set to "All" sends `.*`: it must sit in a `=~"..."` matcher to mean "any" (or
    in the `!~` guard that switches a panel to its finer recorded series, see at_level)."""
    names = set(variables(path))
    for panel in all_panels(path):
        for target in panel["targets"]:
            expr = target.get("expr", "")
            for match in re.finditer(r"\$(\w+)", expr):
                if match.group(1).startswith("__"):
                    continue
                assert match.group(1) in names, f"{panel['title']}: ${match.group(1)} is not defined"
                before = expr[: match.start()]
                matcher = re.search(r'(\w+)\s*(=~|!~)\s*"[^"]*$', before)
                assert matcher, f"{panel['title']}: ${match.group(1)} outside =~"
                assert matcher.group(2) == "=~" or matcher.group(1) == FILTER_GUARD_LABEL, panel["title"]


# --- what the dashboards show ------------------------------------------------------------------


def test_overview_variables() -> None:
    found = variables(OVERVIEW)
    for name in ("job", "instance", "endpoint", "method", "status"):
        assert name in found
        assert re.search(rf",\s*{name}\)$", found[name]["definition"]), found[name]["definition"]
    _check_prometheus_variables(found, ("job", "instance", "endpoint", "method", "status"))


def test_federated_variables() -> None:
    found = variables(FEDERATED)
    assert found["participant"]["definition"].endswith(", participant_id)")
    assert found["silo"]["definition"].endswith(", silo)")
    assert 'silo=~"$silo"' in found["participant"]["definition"]  # participants of the chosen silos
    _check_prometheus_variables(found, ("silo", "participant"))


def _check_prometheus_variables(found: dict[str, dict[str, Any]], names: tuple[str, ...]) -> None:
    for name in names:
        v = found[name]
        assert v["type"] == "query" and v["datasource"] == {"type": "prometheus", "uid": "vega-prometheus"}, name
        assert v["multi"] and v["includeAll"] and v["allValue"] == ".*", name
        assert v["query"]["query"] == v["definition"], name
    for v in found.values():
        assert v["multi"] and v["includeAll"] and v["allValue"] == ".*", v["name"]


def _link(doc: dict[str, Any], prefix: str) -> dict[str, Any]:
    matches = [link for link in doc["links"] if link["url"].startswith(prefix)]
    assert len(matches) == 1, (prefix, doc["links"])
    return matches[0]


def _explore_pane(url: str) -> dict[str, Any]:
    """The single pane of a Grafana Explore URL (schemaVersion=1)."""
    query = parse_qs(urlsplit(url).query)
    assert query["schemaVersion"] == ["1"]
    (pane,) = json.loads(query["panes"][0]).values()
    result: dict[str, Any] = pane
    return result


def test_the_dashboards_link_to_each_other_keeping_time_and_variables() -> None:
    for source, target in ((OVERVIEW, FEDERATED), (FEDERATED, OVERVIEW)):
        link = _link(load(source), f"/d/{load(target)['uid']}")
        assert link["keepTime"] and link["includeVars"], source.name
        assert link["title"] == load(target)["title"]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_links_to_logs_and_traces_in_explore(path: Path) -> None:
    doc = load(path)
    panes = [_explore_pane(link["url"]) for link in doc["links"] if link["url"].startswith("/explore?")]
    by_source = {pane["datasource"]: pane for pane in panes}
    assert set(by_source) == {"vega-loki", "vega-jaeger"}
    loki_query = by_source["vega-loki"]["queries"][0]
    assert loki_query["datasource"] == {"type": "loki", "uid": "vega-loki"}
    assert loki_query["expr"].startswith('{job=~"vega-.*"}') and "| json" in loki_query["expr"]
    jaeger_query = by_source["vega-jaeger"]["queries"][0]
    assert jaeger_query["queryType"] == "search" and jaeger_query["service"] == "vega-api"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_a_logs_panel_over_vegas_json_logs(path: Path) -> None:
    found = [p for p in all_panels(path) if p["type"] == "logs"]
    assert found
    for panel in found:
        assert panel["datasource"] == {"type": "loki", "uid": "vega-loki"}
    exprs = [expr for _, expr in loki_exprs(path)]
    assert any('level=~"$level"' in e and 'module=~"$module"' in e and "| json" in e for e in exprs), exprs
    names = set(variables(path))
    for title, expr in loki_exprs(path):
        assert expr.startswith('{job=~"vega-.*"'), title  # a selector that cannot match every stream
        assert expr.count("{") == expr.count("}") and expr.count("(") == expr.count(")"), title
        substitute(expr, names)  # raises on an undefined variable
    for name in ("level", "module"):
        v = variables(path)[name]
        assert v["datasource"]["uid"] == "vega-loki" and v["query"]["label"] == name


def test_overview_has_a_jaeger_trace_search_table() -> None:
    tables = [p for p in all_panels(OVERVIEW) if p["datasource"]["uid"] == "vega-jaeger"]
    assert tables
    for panel in tables:
        assert panel["type"] == "table"
        for target in panel["targets"]:
            assert target["queryType"] == "search" and target["service"] == "vega-api"


def test_database_row_is_collapsed_and_reads_postgres_exporter() -> None:
    rows = [p for p in load(OVERVIEW)["panels"] if p["type"] == "row" and "postgres_exporter" in p["title"]]
    assert len(rows) == 1
    (row,) = rows
    assert row["collapsed"] is True and row["panels"]
    read = {name for panel in row["panels"] for t in panel["targets"] for name in metric_names(t["expr"])}
    assert {"pg_up", "pg_stat_database_xact_commit", "pg_stat_database_xact_rollback",
            "pg_stat_database_numbackends"} <= read  # fmt: skip
    assert read <= POSTGRES_EXPORTER
    # Nothing outside the row depends on the optional database.
    outside = [p for p in load(OVERVIEW)["panels"] if p is not row and p["type"] != "row"]
    assert not any(name in POSTGRES_EXPORTER for p in outside for t in p["targets"] for name in metric_names(t.get("expr", "")))


# What the seed asks each dashboard to show, as the metrics (or recording rules) a panel must read.
SEED_PANELS = {
    OVERVIEW: {
        "API response times (p50/p95/p99)": {"job_instance_method_endpoint_le:http_request_duration_seconds_bucket:rate5m",
                                             "job:http_request_duration_seconds:p95_rate5m"},
        "response times by endpoint": {"job_endpoint:http_request_duration_seconds:p95_rate5m"},
        "error rates by endpoint": {"job_endpoint:http_request_errors_per_requests:ratio_rate5m"},
        "request volume and patterns": {"job_instance_method_endpoint_status:http_requests:rate5m"},
        "container CPU": {"instance_name:container_cpu_usage_seconds:rate5m"},
        "container memory": {"container_memory_working_set_bytes"},
        "container network": {"instance_name:container_network_receive_bytes:rate5m"},
        "container disk": {"instance_name:container_fs_writes_bytes:rate5m"},
        "host CPU": {"instance:node_cpu_utilisation:rate5m"},
        "host memory": {"instance:node_memory_utilisation:ratio"},
        "host network": {"instance:node_network_receive_bytes_excluding_lo:rate5m"},
        "host disk": {"instance:node_disk_read_bytes:rate5m", "node_filesystem_avail_bytes"},
        "process CPU and memory": {"job_instance:process_cpu_seconds:rate5m", "process_resident_memory_bytes"},
        "federated participant status": {"federated_participants_active", "silo:federated_participant_up:ratio"},
        "alerting integration": {"ALERTS"},
    },
    FEDERATED: {
        "training round progress": {"federated_round_current", "job:federated_aggregation_duration_seconds:p95_rate5m"},
        "participant health": {"federated_participant_up", "silo:federated_participant_up:sum"},
        "participant performance": {"silo:federated_participant_round_duration_seconds:avg"},
        "model accuracy": {"federated_model_accuracy", "silo:federated_participant_accuracy:avg"},
        "communication overhead": {"silo:federated_bytes_sent:rate5m", "participant_id_silo:federated_bytes_sent:rate5m",
                                   "job:federated_bytes_sent:rate5m"},
        "cross-silo federation status": {"silo:federated_participants:count", "silo:federated_participant_up:ratio"},
        "alerting integration": {"ALERTS"},
    },
}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_every_seed_panel_is_there(path: Path) -> None:
    read = set()
    for _, expr in dashboard_prometheus_queries(path):
        read |= metric_names(expr)
    for item, metrics in SEED_PANELS[path].items():
        assert metrics <= read, f"{path.stem}: nothing shows {item} ({sorted(metrics - read)} unread)"


# --- the seed's metrics and the extended contract ------------------------------------------------

FALLBACK = re.compile(r'\bor on \(\) label_replace\(.*"silo", "whole federation"')


def extended_series() -> set[str]:
    """What only the extended contract fills: its metrics, and the recording rules that read
    them or keep its labels (participant_id, silo)."""
    found = contract(extended=True) - contract(extended=False)
    rules = recording_rules()
    changed = True
    while changed:
        changed = False
        for record, expr in rules.items():
            by = set(re.findall(r"\bby \(([^)]*)\)", expr))
            keeps = {label.strip() for group in by for label in group.split(",")}
            if record not in found and (metric_names(expr) & found or keeps & {"participant_id", "silo"}):
                found.add(record)
                changed = True
    return found


def test_the_seed_only_exporter_serves_the_seeds_metrics_and_nothing_of_the_extended_contract() -> None:
    """The exporter the live test runs the dashboards against (`Scenario(seed_only=True)`)."""
    seed, extended = contract(extended=False), contract(extended=True) - contract(extended=False)
    for seed_only in (True, False):
        model = SyntheticVega(Scenario(participants=4, silos=2, seed_only=seed_only), start=0.0)
        families = {f.name: f for target in ("vega-api", "vega-coordinator") for f in model.families(target, 60.0)}
        served = {f.name + s.suffix for f in families.values() for s in f.samples} | set(families)
        assert seed <= served, sorted(seed - served)
        assert bool(extended & served) is not seed_only
        labels = {label for s in families["federated_bytes_sent_total"].samples for label, _ in s.labels}
        assert labels == (set() if seed_only else {"participant_id", "silo"})


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_panels_that_need_the_extended_contract_say_so(path: Path) -> None:
    """A panel reading what only the extended contract fills either falls back to the seed's
    metrics in every such query (labelled silo="whole federation"), or says in its description
    and in its no-data text which metric Vega must export."""
    extended = extended_series()
    assert {"federated_participant_up", "silo:federated_participant_up:sum",
            "participant_id_silo:federated_bytes_sent:rate5m"} <= extended  # fmt: skip
    assert "job:federated_bytes_sent:rate5m" not in extended
    needing = 0
    for panel in all_panels(path):
        exprs = [t["expr"] for t in panel["targets"] if t["datasource"]["type"] == "prometheus"]
        reading = [e for e in exprs if metric_names(e) & extended]
        if not reading or all(FALLBACK.search(e) for e in reading):
            continue
        needing += 1
        no_value = panel["fieldConfig"]["defaults"].get("noValue", "")
        named = {m for m in extended if f"`{m}`" in panel["description"] and m in no_value}
        assert "docs/metrics.md" in panel["description"] and "docs/metrics.md" in no_value, panel["title"]
        assert named, f"{panel['title']}: the description and no-data text name no metric Vega must export"
    assert needing <= 4, "more panels depend on the extended contract than the seed's metrics leave empty"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_the_alerts_firing_now_are_listed(path: Path) -> None:
    """The seed's "alerting integration": the alerts firing now in the dashboard's scope, with
    a link to Alertmanager's alert groups in Grafana, and a count that is 0, not empty."""
    panels = {p["title"]: p for p in all_panels(path)}
    listing, count = panels["Alerts firing now"], panels["Alerts firing"]
    (target,) = listing["targets"]
    assert listing["type"] == "table" and target["instant"] and target["format"] == "table"
    assert target["expr"].startswith('ALERTS{alertstate="firing", alertname=')
    assert listing["fieldConfig"]["defaults"]["noValue"] == "No alert firing"
    assert any(link["url"].startswith("/alerting/groups?alertmanager=") for link in listing["links"])
    assert metric_names(count["targets"][0]["expr"]) == {"ALERTS"} and "or vector(0)" in count["targets"][0]["expr"]


def _alert_names(rules_dir: Path) -> set[str]:
    return {
        rule["alert"]
        for path in sorted(rules_dir.glob("*.yml"))
        for group in (yaml.safe_load(path.read_text()) or {}).get("groups") or []
        for rule in group.get("rules") or []
        if "alert" in rule
    }


def _alertname_matcher(expr: str) -> re.Pattern[str]:
    match = re.search(r'alertname(=~|=)"([^"]*)"', expr)
    assert match, expr
    return re.compile(match.group(2) if match.group(1) == "=~" else re.escape(match.group(2)))


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_alerts_are_marked_on_the_time_series_they_concern(path: Path, rendered: Callable[[str], Path]) -> None:
    """Annotations from Prometheus' ALERTS series (Grafana's Prometheus annotation: target,
    titleFormat, tagKeys, and a panel filter), each for alerts the rules define, on time series
    panels of this dashboard."""
    alerts = _alert_names(rendered("dev") / "config" / "prometheus" / "rules")
    doc = load(path)
    by_id = {p["id"]: p for p in all_panels(path)}
    annotations = doc["annotations"]["list"]
    assert annotations
    for annotation in annotations:
        assert annotation["datasource"] == {"type": "prometheus", "uid": "vega-prometheus"}
        expr = annotation["target"]["expr"]
        assert expr.startswith('ALERTS{alertstate="firing"'), expr
        pattern = _alertname_matcher(expr)
        assert {a for a in alerts if pattern.fullmatch(a)}, f"{annotation['name']}: no alert rule is named {pattern.pattern}"
        assert "{{alertname}}" in annotation["titleFormat"] and "severity" in annotation["tagKeys"].split(",")
        assert annotation["filter"]["exclude"] is False and annotation["filter"]["ids"]
        for panel_id in annotation["filter"]["ids"]:
            assert by_id[panel_id]["type"] == "timeseries", by_id[panel_id]["title"]
    scope = _alertname_matcher(next(p for p in all_panels(path) if p["title"] == "Alerts firing now")["targets"][0]["expr"])
    for annotation in annotations:  # marks only alerts the dashboard lists
        marked = {a for a in alerts if _alertname_matcher(annotation["target"]["expr"]).fullmatch(a)}
        assert all(scope.fullmatch(a) for a in marked), annotation["name"]


# --- recorded at the level each panel shows ---------------------------------------------------------

# Two instances' traffic: api-1 serves POST /train (2/s ok, 0.5/s errors), api-2 GET /models/{id}.
LEVEL_INPUT = [
    ('http_requests_total{job="vega-api", instance="api-1:8000", method="POST", endpoint="/train", status="200"}', "0+120x10"),
    ('http_requests_total{job="vega-api", instance="api-1:8000", method="POST", endpoint="/train", status="500"}', "0+30x10"),
    ('http_requests_total{job="vega-api", instance="api-2:8000", method="GET", endpoint="/models/{id}", status="200"}', "0+60x10"),
    ('http_request_duration_seconds_bucket{job="vega-api", instance="api-1:8000", method="POST", endpoint="/train", le="0.1"}', "0+60x10"),
    ('http_request_duration_seconds_bucket{job="vega-api", instance="api-1:8000", method="POST", endpoint="/train", le="+Inf"}', "0+150x10"),
    ('http_request_duration_seconds_bucket{job="vega-api", instance="api-2:8000", method="GET", endpoint="/models/{id}", le="0.1"}', "0+54x10"),
    ('http_request_duration_seconds_bucket{job="vega-api", instance="api-2:8000", method="GET", endpoint="/models/{id}", le="+Inf"}', "0+60x10"),
]  # fmt: skip


def _finer_only(expr: str) -> str:
    """`expr` (an at_level query) reading only its finer series: the guard opened, the series
    recorded at the panel's level emptied."""
    out = expr
    for sel in reversed(selectors(expr)):
        if sel.braces is None:
            continue
        text = sel.braces.text
        if any(m.label == FILTER_GUARD_LABEL for m in sel.matchers):
            text = re.sub(rf'{FILTER_GUARD_LABEL}!~"[^"]*"', f'{FILTER_GUARD_LABEL}!~"x"', text)
        else:
            text = text[:-1] + f', {FILTER_GUARD_LABEL}="x"}}'
        out = out[: sel.braces.start] + text + out[sel.braces.end :]
    return out


@pytest.mark.tool
def test_panels_read_their_level_until_a_variable_narrows_them(tool: Callable[[str], str], tmp_path: Path) -> None:
    """Every query that reads series recorded at its panel's level (job, or job and the label it
    breaks down by) gives what the finer series give, with every variable "All" and with the
    Instance variable narrowed to one instance: promtool evaluates both forms over the
    recording rules."""
    names = set(variables(OVERVIEW))
    leveled = sorted({t["expr"] for p in all_panels(OVERVIEW) for t in p["targets"] if FILTER_GUARD_LABEL in t.get("expr", "")})
    assert len(leveled) >= 8
    checks = []
    for raw in leveled:
        for case in (raw, raw.replace("$instance", "api-1:8000")):
            query = substitute(case, names).replace("[1m]", "[5m]")
            finer = _finer_only(query)
            checks += [
                {"eval_time": "10m", "expr": f"clamp_max(count({query}), 1)", "exp_samples": [{"labels": "{}", "value": 1}]},
                {"eval_time": "10m", "expr": f"count({query}) - count({finer})", "exp_samples": [{"labels": "{}", "value": 0}]},
                {"eval_time": "10m", "expr": f"count(abs(({query}) - ({finer})) > 1e-9) or vector(0)",
                 "exp_samples": [{"labels": "{}", "value": 0}]},
            ]  # fmt: skip
    (tmp_path / "rules").mkdir()
    shutil.copy(RECORDING, tmp_path / "rules" / "recording.yml")
    test = {
        "rule_files": ["rules/recording.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [{"series": series, "values": values} for series, values in LEVEL_INPUT],
                "promql_expr_test": checks,
            }
        ],
    }
    (tmp_path / "levels.test.yml").write_text(yaml.safe_dump(test, sort_keys=False))
    result = subprocess.run(
        [tool("promtool"), "test", "rules", "levels.test.yml"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


# --- heavy queries -------------------------------------------------------------------------------


def test_heavy_queries_use_recording_rules() -> None:
    rules = recording_rules()
    counters = {
        name for expr in rules.values() for name in metric_names(expr) if name.endswith(("_total", "_bucket"))
    }  # raw series the rules turn into rates or quantiles
    assert {"http_requests_total", "http_request_duration_seconds_bucket", "federated_bytes_sent_total"} <= counters
    per_participant = {"federated_participant_up", "federated_participant_accuracy",
                       "federated_participant_round_duration_seconds", "federated_bytes_sent_total"}  # fmt: skip
    aggregation = re.compile(r"\b(sum|avg|min|max|count|quantile|stddev|stdvar|group)\s*(\(|by\b|without\b)")
    for path in FILES:
        for title, expr in dashboard_prometheus_queries(path):
            raw = metric_names(expr) - set(rules)
            assert not raw & counters, f"{title}: reads {sorted(raw & counters)} instead of its recording rule"
            assert not any(n.endswith("_bucket") for n in raw) or "histogram_quantile" not in expr, title
            if aggregation.search(expr):
                assert not raw & per_participant, f"{title}: aggregates per-participant series; use a rule"


def test_every_recording_rule_serves_a_panel() -> None:
    read = set()
    for path in FILES:
        for _, expr in dashboard_prometheus_queries(path):
            read |= metric_names(expr)
    rules = recording_rules()
    # A rule that only feeds another rule counts through the rule it feeds.
    for record, expr in rules.items():
        if record in read:
            read |= metric_names(expr)
    assert not set(rules) - read, f"recording rules no panel reads: {sorted(set(rules) - read)}"


# --- the helper other tests import -----------------------------------------------------------------


def test_dashboard_prometheus_queries_substitutes_every_variable() -> None:
    queries = dashboard_prometheus_queries(OVERVIEW)
    titles = {p["title"] for p in all_panels(OVERVIEW)}
    assert queries and all(title in titles for title, _ in queries)
    assert not any("$" in expr for _, expr in queries)
    rate = dict(queries)["Request rate"]
    assert rate.startswith('sum(job:http_requests:rate5m{job=~".*", instance=~".*", method=~".*", endpoint=~".*", '
                           'status=~".*"}) or sum(job_instance_method_endpoint_status:http_requests:rate5m{')  # fmt: skip
    assert f'{FILTER_GUARD_LABEL}!~"(?:.*)(?:.*)(?:.*)(?:.*)"' in rate
    assert any("[1m]" in expr for _, expr in queries)  # $__rate_interval
    # every Prometheus target of every panel, collapsed rows included
    targets = sum(1 for p in all_panels(OVERVIEW) for t in p["targets"] if t["datasource"]["type"] == "prometheus")
    assert len(queries) == targets
    assert any(title == "PostgreSQL up" for title, _ in queries)


def test_substitute_refuses_an_undefined_variable() -> None:
    assert substitute('up{job=~"$job"}[$__rate_interval]', {"job"}) == 'up{job=~".*"}[1m]'
    assert substitute('up{job=~"${job:regex}"}', {"job"}) == 'up{job=~".*"}'
    with pytest.raises(ValueError, match="jobs"):
        substitute('up{job=~"$jobs"}', {"job"})


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('sum by (le) (rate(a_bucket{le="0.5", job=~"x|y"}[5m]))', {"a_bucket"}),
        ("histogram_quantile(0.95, sum by (job, le) (b:c:rate5m))", {"b:c:rate5m"}),
        ("1 - up{job=\"node\"} or vector(0) offset 5m", {"up"}),
        ('count(a > 0) / on (silo) group_left (x) b{silo=~"and|or"} * 1e3', {"a", "b"}),
        ("topk(10, x) unless bottomk(2, y)", {"x", "y"}),
        ('sum(rate(m_total{name!=""}[1m])) by (name)', {"m_total"}),
    ],
)
def test_metric_names(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names
