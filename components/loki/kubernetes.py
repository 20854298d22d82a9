"""Loki on kubernetes: microservices mode on S3-compatible object storage.

Seven parts run from one config file, each its own workload selected by -target:
- distributor (Deployment): takes the collector's pushes and sends every stream to three
  ingesters (replication factor 3).
- ingester (StatefulSet): holds recent streams in memory and in a WAL on its volume until it
  flushes them to the bucket, so losing a node loses no log line. With lokiIngesterZones, one
  StatefulSet per zone and zone-aware replication: every zone holds one copy of each stream.
- query-frontend (Deployment): where Grafana queries; splits queries and caches their results.
- query-scheduler (Deployment): the queue between the query frontends and the queriers.
- querier (Deployment): runs the split queries on the ingesters and on the bucket's chunks.
- index-gateway (Deployment): serves the bucket's TSDB index to the queriers.
- compactor (StatefulSet of one): compacts the index and enforces retention; exactly one runs.
There is no ruler: the stack keeps no Loki rules (its alerts are Prometheus rules).

Two memcached Deployments cache what is read again and again: chunks (ingesters write them
as they flush, queriers read them) and query results (the query frontends). The parts find
each other through memberlist gossip over a headless Service selecting them all. Every
listener speaks TLS with the internal certificate: HTTP for clients and probes, gRPC (mutual
TLS) between the parts, memberlist gossip, and memcached (mutual TLS).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
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
from components.settings.checks import quantity
from components.settings.kubernetes import LOKI_REPLICATION_FACTOR


@dataclass(frozen=True)
class Part:
    """How one of Loki's parts runs."""

    stateful: bool = False  # a StatefulSet with its data on a volume; else a Deployment
    discovery: bool = False  # a headless Service through which peers find every pod
    scratch: str = "256Mi"  # size of the emptyDir at /loki of a Deployment
    grace: int = 60  # terminationGracePeriodSeconds


PARTS = {
    "distributor": Part(),
    # Ingesters flush and leave the ring on shutdown: give them time.
    "ingester": Part(stateful=True, discovery=True, grace=300),
    "querier": Part(scratch="2Gi"),
    "query-frontend": Part(),
    "query-scheduler": Part(discovery=True),
    "index-gateway": Part(discovery=True, scratch="2Gi"),
    "compactor": Part(stateful=True, discovery=True),
}
COMPONENTS = {part: f"loki-{part}" for part in PARTS}
HEADLESS = {part: f"loki-{part}-headless" for part, shape in PARTS.items() if shape.discovery}
COMPACTOR_REPLICAS = 1  # retention and compaction need exactly one compactor
ZONE_LABEL = "vega-observability/loki-zone"  # which zone's StatefulSet an ingester belongs to
NODE_ZONE = "topology.kubernetes.io/zone"


@dataclass(frozen=True)
class Cache:
    component: str
    users: tuple[str, ...]  # the parts that read and fill it
    why: str


CACHES = {
    "chunks": Cache("loki-chunks-cache", ("ingester", "querier"), "chunks cache (memcached, mutual TLS)"),
    "results": Cache("loki-results-cache", ("query-frontend",), "query results cache (memcached, mutual TLS)"),
}
MEMCACHED_PORT = 11211
MEMCACHED_UID = 11211  # the memcache user of the official image
MAX_ITEM_MB = 5  # memcached -I; Loki's max_item_size matches it, so no item is refused
# memcached reads its certificate once, at start. It starts from a copy of the file it
# serves; once cert-manager renews the certificate the copy differs, and the liveness probe
# restarts memcached on the new one (a cache loses nothing that counts).
SERVED_CERT = "/tmp/served.crt"

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
    """Where Grafana queries Loki: the query frontends' Service."""
    return t.loki_query_url(k)


def _mebibytes(size: str) -> int:
    return int(quantity(size)) // 2**20


def _client_tls(k: KubernetesSettings) -> dict[str, Any]:
    """The TLS of Loki's own clients (dskit tls_config keys): present the internal certificate,
    verify the peer against the internal CA. Peers are reached by pod IP (rings, memberlist,
    memcached), so the name to verify is one the certificate covers."""
    return {
        "tls_cert_path": f"{TLS_DIR}/tls.crt",
        "tls_key_path": f"{TLS_DIR}/tls.key",
        "tls_ca_path": CA_FILE,
        "tls_server_name": t.tls_server_name(k),
        "tls_min_version": "VersionTLS12",
    }


