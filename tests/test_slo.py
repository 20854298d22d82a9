"""The SLO rule generator (components/prometheus/slo.py): what it makes of slo.yaml, that its
output is deterministic and evaluates as intended in real PromQL, and that every bad value in
slo.yaml is refused naming the file, the key, the value and what is allowed."""

from __future__ import annotations

import copy
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.prometheus import config, slo
from components.settings import ConfigError, configs_dir, parse_duration

BASE = "https://runbooks.example/runbooks.md"
# The generator's own test document, in the shape slo.yaml has: the generator is tested on it, so
# an edit of configs/prometheus/slo.yaml changes what is shipped, not what these tests expect.
# The content present is held to the scheme by the tests marked "present".
FIXTURE: dict[str, Any] = yaml.safe_load("""
period: 30d
alerting:
  critical:
    for: 2m
    windows:
      - {long: 1h, short: 5m, burn_rate: 14.4}
      - {long: 6h, short: 30m, burn_rate: 6}
  warning:
    for: 15m
    windows:
      - {long: 1d, short: 2h, burn_rate: 3}
      - {long: 3d, short: 6h, burn_rate: 1}
slos:
  - name: api-availability
    description: requests answered without a server error (5xx)
    sli: availability
    job: vega-api
    objective: 0.995
    exclude_endpoints: [/health, /metrics]
  - name: api-latency
    description: requests answered within 500ms
    sli: latency
    job: vega-api
    objective: 0.99
    threshold_seconds: 0.5
    exclude_endpoints: [/health, /metrics]
""")


def rules_of(doc: dict[str, Any]) -> list[dict[str, Any]]:
    rendered = yaml.safe_load(slo.render(slo.load(doc), BASE))
    assert [g["name"] for g in rendered["groups"]] == [slo.GROUP]
    rules: list[dict[str, Any]] = rendered["groups"][0]["rules"]
    return rules


def test_the_present_slos_follow_the_multiwindow_scheme() -> None:
    """Whatever slo.yaml holds now: SLOs of a known kind, a paging and a ticket level, each
    window pair a long window over a short one, a shorter pair burning faster."""
    loaded = slo.load()
    assert loaded.slos and all(s.sli in ("availability", "latency") and 0 < float(s.objective) < 1 for s in loaded.slos)
    assert {level.severity for level in loaded.levels} >= {"critical", "warning"}
    for level in loaded.levels:
        for w in level.windows:
            assert parse_duration(w.long) > parse_duration(w.short), (level.severity, w)


def test_the_generator_follows_the_sre_workbook_scheme() -> None:
    loaded = slo.load(FIXTURE)
    assert [(s.name, s.sli) for s in loaded.slos] == [("api-availability", "availability"), ("api-latency", "latency")]
    schedule = {
        level.severity: [(w.long, w.short, float(w.burn_rate)) for w in level.windows] for level in loaded.levels
    }
    assert schedule == {
        "critical": [("1h", "5m", 14.4), ("6h", "30m", 6.0)],
        "warning": [("1d", "2h", 3.0), ("3d", "6h", 1.0)],
    }
    assert loaded.period == "30d"
    assert loaded.windows() == ("5m", "30m", "1h", "2h", "6h", "1d", "3d")


def test_every_slo_gets_one_alert_with_a_rule_per_severity() -> None:
    alerts = [r for r in rules_of(FIXTURE) if "alert" in r]
    assert [(a["alert"], a["labels"]["severity"], a["for"]) for a in alerts] == [
        ("ApiAvailabilityBudgetBurn", "critical", "2m"),
        ("ApiAvailabilityBudgetBurn", "warning", "15m"),
        ("ApiLatencyBudgetBurn", "critical", "2m"),
        ("ApiLatencyBudgetBurn", "warning", "15m"),
    ]
    for alert in alerts:
        assert alert["annotations"]["runbook_url"] == f"{BASE}#{alert['alert'].lower()}"
        assert alert["annotations"]["summary"] and alert["annotations"]["description"]


def test_each_window_pair_compares_both_windows_with_burn_rate_times_budget() -> None:
    alerts = {(r["alert"], r["labels"]["severity"]): r["expr"] for r in rules_of(FIXTURE) if "alert" in r}
    page = alerts[("ApiAvailabilityBudgetBurn", "critical")]
    for window, limit in (("1h", "(14.4 * 0.005)"), ("5m", "(14.4 * 0.005)"), ("6h", "(6 * 0.005)"), ("30m", "(6 * 0.005)")):
        assert f'slo:sli_error:ratio_rate{window}{{slo="api-availability"}} > {limit}' in page
    # one pair or the other; within a pair, both windows
    assert page.count("\nor\n") == 1 and page.count("and") == 2
    ticket = alerts[("ApiLatencyBudgetBurn", "warning")]
    for window, limit in (("1d", "(3 * 0.01)"), ("2h", "(3 * 0.01)"), ("3d", "(1 * 0.01)"), ("6h", "(1 * 0.01)")):
        assert f'slo:sli_error:ratio_rate{window}{{slo="api-latency"}} > {limit}' in ticket


