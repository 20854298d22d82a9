"""What both dashboards share: uids and titles, the recording rules their panels read, the
label filters of their variables, thresholds, and the links at the top of each."""

from __future__ import annotations

from tools.dashboard_queries import FILTER_GUARD_LABEL
from tools.dashboards_panels import (
    JAEGER,
    LOKI,
    Json,
    alerts_table,
    dashboard_link,
    explore_link,
    jaeger_search,
    prom,
    stat,
    thresholds,
)

OVERVIEW_UID = "vega-system-overview"
OVERVIEW_TITLE = "Vega 2.0 - System Overview"
FEDERATED_UID = "vega-federated-learning"
FEDERATED_TITLE = "Vega 2.0 - Federated Learning"

VEGA_LOGS = '{job=~"vega-.*"}'
LOG_STREAM = '{job=~"vega-.*", level=~"$level", module=~"$module"}'

# Recording rules (configs/prometheus/rules/recording.yml) the panels read.
REQUESTS = "job_instance_method_endpoint_status:http_requests:rate5m"
ERROR_RATIO = "job_endpoint:http_request_errors_per_requests:ratio_rate5m"
LATENCY_BUCKETS = "job_instance_method_endpoint_le:http_request_duration_seconds_bucket:rate5m"
LATENCY = "job_endpoint:http_request_duration_seconds:{q}_rate5m"
SILO_UP = "silo:federated_participant_up:sum"
SILO_COUNT = "silo:federated_participants:count"
SILO_UP_RATIO = "silo:federated_participant_up:ratio"
SILO_ROUND_AVG = "silo:federated_participant_round_duration_seconds:avg"
SILO_ROUND_MAX = "silo:federated_participant_round_duration_seconds:max"
SILO_ACCURACY_AVG = "silo:federated_participant_accuracy:avg"
SILO_ACCURACY_MIN = "silo:federated_participant_accuracy:min"
PARTICIPANT_BYTES = "participant_id_silo:federated_bytes_sent:rate5m"
SILO_BYTES = "silo:federated_bytes_sent:rate5m"
AGGREGATION = "job:federated_aggregation_duration_seconds:{q}_rate5m"

# Recorded at the level the System Overview's panels show (per job, or per job and the one
# label a panel breaks down by).
JOB_REQUESTS = "job:http_requests:rate5m"
JOB_ERRORS = "job:http_request_errors:rate5m"
JOB_LATENCY = "job:http_request_duration_seconds:{q}_rate5m"
ENDPOINT_REQUESTS = "job_endpoint:http_requests:rate5m"
ENDPOINT_ERRORS = "job_endpoint:http_request_errors:rate5m"
BY_REQUESTS = "job_{label}:http_requests:rate5m"  # status, method, instance

# Label filters of the System Overview's variables.
ROUTE = 'job=~"$job", instance=~"$instance", method=~"$method", endpoint=~"$endpoint"'
API = ROUTE + ', status=~"$status"'
CONTAINER = 'name=~"$container", name!=""'
HOST = 'instance=~"$host"'
ROUTE_VARIABLES = ("job", "instance", "method", "endpoint")
API_VARIABLES = (*ROUTE_VARIABLES, "status")
FILTERS = "FILTERS"  # where at_level puts the variables' matchers


def at_level(coarse: str, fine: str, variables: tuple[str, ...], kept: tuple[str, ...]) -> str:
    """A query that reads `coarse`, recorded at the level the panel shows (the labels `kept`),
    while every other variable is "All", and `fine`, from the finer recorded series, once one
    of them narrows the panel: the variables keep filtering every panel, and a refresh with
    the defaults reads only the few series the panel draws.

    In both, FILTERS stands for the matchers: every variable on `coarse` (those it does not
    keep match only its empty label while "All"), and on `fine` every variable plus the guard
    that empties it while the dropped variables are all "All"."""
    matchers = ", ".join(f'{name}=~"${name}"' for name in variables)
    dropped = "".join(f"(?:${name})" for name in variables if name not in kept)
    guard = f'{FILTER_GUARD_LABEL}!~"{dropped}"'
    return f"{coarse.replace(FILTERS, matchers)} or {fine.replace(FILTERS, matchers + ', ' + guard)}"