def _grpc_client(k: KubernetesSettings) -> dict[str, Any]:
    return {"tls_enabled": True, **_client_tls(k)}


def _discovery(k: KubernetesSettings, part: str) -> str:
    """host:port that resolves to every pod of `part` (its headless Service), for gRPC."""
    return f"{t.svc(k, HEADLESS[part])}:{endpoints.LOKI_GRPC}"


def cache_client(k: KubernetesSettings, cache: str) -> dict[str, Any]:
    """A cache_config block on one of the memcached Deployments (every pod, by DNS)."""
    return {
        "memcached_client": {
            "addresses": f"dns+{t.svc(k, CACHES[cache].component)}:{MEMCACHED_PORT}",
            "timeout": "500ms",
            "max_item_size": MAX_ITEM_MB * 2**20,
            "tls_enabled": True,
            **_client_tls(k),
        }
    }


def _wal_replay_ceiling(k: KubernetesSettings) -> str:
    """Three quarters of an ingester's memory limit: a WAL replay flushes to the bucket beyond it."""
    return f"{_mebibytes(k.sizing[COMPONENTS['ingester']].memory_limit) * 3 // 4}MB"


def microservices(settings: Settings) -> dict[str, Any]:
    """The config every part runs (selected by -target)."""
    k = settings.kubernetes
    assert k is not None
    s3 = k.object_storage
    grpc_client = _grpc_client(k)
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
    ingester: dict[str, Any] = {
        "wal": {"enabled": True, "dir": f"{config.DATA_DIR}/wal", "replay_memory_ceiling": _wal_replay_ceiling(k)},
    }
    if k.loki_ingester_zones:
        # The distributors and queriers read the ingester ring with this setting: every
        # stream gets one ingester in each of three zones. Each ingester names its zone
        # (-ingester.availability-zone, per StatefulSet).
        ingester["lifecycler"] = {"ring": {"zone_awareness_enabled": True}}
    return {
        "auth_enabled": False,
        "server": {
            "http_listen_port": endpoints.LOKI,
            "grpc_listen_port": endpoints.LOKI_GRPC,
            "log_level": "info",
            "tls_min_version": "VersionTLS12",
            # Clients (the collector, Grafana, Prometheus) and probes: server TLS.
            "http_tls_config": {"cert_file": f"{TLS_DIR}/tls.crt", "key_file": f"{TLS_DIR}/tls.key"},
            # Only Loki's own parts speak gRPC: each must present the internal certificate.
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
            "replication_factor": LOKI_REPLICATION_FACTOR,
            "ring": {"kvstore": {"store": "memberlist"}},
            "storage": {"s3": storage},
            # Delete requests and cache generations are served by the compactor over gRPC.
            "compactor_grpc_address": f"{t.svc(k, COMPONENTS['compactor'])}:{endpoints.LOKI_GRPC}",
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
                    "server_address": f"dns+{_discovery(k, 'index-gateway')}",
                    "grpc_client_config": grpc_client,
                }
            }
        },
        "ingester": ingester,
        # Every gRPC client between the parts: distributors and queriers to ingesters, query
        # frontends and queriers to the schedulers (found by DNS), schedulers back to the
        # frontends, queriers to the index gateways, everyone to the compactor.
        "ingester_client": {"grpc_client_config": grpc_client},
        "frontend": {
            "scheduler_address": _discovery(k, "query-scheduler"),
            "grpc_client_config": grpc_client,
            # Live tailing goes from the frontend to the queriers over HTTPS.
            "tail_proxy_url": f"https://{t.svc(k, COMPONENTS['querier'])}:{endpoints.LOKI}",
            "tail_tls_config": _client_tls(k),
        },
        "frontend_worker": {"scheduler_address": _discovery(k, "query-scheduler"), "grpc_client_config": grpc_client},
        "query_scheduler": {"grpc_client_config": grpc_client},
        "compactor_grpc_client": grpc_client,
        "limits_config": config.limits(settings.loki),
        "compactor": {
            "working_directory": f"{config.DATA_DIR}/compactor",
            "compaction_interval": "10m",
            "retention_enabled": True,
            "retention_delete_delay": "2h",
            "retention_delete_worker_count": 150,
            "delete_request_store": "s3",
        },
        "chunk_store_config": {"chunk_cache_config": cache_client(k, "chunks")},
        "query_range": {"cache_results": True, "results_cache": {"cache": cache_client(k, "results")}},
        "analytics": {"reporting_enabled": False},
    }