def test_every_window_an_alert_reads_is_recorded_for_its_slo() -> None:
    rules = rules_of(FIXTURE)
    recorded = {(r["record"], r["labels"]["slo"]) for r in rules if "record" in r}
    for alert in (r for r in rules if "alert" in r):
        for name, slo_name in re.findall(r'(slo:[a-z_:0-9]+)\{slo="([a-z-]+)"\}', alert["expr"]):
            assert (name, slo_name) in recorded, f"{alert['alert']} reads {name} for {slo_name}, never recorded"
    # records come before the alerts that read them (rules of a group run in order)
    kinds = ["record" if "record" in r else "alert" for r in rules]
    assert kinds == sorted(kinds, key=lambda k: k == "alert")


def test_only_the_5m_rates_read_raw_series() -> None:
    for rule in (r for r in rules_of(FIXTURE) if "record" in r):
        reads_raw = re.search(r"\bhttp_[a-z_]+\{", rule["expr"]) is not None
        assert reads_raw == rule["record"].endswith(":rate5m"), rule["record"]


def test_selectors_exclude_endpoints_and_pick_the_threshold_bucket() -> None:
    rules = {(r["record"], r["labels"]["slo"]): r["expr"] for r in rules_of(FIXTURE) if "record" in r}
    errors = rules[("slo:sli_errors:rate5m", "api-availability")]
    assert 'job="vega-api", status=~"5..", endpoint!~"/health|/metrics"' in errors
    latency = rules[("slo:sli_errors:rate5m", "api-latency")]
    assert 'le="0.5"' in latency and "http_request_duration_seconds_count" in latency


@pytest.mark.parametrize(("threshold", "matcher"), [(0.5, 'le="0.5"'), (0.005, 'le="0.005"'), (1, 'le=~"1|1\\\\.0"'), (10, 'le=~"10|10\\\\.0"')])
def test_whole_second_buckets_match_both_spellings(threshold: float, matcher: str) -> None:
    doc = copy.deepcopy(FIXTURE)
    doc["slos"][1]["threshold_seconds"] = threshold
    rules = {(r["record"], r["labels"]["slo"]): r["expr"] for r in rules_of(doc) if "record" in r}
    assert matcher in rules[("slo:sli_errors:rate5m", "api-latency")]


def test_the_output_is_deterministic() -> None:
    first = slo.render(slo.load(), BASE)
    assert first == slo.render(slo.load(), BASE)
    assert slo.render(slo.load(FIXTURE), BASE) == slo.render(slo.load(copy.deepcopy(FIXTURE)), BASE)
    assert first.startswith("# Generated by vega-observability from configs/prometheus/slo.yaml")


def test_rule_files_ship_the_generated_file(configs_copy: Path) -> None:
    files = config.rule_files(BASE)
    assert files[slo.RULE_FILE] == slo.render(slo.load(), BASE)
    (configs_copy / "prometheus" / "rules" / slo.RULE_FILE).write_text("groups: []\n")
    with pytest.raises(ConfigError, match=r"slo\.yml: this name is taken"):
        config.rule_files(BASE)


def test_a_change_to_slo_yaml_reaches_the_rules(configs_copy: Path) -> None:
    doc = copy.deepcopy(FIXTURE)
    doc["slos"][0]["objective"] = 0.999
    (configs_copy / "prometheus" / "slo.yaml").write_text(yaml.safe_dump(doc))
    text = config.rule_files(BASE)[slo.RULE_FILE]
    assert "(14.4 * 0.001)" in text and "(14.4 * 0.005)" not in text


