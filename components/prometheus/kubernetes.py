"""Prometheus on kubernetes: a StatefulSet of replicas, each with a Thanos sidecar that
uploads its blocks to object storage; Kubernetes service discovery; TLS and basic auth."""

from __future__ import annotations

from typing import Any

import pulumi

from components import endpoints
from components.content import to_yaml
from components.platform import topology as t
from components.platform.kubernetes import CA_FILE, EXTERNAL_CA_FILE, READ, TLS_DIR, KubernetesCluster, Mounted
from components.platform.webconfig import hashed_web_config, web_config
from components.prometheus import config
from components.settings import SecretStr, Settings

SECRETS_DIR = f"{config.CONFIG_DIR}/secrets"
SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
REPLICA_LABEL = "replica"

# How each of the stack's Services is scraped, chosen by its annotation
# `vega-observability/scrape`: https with basic auth, https, or plain http (where the
# upstream has no TLS for its metrics endpoint).
SCRAPE_CLASSES = ("https-auth", "https", "http")
# The container port of a Vega pod that the `vega-pods` job scrapes (and that the
# NetworkPolicies open to Prometheus by name).
VEGA_METRICS_PORT = "metrics"


def _tls(k: Any) -> dict[str, Any]:
    return {"ca_file": CA_FILE, "server_name": t.tls_server_name(k)}


def _basic_auth(k: Any) -> dict[str, Any]:
    return {"username": k.web_username, "password_file": f"{SECRETS_DIR}/web_password"}