def render(settings: Settings) -> dict[str, str]:
    """{path relative to /etc/loki: text}; the same file for every part."""
    text = config.render(settings.loki, microservices(settings))["config.yaml"]
    # -config.expand-env replaces every ${...} in the file: only the key references may be there.
    stray = sorted(set(re.findall(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?", text)) - set(S3_KEY_REFS))
    if stray:
        raise ConfigError([f"configs/loki/limits.yaml: {', '.join(stray)} would be expanded from the environment"])
    # Substitution happens before YAML parsing: single quotes keep a key with YAML-significant
    # characters (#, ": ") one string.
    for ref in S3_KEY_REFS:
        text = text.replace(f": {ref}\n", f": '{ref}'\n")
    return {"config.yaml": text}


def args(target: str, zone: str = "") -> list[str]:
    extra = [f"-ingester.availability-zone={zone}"] if zone else []
    return [*config.args(target), "-config.expand-env=true", *extra]


def ingester_sets(k: KubernetesSettings) -> list[tuple[str, str, int]]:
    """(StatefulSet name, zone, replicas) of the ingesters: one set, or one per zone."""
    total = k.replicas[COMPONENTS["ingester"]]
    zones = k.loki_ingester_zones
    if not zones:
        return [(COMPONENTS["ingester"], "", total)]
    return [(f"{COMPONENTS['ingester']}-{zone}", zone, total // len(zones)) for zone in zones]


def workloads(k: KubernetesSettings, part: str) -> list[tuple[str, str, int]]:
    """(workload name, zone, replicas) of a part."""
    if part == "ingester":
        return ingester_sets(k)
    component = COMPONENTS[part]
    return [(component, "", COMPACTOR_REPLICAS if part == "compactor" else k.replicas[component])]


def _loki_container(cluster: KubernetesCluster, part: str, mounts: list[Mounted], zone: str) -> dict[str, Any]:
    container = cluster.container(
        "loki",
        cluster.image("loki"),
        COMPONENTS[part],
        args=args(part, zone),
        ports={**PORTS, **MEMBERLIST_PORTS},
        mounts=mounts,
        command=entrypoint(),
        probe=KubernetesCluster.http_probe("/ready", "http"),
        run_as_user=RUN_AS,
    )
    # /ready also reports the state of the cluster around the pod (a querier is not ready
    # while no query scheduler is up): restarting the pod would not help, so liveness only
    # checks that the process still serves.
    timing = {key: value for key, value in container["livenessProbe"].items() if key != "httpGet"}
    container["livenessProbe"] = {**KubernetesCluster.tcp_probe("http"), **timing}
    if part == "ingester":
        # An ingester replays its WAL before it is ready: allow up to 15 minutes.
        container["startupProbe"]["failureThreshold"] = 90
    return container


def _in_zone(template: dict[str, Any], zone: str) -> dict[str, Any]:
    """The template of one zone's ingesters: labelled with the zone, scheduled only there."""
    template["metadata"]["labels"][ZONE_LABEL] = zone
    template["spec"]["affinity"] = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [{"key": NODE_ZONE, "operator": "In", "values": [zone]}]}]
            }
        }
    }
    return template


def memcached_command(size_mb: int) -> list[str]:
    """memcached on TLS only, asking every client for a certificate of the internal CA."""
    tls = ",".join([
        f"ssl_chain_cert={TLS_DIR}/tls.crt",
        f"ssl_key={TLS_DIR}/tls.key",
        f"ssl_ca_cert={CA_FILE}",
        "ssl_verify_mode=2",  # require a client certificate
        "ssl_min_version=2",  # TLS 1.2
    ])
    script = f'cp {TLS_DIR}/tls.crt {SERVED_CERT} && exec memcached "$@"'
    return [
        "/bin/sh", "-c", script, "memcached",
        "--port", str(MEMCACHED_PORT), "--memory-limit", str(size_mb), "--max-item-size", f"{MAX_ITEM_MB}m",
        "--enable-ssl", "--extended", tls,
    ]


