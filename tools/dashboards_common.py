"""What both dashboards share: uids and titles, the recording rules their panels read, the
label filters of their variables, thresholds, and the links at the top of each."""

from __future__ import annotations

from tools.dashboards_panels import JAEGER, LOKI, Json, dashboard_link, explore_link, jaeger_search, thresholds

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

# Label filters of the System Overview's variables.
ROUTE = 'job=~"$job", instance=~"$instance", method=~"$method", endpoint=~"$endpoint"'
API = ROUTE + ', status=~"$status"'
CONTAINER = 'name=~"$container", name!=""'
HOST = 'instance=~"$host"'
# ... and of the Federated Learning dashboard's.
SILO = 'silo=~"$silo"'
PARTICIPANT = 'silo=~"$silo", participant_id=~"$participant"'

HEALTH_STEPS = thresholds(("red", None), ("orange", 0.5), ("green", 0.9))
ERROR_STEPS = thresholds(("green", None), ("orange", 0.01), ("red", 0.05))
DOWN_STEPS = thresholds(("green", None), ("red", 1))
QUANTILES = (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))


def links_to(uid: str, title: str) -> list[Json]:
    return [
        dashboard_link(title, uid, "Same time range and variables"),
        explore_link("Logs (Loki)", "Vega's JSON logs in Explore", LOKI, {"expr": VEGA_LOGS + " | json"}),
        explore_link("Traces (Jaeger)", "Search vega-api traces in Explore", JAEGER, jaeger_search("vega-api")),
    ]
