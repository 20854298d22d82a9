"""Loki on kubernetes: the simple scalable deployment on S3-compatible object storage.

Three targets run from one config file:
- write (StatefulSet): distributors and ingesters. Every stream goes to three ingesters
  (replication factor 3), whose WAL lives on a volume, so losing a node loses no log line.
- read (Deployment): query frontends and queriers; stateless, Grafana queries them.
- backend (StatefulSet): compactor (retention), index gateway, query scheduler and ruler.
  The compactor ring elects one compactor among the replicas.

The targets find each other through memberlist gossip over a headless Service selecting all
three. Every listener speaks TLS with the internal certificate: HTTP for clients and probes,
gRPC (mutual TLS) between the targets, and memberlist gossip.
"""

from __future__ import annotations

import re
from typing import Any

import pulumi

from components import endpoints
from components.loki import config
from components.platform import topology as t
from components.platform.kubernetes import (
    CA_FILE,
    EXTERNAL_CA_FILE,
    LABEL_NAME,
    LABEL_PART_OF,
    PART_OF,
    S3_CREDENTIALS_DIR,
    TLS_DIR,
    KubernetesCluster,
    Mounted,
)
from components.settings import ConfigError, KubernetesSettings, Settings

TARGETS = ("write", "read", "backend")
COMPONENTS = {target: f"loki-{target}" for target in TARGETS}
HEADLESS = {"write": "loki-write-headless", "backend": "loki-backend-headless"}
RUN_AS = 10001  # a fixed non-root uid (the one Loki's own chart uses); owns the volumes via fsGroup
PORTS = {"http": endpoints.LOKI, "grpc": endpoints.LOKI_GRPC}
MEMBERLIST_PORTS = {"memberlist": t.LOKI_MEMBERLIST}
SCRAPE = {"vega-observability/scrape": "https", "vega-observability/metrics-port": "http"}
# The object-storage keys enter the config by reference (-config.expand-env). Loki reads no
# key from a file, so its container starts through the image's busybox shell, which reads
# the two files of the stack's S3 Secret (mounted at S3_CREDENTIALS_DIR) into the process'
# environment and hands over to Loki: the keys are in no pod spec and no ConfigMap.
S3_KEY_REFS = ("${AWS_ACCESS_KEY_ID}", "${AWS_SECRET_ACCESS_KEY}")
S3_KEY_FILES = {"AWS_ACCESS_KEY_ID": "access_key_id", "AWS_SECRET_ACCESS_KEY": "secret_access_key"}
LOKI_BINARY = "/usr/bin/loki"


def entrypoint() -> list[str]:
    """`sh -c <script> loki <args...>`: export the keys read from their files, exec Loki."""
    reads = [
        f'IFS= read -r {var} < {S3_CREDENTIALS_DIR}/{file} || [ -n "${var}" ]' for var, file in S3_KEY_FILES.items()
    ]
    script = "; ".join(["set -eu", *reads, f"export {' '.join(S3_KEY_FILES)}", f'exec {LOKI_BINARY} "$@"'])
    return ["/bin/sh", "-c", script, "loki"]


def query_url(k: KubernetesSettings) -> str:
    """Where Grafana queries Loki: the read target's Service."""
    return f"https://{t.svc(k, COMPONENTS['read'])}:{endpoints.LOKI}"


def _client_tls(k: KubernetesSettings) -> dict[str, Any]:
    """The TLS of Loki's own clients (dskit tls_config keys): present the internal certificate,
    verify the peer against the internal CA. Peers are reached by pod IP (rings, memberlist),
    so the name to verify is one the certificate covers."""
    return {
        "tls_cert_path": f"{TLS_DIR}/tls.crt",
        "tls_key_path": f"{TLS_DIR}/tls.key",
        "tls_ca_path": CA_FILE,
        "tls_server_name": t.tls_server_name(k),
        "tls_min_version": "VersionTLS12",
    }


def _grpc_client(k: KubernetesSettings) -> dict[str, Any]:
    return {"tls_enabled": True, **_client_tls(k)}


def _mebibytes(quantity: str) -> int:
    match = re.fullmatch(r"([1-9]\d*)(Ki|Mi|Gi|Ti)", quantity)
    if not match:
        raise ConfigError([f"configs/sizing.yaml kubernetes.loki-read.memory_limit: {quantity!r} is not Ki/Mi/Gi/Ti"])
    factor = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024, "Ti": 1024 * 1024}[match.group(2)]
    return int(int(match.group(1)) * factor)