@pytest.mark.tool
def test_escaped_endpoints_and_normalised_buckets_evaluate_in_promql(tool: Callable[[str], str], tmp_path: Path) -> None:
    """A route template with regex characters is excluded literally, and a whole-second bucket
    is found whether the client wrote le="1" or le="1.0"."""
    promtool = tool("promtool")
    doc = copy.deepcopy(FIXTURE)
    doc["slos"] = [dict(FIXTURE["slos"][1], threshold_seconds=1, exclude_endpoints=["/models/{id}", "/v1.0/health"])]
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "slo.yml").write_text(slo.render(slo.load(doc), BASE))
    series = {
        # /train: 16/s, 12/s within 1s on one instance ("1") and the same on another ("1.0")
        'http_request_duration_seconds_count{job="vega-api", instance="a", endpoint="/train"}': "0+960x20",
        'http_request_duration_seconds_bucket{job="vega-api", instance="a", endpoint="/train", le="1"}': "0+720x20",
        'http_request_duration_seconds_count{job="vega-api", instance="b", endpoint="/train"}': "0+960x20",
        'http_request_duration_seconds_bucket{job="vega-api", instance="b", endpoint="/train", le="1.0"}': "0+720x20",
        # excluded, and all slow: must not count
        'http_request_duration_seconds_count{job="vega-api", instance="a", endpoint="/models/{id}"}': "0+960x20",
        'http_request_duration_seconds_bucket{job="vega-api", instance="a", endpoint="/models/{id}", le="1"}': "0x20",
        'http_request_duration_seconds_count{job="vega-api", instance="a", endpoint="/v1.0/health"}': "0+960x20",
        'http_request_duration_seconds_bucket{job="vega-api", instance="a", endpoint="/v1.0/health", le="1"}': "0x20",
        # a route an unescaped "." would exclude too: it counts (16/s, all fast)
        'http_request_duration_seconds_count{job="vega-api", instance="a", endpoint="/v1/0/health"}': "0+960x20",
        'http_request_duration_seconds_bucket{job="vega-api", instance="a", endpoint="/v1/0/health", le="1"}': "0+960x20",
    }
    test = {
        "rule_files": ["rules/slo.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [{"series": s, "values": v} for s, v in series.items()],
                "promql_expr_test": [
                    {
                        "expr": "slo:sli_requests:rate5m",
                        "eval_time": "10m",
                        "exp_samples": [{"labels": 'slo:sli_requests:rate5m{job="vega-api", slo="api-latency"}', "value": 48}],
                    },
                    {
                        "expr": "slo:sli_errors:rate5m",
                        "eval_time": "10m",
                        "exp_samples": [{"labels": 'slo:sli_errors:rate5m{job="vega-api", slo="api-latency"}', "value": 8}],
                    },
                ],
            }
        ],
    }
    (tmp_path / "t.test.yml").write_text(yaml.safe_dump(test, sort_keys=False))
    result = subprocess.run([promtool, "test", "rules", "t.test.yml"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


# ---- validation: (case, change to the committed document, fragments of the message)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def apply(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = doc
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return apply


def _drop(path: str) -> Callable[[dict[str, Any]], None]:
    def apply(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = doc
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        del node[last]

    return apply


BAD: list[tuple[str, Callable[[dict[str, Any]], None], list[str]]] = [
    ("unknown top-level key", _set("perod", "30d"), ["unknown key 'perod'", "allowed keys are alerting, period, slos"]),
    ("period not a duration", _set("period", "30 days"), ["period: '30 days'", "Prometheus duration"]),
    ("unknown severity", _set("alerting.page", {"for": "2m", "windows": [{"long": "1h", "short": "5m", "burn_rate": 14.4}]}),
     ["alerting.page: unknown severity", "critical, warning, info"]),
    ("no alerting at all", _set("alerting", {}), ["alerting: {}", "a mapping of severity"]),
    ("missing for", _drop("alerting.critical.for"), ["alerting.critical.for: None", "Prometheus duration"]),
    ("unknown key of a severity", _set("alerting.warning.repeat", "1h"), ["alerting.warning: unknown key 'repeat'", "for, windows"]),
    ("no windows", _set("alerting.warning.windows", []), ["alerting.warning.windows: []", "non-empty list"]),
    ("short not shorter than long", _set("alerting.critical.windows.0.short", "2h"),
     ["alerting.critical.windows[0].short: '2h'", "shorter than long (1h)"]),
    ("short below the recorded rate", _set("alerting.critical.windows.0.short", "1m"),
     ["alerting.critical.windows[0].short: '1m'", "at least 5m"]),
    ("long beyond the period", _set("alerting.warning.windows.1.long", "60d"), ["alerting.warning.windows[1].long: '60d'", "at most the SLO period"]),
    ("burn rate a word", _set("alerting.critical.windows.0.burn_rate", "fast"), ["burn_rate: 'fast'", "a number greater than 0"]),
    ("burn rate negative", _set("alerting.critical.windows.0.burn_rate", -1), ["burn_rate: -1", "a number greater than 0"]),
    ("burn rate a boolean", _set("alerting.critical.windows.0.burn_rate", True), ["burn_rate: True", "a number greater than 0"]),
    ("unknown key of a window", _set("alerting.critical.windows.0.factor", 2), ["windows[0]: unknown key 'factor'", "burn_rate, long, short"]),
    ("no SLOs", _set("slos", []), ["slos: []", "a non-empty list of SLOs"]),
    ("misspelt SLO key", _set("slos.0.objetive", 0.99), ["slos[0]: unknown key 'objetive'", "allowed keys are"]),
    ("objective above 1", _set("slos.0.objective", 1.5), ["slos[0].objective: 1.5", "between 0 and 1"]),
    ("objective of 1", _set("slos.0.objective", 1), ["slos[0].objective: 1", "between 0 and 1"]),
    ("objective a string", _set("slos.0.objective", "99.5%"), ["slos[0].objective: '99.5%'", "between 0 and 1"]),
    ("unknown SLI", _set("slos.0.sli", "throughput"), ["slos[0].sli: 'throughput'", "one of availability, latency"]),
    ("name not kebab case", _set("slos.0.name", "Api_Availability"), ["slos[0].name: 'Api_Availability'", "api-availability"]),
    ("duplicate names", _set("slos.1.name", "api-availability"), ["slos[1].name: 'api-availability'", "no other SLO has"]),
    ("no description", _drop("slos.0.description"), ["slos[0].description: None"]),
    ("no job", _set("slos.0.job", ""), ["slos[0].job: ''", "vega-api"]),
    ("latency threshold off the buckets", _set("slos.1.threshold_seconds", 0.3),
     ["slos[1].threshold_seconds: 0.3", "bucket boundary", "0.25, 0.5, 1"]),
    ("latency without threshold", _drop("slos.1.threshold_seconds"), ["slos[1].threshold_seconds: None", "bucket boundary"]),
    ("threshold on availability", _set("slos.0.threshold_seconds", 0.5), ["slos[0].threshold_seconds: 0.5", "unless sli is latency"]),
    ("excluded endpoints not a list", _set("slos.0.exclude_endpoints", "/health"), ["slos[0].exclude_endpoints: '/health'", "list of route"]),
    ("burn rate the objective cannot reach", _set("slos.0.objective", 0.9),
     ["alerting.critical.windows[0].burn_rate: 14.4", "below 10 for SLO api-availability", "100%"]),
]


@pytest.mark.parametrize(("case", "change", "fragments"), BAD, ids=[b[0] for b in BAD])
def test_bad_slo_yaml_is_refused_naming_file_key_value_and_allowed(
    case: str, change: Callable[[dict[str, Any]], None], fragments: list[str]
) -> None:
    doc = copy.deepcopy(FIXTURE)
    change(doc)
    with pytest.raises(ConfigError) as caught:
        slo.load(doc)
    message = str(caught.value)
    assert "configs/prometheus/slo.yaml" in message
    for fragment in fragments:
        assert fragment in message, f"{case}: {fragment!r} missing from:\n{message}"


def test_every_problem_is_reported_at_once() -> None:
    doc = copy.deepcopy(FIXTURE)
    doc["period"] = "monthly"
    doc["slos"][0]["objective"] = 2
    doc["slos"][1]["sli"] = "speed"
    with pytest.raises(ConfigError) as caught:
        slo.load(doc)
    assert len(caught.value.problems) == 3, caught.value.problems


def test_missing_and_malformed_files_are_config_errors(configs_copy: Path) -> None:
    path = configs_copy / "prometheus" / "slo.yaml"
    path.write_text("slos: [\n")
    with pytest.raises(ConfigError, match=r"configs/prometheus/slo\.yaml: not valid YAML"):
        slo.load()
    path.unlink()
    with pytest.raises(ConfigError, match=r"configs/prometheus/slo\.yaml: file is missing"):
        slo.load()


def test_a_bad_slo_file_stops_the_render(configs_copy: Path) -> None:
    path = configs_copy / "prometheus" / "slo.yaml"
    path.write_text(path.read_text().replace("objective: 0.99\n", "objective: 99\n"))
    with pytest.raises(ConfigError, match=r"slos\[1\].objective: 99"):
        config.rule_files(BASE)


def test_alert_names_derive_from_slo_names_as_slo_yaml_says() -> None:
    assert [s.alert for s in slo.load(FIXTURE).slos] == ["ApiAvailabilityBudgetBurn", "ApiLatencyBudgetBurn"]
    assert "api-availability -> ApiAvailabilityBudgetBurn" in (configs_dir() / "prometheus" / "slo.yaml").read_text()
    for present in slo.load().slos:
        assert present.alert == "".join(part.capitalize() for part in present.name.split("-")) + "BudgetBurn"


def test_rendered_dev_stack_carries_the_slo_rules(rendered: Callable[[str], Path]) -> None:
    path = rendered("dev") / "config" / "prometheus" / "rules" / slo.RULE_FILE
    assert path.is_file()
    text = path.read_text()
    for present in slo.load().slos:
        assert f"runbook_url: https://github.com/vega-platform/vega-observability/blob/main/docs/runbooks.md#{present.alert.lower()}" in text
