"""Grafana on kubernetes: replicas on a shared PostgreSQL, one alerting cluster, HTTPS.

- State (users, folders, alert rules, silences) lives in the external PostgreSQL, so the
  pods keep nothing on disk: their writable paths are emptyDirs and any replica can go.
- Every replica reads the same `secret_key` (from a Secret file), so values one replica
  encrypted into the database the others can read.
- Unified alerting evaluates on every replica; the replicas gossip through the headless
  Service `grafana-alerting` so a notification goes out once and silences are shared.
- Grafana serves HTTPS with the internal certificate and reaches every datasource over
  HTTPS, verifying it against the internal CA.

Secrets reach Grafana only as files under /etc/grafana/secrets: grafana.ini and the
datasource provisioning name them with `$__file{...}`, the admin password with the image's
GF_*__FILE convention.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pulumi

from components import endpoints
from components.grafana import config
from components.platform import topology as t
from components.platform.kubernetes import CA_FILE, EXTERNAL_CA_FILE, TLS_DIR, KubernetesCluster
from components.settings import SecretStr, Settings

COMPONENT = "grafana"
SECRETS_DIR = f"{config.CONFIG_DIR}/secrets"
# Grafana's image runs under any uid (its files belong to group 0, which every container
# has): the pods take the same unprivileged high uid as the rest of the stack.
RUN_AS_USER = 65534
HTTPS_PORT = "https"
ALERTING_PORT = "alerting"
# How often Grafana re-reads its certificate; cert-manager renews it in place.
CERTS_WATCH_INTERVAL = "1h"

OIDC_SECRET = "oidc_client_secret"


def secret_path(name: str) -> str:
    return f"{SECRETS_DIR}/{name}"


def file_ref(path: str) -> str:
    """Grafana's file expansion: the value is read from `path` when the config loads."""
    return f"$__file{{{path}}}"


def ini_value(text: str) -> str:
    """A grafana.ini value that survives the ini parser: `#` and `;` start comments
    unless the value is quoted with triple quotes."""
    if any(c in text for c in "#;") or text != text.strip() or text.startswith(('"', "`")):
        return f'"""{text}"""'
    return text


def root_url(settings: Settings) -> str:
    k = settings.kubernetes
    assert k is not None
    return settings.grafana.root_url or f"https://{k.hosts['grafana']}/"


def urls(settings: Settings) -> dict[str, str]:
    """In-cluster HTTPS URLs of the datasources."""
    k = settings.kubernetes
    assert k is not None
    out = {
        # Thanos Query: the deduplicated view over the Prometheus replicas and the bucket.
        "prometheus": f"https://{t.svc(k, 'thanos-query')}:{t.THANOS_HTTP}",
        "loki": t.loki_query_url(k),
        "jaeger": f"https://{t.svc(k, 'jaeger-query')}:{endpoints.JAEGER_UI}",
    }
    if settings.alertmanager.enabled:
        out["alertmanager"] = f"https://{t.svc(k, 'alertmanager')}:{endpoints.ALERTMANAGER}"
    return out


def datasource_extra(settings: Settings) -> dict[str, dict[str, Any]]:
    """TLS (verified against the internal CA) on every datasource, and the stack's basic
    auth in front of Thanos Query and Alertmanager. Only `$__file{...}` stays unescaped:
    it is the one expansion meant to happen."""
    k = settings.kubernetes
    assert k is not None
    tls: dict[str, Any] = {"jsonData": {"tlsAuthWithCACert": True}, "secureJsonData": {"tlsCACert": file_ref(CA_FILE)}}
    basic_auth: dict[str, Any] = {
        "basicAuth": True,
        "basicAuthUser": k.web_username,
        "jsonData": tls["jsonData"],
        "secureJsonData": {**tls["secureJsonData"], "basicAuthPassword": file_ref(secret_path("web_password"))},
    }
    return {"prometheus": basic_auth, "loki": tls, "jaeger": tls, "alertmanager": basic_auth}


def alerting_peers(settings: Settings) -> str:
    """The headless Service resolves to every replica's pod IP, ready or not."""
    k = settings.kubernetes
    assert k is not None
    return f"{t.svc(k, t.GRAFANA_HEADLESS)}:{t.GRAFANA_ALERTING}"


