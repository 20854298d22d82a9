"""Names and in-cluster addresses of the stack's services on kubernetes.

Pure functions of the settings, so every config file can be rendered (and checked) before
the first resource is declared.
"""

from __future__ import annotations

from components import endpoints
from components.settings import KubernetesSettings

THANOS_GRPC = 10901
THANOS_HTTP = 10902
LOKI_MEMBERLIST = 7946
GRAFANA_ALERTING = 9094
JAEGER_QUERY_METRICS = 8887
JAEGER_QUERY_HEALTH = 12133

# Headless Services give StatefulSet pods stable names: <pod>.<headless>.<namespace>.svc
PROMETHEUS_HEADLESS = "prometheus-headless"
ALERTMANAGER_HEADLESS = "alertmanager-cluster"
GRAFANA_HEADLESS = "grafana-alerting"
LOKI_MEMBERLIST_SERVICE = "loki-memberlist"
THANOS_STORE = "thanos-store"


def svc(k: KubernetesSettings, service: str, namespace: str | None = None) -> str:
    return f"{service}.{namespace or k.namespace}.svc"


def tls_server_name(k: KubernetesSettings) -> str:
    """A name the internal certificate (*.<namespace>.svc) covers, for clients that reach a
    pod by IP (service discovery) rather than by Service name."""
    return f"metrics.{k.namespace}.svc"


def alertmanager_peers(k: KubernetesSettings, replicas: int) -> list[str]:
    return [
        f"alertmanager-{i}.{ALERTMANAGER_HEADLESS}.{k.namespace}.svc:{endpoints.ALERTMANAGER}" for i in range(replicas)
    ]


def alertmanager_gossip_peers(k: KubernetesSettings, replicas: int) -> list[str]:
    return [
        f"alertmanager-{i}.{ALERTMANAGER_HEADLESS}.{k.namespace}.svc:{endpoints.ALERTMANAGER_CLUSTER}"
        for i in range(replicas)
    ]


def loki_push_url(k: KubernetesSettings) -> str:
    """Where the collector pushes: Loki's distributors."""
    return f"https://{svc(k, 'loki-distributor')}:{endpoints.LOKI}/loki/api/v1/push"


def loki_query_url(k: KubernetesSettings) -> str:
    """Where Grafana queries Loki: the query frontends."""
    return f"https://{svc(k, 'loki-query-frontend')}:{endpoints.LOKI}"
