"""Every file under configs/ is checked for what it means before the first resource: a bad
rule, threshold, limit, template, dashboard or stray file is refused with one line naming the
file, the value and what is allowed, all problems at once, and never a traceback."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.settings import ConfigError, load
from components.settings.logs import LOKI_LIMITS
from tests.test_settings import BAD_INPUTS, BAD_PROD_INPUTS, PROD_SECRETS, dev_raw, prod_raw

# How a case changes one file of a private copy of configs/:
#   str                      the file's whole new text
#   list of (old, new)       text replacements, each of which must apply
#   callable(doc) -> doc     an edit of the parsed YAML or JSON document
Change = str | list[tuple[str, str]] | Callable[[Any], Any] | None  # None: delete the file


def _set(path: str, value: Any) -> Callable[[Any], Any]:
    """An edit setting one dotted key ('a.b.c') of a YAML document."""

    def edit(doc: Any) -> Any:
        *parents, last = path.split(".")
        node = doc
        for key in parents:
            node = node[key]
        node[last] = value
        return doc

    return edit


def _drop(path: str) -> Callable[[Any], Any]:
    def edit(doc: Any) -> Any:
        *parents, last = path.split(".")
        node = doc
        for key in parents:
            node = node[key]
        del node[last]
        return doc

    return edit


# A rule file of the tests' own, next to whatever rules configs/ holds; its cases edit it.
RULE = "prometheus/rules/zz-case.yml"
THRESHOLDS = "prometheus/thresholds.yaml"
LIMITS = "prometheus/limits.yaml"
LOKI = "loki/limits.yaml"
PIPELINE = "promtail/promtail-config.yaml"
TMPL = "alertmanager/vega.tmpl"
ROUTING = "alertmanager/routing.yaml"
ROOT_CONFIGS = Path(__file__).resolve().parent.parent / "configs"
# Whichever dashboard comes first: the cases follow the content present.
DASHBOARD = min(p.relative_to(ROOT_CONFIGS).as_posix() for p in (ROOT_CONFIGS / "grafana").rglob("*.json"))
DASHBOARD_NAME = DASHBOARD.rsplit("/", 1)[-1]
COPY = DASHBOARD.rsplit("/", 1)[0] + "/copy.json"
SCRAPE = "prometheus/scrape_configs/extra.yml"
SIZING = "sizing.yaml"
CASE_RULES = """\
groups:
  - name: case.rules
    rules:
      - alert: HighErrorRate
        expr: sum by (job, endpoint) (rate(http_requests_total{status=~"5.."}[5m])) > 0.1
        for: 2m
        labels:
          severity: warning
        annotations:
          description: >-
            {{ $labels.job }} answers {{ $value | humanize }} requests per second with a 5xx
            status on {{ $labels.endpoint }}.
      - alert: FederatedParticipantDown
        expr: federated_participants_active < 2
        for: 1m
        labels:
          severity: critical