def ini_sections(settings: Settings) -> dict[str, dict[str, Any]]:
    k = settings.kubernetes
    g = settings.grafana
    assert k is not None and g.database is not None and g.secret_key is not None
    db = g.database
    database: dict[str, Any] = {
        "type": "postgres",
        "host": db.host,
        "name": ini_value(db.name),
        "user": ini_value(db.user),
        "password": file_ref(secret_path("database_password")),
        "ssl_mode": db.ssl_mode,
    }
    if k.ca_bundle_configmap:
        database["ca_cert_path"] = EXTERNAL_CA_FILE
    sections: dict[str, dict[str, Any]] = {
        "server": {
            "protocol": "https",
            "cert_file": f"{TLS_DIR}/tls.crt",
            "cert_key": f"{TLS_DIR}/tls.key",
            "certs_watch_interval": CERTS_WATCH_INTERVAL,
            "domain": urlsplit(root_url(settings)).hostname or k.hosts["grafana"],
        },
        "security": {
            "secret_key": file_ref(secret_path("secret_key")),
            "cookie_secure": True,
            "strict_transport_security": True,
        },
        "auth.anonymous": {"enabled": False},
        # /metrics asks for the stack's basic-auth credential (the Ingress passes every path
        # through): Prometheus scrapes it with that credential.
        "metrics": {
            "enabled": True,
            "basic_auth_username": ini_value(k.web_username),
            "basic_auth_password": file_ref(secret_path("web_password")),
        },
        "database": database,
        "unified_alerting": {
            "enabled": True,
            "ha_peers": alerting_peers(settings),
            "ha_listen_address": f"0.0.0.0:{t.GRAFANA_ALERTING}",
            # Grafana expands ${POD_IP} from the environment (the downward API sets it).
            "ha_advertise_address": "${POD_IP}:" + str(t.GRAFANA_ALERTING),
            "ha_peer_timeout": "15s",
        },
    }
    if g.oidc is not None:
        oidc = g.oidc
        generic: dict[str, Any] = {
            "enabled": True,
            "name": ini_value(oidc.name or "SSO"),
            "allow_sign_up": True,
            "client_id": ini_value(oidc.client_id),
            "client_secret": file_ref(secret_path(OIDC_SECRET)),
            "scopes": ini_value(oidc.scopes),
            "auth_url": ini_value(oidc.auth_url),
            "token_url": ini_value(oidc.token_url),
            "api_url": ini_value(oidc.api_url),
            "use_pkce": True,
        }
        if oidc.role_attribute_path:
            generic["role_attribute_path"] = ini_value(oidc.role_attribute_path)
        sections["auth.generic_oauth"] = generic
    return sections


def render(settings: Settings) -> dict[str, str]:
    """{path relative to /etc/grafana: text}: grafana.ini, provisioning and dashboards."""
    return config.render(
        settings,
        urls=urls(settings),
        root_url=root_url(settings),
        ini_sections=ini_sections(settings),
        datasource_extra=datasource_extra(settings),
    )


def secret_files(settings: Settings) -> dict[str, SecretStr]:
    """Files under /etc/grafana/secrets/."""
    k = settings.kubernetes
    g = settings.grafana
    assert k is not None and g.database is not None and g.secret_key is not None
    files = {
        "admin_password": g.admin_password,
        "database_password": g.database.password,
        "secret_key": g.secret_key,
        "web_password": k.web_password,
    }
    if g.oidc is not None:
        files[OIDC_SECRET] = g.oidc.client_secret
    return files


def deploy(
    name: str, settings: Settings, files: dict[str, str], cluster: KubernetesCluster, parent: pulumi.Resource
) -> None:
    k = cluster.k
    opts = cluster.opts(parent)

    config_volume = cluster.config_map(name, COMPONENT, files, config.CONFIG_DIR, opts, service="grafana")
    secrets = secret_files(settings)
    secret_volume = cluster.secret(name, COMPONENT, secrets, SECRETS_DIR, opts, service="grafana")
    tls = cluster.tls()
    # Nothing to keep: the database holds the state, so data and /tmp are scratch space.
    data = cluster.empty_dir("data", config.DATA_DIR, "1Gi")
    tmp = cluster.empty_dir("tmp", "/tmp", "256Mi")
    mounts = [config_volume, secret_volume, *tls, data, tmp]

    env: list[dict[str, Any]] = [{"name": key, "value": value} for key, value in sorted(config.ENV.items())]
    env.append({"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}})
    container = cluster.container(
        "grafana",
        cluster.image("grafana"),
        "grafana",
        ports={HTTPS_PORT: endpoints.GRAFANA, ALERTING_PORT: t.GRAFANA_ALERTING},
        mounts=mounts,
        env=env,
        # /api/health answers without auth and checks the database connection.
        probe=KubernetesCluster.http_probe("/api/health", HTTPS_PORT),
        run_as_user=RUN_AS_USER,
    )
    # The configured admin password, set in the shared database before the server starts;
    # a new password changes the pods' secrets checksum, so the rollout applies it.
    reset_password = cluster.container(
        "reset-admin-password",
        cluster.image("grafana"),
        "grafana",
        command=["/bin/sh", "-c", config.RESET_ADMIN_PASSWORD],
        mounts=mounts,
        env=env,
        run_as_user=RUN_AS_USER,
    )
    template = cluster.pod_template(
        COMPONENT,
        [container],
        mounts,
        checksum_of=files,
        rotation=cluster.rotation(COMPONENT, secrets, opts),
        fs_group=RUN_AS_USER,
        extra_spec={"initContainers": [reset_password]},
    )
    # /metrics asks for the stack's basic-auth credential ([metrics] in grafana.ini).
    cluster.service(
        "grafana", COMPONENT, {HTTPS_PORT: endpoints.GRAFANA}, opts,
        annotations={"vega-observability/scrape": "https-auth", "vega-observability/metrics-port": HTTPS_PORT},
    )
    # Peers must find each other before they are ready, or the alerting cluster never forms.
    cluster.service(
        t.GRAFANA_HEADLESS, COMPONENT, {ALERTING_PORT: t.GRAFANA_ALERTING}, opts, headless=True, publish_not_ready=True
    )
    cluster.deployment("grafana", COMPONENT, k.replicas["grafana"], template, opts)
    cluster.disruption_budget("grafana", COMPONENT, opts)
