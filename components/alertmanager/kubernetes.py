"""Alertmanager on kubernetes: a cluster of peers gossiping over TLS through a headless
Service; every Prometheus replica sends to every peer and the cluster deduplicates."""

from __future__ import annotations

import pulumi

from components import endpoints
from components.alertmanager import config
from components.content import to_yaml
from components.platform import topology as t
from components.platform.kubernetes import CA_FILE, TLS_DIR, KubernetesCluster, Mounted
from components.platform.webconfig import hashed_web_config
from components.settings import SecretStr, Settings

SECRETS_DIR = config.SECRETS

# Only a bcrypt hash of a render placeholder and file paths: safe to show in the render.
RENDER_VISIBLE = ("web-config.yml", "cluster-tls.yml")


def secret_files(settings: Settings, key: pulumi.Output[str]) -> dict[str, SecretStr | pulumi.Output[str]]:
    k = settings.kubernetes
    assert k is not None
    files: dict[str, SecretStr | pulumi.Output[str]] = {
        rel.removeprefix("secrets/"): value for rel, value in config.secret_files(settings.alertmanager).items()
    }
    files["web-config.yml"] = hashed_web_config(key, k.web_username, k.web_password)
    tls_files = {"cert_file": f"{TLS_DIR}/tls.crt", "key_file": f"{TLS_DIR}/tls.key"}
    files["cluster-tls.yml"] = SecretStr(
        to_yaml(
            {
                "tls_server_config": {
                    **tls_files,
                    "client_auth_type": "RequireAndVerifyClientCert",
                    "client_ca_file": CA_FILE,
                },
                "tls_client_config": {**tls_files, "ca_file": CA_FILE, "server_name": t.tls_server_name(k)},
            },
            "Rendered by vega-observability: mutual TLS of the Alertmanager cluster's gossip.",
        )
    )
    return files


def deploy(
    name: str, settings: Settings, files: dict[str, str], cluster: KubernetesCluster, parent: pulumi.Resource
) -> None:
    k = cluster.k
    opts = cluster.opts(parent)
    component = "alertmanager"
    replicas = k.replicas["alertmanager"]

    config_volume = cluster.config_map(name, component, files, config.CONFIG_DIR, opts, service="alertmanager")
    secrets = secret_files(settings, cluster.key)
    secret_volume = cluster.secret(
        name, component, secrets, SECRETS_DIR, opts, service="alertmanager", render_visible=RENDER_VISIBLE
    )
    tls = cluster.tls()
    data = Mounted({"name": "data"}, {"name": "data", "mountPath": config.DATA_DIR})
    external_url = f"https://{k.hosts['alertmanager']}/" if k.hosts["alertmanager"] else ""
    args = [
        *config.args(peers=tuple(t.alertmanager_gossip_peers(k, replicas)), external_url=external_url),
        f"--web.config.file={SECRETS_DIR}/web-config.yml",
        f"--cluster.tls-config={SECRETS_DIR}/cluster-tls.yml",
        f"--cluster.advertise-address=$(POD_IP):{endpoints.ALERTMANAGER_CLUSTER}",
    ]
    container = cluster.container(
        "alertmanager",
        cluster.image("alertmanager"),
        "alertmanager",
        args=args,
        ports={"web": endpoints.ALERTMANAGER, "cluster": endpoints.ALERTMANAGER_CLUSTER},
        mounts=[config_volume, secret_volume, *tls, data],
        env=[{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
        probe=KubernetesCluster.tcp_probe("web"),  # basic auth covers /-/ready too
        run_as_user=65534,
    )
    template = cluster.pod_template(
        component,
        [container],
        [config_volume, secret_volume, *tls],
        checksum_of=files,
        rotation=cluster.rotation(component, secrets, opts),
        fs_group=65534,
    )
    cluster.service(
        "alertmanager", component, {"web": endpoints.ALERTMANAGER}, opts,
        annotations={"vega-observability/scrape": "https-auth", "vega-observability/metrics-port": "web"},
    )
    # Peers must find each other before they are ready, or a cluster never forms.
    cluster.service(
        t.ALERTMANAGER_HEADLESS, component,
        {"web": endpoints.ALERTMANAGER, "cluster": endpoints.ALERTMANAGER_CLUSTER}, opts,
        headless=True, publish_not_ready=True,
    )
    cluster.stateful_set(
        "alertmanager",
        component,
        replicas,
        template,
        opts,
        headless_service=t.ALERTMANAGER_HEADLESS,
        claims=[cluster.volume_claim("data", "alertmanager")],
        parallel=True,
    )
    # A majority of peers stays up through voluntary disruptions.
    cluster.disruption_budget("alertmanager", component, opts, max_unavailable=max(1, (replicas - 1) // 2))
