"""Checks across settings and files: each value is valid alone, but together they would lose
data, expose the stack or send alerts nowhere."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from components.settings.checks import parse_duration, prometheus_bytes, quantity
from components.settings.model import AlertmanagerSettings, KubernetesSettings, PrometheusSettings
from components.settings.reader import Reader
from components.settings.services import SEED_ADMIN_PASSWORD

LOKI_LIMITS_FILE = "configs/loki/limits.yaml"
ROUTING_FILE = "configs/alertmanager/routing.yaml"
SET_ADMIN_PASSWORD = "make config ARGS='set --secret grafanaAdminPassword' (asks for the value)"


def loki_retention(retention: str, limits: Mapping[str, Any], problems: list[str]) -> None:
    """Loki must not accept lines older than it keeps: the compactor would delete them at once."""
    max_age = limits.get("reject_old_samples_max_age")
    if limits.get("reject_old_samples") is False or isinstance(max_age, bool) or not isinstance(max_age, (int, float)):
        return
    try:
        keep = parse_duration(retention)
    except ValueError:
        return  # reported with lokiRetention
    if max_age > keep:
        problems.append(
            f"{LOKI_LIMITS_FILE} reject_old_samples_max_age: {max_age / 3600:g}h is not allowed; expected at most "
            f"lokiRetention ({retention}): older lines would be accepted and deleted by the next compaction"
        )


def prometheus_storage(r: Reader, prometheus: PrometheusSettings, k: KubernetesSettings) -> None:
    """Thanos keeps raw blocks at least as long as Prometheus does, and the TSDB fits its volume."""
    try:
        if parse_duration(k.object_storage_retention) < parse_duration(prometheus.retention_time):
            r.problem(
                "objectStorageRetention", k.object_storage_retention,
                f"at least prometheusRetentionTime ({prometheus.retention_time}); older blocks would be deleted "
                "from object storage while Prometheus still serves them",
            )
    except ValueError:
        pass  # reported with the key
    volume = k.sizing.get("prometheus")
    if not prometheus.retention_size or volume is None:
        return
    try:
        too_big = prometheus_bytes(prometheus.retention_size) > quantity(volume.storage)
    except ValueError:
        return
    if too_big:
        r.problem(
            "prometheusRetentionSize", prometheus.retention_size,
            f"at most the Prometheus volume ({volume.storage} in configs/sizing.yaml kubernetes.prometheus.storage)",
        )


def grafana_root_url(r: Reader, root_url: str, k: KubernetesSettings) -> None:
    if not root_url:
        return
    parts = urlsplit(root_url)
    if parts.scheme != "https":
        r.problem("grafanaRootUrl", root_url, "an https:// URL on kubernetes (the Ingress serves TLS only)")
    elif parts.hostname != k.hosts.get("grafana"):
        host = k.hosts.get("grafana")
        r.problem("grafanaRootUrl", root_url, f"a URL on grafanaHost ({host}), the host of its Ingress")


def alert_channels(am: AlertmanagerSettings, *, strict: bool, problems: list[str], warnings: list[str]) -> None:
    """Every severity reaches at least one configured channel: refused on kubernetes, a
    warning on docker (where Alertmanager's UI is the channel of a local stack)."""
    if not am.enabled:
        return
    out = problems if strict else warnings
    configured = am.channels
    if not configured:
        out.append(
            "alertmanagerWebhookUrl, alertmanagerSlackApiUrl, alertmanagerEmailTo: none is set, so alerts reach "
            "nobody; configure at least one channel"
        )
        return
    for severity, route in am.routing.severities.items():
        if not route.channels:
            out.append(f"{ROUTING_FILE} severities.{severity}.channels: [] sends {severity} alerts nowhere; list at "
                       f"least one of the configured channels ({', '.join(configured)})")
        elif not set(route.channels) & set(configured):
            out.append(f"{ROUTING_FILE} severities.{severity}.channels: {list(route.channels)!r} names no channel this "
                       f"stack configures ({', '.join(configured)}); add one of them")


def docker_exposure(r: Reader, bind: str, password: str, prometheus_port: int, warnings: list[str]) -> None:
    """A dev stack published beyond this machine needs its own Grafana password."""
    try:
        loopback = ipaddress.ip_address(bind).is_loopback
    except ValueError:
        return  # reported with bindAddress
    if loopback:
        return
    if password == SEED_ADMIN_PASSWORD:
        r.problem(
            "bindAddress", bind,
            "a loopback address (127.0.0.1) while Grafana's admin password is the default 'admin'; set one first "
            f"with `{SET_ADMIN_PASSWORD}`",
        )
    warnings.append(
        f"bindAddress {bind}: Prometheus' lifecycle API (POST /-/reload, /-/quit) on port {prometheus_port} is "
        "reachable without authentication from the network; bind to 127.0.0.1 unless this host is firewalled"
    )


def scrape_namespaces(r: Reader, prometheus: PrometheusSettings, k: KubernetesSettings, problems: list[str]) -> None:
    """On kubernetes Prometheus may reach only the namespaces in vegaNamespaces: every target
    of the Vega keys and of configs/prometheus/scrape_configs must be a Service there."""
    for key, targets in (
        ("vegaApiTargets", prometheus.vega_api_targets),
        ("vegaCoordinatorTargets", prometheus.vega_coordinator_targets),
        ("vegaDatabaseTargets", prometheus.vega_database_targets),
    ):
        for target in targets:
            wrong = _unreachable(target, k)
            if wrong:
                r.problem(key, target, wrong)
    for job in prometheus.extra_scrape_configs:
        at = f"configs/prometheus/scrape_configs job {job.get('job_name')!r}"
        for static in _list(job.get("static_configs")):
            for target in _list(static.get("targets") if isinstance(static, dict) else None):
                wrong = _unreachable(str(target), k)
                if wrong:
                    problems.append(f"{at} target {target!r} is not allowed; expected {wrong}")
        for sd in _list(job.get("kubernetes_sd_configs")):
            scope = sd.get("namespaces") if isinstance(sd, dict) else None
            names = [str(n) for n in _list(scope.get("names"))] if isinstance(scope, dict) else []
            outside = sorted(set(names) - set(k.vega_namespaces)) if names else ["(every namespace)"]
            if outside:
                problems.append(
                    f"{at} kubernetes_sd_configs namespaces {', '.join(outside)}: outside vegaNamespaces "
                    f"({', '.join(k.vega_namespaces) or 'none'}), where Prometheus' NetworkPolicy lets it scrape; "
                    "list namespaces.names and add them to vegaNamespaces"
                )


def _list(value: Any) -> Sequence[Any]:
    return value if isinstance(value, list) else []


def _unreachable(target: str, k: KubernetesSettings) -> str:
    """Why Prometheus could not reach target on kubernetes, or ""."""
    host = target.rpartition(":")[0]
    parts = host.split(".")
    allowed = (
        "a Service in a namespace of vegaNamespaces "
        f"({', '.join(k.vega_namespaces) or 'none set'}), as <service>.<namespace>.svc:<port>; "
        "add its namespace to vegaNamespaces"
    )
    if len(parts) < 2:
        return allowed
    suffix = parts[2:]
    if suffix not in ([], ["svc"], ["svc", *k.cluster_domain.split(".")]):
        return allowed
    return "" if parts[1] in k.vega_namespaces else allowed