"""
BASES = {RULE: CASE_RULES}
SMALL_RULES = "groups:\n  - name: extra.rules\n    rules:\n      - record: job:up:sum\n        expr: {expr}\n"


def _rules(expr: str) -> str:
    return SMALL_RULES.format(expr=json.dumps(expr))


def _job(**body: Any) -> str:
    return yaml.safe_dump({"scrape_configs": [{"job_name": "custom", **body}]})


def _jobs_named(prefix: str) -> Callable[[Any], Any]:
    def edit(doc: Any) -> Any:
        for job in doc["scrape_configs"]:
            job["job_name"] = prefix + job["job_name"].split("-", 1)[-1]
        return doc

    return edit


def _panels(edit: Callable[[list[Any]], Any]) -> Callable[[Any], Any]:
    def run(doc: Any) -> Any:
        edit(doc["panels"])
        return doc

    return run


# (case, stack, file under configs/, change, fragments the one error message must contain)
CONTENT_CASES: list[tuple[str, str, str, Change, list[str]]] = [
    # ---- rule files: PromQL
    ("promql unclosed parenthesis", "dev", RULE, [("[5m])) >", "[5m]) >")],
     ["configs/prometheus/rules/zz-case.yml:", "HighErrorRate.expr", "not valid PromQL"]),
    ("promql unknown function", "dev", RULE, [("(rate(http_requests_total", "(rat(http_requests_total")],
     ["HighErrorRate.expr", "unknown function with name 'rat'"]),
    ("promql range vector compared", "dev", RULE, [("federated_participants_active <", "federated_participants_active[5m] <")],
     ["FederatedParticipantDown.expr", "not valid PromQL"]),
    ("promql function removed in prometheus 3", "dev", "prometheus/rules/extra.yml", _rules("holt_winters(up[5m], 0.5, 0.5)"),
     ["extra.yml", "holt_winters"]),
    ("promql bad range duration", "dev", RULE, [("_total{status=~\"5..\"}[5m]", "_total{status=~\"5..\"}[5x]")],
     ["HighErrorRate.expr", "5x"]),
    ("promql range vector as result", "dev", "prometheus/rules/extra.yml", _rules("up[5m]"),
     ["job:up:sum.expr", "instant vector or a scalar"]),
    ("promql string as result", "dev", "prometheus/rules/extra.yml", _rules('"up"'), ["job:up:sum.expr", "not a range vector or a string"]),
    ("promql rate of an instant vector", "dev", "prometheus/rules/extra.yml", _rules("rate(up)"), ["job:up:sum.expr", "expected type matrix"]),
    ("promql wrong argument count", "dev", "prometheus/rules/extra.yml", _rules('label_replace(up, "a")'),
     ["job:up:sum.expr", "label_replace"]),
    ("promql empty selector", "dev", "prometheus/rules/extra.yml", _rules('{job=""}'), ["job:up:sum.expr", "non-empty matcher"]),
    ("promql set operator with scalar", "dev", "prometheus/rules/extra.yml", _rules("up and 1"), ["job:up:sum.expr", "'and'"]),
    ("promql double @", "dev", "prometheus/rules/extra.yml", _rules("up @ 1 @ 2"), ["job:up:sum.expr", "@"]),
    # ---- rule files: YAML and shape
    ("rule yaml error with line", "dev", RULE, [("        for: 2m\n", "        for: 2m\n       bad: [\n")],
     ["configs/prometheus/rules/zz-case.yml:", "not valid YAML"]),
    ("rule file without groups", "dev", "prometheus/rules/extra.yml", "rules: []\n", ["extra.yml", "'groups' list"]),
    ("rule group without name", "dev", RULE, [("  - name: case.rules\n", "  - title: case.rules\n")],
     ["unknown key 'title'", "name: missing"]),
    ("rule group name repeated", "dev", "prometheus/rules/extra.yml", _rules("up") + _rules("up")[len("groups:\n"):],
     ["extra.yml", "'extra.rules' is repeated"]),
    ("rule group with no rules", "dev", "prometheus/rules/extra.yml", "groups:\n  - name: g\n    rules: []\n",
     ["extra.yml", "non-empty list of rules"]),
    ("rule group interval malformed", "dev", RULE, [("  - name: case.rules\n", "  - name: case.rules\n    interval: 1x\n")],
     ["interval", "'1x'", "Prometheus duration"]),
    ("rule with record and alert", "dev", RULE, [("      - alert: HighErrorRate\n", "      - alert: HighErrorRate\n        record: x\n")],
     ["exactly one of 'record' and 'alert'"]),
    ("rule with neither record nor alert", "dev", "prometheus/rules/extra.yml", "groups:\n  - name: g\n    rules:\n      - expr: up\n",
     ["extra.yml", "exactly one of 'record' and 'alert'"]),
    ("rule without expr", "dev", RULE, [("        expr: federated_participants_active < 2\n", "")],
     ["FederatedParticipantDown.expr", "missing"]),
    ("alert name not camel case", "dev", RULE, [("alert: HighErrorRate", "alert: high_error_rate")],
     ["'high_error_rate'", "CamelCase"]),
    ("record name not a metric name", "dev", "prometheus/rules/extra.yml", _rules("up").replace("job:up:sum", "job-up sum"),
     ["'job-up sum'", "not a metric name"]),
    ("alert for malformed", "dev", RULE, [("        for: 2m\n", "        for: two minutes\n")],
     ["HighErrorRate.for", "'two minutes'", "Prometheus duration"]),
    ("alert keep_firing_for zero", "dev", RULE, [("        for: 2m\n", "        for: 2m\n        keep_firing_for: 0s\n")],
     ["HighErrorRate.keep_firing_for", "'0s'", "greater than zero"]),
    ("for on a recording rule", "dev", "prometheus/rules/extra.yml", _rules("up") + "        for: 5m\n",
     ["job:up:sum.for", "only alerting rules"]),
    ("annotations on a recording rule", "dev", "prometheus/rules/extra.yml", _rules("up") + "        annotations: {summary: x}\n",
     ["job:up:sum.annotations", "only alerting rules"]),
    ("unknown rule key", "dev", RULE, [("        for: 2m\n", "        forr: 2m\n")], ["unknown key 'forr'"]),
    ("label name invalid", "dev", RULE, [("          severity: warning\n", "          severity-level: warning\n")],
     ["'severity-level'", "label name"]),
    ("label name reserved", "dev", RULE, [("          severity: warning\n", "          severity: warning\n          __name__: x\n")],
     ["'__name__'", "not __*"]),
    ("duplicate rule in a group", "dev", RULE,
     [("alert: FederatedParticipantDown", "alert: HighErrorRate"), ("          severity: critical\n", "          severity: warning\n")],
     ["HighErrorRate", "already in this group"]),
    # ---- rule files: templates
    ("annotation action not closed", "dev", RULE, [("{{ $labels.job }} answers", "{{ $labels.job answers")],
     ["HighErrorRate.annotations.description", "template"]),
    ("annotation undefined variable", "dev", RULE, [("{{ $labels.job }}", "{{ $label.job }}")],
     ["HighErrorRate.annotations.description", "undefined variable $label"]),
    ("annotation end without block", "dev", RULE, [("{{ $labels.job }} answers", "{{ $labels.job }}{{ end }} answers")],
     ["HighErrorRate.annotations.description", "end without an open"]),
    ("annotation if never closed", "dev", RULE, [("{{ $labels.job }} answers", "{{ if $value }}{{ $labels.job }} answers")],
     ["HighErrorRate.annotations.description", "if is never closed"]),
    ("label template unbalanced parentheses", "dev", RULE, [("severity: warning\n", "severity: '{{ humanize ($value }}'\n")],
     ["HighErrorRate.labels.severity", "unbalanced parentheses"]),
    # ---- rule files: placeholders and file names
    ("unknown placeholder", "dev", RULE, [("[5m])) > 0.1", "[5m])) > ${high_error_rate}")],
     ["zz-case.yml", "unknown placeholder(s) high_error_rate"]),
    ("rule file named yaml", "dev", "prometheus/rules/extra.yaml", _rules("up"), ["extra.yaml", "not read by the stack", "*.yml"]),
    ("text file among rules", "dev", "prometheus/rules/notes.txt", "notes\n", ["rules/notes.txt", "not read by the stack"]),
    ("rule file named like the slo rules", "dev", "prometheus/rules/slo.yml", _rules("up"), ["slo.yml", "taken by the rules"]),
    ("slo period not a duration", "dev", "prometheus/slo.yaml", _set("period", "a month"), ["slo.yaml", "period", "'a month'"]),
    # ---- thresholds
    ("threshold written in words", "dev", THRESHOLDS, _set("round_stall_window", "thirty minutes"),
     ["thresholds.yaml round_stall_window", "'thirty minutes'", "Prometheus duration"]),
    ("threshold share above one", "dev", THRESHOLDS, _set("accuracy_drop", 1.5), ["accuracy_drop", "1.5", "at most 1"]),
    ("threshold share of zero", "dev", THRESHOLDS, _set("scrape_samples_near_limit_ratio", 0),
     ["scrape_samples_near_limit_ratio", "greater than 0"]),
    ("threshold negative count", "dev", THRESHOLDS, _set("min_active_participants", -1), ["min_active_participants", "-1", "whole count"]),
    ("threshold fractional count", "dev", THRESHOLDS, _set("participant_churn_min_changes", 2.5),
     ["participant_churn_min_changes", "2.5", "whole count"]),
    ("threshold spike ratio below one", "dev", THRESHOLDS, _set("bytes_spike_ratio", 0.5), ["bytes_spike_ratio", "greater than 1"]),
    ("threshold negative seconds", "dev", THRESHOLDS, _set("aggregation_p95_seconds", -3), ["aggregation_p95_seconds", "at least 0"]),
    ("threshold word for a number", "dev", THRESHOLDS, _set("high_error_rate_per_second", "lots"),
     ["high_error_rate_per_second", "'lots'", "plain number"]),
    ("threshold number for a duration", "dev", THRESHOLDS, _set("vega_target_down_for", 120), ["vega_target_down_for", "120", "duration"]),
    ("threshold not a number", "dev", THRESHOLDS, _set("high_error_rate_per_second", float("nan")),
     ["high_error_rate_per_second", "nan", "a number"]),
    ("threshold boolean", "dev", THRESHOLDS, _set("min_active_participants", True), ["min_active_participants", "True"]),
    ("threshold nested", "dev", THRESHOLDS, _set("accuracy_drop", {"value": 0.05}), ["accuracy_drop", "a number or a duration"]),
    ("thresholds a list", "dev", THRESHOLDS, "- 1\n- 2\n", ["thresholds.yaml", "flat mapping"]),
    ("threshold unused", "dev", THRESHOLDS, _set("spare_ratio", 0.5), ["spare_ratio not used by any rule"]),
    ("thresholds yaml error", "dev", THRESHOLDS, "accuracy_drop: [0.05\n", ["configs/prometheus/thresholds.yaml:", "not valid YAML"]),
    # ---- scrape limits
    ("scrape limits jobs as a list", "dev", LIMITS, _set("jobs", [{"vega-api": {"sample_limit": 1}}]),
     ["limits.yaml jobs", "mapping of job name to limits"]),
    ("scrape limits for an unknown job", "dev", LIMITS, _set("jobs.vega-apii", {"sample_limit": 100}),
     ["jobs.vega-apii", "not a scrape job"]),
    ("scrape limit negative", "dev", LIMITS, _set("default.sample_limit", -1), ["default.sample_limit", "-1", "from 1 to 10^9"]),
    ("scrape limit in words", "dev", LIMITS, _set("default.label_limit", "huge"), ["default.label_limit", "'huge'"]),
    ("scrape limit unknown", "dev", LIMITS, _set("default.samples_limit", 5), ["unknown limit 'samples_limit'"]),
    ("scrape limits without default", "dev", LIMITS, _drop("default"), ["limits.yaml", "'default' mapping"]),
    ("scrape limits unknown section", "dev", LIMITS, _set("global", {}), ["unknown key 'global'"]),
    ("scrape limits job body a number", "dev", LIMITS, _set("jobs.cadvisor", 5), ["jobs.cadvisor", "mapping of limits"]),
    # ---- Loki limits
    ("loki limit huge", "dev", LOKI, _set("ingestion_rate_mb", "huge"), ["ingestion_rate_mb", "'huge'", "from 0.1 to 1024"]),
    ("loki streams -1", "dev", LOKI, _set("max_global_streams_per_user", -1), ["max_global_streams_per_user", "-1", "from 1 to"]),
    ("loki size in parsecs", "dev", LOKI, _set("per_stream_rate_limit", "3 parsecs"), ["per_stream_rate_limit", "'3 parsecs'", "3MB"]),
    ("loki line size zero", "dev", LOKI, _set("max_line_size", 0), ["max_line_size", "0", "a size from"]),
    ("loki boolean as word", "dev", LOKI, _set("reject_old_samples", "yes"), ["reject_old_samples", "'yes'", "true or false"]),
    ("loki max age in words", "dev", LOKI, _set("reject_old_samples_max_age", "1 week"),
     ["reject_old_samples_max_age", "'1 week'", "Prometheus duration"]),
    ("loki accepts older than it keeps", "dev", LOKI, _set("reject_old_samples_max_age", "336h"),
     ["reject_old_samples_max_age", "336h", "at most lokiRetention (168h)"]),
    ("loki stream burst below rate", "dev", LOKI, _set("per_stream_rate_limit_burst", "1MB"),
     ["per_stream_rate_limit_burst", "'1MB'", "at least per_stream_rate_limit"]),
    ("loki burst below rate", "dev", LOKI, _set("ingestion_burst_size_mb", 4), ["ingestion_burst_size_mb", "at least ingestion_rate_mb"]),
    ("loki retention in the limits file", "dev", LOKI, _set("retention_period", "744h"), ["retention_period", "lokiRetention"]),
    ("loki unknown limit", "dev", LOKI, _set("max_cache_freshness", "1m"), ["unknown key 'max_cache_freshness'"]),
    ("loki limits a list", "dev", LOKI, "- ingestion_rate_mb\n", ["loki/limits.yaml", "expected a mapping"]),
    ("loki fractional parallelism", "dev", LOKI, _set("max_query_parallelism", 1.5), ["max_query_parallelism", "1.5", "an integer"]),
    ("loki no label names", "dev", LOKI, _set("max_label_names_per_series", 0), ["max_label_names_per_series", "0"]),
    # ---- log pipeline
    ("log job as a string", "dev", PIPELINE, lambda d: {**d, "scrape_configs": [*d["scrape_configs"], "docker-extra"]},
     ["promtail-config.yaml scrape_configs[", "'docker-extra'", "mapping with job_name"]),
    ("log job without name", "dev", PIPELINE, lambda d: {**d, "scrape_configs": [*d["scrape_configs"], {"static_configs": []}]},
     ["job_name: missing"]),
    ("log job name repeated", "dev", PIPELINE, lambda d: {**d, "scrape_configs": [*d["scrape_configs"], d["scrape_configs"][0]]},
     ["already defined in this file"]),
    ("log stages not a list", "dev", PIPELINE,
     lambda d: {**d, "scrape_configs": [{**d["scrape_configs"][0], "pipeline_stages": "json"}, *d["scrape_configs"][1:]]},
     ["pipeline_stages", "list of stages"]),
    ("log jobs only for the other platform", "dev", PIPELINE, _jobs_named("kubernetes-"), ["no scrape job left for platform docker"]),
    ("log pipeline without jobs", "dev", PIPELINE, _drop("scrape_configs"), ["promtail-config.yaml", "scrape_configs list"]),
    # ---- Alertmanager templates
    ("template action not closed", "dev", TMPL, lambda t: '{{ define "w" }}{{ .Status }{{ end }}\n' + t,
     ["configs/alertmanager/vega.tmpl", "line 1", "'}}' is missing"]),
    ("template define never closed", "dev", TMPL, lambda t: t.rstrip()[: -len("{{- end }}")], ["vega.tmpl", "define is never closed"]),
    ("template extra end", "dev", TMPL, lambda t: t + "{{ end }}\n", ["vega.tmpl", "end without an open"]),
    ("template receivers use is missing", "dev", TMPL, [('define "vega.text"', 'define "vega.body"')],
     ["vega.tmpl", "'vega.text'", "is missing"]),
    ("template calls an undefined one", "dev", TMPL, lambda t: t + '{{ define "x" }}{{ template "vega.footer" . }}{{ end }}\n',
     ["'vega.footer' is called but never defined"]),
    ("template define inside range", "dev", TMPL,
     lambda t: t + '{{ define "x" }}{{ range .Alerts }}{{ define "y" }}{{ end }}{{ end }}{{ end }}\n',
     ["vega.tmpl", "define inside range"]),
    ("template undefined variable", "dev", TMPL, lambda t: t + '{{ define "x" }}{{ $alert.Labels }}{{ end }}\n',
     ["vega.tmpl", "undefined variable $alert"]),
    ("template comment not closed", "dev", TMPL, lambda t: t + "{{/* no end }}\n", ["vega.tmpl", "comment"]),
    ("template else outside a block", "dev", TMPL, lambda t: t + "{{ else }}\n", ["vega.tmpl", "else outside"]),
    ("template without a name", "dev", TMPL, lambda t: t + "{{ define vega }}{{ end }}\n", ["define needs a quoted template name"]),
    ("second template file", "dev", "alertmanager/extra.tmpl", '{{ define "x" }}{{ end }}\n', ["extra.tmpl", "not read by the stack", "vega.tmpl"]),
    ("template file missing", "dev", TMPL, None, ["vega.tmpl", "file is missing"]),
    # ---- dashboards
    ("dashboard not json", "dev", DASHBOARD, "{ not json", [f"{DASHBOARD_NAME}:1", "not valid JSON"]),
    ("dashboard a list", "dev", DASHBOARD, "[]", [DASHBOARD_NAME, "JSON object with title, uid and panels"]),
    ("dashboard without title", "dev", DASHBOARD, _drop("title"), [f"{DASHBOARD_NAME} title", "None"]),
    ("dashboard uid with spaces", "dev", DASHBOARD, _set("uid", "my uid!"), ["uid", "'my uid!'", "1-40 letters"]),
    ("dashboard uid too long", "dev", DASHBOARD, _set("uid", "u" * 41), ["uid", "1-40 letters"]),
    ("dashboard panels not a list", "dev", DASHBOARD, _set("panels", {}), ["panels", "list of panels"]),
    ("dashboard panel without type", "dev", DASHBOARD, _panels(lambda p: p.append({"title": "x"})), ["panels[", "with a type"]),
    ("dashboard panel ids repeated", "dev", DASHBOARD, _panels(lambda p: p.append({**p[-1]})), ["panels[", ".id", "no other panel"]),
    ("dashboard unknown datasource", "dev", DASHBOARD, _panels(lambda p: p.append({"type": "stat", "datasource": {"uid": "mysql"}})),
     ["datasource uid 'mysql' is not provisioned"]),
    ("dashboard uid used twice", "dev", COPY,
     lambda _: {**json.loads((ROOT_CONFIGS / DASHBOARD).read_text()), "title": "Copy"},
     ["uid", "already used by", "copy.json"]),
    ("dashboard title used twice", "dev", COPY,
     lambda _: {**json.loads((ROOT_CONFIGS / DASHBOARD).read_text()), "uid": "vega-copy"},
     ["title", "already used by", "copy.json"]),
    ("dashboard as yaml", "dev", COPY.replace("copy.json", "extra.yaml"), "title: x\n", ["extra.yaml", "not read by the stack", "*.json"]),
    ("dashboard in a folder grafana does not read", "dev", "grafana/dashboards/custom/mine.json",
     lambda _: {"title": "Mine", "uid": "mine", "panels": []}, ["grafana/dashboards/custom/mine.json", "no content folder"]),
    # ---- files nobody reads
    ("unknown top-level file", "dev", "extra.yaml", "a: 1\n", ["configs/extra.yaml", "not read by the stack"]),
    ("unknown content folder", "dev", "tempo/tempo.yaml", "a: 1\n", ["configs/tempo/tempo.yaml", "no content folder"]),
    ("scrape job as json", "dev", "prometheus/scrape_configs/jobs.json", "{}", ["jobs.json", "not read by the stack"]),
    ("rule file in the wrong folder", "dev", "prometheus/alerts.yml", _rules("up"), ["configs/prometheus/alerts.yml", "not read"]),
    # ---- extra scrape jobs
    ("scrape static configs a string", "dev", SCRAPE, _job(static_configs="service:9000"), ["static_configs", "expected a list"]),
    ("scrape targets a string", "dev", SCRAPE, _job(static_configs=[{"targets": "service:9000"}]), ["targets", "expected a list"]),
    ("scrape target outside vega namespaces", "prod", SCRAPE, _job(static_configs=[{"targets": ["svc.other.svc:9000"]}]),
     ["'svc.other.svc:9000'", "vegaNamespaces", "vega, vega-federation"]),
    ("scrape target without namespace", "prod", SCRAPE, _job(static_configs=[{"targets": ["service:9000"]}]),
     ["'service:9000'", "<service>.<namespace>.svc:<port>"]),
    ("scrape discovery of every namespace", "prod", SCRAPE, _job(kubernetes_sd_configs=[{"role": "pod"}]),
     ["kubernetes_sd_configs", "(every namespace)", "vegaNamespaces"]),
    ("scrape discovery outside", "prod", SCRAPE, _job(kubernetes_sd_configs=[{"role": "pod", "namespaces": {"names": ["billing"]}}]),
     ["namespaces billing", "outside vegaNamespaces"]),
    # ---- sizing and routing on prod
    ("cpu request above its limit", "prod", SIZING, lambda d: _set("kubernetes.grafana.cpu_limit", "500m")(_set("kubernetes.grafana.cpu", "1")(d)),
     ["kubernetes.grafana.cpu", "'1'", "at most cpu_limit ('500m')"]),
    ("memory request above its limit", "prod", SIZING,
     lambda d: _set("kubernetes.loki-querier.memory_limit", "2Gi")(_set("kubernetes.loki-querier.memory", "4Gi")(d)),
     ["kubernetes.loki-querier.memory", "'4Gi'", "at most memory_limit"]),
    ("severity without channels on prod", "prod", ROUTING, _set("severities.critical.channels", []),
     ["routing.yaml severities.critical.channels", "nowhere"]),
    ("severity with only unconfigured channels on prod", "prod", ROUTING, _set("severities.warning.channels", ["slack"]),
     ["severities.warning.channels", "['slack']", "webhook, email"]),
]


def apply(configs: Path, relative: str, change: Change) -> None:
    path = configs / relative
    if change is None:
        path.unlink()
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() and relative in BASES:
        path.write_text(BASES[relative])
    if isinstance(change, str):
        path.write_text(change)
    elif isinstance(change, list):
        text = path.read_text()
        for old, new in change:
            assert old in text, f"{relative}: {old!r} not found; the case needs updating"
            text = text.replace(old, new)
        path.write_text(text)
    elif path.suffix == ".json":
        doc = json.loads(path.read_text()) if path.exists() else None
        path.write_text(json.dumps(change(doc)))
    elif path.suffix in (".yml", ".yaml"):
        doc = yaml.safe_load(path.read_text()) if path.exists() else None
        path.write_text(yaml.safe_dump(change(doc), sort_keys=False))
    else:
        path.write_text(change(path.read_text()))


def raw_of(stack: str) -> dict[str, Any]:
    return prod_raw(**PROD_SECRETS) if stack == "prod" else dev_raw()


@pytest.mark.parametrize(
    ("case", "stack", "relative", "change", "fragments"), CONTENT_CASES, ids=[c[0] for c in CONTENT_CASES]
)
def test_bad_content_is_refused_naming_file_value_and_what_is_allowed(
    configs_copy: Path, case: str, stack: str, relative: str, change: Change, fragments: list[str]
) -> None:
    apply(configs_copy, relative, change)
    with pytest.raises(ConfigError) as caught:
        load(raw_of(stack), stack)
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, f"{case}: {fragment!r} missing from:\n{message}"
    for value in PROD_SECRETS.values():
        assert value not in message
    for line in caught.value.problems:
        assert "\n" not in line and "Traceback" not in line, f"{case}: one line per problem:\n{line}"


def test_the_shipped_content_passes_on_both_stacks() -> None:
    assert load(dev_raw(), "dev").platform == "docker"
    assert load(prod_raw(**PROD_SECRETS), "prod").platform == "kubernetes"


def test_problems_in_many_files_are_reported_at_once(configs_copy: Path) -> None:
    apply(configs_copy, RULE, [("(rate(http_requests_total", "(rat(http_requests_total")])
    apply(configs_copy, LOKI, _set("ingestion_rate_mb", "huge"))
    apply(configs_copy, TMPL, lambda t: t + "{{ end }}\n")
    apply(configs_copy, DASHBOARD, _set("uid", "my uid!"))
    apply(configs_copy, "prometheus/rules/extra.yaml", _rules("up"))
    with pytest.raises(ConfigError) as caught:
        load(dev_raw(scrapeInterval="1x"), "dev")
    message = str(caught.value)
    for fragment in ("scrapeInterval", "zz-case.yml", "ingestion_rate_mb", "vega.tmpl", "'my uid!'", "extra.yaml"):
        assert fragment in message


def test_the_two_malformed_files_that_crashed_give_messages(configs_copy: Path) -> None:
    """limits.yaml with `jobs` as a list and a string entry in the log pipeline's jobs."""
    apply(configs_copy, LIMITS, _set("jobs", ["vega-api"]))
    apply(configs_copy, PIPELINE, lambda d: {**d, "scrape_configs": [*d["scrape_configs"], "docker-extra"]})
    with pytest.raises(ConfigError) as caught:
        load(dev_raw(), "dev")
    assert len(caught.value.problems) == 2