def _memcached(cluster: KubernetesCluster, cache: Cache, opts: pulumi.ResourceOptions) -> None:
    component = cache.component
    tmp = KubernetesCluster.empty_dir("tmp", "/tmp", "16Mi")
    mounts = [*cluster.tls(), tmp]
    container = cluster.container(
        "memcached",
        cluster.image("memcached"),
        component,
        ports={"memcached": MEMCACHED_PORT},
        mounts=mounts,
        command=memcached_command(_mebibytes(cluster.size(component).memory)),
        probe=KubernetesCluster.tcp_probe("memcached"),
        run_as_user=MEMCACHED_UID,
    )
    timing = {key: value for key, value in container["livenessProbe"].items() if key != "tcpSocket"}
    container["livenessProbe"] = {"exec": {"command": ["cmp", "-s", f"{TLS_DIR}/tls.crt", SERVED_CERT]}, **timing}
    # fsGroup: the certificate files (mode 0440) are readable by the group memcached runs in.
    template = cluster.pod_template(component, [container], mounts, fs_group=MEMCACHED_UID)
    # Headless: Loki resolves every pod and spreads the keys over them.
    cluster.service(component, component, {"memcached": MEMCACHED_PORT}, opts, headless=True)
    cluster.deployment(component, component, cluster.k.replicas[component], template, opts)
    cluster.disruption_budget(component, component, opts, max_unavailable=1)


def deploy(
    name: str, settings: Settings, files: dict[str, str], cluster: KubernetesCluster, parent: pulumi.Resource
) -> None:
    k = cluster.k
    opts = cluster.opts(parent)

    config_volume = cluster.config_map(name, "loki", files, config.CONFIG_DIR, opts, service="loki")
    tls = cluster.tls()  # internal certificate, its CA, and the user's CA bundle for S3
    tmp = KubernetesCluster.empty_dir("tmp", "/tmp")
    s3 = KubernetesCluster.s3_credentials()
    rotation = cluster.rotation("loki", cluster.s3_secrets(), opts)

    # Gossip: every Loki pod, ready or not, or the rings never form.
    cluster.service(
        t.LOKI_MEMBERLIST_SERVICE, "loki-memberlist", MEMBERLIST_PORTS, opts,
        headless=True, publish_not_ready=True, select={LABEL_NAME: "loki", LABEL_PART_OF: PART_OF},
    )

    for part, shape in PARTS.items():
        component = COMPONENTS[part]
        if shape.stateful:
            data = Mounted({"name": "data"}, {"name": "data", "mountPath": config.DATA_DIR})  # the claim
            volumes = [config_volume, *tls, tmp, s3]
        else:
            data = KubernetesCluster.empty_dir("data", config.DATA_DIR, shape.scratch)
            volumes = [config_volume, *tls, tmp, s3, data]
        mounts = [config_volume, *tls, tmp, s3, data]
        cluster.service(component, component, PORTS, opts, annotations=SCRAPE)
        if part in HEADLESS:
            cluster.service(HEADLESS[part], component, PORTS, opts, headless=True)
        for workload, zone, replicas in workloads(k, part):
            template = cluster.pod_template(
                component,
                [_loki_container(cluster, part, mounts, zone)],
                volumes,
                checksum_of=files,
                rotation=rotation,
                fs_group=RUN_AS,
                extra_spec={"terminationGracePeriodSeconds": shape.grace},
            )
            if not shape.stateful:
                cluster.deployment(workload, component, replicas, template, opts)
                continue
            cluster.stateful_set(
                workload,
                component,
                replicas,
                _in_zone(template, zone) if zone else template,
                opts,
                headless_service=HEADLESS[part],
                claims=[cluster.volume_claim("data", component)],
                parallel=True,
                extra_selector={ZONE_LABEL: zone} if zone else None,
            )
        # One pod at a time (over every zone's ingesters): with three copies of each stream,
        # two stay writable and queryable (a quorum) while a node drains.
        cluster.disruption_budget(component, component, opts, max_unavailable=1)

    for cache in CACHES.values():
        _memcached(cluster, cache, opts)