def cache_sizes(k: KubernetesSettings) -> dict[str, int]:
    """Embedded cache sizes in MB, from the read pods' memory limit (configs/sizing.yaml).

    The caches live inside each Loki process: chunks take an eighth of the limit and query
    results a sixteenth (256 MB and 128 MB at 2Gi), leaving the rest for queries and
    ingestion. Raising the memory limit raises both caches with it."""
    limit = _mebibytes(k.sizing[COMPONENTS["read"]].memory_limit)
    return {"chunks": max(32, limit // 8), "results": max(16, limit // 16)}


def scalable(settings: Settings) -> dict[str, Any]:
    """The config every target runs (selected by -target)."""
    k = settings.kubernetes
    assert k is not None
    s3 = k.object_storage
    grpc_client = _grpc_client(k)
    caches = cache_sizes(k)
    storage: dict[str, Any] = {
        "endpoint": s3.endpoint,
        "region": s3.region,
        "bucketnames": s3.loki_bucket,
        "access_key_id": S3_KEY_REFS[0],
        "secret_access_key": S3_KEY_REFS[1],
        "insecure": s3.insecure,
        # AWS addresses buckets by virtual host; other S3-compatible stores (MinIO, Ceph)
        # usually only by path.
        "s3forcepathstyle": not s3.endpoint.split(":")[0].endswith("amazonaws.com"),
    }
    if k.ca_bundle_configmap:
        storage["http_config"] = {"ca_file": EXTERNAL_CA_FILE}
    return {
        "auth_enabled": False,
        "server": {
            "http_listen_port": endpoints.LOKI,
            "grpc_listen_port": endpoints.LOKI_GRPC,
            "log_level": "info",
            "tls_min_version": "VersionTLS12",
            # Clients (the collector, Grafana, Prometheus) and probes: server TLS.
            "http_tls_config": {"cert_file": f"{TLS_DIR}/tls.crt", "key_file": f"{TLS_DIR}/tls.key"},
            # Only Loki's own targets speak gRPC: each must present the internal certificate.
            "grpc_tls_config": {
                "cert_file": f"{TLS_DIR}/tls.crt",
                "key_file": f"{TLS_DIR}/tls.key",
                "client_auth_type": "RequireAndVerifyClientCert",
                "client_ca_file": CA_FILE,
            },
        },
        "memberlist": {
            # The headless Service resolves to every Loki pod, ready or not.
            "join_members": [f"dns+{t.svc(k, t.LOKI_MEMBERLIST_SERVICE)}:{t.LOKI_MEMBERLIST}"],
            "bind_port": t.LOKI_MEMBERLIST,
            "cluster_label": f"{PART_OF}-loki",
            "tls_enabled": True,
            **_client_tls(k),
        },
        "common": {
            "path_prefix": config.DATA_DIR,
            "replication_factor": 3,
            "ring": {"kvstore": {"store": "memberlist"}},
            "storage": {"s3": storage},
            # Delete requests and cache generations are served by the compactor over gRPC.
            "compactor_grpc_address": f"{t.svc(k, COMPONENTS['backend'])}:{endpoints.LOKI_GRPC}",
        },
        "schema_config": {
            "configs": [
                {
                    "from": config.SCHEMA_START,
                    "store": "tsdb",
                    "object_store": "s3",
                    "schema": "v13",
                    "index": {"prefix": "index_", "period": "24h"},  # retention needs 24h
                }
            ]
        },
        "storage_config": {
            "tsdb_shipper": {
                "index_gateway_client": {
                    "server_address": f"dns+{t.svc(k, HEADLESS['backend'])}:{endpoints.LOKI_GRPC}",
                    "grpc_client_config": grpc_client,
                }
            }
        },
        # Every gRPC client between the targets: distributor and querier to ingesters, query
        # frontend and querier to the scheduler, scheduler back to the frontend, queriers to
        # the index gateway, everyone to the compactor, rulers to rulers.
        "ingester_client": {"grpc_client_config": grpc_client},
        "frontend": {"grpc_client_config": grpc_client},
        "frontend_worker": {"grpc_client_config": grpc_client},
        "query_scheduler": {"grpc_client_config": grpc_client},
        "compactor_grpc_client": grpc_client,
        "ruler": {"ruler_client": grpc_client, "wal": {"dir": f"{config.DATA_DIR}/ruler-wal"}},
        "limits_config": config.limits(settings.loki),
        "compactor": {
            "working_directory": f"{config.DATA_DIR}/compactor",
            "compaction_interval": "10m",
            "retention_enabled": True,
            "retention_delete_delay": "2h",
            "retention_delete_worker_count": 150,
            "delete_request_store": "s3",
        },
        # Embedded (in-process) caches; see cache_sizes for their sizes.
        "chunk_store_config": {
            "chunk_cache_config": {"embedded_cache": {"enabled": True, "max_size_mb": caches["chunks"], "ttl": "1h"}}
        },
        "query_range": {
            "cache_results": True,
            "results_cache": {
                "cache": {"embedded_cache": {"enabled": True, "max_size_mb": caches["results"], "ttl": "1h"}}
            },
        },
        "analytics": {"reporting_enabled": False},
    }


def render(settings: Settings) -> dict[str, str]:
    """{path relative to /etc/loki: text}; the same file for the three targets."""
    text = config.render(settings.loki, scalable(settings))["config.yaml"]
    # -config.expand-env replaces every ${...} in the file: only the key references may be there.
    stray = sorted(set(re.findall(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?", text)) - set(S3_KEY_REFS))
    if stray:
        raise ConfigError([f"configs/loki/limits.yaml: {', '.join(stray)} would be expanded from the environment"])
    # Substitution happens before YAML parsing: single quotes keep a key with YAML-significant
    # characters (#, ": ") one string.
    for ref in S3_KEY_REFS:
        text = text.replace(f": {ref}\n", f": '{ref}'\n")
    return {"config.yaml": text}


def args(target: str) -> list[str]:
    return [*config.args(target), "-config.expand-env=true"]


def _loki_container(
    cluster: KubernetesCluster, settings: Settings, target: str, mounts: list[Mounted]
) -> dict[str, Any]:
    component = COMPONENTS[target]
    container = cluster.container(
        "loki",
        cluster.image("loki"),
        component,
        args=args(target),
        ports={**PORTS, **MEMBERLIST_PORTS},
        mounts=mounts,
        command=entrypoint(),
        probe=KubernetesCluster.http_probe("/ready", "http"),
        run_as_user=RUN_AS,
    )
    # /ready also reports the state of the cluster around the pod (a read pod is not ready
    # while no query scheduler is up): restarting the pod would not help, so liveness only
    # checks that the process still serves.
    timing = {key: value for key, value in container["livenessProbe"].items() if key != "httpGet"}
    container["livenessProbe"] = {**KubernetesCluster.tcp_probe("http"), **timing}
    if target == "write":
        # An ingester replays its WAL before it is ready: allow up to 15 minutes.
        container["startupProbe"]["failureThreshold"] = 90
    return container


def deploy(
    name: str, settings: Settings, files: dict[str, str], cluster: KubernetesCluster, parent: pulumi.Resource
) -> None:
    k = cluster.k
    opts = cluster.opts(parent)

    config_volume = cluster.config_map(name, "loki", files, config.CONFIG_DIR, opts, service="loki")
    tls = cluster.tls()  # internal certificate, its CA, and the user's CA bundle for S3
    tmp = KubernetesCluster.empty_dir("tmp", "/tmp")
    data = Mounted({"name": "data"}, {"name": "data", "mountPath": config.DATA_DIR})
    scratch = KubernetesCluster.empty_dir("data", config.DATA_DIR, "2Gi")  # read: query scratch space
    s3 = KubernetesCluster.s3_credentials()
    rotation = cluster.rotation("loki", cluster.s3_secrets(), opts)
    pod_volumes = [config_volume, *tls, tmp, s3]

    # Gossip: every Loki pod, ready or not, or the ring never forms.
    cluster.service(
        t.LOKI_MEMBERLIST_SERVICE, "loki-memberlist", MEMBERLIST_PORTS, opts,
        headless=True, publish_not_ready=True, select={LABEL_NAME: "loki", LABEL_PART_OF: PART_OF},
    )

    for target in TARGETS:
        component = COMPONENTS[target]
        replicas = k.replicas[component]
        volume = scratch if target == "read" else data
        container = _loki_container(cluster, settings, target, [config_volume, *tls, tmp, s3, volume])
        template = cluster.pod_template(
            component,
            [container],
            [*pod_volumes, scratch] if target == "read" else pod_volumes,
            checksum_of=files,
            rotation=rotation,
            fs_group=RUN_AS,
            # Writers flush and leave the ring on shutdown; give them time.
            extra_spec={"terminationGracePeriodSeconds": 300 if target == "write" else 60},
        )
        cluster.service(component, component, PORTS, opts, annotations=SCRAPE)
        if target == "read":
            cluster.deployment(component, component, replicas, template, opts)
        else:
            cluster.service(HEADLESS[target], component, PORTS, opts, headless=True)
            cluster.stateful_set(
                component,
                component,
                replicas,
                template,
                opts,
                headless_service=HEADLESS[target],
                claims=[cluster.volume_claim("data", component)],
                parallel=True,
            )
        # One pod at a time: with three replicas of every stream, two stay writable and
        # queryable (a quorum) while a node drains.
        cluster.disruption_budget(component, component, opts, max_unavailable=1)