def test_a_severity_without_channels_is_only_a_warning_on_dev(configs_copy: Path) -> None:
    apply(configs_copy, ROUTING, _set("severities.info.channels", []))
    settings = load(dev_raw(alertmanagerWebhookUrl="https://hooks.example.org/am"), "dev")
    assert any("severities.info.channels" in w and "nowhere" in w for w in settings.warnings)
    assert any("reach nobody" in w for w in load(dev_raw(), "dev").warnings)


def test_every_shipped_loki_limit_lies_in_its_range() -> None:
    doc = yaml.safe_load((ROOT_CONFIGS / LOKI).read_text())
    assert set(doc) <= set(LOKI_LIMITS)
    assert load(dev_raw(), "dev").loki.retention  # the shipped file passes


def test_a_user_rule_file_and_dashboard_are_accepted(configs_copy: Path) -> None:
    apply(configs_copy, "prometheus/rules/extra.yml", _rules("sum by (job) (rate(http_requests_total[5m] offset 1h))"))
    doc = json.loads((configs_copy / DASHBOARD).read_text())
    apply(configs_copy, "grafana/dashboards/mine.json", lambda _: {**doc, "uid": "mine", "title": "Mine"})
    shutil.copy(configs_copy / "prometheus/rules/extra.yml", configs_copy / "prometheus/rules/extra2.yml")
    apply(configs_copy, "prometheus/rules/extra2.yml", [("extra.rules", "extra2.rules")])
    assert load(dev_raw(), "dev").platform == "docker"