# ... and of the Federated Learning dashboard's.
SILO = 'silo=~"$silo"'
PARTICIPANT = 'silo=~"$silo", participant_id=~"$participant"'

# What the seed's metrics (docs/metrics.md) answer alone, and what needs the extended contract.
SEED_ACTIVE = "sum(federated_participants_active)"
SEED_TOTAL = "sum(federated_participants_total)"
SEED_TAKING_PART = f"{SEED_ACTIVE} / ({SEED_TOTAL} > 0)"
SEED_BYTES = "job:federated_bytes_sent:rate5m"
WHOLE_FEDERATION = "whole federation"


def or_federation(per_silo: str, federation: str) -> str:
    """`per_silo` while Vega exports the per-silo metrics; else `federation` (the seed's
    metrics, federation-wide) as one series labelled silo="whole federation"."""
    return f'{per_silo} or on () label_replace({federation}, "silo", "{WHOLE_FEDERATION}", "", "")'


def needs(*metrics: str) -> tuple[str, str]:
    """(description sentence, no-data text) of a panel that only the extended contract of
    docs/metrics.md can fill: the metrics Vega must export for it."""
    names = ", ".join(metrics)
    return (
        f" Needs the extended contract of docs/metrics.md: Vega must export {names}.",
        f"No data: Vega must export {names} (docs/metrics.md, extended contract)",
    )


def federation_fallback(what: str) -> str:
    """Description sentence of a panel that falls back to the seed's metrics."""
    return (
        f" Per silo with the extended contract of docs/metrics.md (`federated_participant_up` with its `silo` label, "
        f"`federated_bytes_sent_total` by `participant_id` and `silo`); on the seed's metrics alone, {what} "
        f'of the {WHOLE_FEDERATION}, labelled silo="{WHOLE_FEDERATION}".'
    )


# Alerts each dashboard lists and marks: the federation's alerts are named Federated*.
FEDERATION_ALERTS = 'alertname=~"Federated.*"'
ALL_ALERTS = 'alertname=~".+"'

HEALTH_STEPS = thresholds(("red", None), ("orange", 0.5), ("green", 0.9))
ERROR_STEPS = thresholds(("green", None), ("orange", 0.01), ("red", 0.05))
DOWN_STEPS = thresholds(("green", None), ("red", 1))

# Grafana's view of Alertmanager (the provisioned datasource named "Alertmanager"): alert
# groups with their silences and inhibitions. Grafana cannot query Alertmanager from a panel
# (its Alertmanager datasource serves no metrics), so the panels read the alerts Prometheus
# sends it and link here.
ALERTMANAGER_GROUPS = "/alerting/groups?alertmanager=Alertmanager"


def alerts_firing(selector: str, what: str) -> Json:
    """A stat of how many alerts matching `selector` fire now (0 when none)."""
    return stat(
        "Alerts firing",
        f"Number of {what} firing now: Prometheus' ALERTS series, the alerts it sends to Alertmanager.",
        [prom(f'count(ALERTS{{alertstate="firing", {selector}}}) or vector(0)')],
        "short",
        steps=DOWN_STEPS,
        h=6,
    )


def alerts_panel(selector: str, what: str) -> Json:
    """The alerts matching `selector` that fire now, linked to Alertmanager's alert groups."""
    return alerts_table(
        "Alerts firing now",
        f"{what}, with their labels, as Prometheus sends them to Alertmanager. "
        "The link opens Alertmanager's alert groups in Grafana (silences, inhibitions, receivers).",
        selector,
        [{"title": "Alert groups in Alertmanager", "url": ALERTMANAGER_GROUPS}],
    )


QUANTILES = (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))


def links_to(uid: str, title: str) -> list[Json]:
    return [
        dashboard_link(title, uid, "Same time range and variables"),
        explore_link("Logs (Loki)", "Vega's JSON logs in Explore", LOKI, {"expr": VEGA_LOGS + " | json"}),
        explore_link("Traces (Jaeger)", "Search vega-api traces in Explore", JAEGER, jaeger_search("vega-api")),
    ]
