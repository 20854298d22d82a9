"""Jaeger v2 on kubernetes: collectors and query servers as two Deployments of one image,
both on the trace storage (OpenSearch or Elasticsearch) outside the cluster's pods.

- `jaeger-collector` receives OTLP over gRPC and HTTP, both over TLS with the internal
  certificate, and writes spans to the storage. It keeps nothing itself, so any replica can
  go; Vega's SDKs reach it through the Service of the same name.
- `jaeger-query` serves the UI and the query API over TLS (Grafana's Jaeger datasource and
  the Ingress use it). Its trace pipeline is a no-op, as upstream's query-only config does.

Both read one ConfigMap (collector.yaml and query.yaml) and, when the storage needs a
password, one Secret file. Their own metrics are plain HTTP: the collector's Prometheus
reader (OpenTelemetry's declarative config: host and port only) cannot serve TLS.
"""

from __future__ import annotations

from typing import Any

import pulumi

from components import endpoints
from components.content import to_yaml
from components.jaeger import config, dependencies
from components.platform import topology as t
from components.platform.kubernetes import EXTERNAL_CA_FILE, TLS_DIR, KubernetesCluster
from components.settings import SecretStr, Settings, parse_duration

SECRETS_DIR = f"{config.CONFIG_DIR}/secrets"
STORAGE_PASSWORD = f"{SECRETS_DIR}/storage_password"
RUN_AS_USER = 10001  # USER of jaegertracing/jaeger's image
COLLECTOR = "jaeger-collector"
QUERY = "jaeger-query"
FILES = {COLLECTOR: "collector.yaml", QUERY: "query.yaml"}
QUERY_GRPC = 16685
METRICS_PORT = {COLLECTOR: endpoints.JAEGER_METRICS, QUERY: t.JAEGER_QUERY_METRICS}
HEALTH_PORT = {COLLECTOR: endpoints.JAEGER_HEALTH, QUERY: t.JAEGER_QUERY_HEALTH}
STATUS_PATH = "/status"

# Shards and replicas of each index. Spans carry nearly all the volume: three primary
# shards spread writes over the storage nodes. Every index keeps one replica so the loss of
# a storage node loses no trace.
INDEX_LAYOUT = {
    "spans": {"shards": 3, "replicas": 1},
    "services": {"shards": 1, "replicas": 1},
    "dependencies": {"shards": 1, "replicas": 1},
    "sampling": {"shards": 1, "replicas": 1},
}


def go_duration(text: str) -> str:
    """A Prometheus-style duration (7d, 168h) as Go's time.ParseDuration reads it (no d/w/y)."""
    seconds = int(parse_duration(text))
    return f"{seconds // 3600}h" if seconds % 3600 == 0 else f"{seconds}s"


def server_tls() -> dict[str, Any]:
    """The internal certificate, re-read hourly: cert-manager renews it in place."""
    return {
        "cert_file": f"{TLS_DIR}/tls.crt",
        "key_file": f"{TLS_DIR}/tls.key",
        "min_version": "1.2",
        "reload_interval": "1h",
    }


def storage_backend(settings: Settings) -> dict[str, Any]:
    """The trace storage under jaeger_storage.backends, shared by collector and query."""
    k = settings.kubernetes
    j = settings.jaeger
    assert k is not None
    body: dict[str, Any] = {
        "server_urls": list(j.storage_urls),
        "indices": {"index_prefix": j.index_prefix, **INDEX_LAYOUT},
        # How far back searches look: the whole retention.
        "max_span_age": go_duration(j.retention),
    }
    if j.storage_username:
        body["auth"] = {"basic": {"username": j.storage_username, "password_file": STORAGE_PASSWORD}}
    if k.ca_bundle_configmap:
        # Without a bundle of the user's, the image's system roots verify the storage.
        body["tls"] = {"ca_file": EXTERNAL_CA_FILE}
    return {j.storage: body}


def _telemetry(service_name: str, metrics_port: int) -> dict[str, Any]:
    return {
        "resource": {"service.name": service_name},
        "metrics": {
            "level": "detailed",
            "readers": [{"pull": {"exporter": {"prometheus": {"host": "0.0.0.0", "port": metrics_port}}}}],
        },
        "logs": {"level": "info"},
    }


def _health(port: int) -> dict[str, Any]:
    return {
        "use_v2": True,
        "http": {"endpoint": f"0.0.0.0:{port}", "tls": server_tls(), "status": {"enabled": True, "path": STATUS_PATH}},
    }