# ---- how many distinct bad inputs the tests refuse, and that refusing happens before any resource


def test_there_are_at_least_120_distinct_bad_inputs() -> None:
    from tests.test_settings_meaning import BAD_SETTINGS

    cases = [c[0] for c in BAD_INPUTS] + [c[0] for c in BAD_PROD_INPUTS]
    cases += [c[0] for c in CONTENT_CASES] + [c[0] for c in BAD_SETTINGS]
    assert len(set(cases)) == len(cases), "each case has its own name"
    assert len(cases) >= 120, len(cases)


FIRST_RESOURCE_CASES = [c for c in CONTENT_CASES if c[0] in (
    "promql unknown function", "loki limit huge", "dashboard uid used twice", "scrape target outside vega namespaces",
    "cpu request above its limit", "rule file named yaml",
)]


@pytest.mark.parametrize(
    ("case", "stack", "relative", "change", "fragments"), FIRST_RESOURCE_CASES, ids=[c[0] for c in FIRST_RESOURCE_CASES]
)
def test_bad_content_stops_the_program_before_any_resource(
    configs_copy: Path, case: str, stack: str, relative: str, change: Change, fragments: list[str]
) -> None:
    import pulumi

    from tools.mockrun import Run, run_program

    apply(configs_copy, relative, change)
    run = Run(stack=stack)
    with pytest.raises(pulumi.RunError) as caught:
        run_program(stack, into=run)
    assert run.resources == [], f"{case}: declared {[r.name for r in run.resources]} before refusing"
    for fragment in fragments:
        assert fragment in str(caught.value)


