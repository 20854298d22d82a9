"""The ports each service listens on inside its container or pod.

These are fixed by the stack (only the docker host ports are configurable), so every
renderer and backend takes them from here.
"""

PROMETHEUS = 9090
ALERTMANAGER = 9093
ALERTMANAGER_CLUSTER = 9094
GRAFANA = 3000
LOKI = 3100
LOKI_GRPC = 9095
ALLOY = 12345
PROMTAIL = 9080
JAEGER_UI = 16686
JAEGER_METRICS = 8888
JAEGER_HEALTH = 13133
OTLP_GRPC = 4317
OTLP_HTTP = 4318
NODE_EXPORTER = 9100
CADVISOR = 8080

# Datasource UIDs are pinned: dashboards refer to them, so they must never change.
DATASOURCE_UIDS = {
    "prometheus": "vega-prometheus",
    "loki": "vega-loki",
    "jaeger": "vega-jaeger",
    "alertmanager": "vega-alertmanager",
}
