"""Thanos (kubernetes only): the one deduplicated view over the Prometheus replicas, and the
long-term store of their blocks in object storage.

- Query: fans out to every Prometheus sidecar and to the store gateway, and merges the
  replicas into one series per label set (--query.replica-label=replica). Grafana and the
  Prometheus Ingress talk to it.
- Store gateway: serves the blocks the sidecars uploaded, so history survives the loss of a
  replica and its volume.
- Compactor: compacts the bucket and applies objectStorageRetention (a singleton).
"""

from __future__ import annotations

import pulumi

from components.platform import topology as t
from components.platform.kubernetes import CA_FILE, TLS_DIR, KubernetesCluster, Mounted
from components.platform.webconfig import hashed_web_config, web_config
from components.prometheus.kubernetes import REPLICA_LABEL, objstore_config
from components.settings import SecretStr, Settings

SECRETS_DIR = "/etc/thanos/secrets"
DATA_DIR = "/var/thanos"


def secret_files(settings: Settings, key: pulumi.Output[str]) -> dict[str, SecretStr | pulumi.Output[str]]:
    k = settings.kubernetes
    assert k is not None
    return {
        "web-config.yml": hashed_web_config(key, k.web_username, k.web_password),
        "web-config-tls.yml": SecretStr(web_config()),
        "objstore.yml": SecretStr(objstore_config(settings, k.object_storage.thanos_bucket)),
    }


RENDER_VISIBLE = ("web-config.yml", "web-config-tls.yml")

SCRAPE_HTTPS = {"vega-observability/scrape": "https", "vega-observability/metrics-port": "http"}


def _grpc_server_tls() -> list[str]:
    return [
        f"--grpc-server-tls-cert={TLS_DIR}/tls.crt",
        f"--grpc-server-tls-key={TLS_DIR}/tls.key",
        f"--grpc-server-tls-client-ca={CA_FILE}",
    ]


class Thanos(pulumi.ComponentResource):
    url: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        settings: Settings,
        cluster: KubernetesCluster,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("vega:thanos:Thanos", name, None, opts)
        k = cluster.k
        child = cluster.opts(self)
        secrets = secret_files(settings, cluster.key)
        secret_volume = cluster.secret(
            name, "thanos", secrets, SECRETS_DIR, child, service="thanos", render_visible=RENDER_VISIBLE
        )
        tls = cluster.tls()
        image = cluster.image("thanos")
        rotation = cluster.rotation("thanos", secrets, child)
        ports = {"grpc": t.THANOS_GRPC, "http": t.THANOS_HTTP}
        listen = [f"--grpc-address=0.0.0.0:{t.THANOS_GRPC}", f"--http-address=0.0.0.0:{t.THANOS_HTTP}"]

        # ---- query
        query = cluster.container(
            "thanos-query",
            image,
            "thanos-query",
            args=[
                "query",
                *listen,
                f"--query.replica-label={REPLICA_LABEL}",
                f"--endpoint=dnssrv+_grpc._tcp.{t.PROMETHEUS_HEADLESS}.{k.namespace}.svc",
                f"--endpoint=dnssrv+_grpc._tcp.{t.THANOS_STORE}.{k.namespace}.svc",
                "--grpc-client-tls-secure",
                f"--grpc-client-tls-ca={CA_FILE}",
                f"--grpc-client-tls-cert={TLS_DIR}/tls.crt",
                f"--grpc-client-tls-key={TLS_DIR}/tls.key",
                f"--grpc-client-server-name={t.tls_server_name(k)}",
                *_grpc_server_tls(),
                f"--http.config={SECRETS_DIR}/web-config.yml",
                "--query.auto-downsampling",
            ],
            ports=ports,
            mounts=[secret_volume, *tls],
            probe=KubernetesCluster.tcp_probe("http"),  # basic auth covers /-/ready too
            run_as_user=65534,
        )
        cluster.deployment(
            "thanos-query",
            "thanos-query",
            k.replicas["thanos-query"],
            cluster.pod_template("thanos-query", [query], [secret_volume, *tls], rotation=rotation),
            child,
        )
        cluster.service(
            "thanos-query", "thanos-query", ports, child,
            annotations={"vega-observability/scrape": "https-auth", "vega-observability/metrics-port": "http"},
        )
        cluster.disruption_budget("thanos-query", "thanos-query", child)

        # ---- store gateway
        store_data = Mounted({"name": "data"}, {"name": "data", "mountPath": f"{DATA_DIR}/store"})
        store = cluster.container(
            "thanos-store",
            image,
            "thanos-store",
            args=[
                "store",
                *listen,
                f"--data-dir={DATA_DIR}/store",
                f"--objstore.config-file={SECRETS_DIR}/objstore.yml",
                *_grpc_server_tls(),
                f"--http.config={SECRETS_DIR}/web-config-tls.yml",
            ],
            ports=ports,
            mounts=[secret_volume, *tls, store_data],
            probe=KubernetesCluster.http_probe("/-/ready", "http"),
            run_as_user=65534,
        )
        cluster.service(t.THANOS_STORE, "thanos-store", ports, child, headless=True, annotations=SCRAPE_HTTPS)
        cluster.stateful_set(
            "thanos-store",
            "thanos-store",
            2,
            cluster.pod_template(
                "thanos-store", [store], [secret_volume, *tls], rotation=rotation, fs_group=65534
            ),
            child,
            headless_service=t.THANOS_STORE,
            claims=[cluster.volume_claim("data", "thanos-store")],
            parallel=True,
        )
        cluster.disruption_budget("thanos-store", "thanos-store", child)

        # ---- compactor: exactly one may run against a bucket
        compact_data = Mounted({"name": "data"}, {"name": "data", "mountPath": f"{DATA_DIR}/compact"})
        retention = k.object_storage_retention
        compact = cluster.container(
            "thanos-compact",
            image,
            "thanos-compact",
            args=[
                "compact",
                "--wait",
                f"--http-address=0.0.0.0:{t.THANOS_HTTP}",
                f"--data-dir={DATA_DIR}/compact",
                f"--objstore.config-file={SECRETS_DIR}/objstore.yml",
                f"--retention.resolution-raw={retention}",
                f"--retention.resolution-5m={retention}",
                f"--retention.resolution-1h={retention}",
                f"--http.config={SECRETS_DIR}/web-config-tls.yml",
            ],
            ports={"http": t.THANOS_HTTP},
            mounts=[secret_volume, *tls, compact_data],
            probe=KubernetesCluster.http_probe("/-/ready", "http"),
            run_as_user=65534,
        )
        cluster.service("thanos-compact", "thanos-compact", {"http": t.THANOS_HTTP}, child, annotations=SCRAPE_HTTPS)
        cluster.stateful_set(
            "thanos-compact",
            "thanos-compact",
            1,
            cluster.pod_template(
                "thanos-compact", [compact], [secret_volume, *tls], rotation=rotation, fs_group=65534,
                spread=False,
            ),
            child,
            headless_service="thanos-compact",
            claims=[cluster.volume_claim("data", "thanos-compact")],
        )

        self.url = pulumi.Output.from_input(f"https://{t.svc(k, 'thanos-query')}:{t.THANOS_HTTP}")
        self.register_outputs({"url": self.url})


def grafana_url(settings: Settings) -> str:
    k = settings.kubernetes
    assert k is not None
    return f"https://{t.svc(k, 'thanos-query')}:{t.THANOS_HTTP}"