# Expressions on both sides of the line, to hold the parser to what Prometheus itself accepts.
PROMQL_AGREEMENT = [
    "rate(x[5m])", "max_over_time(rate(x[5m])[1h:1m])", "x @ 1609746000", "rate(x[5m] offset 1w)", "x @ start()",
    "histogram_quantile(0.9, sum by (le) (rate(h_bucket[5m])))", 'label_replace(up, "a", "$1", "b", "(.*)")',
    "sum without (instance) (up)", "a * on(job) group_left(instance) b", "x offset -5m", "absent_over_time(up[5m])",
    "rate(x[5m]", "foo(x)", "holt_winters(x[5m], 0.5, 0.5)", "rate(up)", "up[5m] + 1", "sum(up[5m])",
    "topk(x, y)", "x @ 1 @ 2", "up and 1", 'up * "a"', "rate(x[0s])", "x + on(job) group_left(i) group_right y",
]


@pytest.mark.parametrize("expr", PROMQL_AGREEMENT)
def test_promql_check_agrees_with_promtool(tool: Callable[[str], str], tmp_path: Path, expr: str) -> None:
    import subprocess

    from components.settings.rules import check_promql

    path = tmp_path / "rules.yml"
    path.write_text(_rules(expr))
    promtool = subprocess.run([tool("promtool"), "check", "rules", str(path)], capture_output=True, text=True, check=False)
    assert (check_promql(expr) is None) == (promtool.returncode == 0), promtool.stdout + promtool.stderr