def collector_config(settings: Settings) -> dict[str, Any]:
    tls = server_tls()
    return {
        "service": {
            "extensions": ["jaeger_storage", "healthcheckv2"],
            "pipelines": {
                "traces": {
                    "receivers": ["otlp"],
                    "processors": ["memory_limiter", "batch"],
                    "exporters": ["jaeger_storage_exporter"],
                }
            },
            "telemetry": _telemetry(COLLECTOR, METRICS_PORT[COLLECTOR]),
        },
        "extensions": {
            "healthcheckv2": _health(HEALTH_PORT[COLLECTOR]),
            "jaeger_storage": {"backends": {config.STORE: storage_backend(settings)}},
        },
        "receivers": {
            "otlp": {
                "protocols": {
                    "grpc": {"endpoint": f"0.0.0.0:{endpoints.OTLP_GRPC}", "tls": tls},
                    "http": {"endpoint": f"0.0.0.0:{endpoints.OTLP_HTTP}", "tls": tls},
                }
            }
        },
        "processors": {
            # Refuse data (the SDKs retry) before the container's memory limit is reached.
            "memory_limiter": {"check_interval": "1s", "limit_percentage": 80, "spike_limit_percentage": 20},
            "batch": {},
        },
        "exporters": {"jaeger_storage_exporter": {"trace_storage": config.STORE}},
    }


def query_config(settings: Settings) -> dict[str, Any]:
    tls = server_tls()
    return {
        "service": {
            "extensions": ["jaeger_storage", "jaeger_query", "healthcheckv2"],
            # A pipeline must exist; the query server receives nothing.
            "pipelines": {"traces": {"receivers": ["nop"], "processors": ["batch"], "exporters": ["nop"]}},
            "telemetry": _telemetry(QUERY, METRICS_PORT[QUERY]),
        },
        "extensions": {
            "healthcheckv2": _health(HEALTH_PORT[QUERY]),
            "jaeger_query": {
                "storage": {"traces": config.STORE},
                "base_path": "/",
                "http": {"endpoint": f"0.0.0.0:{endpoints.JAEGER_UI}", "tls": tls},
                # gRPC query API: nothing of the stack uses it, so it stays inside the pod.
                "grpc": {"endpoint": f"localhost:{QUERY_GRPC}", "tls": tls},
            },
            "jaeger_storage": {"backends": {config.STORE: storage_backend(settings)}},
        },
        "receivers": {"nop": {}},
        "processors": {"batch": {}},
        "exporters": {"nop": {}},
    }


def render(settings: Settings) -> dict[str, str]:
    """{path relative to /etc/jaeger: text}: one config file per Deployment."""
    return {
        FILES[COLLECTOR]: to_yaml(collector_config(settings), config.HEADER),
        FILES[QUERY]: to_yaml(query_config(settings), config.HEADER),
    }


def args(role: str) -> list[str]:
    return ["--config", f"{config.CONFIG_DIR}/{FILES[role]}"]


def secret_files(settings: Settings) -> dict[str, SecretStr]:
    j = settings.jaeger
    if j.storage_username and j.storage_password is not None:
        return {"storage_password": j.storage_password}
    return {}


def in_cluster_urls(settings: Settings) -> dict[str, str]:
    """The query UI/API and the OTLP endpoints, as Vega's workloads and Grafana reach them."""
    k = settings.kubernetes
    assert k is not None
    return {
        "query": f"https://{t.svc(k, QUERY)}:{endpoints.JAEGER_UI}",
        "otlp_grpc": f"https://{t.svc(k, COLLECTOR)}:{endpoints.OTLP_GRPC}",
        "otlp_http": f"https://{t.svc(k, COLLECTOR)}:{endpoints.OTLP_HTTP}",
    }


def deploy(
    name: str, settings: Settings, files: dict[str, str], cluster: KubernetesCluster, parent: pulumi.Resource
) -> None:
    k = cluster.k
    opts = cluster.opts(parent)

    config_volume = cluster.config_map(name, "jaeger", files, config.CONFIG_DIR, opts, service="jaeger")
    secrets = secret_files(settings)
    mounts = [config_volume]
    secret_volume = cluster.secret(name, "jaeger", secrets, SECRETS_DIR, opts, service="jaeger") if secrets else None
    if secret_volume:
        mounts.append(secret_volume)
    # The image declares /tmp its one writable place.
    mounts += [*cluster.tls(), cluster.empty_dir("tmp", "/tmp", "256Mi")]
    rotation = cluster.rotation("jaeger", secrets, opts) if secrets else None

    ports = {
        COLLECTOR: {"otlp-grpc": endpoints.OTLP_GRPC, "otlp-http": endpoints.OTLP_HTTP},
        QUERY: {"https": endpoints.JAEGER_UI},
    }
    for role in (COLLECTOR, QUERY):
        container = cluster.container(
            role,
            cluster.image("jaeger"),
            role,
            args=args(role),
            ports={**ports[role], "metrics": METRICS_PORT[role], "health": HEALTH_PORT[role]},
            mounts=mounts,
            probe=KubernetesCluster.http_probe(STATUS_PATH, "health"),
            run_as_user=RUN_AS_USER,
        )
        template = cluster.pod_template(
            role, [container], mounts, checksum_of=files, rotation=rotation, fs_group=RUN_AS_USER
        )
        cluster.deployment(role, role, k.replicas[role], template, opts)
        cluster.service(
            role, role, {**ports[role], "metrics": METRICS_PORT[role]}, opts,
            annotations={"vega-observability/scrape": "http", "vega-observability/metrics-port": "metrics"},
        )
        cluster.disruption_budget(role, role, opts)
    dependencies.deploy(name, settings, cluster, secret_volume, STORAGE_PASSWORD, opts)
