"""Stack settings: read once, validated early, frozen.

Every key the program reads is declared in the ``config:`` block of ``Pulumi.yaml``
(schema.py); the data files under ``configs/`` are read and checked with them (content.py).
A bad value fails before any resource is declared, with one message that lists every
problem: the key or file, the value (never a secret's value) and what is allowed.

Where the checks live:
  schema.py       the keys of Pulumi.yaml, the secrets a stack must set
  model.py        the frozen settings, SecretStr, ConfigError
  reader.py       typed access to the raw config, the YAML files, the problems list
  checks.py       shared value checks: durations, sizes, hosts, names, quantities, cron
  services.py     settings of both platforms, one function per service
  docker.py       the docker platform (dev)
  kubernetes.py   the kubernetes platform (prod)
  consistency.py  checks across settings and files (retention, channels, exposure, reach)
  content.py      configs/: versions, sizing, routing, scrape jobs, templates, no unread file
  rules.py        configs/prometheus/: rule files (PromQL), thresholds, SLOs, scrape limits
  logs.py         configs/loki/limits.yaml and the log pipeline
  dashboards.py   configs/grafana/: dashboards
  gotemplate.py   the structural check of Go templates (rule annotations, vega.tmpl)
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from components.settings import consistency as _consistency
from components.settings import content as _content
from components.settings import docker as _docker
from components.settings import kubernetes as _kubernetes
from components.settings import services as _services
from components.settings.checks import DURATION_HELP, check_image, check_target, parse_duration
from components.settings.content import load_extra_scrape_configs, load_images
from components.settings.docker import DOCKER_ONLY
from components.settings.kubernetes import KUBERNETES_ONLY
from components.settings.model import (
    CHANNELS,
    COLLECTORS,
    PLATFORMS,
    SEVERITIES,
    AlertmanagerSettings,
    ConfigError,
    DockerSettings,
    GrafanaSettings,
    JaegerSettings,
    KubernetesSettings,
    LokiSettings,
    PrometheusSettings,
    SecretStr,
    Settings,
    WorkloadSize,
)
from components.settings.reader import Reader
from components.settings.schema import (
    PROJECT,
    REQUIRED_KUBERNETES_SECRETS,
    ROOT,
    KeySpec,
    configs_dir,
    load_schema,
    missing_secret,
    required_secrets,
)

__all__ = [
    "CHANNELS", "COLLECTORS", "DURATION_HELP", "PLATFORMS", "PROJECT", "REQUIRED_KUBERNETES_SECRETS", "ROOT",
    "SEVERITIES", "AlertmanagerSettings", "ConfigError", "DockerSettings", "GrafanaSettings", "JaegerSettings",
    "KeySpec", "KubernetesSettings", "LokiSettings", "PrometheusSettings", "Reader", "SecretStr", "Settings",
    "WorkloadSize", "check_image", "check_target", "configs_dir", "from_pulumi", "load", "load_extra_scrape_configs",
    "load_schema", "missing_secret", "parse_duration", "required_secrets",
]


def _keys(r: Reader, raw: Mapping[str, Any], platform: str) -> frozenset[str]:
    """The schema keys the stack sets; unknown keys and keys of the other platform are problems."""
    for key in sorted(set(raw) - set(r.schema)):
        near = difflib.get_close_matches(key, r.schema, n=1)
        hint = f"; did you mean {near[0]!r}?" if near else "; see the config block of Pulumi.yaml"
        r.problems.append(f"{key}: unknown configuration key{hint}")
    explicit = frozenset(k for k in raw if k in r.schema)
    other, only = ("docker", DOCKER_ONLY) if platform == "kubernetes" else ("kubernetes", KUBERNETES_ONLY)
    for key in sorted(explicit & only):
        r.problems.append(f"{key}: applies to platform {other!r} only; remove it from this {platform} stack")
    return explicit


def load(
    raw: Mapping[str, Any],
    stack: str,
    *,
    schema: Mapping[str, KeySpec] | None = None,
    configs: Path | None = None,
) -> Settings:
    """Validate the raw project config (key without namespace -> value) into Settings.

    Raises ConfigError listing every problem found.
    """
    configs = configs or configs_dir()
    r = Reader(raw, dict(schema or load_schema()))
    platform = r.choice("platform", PLATFORMS)
    collector = r.choice("collector", COLLECTORS)
    explicit = _keys(r, raw, platform)

    files: list[str] = []  # problems in configs/, reported after those of the stack config
    warnings: list[str] = []
    prometheus = _services.prometheus(r, configs, files)
    alertmanager = _services.alertmanager(r, configs, files)
    grafana = _services.grafana(r, platform)
    loki = _services.loki(r)
    jaeger = _services.jaeger(r, platform)
    images = load_images(configs, files)
    loki_limits = _content.check_files(configs, platform, prometheus, files)
    _consistency.loki_retention(loki.retention, loki_limits, files)
    _consistency.alert_channels(alertmanager, strict=platform == "kubernetes", problems=r.problems, warnings=warnings)

    docker = kubernetes = None
    if platform == "docker":
        docker = _docker.host(r, configs, files, alertmanager=alertmanager.enabled)
        _consistency.docker_exposure(
            r, docker.bind_address, grafana.admin_password.reveal(), docker.ports.prometheus, warnings
        )
    else:
        kubernetes = _kubernetes.cluster(r, configs, files)
        database, secret_key, oidc = _kubernetes.grafana(r)
        grafana = dataclasses.replace(grafana, database=database, secret_key=secret_key, oidc=oidc)
        prometheus = dataclasses.replace(prometheus, remote_write=_kubernetes.remote_write(r))
        jaeger = _kubernetes.trace_storage(r, jaeger)
        images = _kubernetes.dependencies_image(images, jaeger)
        _consistency.prometheus_storage(r, prometheus, kubernetes)
        _consistency.grafana_root_url(r, grafana.root_url, kubernetes)
        _consistency.scrape_namespaces(r, prometheus, kubernetes, files)

    problems = r.problems + files
    if problems:
        raise ConfigError(problems)

    return Settings(
        stack=stack,
        platform=platform,
        collector=collector,
        images=images,
        prometheus=prometheus,
        alertmanager=alertmanager,
        grafana=grafana,
        loki=loki,
        jaeger=jaeger,
        docker=docker,
        kubernetes=kubernetes,
        explicit_keys=explicit,
        warnings=tuple(warnings),
    )


def from_pulumi() -> Settings:
    """Settings of the running Pulumi stack."""
    import pulumi
    from pulumi.runtime import config as runtime_config

    prefix = f"{PROJECT}:"
    merged: dict[str, Any] = {}
    merged.update(runtime_config.get_config_env())
    merged.update(runtime_config.CONFIG.get())
    raw = {k[len(prefix):]: v for k, v in merged.items() if k.startswith(prefix)}
    settings = load(raw, pulumi.get_stack())
    for warning in settings.warnings:
        pulumi.log.warn(warning)
    return settings