def _odd_variants(path: Path) -> list[tuple[str, str]]:
    """(label, new text) variants of one content file: the whole document, and each of its
    top-level values, replaced by a value of another shape (rotating through ODD)."""
    odd: list[Any] = [7, "x", [1], None, {"a": 1}, True]
    is_json = path.suffix == ".json"
    dump: Callable[[Any], str] = json.dumps if is_json else yaml.safe_dump
    doc = json.loads(path.read_text()) if is_json else yaml.safe_load(path.read_text())
    out = [(f"document = {value!r}", dump(value)) for value in odd]
    if isinstance(doc, dict):
        for i, key in enumerate(doc):
            value = odd[i % len(odd)]
            out.append((f"{key} = {value!r}", dump({**doc, key: value})))
    return out


def test_no_shape_of_a_content_file_ends_in_a_traceback(configs_copy: Path) -> None:
    """Every YAML and JSON file under configs/, whole and key by key, in shapes it must not
    have: each is refused with a ConfigError (or accepted), never another exception."""
    files = sorted(p for p in configs_copy.rglob("*") if p.suffix in (".yml", ".yaml", ".json") and p.is_file())
    tried = 0
    for path in files:
        original = path.read_text()
        for label, text in _odd_variants(path):
            path.write_text(text)
            try:
                load(dev_raw(), "dev")
            except ConfigError as error:
                assert all("\n" not in p for p in error.problems), f"{path.name} {label}"
            tried += 1
        path.write_text(original)
    assert tried >= 6 * len(files)