def _endpoints_job(k: Any, scrape_class: str) -> dict[str, Any]:
    """Every Service of the stack annotated with this scrape class, one job per app name."""
    job: dict[str, Any] = {
        "job_name": f"stack-{scrape_class}",
        "kubernetes_sd_configs": [{"role": "endpoints", "namespaces": {"names": [k.namespace, k.agents_namespace]}}],
        "relabel_configs": [
            {
                "source_labels": ["__meta_kubernetes_service_annotation_vega_observability_scrape"],
                "regex": scrape_class,
                "action": "keep",
            },
            # Only the endpoint port the Service names as its metrics port.
            {
                "source_labels": ["__meta_kubernetes_service_annotation_vega_observability_metrics_port"],
                "target_label": "__tmp_metrics_port",
            },
            {
                "source_labels": ["__meta_kubernetes_endpoint_port_name"],
                "target_label": "__tmp_metrics_port",
                "action": "keepequal",
            },
            {
                "source_labels": ["__meta_kubernetes_service_label_app_kubernetes_io_name"],
                "target_label": "job",
            },
            {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
            {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
            {"source_labels": ["__meta_kubernetes_pod_node_name"], "target_label": "node"},
        ],
    }
    if scrape_class != "http":
        job["scheme"] = "https"
        job["tls_config"] = _tls(k)
    if scrape_class == "https-auth":
        job["basic_auth"] = _basic_auth(k)
    return job


def scrape_jobs(settings: Settings) -> list[dict[str, Any]]:
    k = settings.kubernetes
    assert k is not None
    jobs: list[dict[str, Any]] = [_endpoints_job(k, c) for c in SCRAPE_CLASSES]
    # Container metrics straight from each node's kubelet (read-only nodes/metrics).
    jobs.append(
        {
            "job_name": "cadvisor",
            "scheme": "https",
            "metrics_path": "/metrics/cadvisor",
            "authorization": {"credentials_file": f"{SA_DIR}/token"},
            # Kubelet serving certificates are often self-signed; the token still
            # authenticates Prometheus to the kubelet.
            "tls_config": {"insecure_skip_verify": True},
            "kubernetes_sd_configs": [{"role": "node"}],
            "relabel_configs": [
                {"source_labels": ["__meta_kubernetes_node_name"], "target_label": "node"},
                {"source_labels": ["__meta_kubernetes_node_name"], "target_label": "instance"},
            ],
            "metric_relabel_configs": [
                # cAdvisor on kubernetes names the container in `container`; the dashboards
                # group by `name`, as cAdvisor does on docker.
                {"source_labels": ["container"], "regex": "(.+)", "target_label": "name"},
            ],
        }
    )
    # Vega's own pods in vegaNamespaces, when annotated prometheus.io/scrape: "true", on their
    # container port named VEGA_METRICS_PORT (the one port of theirs Prometheus may reach).
    if k.vega_namespaces:
        jobs.append(
            {
                "job_name": "vega-pods",
                "kubernetes_sd_configs": [{"role": "pod", "namespaces": {"names": list(k.vega_namespaces)}}],
                "relabel_configs": [
                    {
                        "source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_scrape"],
                        "regex": "true",
                        "action": "keep",
                    },
                    {
                        "source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_path"],
                        "regex": "(.+)",
                        "target_label": "__metrics_path__",
                    },
                    {
                        "source_labels": ["__meta_kubernetes_pod_container_port_name"],
                        "regex": VEGA_METRICS_PORT,
                        "action": "keep",
                    },
                    {
                        "source_labels": ["__meta_kubernetes_pod_label_app_kubernetes_io_name"],
                        "regex": "(.+)",
                        "target_label": "job",
                    },
                    {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
                    {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
                ],
            }
        )
    return jobs


def replica_alert_relabeling() -> list[dict[str, Any]]:
    """Each replica carries its own `replica` label; dropping it on alerts makes both
    replicas send identical alerts, which the Alertmanager cluster deduplicates."""
    return [{"action": "labeldrop", "regex": REPLICA_LABEL}]


def alerting(settings: Settings) -> dict[str, Any] | None:
    k = settings.kubernetes
    assert k is not None
    if not settings.alertmanager.enabled:
        return None
    return {
        "alert_relabel_configs": replica_alert_relabeling(),
        "alertmanagers": [
            {
                "api_version": "v2",
                "scheme": "https",
                "basic_auth": _basic_auth(k),
                "tls_config": {"ca_file": CA_FILE, "server_name": t.svc(k, "alertmanager")},
                # Every peer, not a load-balanced Service: the cluster deduplicates.
                "static_configs": [{"targets": t.alertmanager_peers(k, k.replicas["alertmanager"])}],
            }
        ],
    }


def remote_write(settings: Settings) -> list[dict[str, Any]]:
    rw = settings.prometheus.remote_write
    if rw is None:
        return []
    entry: dict[str, Any] = {"url": rw.url}
    if settings.kubernetes is not None and settings.kubernetes.ca_bundle_configmap:
        entry["tls_config"] = {"ca_file": EXTERNAL_CA_FILE}
    if rw.username:
        entry["basic_auth"] = {"username": rw.username, "password_file": f"{SECRETS_DIR}/remote_write_password"}
    return [entry]


def render(settings: Settings) -> dict[str, str]:
    return config.render(
        settings,
        stack_jobs=scrape_jobs(settings),
        alerting=alerting(settings),
        external_labels={
            "environment": settings.stack,
            "platform": "kubernetes",
            # Prometheus 3 expands environment variables in external labels.
            REPLICA_LABEL: "${POD_NAME}",
        },
        remote_write=remote_write(settings),
    )


def objstore_config(settings: Settings, bucket: str) -> str:
    """Thanos' object storage config; it holds the S3 keys, so it lives in a Secret."""
    k = settings.kubernetes
    assert k is not None
    s3 = k.object_storage
    return to_yaml(
        {
            "type": "S3",
            "config": {
                "bucket": bucket,
                "endpoint": s3.endpoint,
                "region": s3.region,
                "access_key": s3.access_key_id.reveal(),
                "secret_key": s3.secret_access_key.reveal(),
                "insecure": s3.insecure,
                **({"http_config": {"tls_config": {"ca_file": EXTERNAL_CA_FILE}}} if k.ca_bundle_configmap else {}),
            },
        }
    )


def secret_files(settings: Settings, key: pulumi.Output[str]) -> dict[str, SecretStr | pulumi.Output[str]]:
    """Files under /etc/prometheus/secrets/: the web config (bcrypt hash), the password
    Prometheus and the sidecar use against basic-auth endpoints, and the sidecar's bucket."""
    k = settings.kubernetes
    assert k is not None
    password = k.web_password.reveal()
    files: dict[str, SecretStr | pulumi.Output[str]] = {
        "web-config.yml": hashed_web_config(key, k.web_username, k.web_password),
        "web-config-tls.yml": SecretStr(web_config()),
        "web_password": k.web_password,
        "objstore.yml": SecretStr(objstore_config(settings, k.object_storage.thanos_bucket)),
        "prometheus-client.yml": SecretStr(
            to_yaml(
                {
                    "basic_auth": {"username": k.web_username, "password": password},
                    "tls_config": {"ca_file": CA_FILE, "server_name": "localhost"},
                }
            )
        ),
    }
    rw = settings.prometheus.remote_write
    if rw is not None and rw.password is not None:
        files["remote_write_password"] = rw.password
    return files


# Secret files whose content is safe to show in the offline render (only a bcrypt hash of a
# render placeholder and file paths), so promtool can check them there.
RENDER_VISIBLE = ("web-config.yml", "web-config-tls.yml")


def discovery_rules() -> dict[str, list[dict[str, Any]]]:
    """What each of Prometheus' discovery roles reads, by where it reads it: the endpoints
    role in the stack's two namespaces, the pod role in vegaNamespaces, the node role and
    the kubelet's cAdvisor metrics cluster-wide."""
    return {
        "stack": [{"apiGroups": [""], "resources": ["endpoints", "services", "pods"], "verbs": READ}],
        "vega": [{"apiGroups": [""], "resources": ["pods"], "verbs": READ}],
        "nodes": [
            {"apiGroups": [""], "resources": ["nodes"], "verbs": READ},
            {"apiGroups": [""], "resources": ["nodes/metrics"], "verbs": ["get"]},
        ],
    }


def deploy(
    name: str, settings: Settings, files: dict[str, str], cluster: KubernetesCluster, parent: pulumi.Resource
) -> None:
    k = cluster.k
    opts = cluster.opts(parent)
    component = "prometheus"

    account = cluster.service_account("prometheus", component, opts)
    rules = discovery_rules()
    cluster.discovery_access(
        "prometheus", component, account, opts, rules["stack"], namespaces=(cluster.ns, cluster.agents_ns)
    )
    if k.vega_namespaces:
        cluster.discovery_access(
            "prometheus-vega", component, account, opts, rules["vega"], namespaces=k.vega_namespaces
        )
    cluster.discovery_access("prometheus-nodes", component, account, opts, rules["nodes"])
    config_volume = cluster.config_map(name, component, files, config.CONFIG_DIR, opts, service="prometheus")
    secrets = secret_files(settings, cluster.key)
    secret_volume = cluster.secret(
        name, component, secrets, SECRETS_DIR, opts, service="prometheus", render_visible=RENDER_VISIBLE
    )
    tls = cluster.tls()
    data = Mounted({"name": "data"}, {"name": "data", "mountPath": config.DATA_DIR})

    args = [
        *config.args(settings),
        f"--web.config.file={SECRETS_DIR}/web-config.yml",
        "--web.enable-admin-api",  # TSDB snapshots for the backup job
        "--web.enable-otlp-receiver",  # the backups report their outcome (vega_backup_success)
        # Thanos uploads 2h blocks; local compaction would interfere with the upload.
        "--storage.tsdb.min-block-duration=2h",
        "--storage.tsdb.max-block-duration=2h",
    ]
    if k.hosts["prometheus"]:
        args.append(f"--web.external-url=https://{k.hosts['prometheus']}/")
    pod_name_env = [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]
    prometheus = cluster.container(
        "prometheus",
        cluster.image("prometheus"),
        "prometheus",
        args=args,
        ports={"web": endpoints.PROMETHEUS},
        mounts=[config_volume, secret_volume, *tls, data],
        env=pod_name_env,
        # Basic auth covers every path, /-/ready included, and a kubelet probe would need
        # the credential in the pod spec: probe the listener here, and let the sidecar's
        # readiness (which needs a ready Prometheus behind it) gate the pod.
        probe=KubernetesCluster.tcp_probe("web"),
        run_as_user=65534,
    )
    sidecar = cluster.container(
        "thanos-sidecar",
        cluster.image("thanos"),
        "thanos-sidecar",
        args=[
            "sidecar",
            f"--tsdb.path={config.DATA_DIR}",
            f"--prometheus.url=https://localhost:{endpoints.PROMETHEUS}",
            f"--prometheus.http-client-file={SECRETS_DIR}/prometheus-client.yml",
            f"--objstore.config-file={SECRETS_DIR}/objstore.yml",
            f"--grpc-address=0.0.0.0:{t.THANOS_GRPC}",
            f"--http-address=0.0.0.0:{t.THANOS_HTTP}",
            f"--grpc-server-tls-cert={TLS_DIR}/tls.crt",
            f"--grpc-server-tls-key={TLS_DIR}/tls.key",
            f"--grpc-server-tls-client-ca={CA_FILE}",
            f"--http.config={SECRETS_DIR}/web-config-tls.yml",
        ],
        ports={"grpc": t.THANOS_GRPC, "http": t.THANOS_HTTP},
        mounts=[secret_volume, *tls, data],
        env=pod_name_env,
        # Ready only once Prometheus behind it answers: this gates the pod's readiness.
        probe=KubernetesCluster.http_probe("/-/ready", "http"),
        run_as_user=65534,
    )
    from components.backup import shipper_volumes, snapshot_shipper

    shipper = snapshot_shipper(settings, cluster, data, secret_volume, tls)
    template = cluster.pod_template(
        component,
        [prometheus, sidecar, shipper],
        [config_volume, secret_volume, *tls, *shipper_volumes()],
        checksum_of=files,
        rotation=cluster.rotation(component, secrets, opts),
        service_account=account,
        fs_group=65534,
        extra_spec={"terminationGracePeriodSeconds": 600},
    )
    cluster.service(
        "prometheus", component, {"web": endpoints.PROMETHEUS}, opts,
        annotations={"vega-observability/scrape": "https-auth", "vega-observability/metrics-port": "web"},
    )
    cluster.service(
        t.PROMETHEUS_HEADLESS, component, {"grpc": t.THANOS_GRPC, "http": t.THANOS_HTTP}, opts, headless=True,
        annotations={"vega-observability/scrape": "https", "vega-observability/metrics-port": "http"},
    )
    cluster.stateful_set(
        "prometheus",
        component,
        k.replicas["prometheus"],
        template,
        opts,
        headless_service=t.PROMETHEUS_HEADLESS,
        claims=[cluster.volume_claim("data", "prometheus")],
        parallel=True,
        # A restarted replica replays its WAL first; give it time before the next one goes.
        min_ready_seconds=60,
    )
    cluster.disruption_budget("prometheus", component, opts)
