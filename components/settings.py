"""Stack settings: read once, validated early, frozen.

Every key the program reads is declared in the ``config:`` block of ``Pulumi.yaml``; this
module takes its types and defaults from there, so the schema and the program cannot drift
apart. The data files under ``configs/`` that parameterise the stack (image versions,
sizing, alert routing, extra scrape jobs) are read and checked here too.

A bad value fails before any resource is declared, with one message that lists every
problem: the key, the value (never a secret's value) and what is allowed.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PROJECT = "vega-observability"
ROOT = Path(__file__).resolve().parent.parent
CONFIGS_ENV = "VEGA_CONFIGS_DIR"


def configs_dir() -> Path:
    """The content directory: configs/ of this repository, or $VEGA_CONFIGS_DIR when set
    (a copy of configs/ with local changes, e.g. in tests)."""
    return Path(os.environ.get(CONFIGS_ENV) or ROOT / "configs")

PLATFORMS = ("docker", "kubernetes")
COLLECTORS = ("alloy", "promtail")
SEVERITIES = ("critical", "warning", "info")
CHANNELS = ("webhook", "slack", "email")


class ConfigError(ValueError):
    """One or more invalid settings; the message names each key, value and what is allowed."""

    def __init__(self, problems: Iterable[str]):
        self.problems = list(problems)
        count = len(self.problems)
        head = "invalid stack configuration" if count == 1 else f"{count} invalid settings"
        super().__init__(head + ":\n  - " + "\n  - ".join(self.problems))


class SecretStr:
    """A secret value that never shows itself in a repr, a log line or an error message."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "SecretStr('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretStr) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


# --------------------------------------------------------------------------- typed settings


@dataclass(frozen=True)
class Images:
    """Pinned image references by service (configs/versions.yaml)."""

    refs: Mapping[str, str]

    def __getitem__(self, service: str) -> str:
        return self.refs[service]


@dataclass(frozen=True)
class DockerPorts:
    grafana: int
    prometheus: int
    alertmanager: int
    loki: int
    jaeger_ui: int
    otlp_grpc: int
    otlp_http: int


@dataclass(frozen=True)
class DockerSettings:
    bind_address: str
    network: str
    external_networks: tuple[str, ...]
    ports: DockerPorts
    memory_mb: Mapping[str, int]


@dataclass(frozen=True)
class RemoteWrite:
    url: str
    username: str
    password: SecretStr | None


@dataclass(frozen=True)
class PrometheusSettings:
    scrape_interval: str
    scrape_timeout: str
    evaluation_interval: str
    vega_api_targets: tuple[str, ...]
    vega_coordinator_targets: tuple[str, ...]
    vega_database_targets: tuple[str, ...]
    retention_time: str
    retention_size: str
    runbook_base_url: str
    extra_scrape_configs: tuple[Mapping[str, Any], ...]
    remote_write: RemoteWrite | None = None


@dataclass(frozen=True)
class SeverityRoute:
    channels: tuple[str, ...]
    repeat_interval: str | None = None


@dataclass(frozen=True)
class InhibitRule:
    source_severity: str
    target_severity: str
    equal: tuple[str, ...]


@dataclass(frozen=True)
class Routing:
    group_by: tuple[str, ...]
    group_wait: str
    group_interval: str
    repeat_interval: str
    severities: Mapping[str, SeverityRoute]
    inhibit: tuple[InhibitRule, ...]


@dataclass(frozen=True)
class AlertmanagerSettings:
    enabled: bool
    routing: Routing
    webhook_url: str
    webhook_token: SecretStr | None
    slack_api_url: SecretStr | None
    slack_channel: str
    email_to: str
    email_from: str
    smtp_smarthost: str
    smtp_username: str
    smtp_password: SecretStr | None

    @property
    def channels(self) -> tuple[str, ...]:
        """The channels this stack configures, in CHANNELS order."""
        on = {
            "webhook": bool(self.webhook_url),
            "slack": self.slack_api_url is not None,
            "email": bool(self.email_to),
        }
        return tuple(c for c in CHANNELS if on[c])


@dataclass(frozen=True)
class GrafanaDatabase:
    host: str
    name: str
    user: str
    password: SecretStr
    ssl_mode: str


@dataclass(frozen=True)
class Oidc:
    name: str
    client_id: str
    client_secret: SecretStr
    auth_url: str
    token_url: str
    api_url: str
    scopes: str
    role_attribute_path: str


@dataclass(frozen=True)
class GrafanaSettings:
    admin_user: str
    admin_password: SecretStr
    root_url: str
    database: GrafanaDatabase | None = None  # kubernetes: shared PostgreSQL
    secret_key: SecretStr | None = None  # kubernetes: the same on every replica
    oidc: Oidc | None = None


@dataclass(frozen=True)
class LokiSettings:
    retention: str


@dataclass(frozen=True)
class JaegerSettings:
    storage: str
    max_traces: int
    retention: str
    storage_urls: tuple[str, ...] = ()
    storage_username: str = ""
    storage_password: SecretStr | None = None
    index_prefix: str = "vega"


@dataclass(frozen=True)
class WorkloadSize:
    """Requests and limits of one kubernetes container, and its volume size if it has one."""

    cpu: str
    memory: str
    cpu_limit: str
    memory_limit: str
    storage: str = ""


@dataclass(frozen=True)
class ObjectStorage:
    endpoint: str
    region: str
    insecure: bool
    access_key_id: SecretStr
    secret_access_key: SecretStr
    loki_bucket: str
    thanos_bucket: str
    backup_bucket: str


@dataclass(frozen=True)
class KubernetesSettings:
    namespace: str
    agents_namespace: str
    cluster_domain: str
    storage_class: str
    ingress_class: str
    ingress_controller_namespace: str
    hosts: Mapping[str, str]  # grafana, prometheus, alertmanager, jaeger -> public host ("" = none)
    cert_manager_issuer: str
    ingress_tls_secret: str
    internal_tls_secret: str
    ca_bundle_configmap: str
    vega_namespaces: tuple[str, ...]
    api_server_cidrs: tuple[str, ...]
    external_cidrs: tuple[str, ...]
    web_username: str
    web_password: SecretStr
    replicas: Mapping[str, int]
    object_storage: ObjectStorage
    backup_schedule: str
    object_storage_retention: str
    sizing: Mapping[str, WorkloadSize]


@dataclass(frozen=True)
class Settings:
    stack: str
    platform: str
    collector: str
    images: Images
    prometheus: PrometheusSettings
    alertmanager: AlertmanagerSettings
    grafana: GrafanaSettings
    loki: LokiSettings
    jaeger: JaegerSettings
    docker: DockerSettings | None = None
    kubernetes: KubernetesSettings | None = None
    explicit_keys: frozenset[str] = field(default_factory=frozenset)


# --------------------------------------------------------------------------- schema


@dataclass(frozen=True)
class KeySpec:
    name: str
    type: str
    default: Any
    secret: bool
    description: str


def load_schema(project_file: Path = ROOT / "Pulumi.yaml") -> dict[str, KeySpec]:
    """The config keys declared in Pulumi.yaml, by name."""
    doc = yaml.safe_load(project_file.read_text())
    specs = {}
    for name, body in (doc.get("config") or {}).items():
        specs[name] = KeySpec(
            name=name,
            type=body["type"],
            default=body.get("default"),
            secret=bool(body.get("secret", False)),
            description=" ".join(str(body.get("description", "")).split()),
        )
    return specs


# --------------------------------------------------------------------------- value checks

_DURATION = re.compile(r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$")
_DURATION_UNITS = (365 * 86400, 7 * 86400, 86400, 3600, 60, 1, 0.001)
_SIZE = re.compile(r"^[1-9]\d*(B|KB|MB|GB|TB|PB|EB)$")
_DNS_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PINNED_TAG = re.compile(r"^v?\d+\.\d+\.\d+(?:[-+.][0-9A-Za-z.-]+)?$")
_DOCKER_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")

DURATION_HELP = "a Prometheus duration such as 30s, 5m, 15d or 1h30m, greater than zero"


def parse_duration(text: str) -> float:
    """Seconds in a Prometheus-style duration; raises ValueError when malformed or zero."""
    match = _DURATION.match(text) if text else None
    if not match or not any(match.groups()):
        raise ValueError(text)
    seconds = sum(int(g) * unit for g, unit in zip(match.groups(), _DURATION_UNITS, strict=True) if g)
    if seconds <= 0:
        raise ValueError(text)
    return seconds


def _is_host(host: str) -> bool:
    if host.startswith("[") and host.endswith("]"):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return False
        return True
    if len(host) > 253:
        return False
    return all(_DNS_LABEL.match(label) for label in host.split("."))


def check_target(text: str) -> str:
    host, sep, port = text.rpartition(":")
    if not sep or not _is_host(host) or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(text)
    return text


def check_image(ref: str) -> str:
    """An image reference pinned to an exact release tag or a digest."""
    if "@sha256:" in ref:
        return ref
    name, sep, tag = ref.rpartition(":")
    if not sep or "/" in tag or not name or not _PINNED_TAG.match(tag):
        raise ValueError(ref)
    return ref


# --------------------------------------------------------------------------- reader


class _Reader:
    """Typed access to the raw stack config; records every problem instead of stopping."""

    def __init__(self, raw: Mapping[str, Any], schema: Mapping[str, KeySpec]):
        self.raw = dict(raw)
        self.schema = schema
        self.problems: list[str] = []

    def problem(self, key: str, value: Any, allowed: str, *, secret: bool = False) -> None:
        shown = "(secret value hidden)" if secret else repr(value)
        self.problems.append(f"{key}: {shown} is not allowed; expected {allowed}")

    def typed(self, key: str) -> Any:
        spec = self.schema[key]
        if key not in self.raw:
            return spec.default
        value = self.raw[key]
        try:
            return _convert(spec.type, value)
        except ValueError:
            self.problem(key, value, f"a value of type {spec.type}", secret=spec.secret)
            return spec.default

    def get(self, key: str, check: Callable[[Any], Any] | None = None, allowed: str = "") -> Any:
        value = self.typed(key)
        if check is None or value is None:
            return value
        try:
            return check(value)
        except ValueError:
            self.problem(key, value, allowed)
            return self.schema[key].default

    def choice(self, key: str, options: Iterable[str], default: str | None = None) -> str:
        """The value if it is one of options; `default` replaces the schema's default."""
        options = tuple(options)
        value = self.typed(key)
        if default is not None and key not in self.raw:
            value = default
        if value not in options:
            self.problem(key, value, "one of " + ", ".join(options))
            return options[0]
        return str(value)

    def duration(self, key: str) -> str:
        return str(self.get(key, _checked(parse_duration), DURATION_HELP))

    def port(self, key: str) -> int:
        return int(self.get(key, _checked(_check_port), "a port number from 1 to 65535"))

    def targets(self, key: str, *, required: bool) -> tuple[str, ...]:
        values = self.typed(key) or []
        if required and not values:
            self.problem(key, values, "at least one host:port target")
            return ()
        good = []
        for item in values:
            try:
                good.append(check_target(str(item)))
            except ValueError:
                self.problem(key, item, "host:port with a DNS name or IP address and a port 1-65535")
        if len(set(good)) != len(good):
            self.problem(key, values, "each target listed once")
        return tuple(good)

    def secret(self, key: str) -> SecretStr | None:
        if key not in self.raw or self.raw[key] in (None, ""):
            return None
        return SecretStr(str(self.raw[key]))


def _checked(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Run fn for its check, keep the original value."""

    def run(value: Any) -> Any:
        fn(value)
        return value

    return run


def _check_port(value: Any) -> int:
    if not isinstance(value, int) or not 1 <= value <= 65535:
        raise ValueError(value)
    return value


def _convert(kind: str, value: Any) -> Any:
    if kind == "string":
        if isinstance(value, (dict, list)):
            raise ValueError(value)
        return str(value)
    if kind == "integer":
        if isinstance(value, bool):
            raise ValueError(value)
        if isinstance(value, int):
            return value
        text = str(value).strip()
        if not re.fullmatch(r"-?\d+", text):
            raise ValueError(value)
        return int(text)
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text not in ("true", "false"):
            raise ValueError(value)
        return text == "true"
    if kind == "array":
        items = value
        if isinstance(value, str):
            try:
                items = json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(value) from exc
        if not isinstance(items, list) or any(isinstance(i, (dict, list)) for i in items):
            raise ValueError(value)
        return [str(i) for i in items]
    raise ValueError(f"unsupported schema type {kind}")


# --------------------------------------------------------------------------- data files


def _load_yaml(path: Path, problems: list[str]) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except FileNotFoundError:
        problems.append(f"{_rel(path)}: file is missing")
    except yaml.YAMLError as exc:
        problems.append(f"{_rel(path)}: not valid YAML ({exc})")
    return None


def _rel(path: Path) -> str:
    for base, shown in ((configs_dir(), "configs"), (ROOT, "")):
        try:
            rel = path.relative_to(base)
        except ValueError:
            continue
        return f"{shown}/{rel}" if shown else str(rel)
    return str(path)


def _unknown_keys(where: str, mapping: Mapping[str, Any], allowed: Iterable[str], problems: list[str]) -> None:
    allowed = tuple(allowed)
    for key in mapping:
        if key not in allowed:
            problems.append(
                f"{where}: unknown key {key!r}; allowed keys are " + ", ".join(sorted(allowed))
            )


REQUIRED_IMAGES = (
    "prometheus", "alertmanager", "grafana", "loki", "alloy", "promtail", "jaeger",
    "node_exporter", "cadvisor", "thanos", "curl",
)


def load_images(configs: Path, problems: list[str]) -> Images:
    path = configs / "versions.yaml"
    doc = _load_yaml(path, problems) or {}
    images = doc.get("images") if isinstance(doc, dict) else None
    if not isinstance(images, dict):
        problems.append(f"{_rel(path)}: expected a mapping under 'images'")
        return Images({})
    _unknown_keys(f"{_rel(path)} images", images, REQUIRED_IMAGES, problems)
    refs = {}
    for name in REQUIRED_IMAGES:
        ref = images.get(name)
        if ref is None:
            problems.append(f"{_rel(path)} images.{name}: missing; every service needs a pinned image")
            continue
        try:
            refs[name] = check_image(str(ref))
        except ValueError:
            problems.append(
                f"{_rel(path)} images.{name}: {ref!r} is not pinned; expected repository:tag with an "
                "exact release tag such as v3.13.0 or 13.2.0, or an @sha256 digest (never latest)"
            )
    return Images(refs)


SIZED_SERVICES = (
    "prometheus", "alertmanager", "grafana", "loki", "collector", "jaeger", "node_exporter", "cadvisor",
)


def load_docker_memory(configs: Path, problems: list[str]) -> dict[str, int]:
    path = configs / "sizing.yaml"
    doc = _load_yaml(path, problems) or {}
    sizes = doc.get("docker") if isinstance(doc, dict) else None
    if not isinstance(sizes, dict):
        problems.append(f"{_rel(path)}: expected a mapping under 'docker'")
        return {}
    _unknown_keys(f"{_rel(path)} docker", sizes, SIZED_SERVICES, problems)
    out = {}
    for name in SIZED_SERVICES:
        value = sizes.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or not 16 <= value <= 65536:
            problems.append(f"{_rel(path)} docker.{name}: {value!r} is not allowed; expected MiB from 16 to 65536")
            continue
        out[name] = value
    return out


_ROUTING_KEYS = ("group_by", "group_wait", "group_interval", "repeat_interval", "severities", "inhibit")


def load_routing(configs: Path, problems: list[str]) -> Routing:
    path = configs / "alertmanager" / "routing.yaml"
    where = _rel(path)
    doc = _load_yaml(path, problems)
    if not isinstance(doc, dict):
        problems.append(f"{where}: expected a mapping")
        doc = {}
    _unknown_keys(where, doc, _ROUTING_KEYS, problems)

    def duration(key: str, value: Any) -> str:
        try:
            parse_duration(str(value))
        except ValueError:
            problems.append(f"{where} {key}: {value!r} is not allowed; expected {DURATION_HELP}")
        return str(value)

    def labels(key: str, value: Any) -> tuple[str, ...]:
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            problems.append(f"{where} {key}: {value!r} is not allowed; expected a non-empty list of label names")
            return ()
        return tuple(value)

    severities: dict[str, SeverityRoute] = {}
    raw_sev = doc.get("severities") or {}
    if not isinstance(raw_sev, dict):
        problems.append(f"{where} severities: expected a mapping of severity to route")
        raw_sev = {}
    for sev in SEVERITIES:
        if sev not in raw_sev:
            problems.append(
                f"{where} severities.{sev}: missing; every severity ({', '.join(SEVERITIES)}) needs a route"
            )
    for sev, body in raw_sev.items():
        key = f"severities.{sev}"
        if sev not in SEVERITIES:
            problems.append(f"{where} {key}: unknown severity; allowed are " + ", ".join(SEVERITIES))
            continue
        if not isinstance(body, dict):
            problems.append(f"{where} {key}: expected a mapping with 'channels'")
            continue
        _unknown_keys(f"{where} {key}", body, ("channels", "repeat_interval"), problems)
        channels = body.get("channels") or []
        bad = [c for c in channels if c not in CHANNELS]
        if not isinstance(channels, list) or bad:
            problems.append(
                f"{where} {key}.channels: {channels!r} is not allowed; expected a list of " + ", ".join(CHANNELS)
            )
            channels = [c for c in channels if c in CHANNELS] if isinstance(channels, list) else []
        repeat = body.get("repeat_interval")
        severities[sev] = SeverityRoute(
            channels=tuple(channels),
            repeat_interval=duration(f"{key}.repeat_interval", repeat) if repeat is not None else None,
        )

    inhibit = []
    for i, rule in enumerate(doc.get("inhibit") or []):
        key = f"inhibit[{i}]"
        if not isinstance(rule, dict):
            problems.append(f"{where} {key}: expected a mapping")
            continue
        _unknown_keys(f"{where} {key}", rule, ("source_severity", "target_severity", "equal"), problems)
        src, dst = str(rule.get("source_severity")), str(rule.get("target_severity"))
        for name, sev in (("source_severity", src), ("target_severity", dst)):
            if sev not in SEVERITIES:
                problems.append(
                    f"{where} {key}.{name}: {sev!r} is not allowed; expected one of " + ", ".join(SEVERITIES)
                )
        inhibit.append(InhibitRule(str(src), str(dst), labels(f"{key}.equal", rule.get("equal"))))

    return Routing(
        group_by=labels("group_by", doc.get("group_by", ["alertname"])),
        group_wait=duration("group_wait", doc.get("group_wait", "30s")),
        group_interval=duration("group_interval", doc.get("group_interval", "5m")),
        repeat_interval=duration("repeat_interval", doc.get("repeat_interval", "4h")),
        severities=severities,
        inhibit=tuple(inhibit),
    )


# The scrape_config keys both Prometheus 2.42 (the validator CI has) and 3.x accept.
SCRAPE_CONFIG_KEYS = (
    "job_name", "scrape_interval", "scrape_timeout", "metrics_path", "scheme", "params",
    "honor_labels", "honor_timestamps", "basic_auth", "authorization", "oauth2", "tls_config",
    "proxy_url", "follow_redirects", "enable_http2", "static_configs", "file_sd_configs",
    "dns_sd_configs", "kubernetes_sd_configs", "docker_sd_configs", "http_sd_configs",
    "relabel_configs", "metric_relabel_configs", "sample_limit", "label_limit",
    "label_name_length_limit", "label_value_length_limit", "target_limit", "body_size_limit",
)
RESERVED_JOBS = (
    "prometheus", "alertmanager", "grafana", "loki", "collector", "jaeger", "node-exporter",
    "cadvisor", "vega-api", "vega-coordinator", "vega-database",
)


def load_extra_scrape_configs(configs: Path, problems: list[str]) -> tuple[Mapping[str, Any], ...]:
    """Scrape jobs users add as files in configs/prometheus/scrape_configs/ (the seed's
    "Edit prometheus.yml to add new scrape targets")."""
    jobs: list[Mapping[str, Any]] = []
    seen: dict[str, str] = {}
    for path in sorted((configs / "prometheus" / "scrape_configs").glob("*.y*ml")):
        where = _rel(path)
        doc = _load_yaml(path, problems)
        if doc is None:
            continue
        entries = doc.get("scrape_configs") if isinstance(doc, dict) else None
        if not isinstance(entries, list):
            problems.append(f"{where}: expected a list under 'scrape_configs'")
            continue
        for i, job in enumerate(entries):
            key = f"{where} scrape_configs[{i}]"
            if not isinstance(job, dict):
                problems.append(f"{key}: expected a mapping")
                continue
            _unknown_keys(key, job, SCRAPE_CONFIG_KEYS, problems)
            name = job.get("job_name")
            if not isinstance(name, str) or not name:
                problems.append(f"{key}.job_name: missing; every scrape job needs a job_name")
                continue
            if name in RESERVED_JOBS:
                problems.append(
                    f"{key}.job_name: {name!r} is taken by the stack's own jobs ({', '.join(RESERVED_JOBS)})"
                )
            if name in seen:
                problems.append(f"{key}.job_name: {name!r} is already defined in {seen[name]}")
            seen[name] = where
            for j, static in enumerate(job.get("static_configs") or []):
                targets = static.get("targets") if isinstance(static, dict) else None
                if not targets:
                    problems.append(f"{key}.static_configs[{j}].targets: empty; list at least one host:port")
                    continue
                for target in targets:
                    try:
                        check_target(str(target))
                    except ValueError:
                        problems.append(f"{key}.static_configs[{j}].targets: {target!r} is not host:port")
            jobs.append(job)
    return tuple(jobs)


# --------------------------------------------------------------------------- assembly

def missing_secret(key: str, when: str) -> str:
    return f"{key}: required {when}; set it with `pulumi config set --secret {key} <value>`"


REQUIRED_KUBERNETES_SECRETS = (
    "grafanaAdminPassword", "grafanaSecretKey", "grafanaDatabasePassword", "webPassword",
    "s3AccessKeyId", "s3SecretAccessKey",
)


_SECRET_REQUIRED_BY = {
    "alertmanagerSmtpPassword": "alertmanagerSmtpUsername",
    "jaegerStoragePassword": "jaegerStorageUsername",
    "prometheusRemoteWritePassword": "prometheusRemoteWriteUsername",
    "grafanaOidcClientSecret": "grafanaOidcEnabled",
}


def required_secrets(raw: Mapping[str, Any]) -> tuple[str, ...]:
    """Secret keys a stack with this (non-secret) config must set."""
    out = list(REQUIRED_KUBERNETES_SECRETS) if raw.get("platform") == "kubernetes" else []
    for secret, trigger in _SECRET_REQUIRED_BY.items():
        value = raw.get(trigger)
        if value not in (None, "", False, "false"):
            out.append(secret)
    return tuple(out)


KUBERNETES_WORKLOADS = (
    "prometheus", "thanos-sidecar", "thanos-query", "thanos-store", "thanos-compact", "alertmanager",
    "grafana", "loki-write", "loki-read", "loki-backend", "collector", "node-exporter",
    "jaeger-collector", "jaeger-query", "backup",
)
_QUANTITY_CPU = re.compile(r"^([1-9]\d*m|\d+(\.\d+)?)$")
_QUANTITY_BYTES = re.compile(r"^[1-9]\d*(Ki|Mi|Gi|Ti)$")
_STORAGE_WORKLOADS = ("prometheus", "thanos-store", "thanos-compact", "alertmanager", "loki-write", "loki-backend")


def load_kubernetes_sizing(configs: Path, problems: list[str]) -> dict[str, WorkloadSize]:
    path = configs / "sizing.yaml"
    doc = _load_yaml(path, problems) or {}
    sizes = doc.get("kubernetes") if isinstance(doc, dict) else None
    where = f"{_rel(path)} kubernetes"
    if not isinstance(sizes, dict):
        problems.append(f"{_rel(path)}: expected a mapping under 'kubernetes'")
        return {}
    _unknown_keys(where, sizes, KUBERNETES_WORKLOADS, problems)
    out = {}
    for name in KUBERNETES_WORKLOADS:
        body = sizes.get(name)
        if not isinstance(body, dict):
            problems.append(f"{where}.{name}: missing; every workload needs cpu, memory, cpu_limit, memory_limit")
            continue
        keys = ("cpu", "memory", "cpu_limit", "memory_limit", "storage")
        _unknown_keys(f"{where}.{name}", body, keys, problems)
        for key in keys[:4]:
            value = str(body.get(key, ""))
            pattern = _QUANTITY_CPU if key.startswith("cpu") else _QUANTITY_BYTES
            if not pattern.match(value):
                example = "500m or 2" if key.startswith("cpu") else "512Mi or 4Gi"
                problems.append(
                    f"{where}.{name}.{key}: {body.get(key)!r} is not allowed; expected a quantity such as {example}"
                )
        storage = str(body.get("storage", ""))
        if name in _STORAGE_WORKLOADS and not _QUANTITY_BYTES.match(storage):
            problems.append(
                f"{where}.{name}.storage: {body.get('storage')!r} is not allowed; expected a size such as 50Gi"
            )
        out[name] = WorkloadSize(
            cpu=str(body.get("cpu")), memory=str(body.get("memory")), cpu_limit=str(body.get("cpu_limit")),
            memory_limit=str(body.get("memory_limit")), storage=storage,
        )
    return out


_MIN_REPLICAS = {
    "prometheus": ("prometheusReplicas", 2),
    "alertmanager": ("alertmanagerReplicas", 3),
    "grafana": ("grafanaReplicas", 2),
    "loki-write": ("lokiWriteReplicas", 3),
    "loki-read": ("lokiReadReplicas", 2),
    "loki-backend": ("lokiBackendReplicas", 2),
    "jaeger-collector": ("jaegerCollectorReplicas", 2),
    "jaeger-query": ("jaegerQueryReplicas", 2),
    "thanos-query": ("thanosQueryReplicas", 2),
}
_K8S_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_CRON = re.compile(r"^(\S+\s+){4}\S+$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def _kubernetes(r: _Reader, configs: Path, problems: list[str]) -> KubernetesSettings:
    """The kubernetes-only settings; every missing or contradictory one becomes a problem."""

    def name(key: str, *, required: bool = True) -> str:
        value = str(r.typed(key) or "")
        if (value or required) and not _K8S_NAME.match(value):
            r.problem(key, value, "a Kubernetes name: lower-case letters, digits and -, at most 63")
        return value

    def host(key: str, *, required: bool) -> str:
        value = str(r.typed(key) or "")
        if required and not value:
            r.problems.append(f"{key}: required on kubernetes (the public host name, e.g. grafana.vega.example.org)")
        elif value and not _HOSTNAME.match(value):
            r.problem(key, value, "a DNS host name such as grafana.vega.example.org")
        return value

    def required_secret(key: str, min_length: int = 1) -> SecretStr:
        value = r.secret(key)
        if value is None:
            r.problems.append(missing_secret(key, "on kubernetes"))
            return SecretStr("")
        if len(value.reveal()) < min_length:
            r.problem(key, None, f"at least {min_length} characters", secret=True)
        return value

    namespace = name("namespace")
    agents = name("agentsNamespace")
    if namespace and namespace == agents:
        r.problems.append(
            "agentsNamespace: must differ from namespace; the node agents' host access stays out of the "
            "restricted namespace"
        )
    issuer = str(r.typed("certManagerIssuer") or "")
    ingress_secret = name("ingressTlsSecret", required=False)
    internal_secret = name("internalTlsSecret", required=False)
    if not issuer and not (ingress_secret and internal_secret):
        r.problems.append(
            "certManagerIssuer: required on kubernetes unless both ingressTlsSecret and internalTlsSecret are given "
            "(every endpoint of the stack speaks TLS)"
        )
    cidrs: dict[str, tuple[str, ...]] = {}
    for key in ("apiServerCidrs", "externalCidrs"):
        values = tuple(r.typed(key) or ())
        if not values:
            r.problem(key, list(values), "at least one CIDR such as 10.0.0.0/8")
        for value in values:
            try:
                ipaddress.ip_network(value)
            except ValueError:
                r.problem(key, value, "CIDRs such as 10.0.0.0/8 or 0.0.0.0/0")
        cidrs[key] = values
    vega_namespaces = tuple(r.typed("vegaNamespaces") or ())
    for value in vega_namespaces:
        if not _K8S_NAME.match(value):
            r.problem("vegaNamespaces", value, "Kubernetes namespace names")

    replicas = {}
    for workload, (key, minimum) in _MIN_REPLICAS.items():
        value = r.typed(key)
        if not isinstance(value, int) or value < minimum:
            r.problem(key, value, f"an integer of at least {minimum} (high availability)")
            value = minimum
        replicas[workload] = value
    if replicas["alertmanager"] % 2 == 0:
        r.problem("alertmanagerReplicas", replicas["alertmanager"], "an odd number, so a partition keeps a majority")

    endpoint = str(r.typed("s3Endpoint") or "")
    if not endpoint:
        r.problems.append("s3Endpoint: required on kubernetes (host[:port] of the S3-compatible storage)")
    elif "://" in endpoint or not re.fullmatch(r"[A-Za-z0-9.-]+(:\d{1,5})?", endpoint):
        r.problem("s3Endpoint", endpoint, "host[:port] without a scheme, e.g. s3.eu-west-1.amazonaws.com")
    buckets = {}
    for key in ("lokiBucket", "thanosBucket", "backupBucket"):
        value = str(r.typed(key) or "")
        if not _BUCKET.match(value):
            r.problem(key, value, "an S3 bucket name: 3-63 lower-case letters, digits, . and -")
        buckets[key] = value
    if len(set(buckets.values())) != len(buckets):
        r.problems.append("lokiBucket, thanosBucket, backupBucket: must be three different buckets")
    storage = ObjectStorage(
        endpoint=endpoint,
        region=str(r.typed("s3Region") or ""),
        insecure=bool(r.typed("s3Insecure")),
        access_key_id=required_secret("s3AccessKeyId"),
        secret_access_key=required_secret("s3SecretAccessKey"),
        loki_bucket=buckets["lokiBucket"],
        thanos_bucket=buckets["thanosBucket"],
        backup_bucket=buckets["backupBucket"],
    )
    schedule = str(r.typed("backupSchedule") or "")
    if not _CRON.match(schedule):
        r.problem("backupSchedule", schedule, "a cron schedule of five fields, e.g. '0 2 * * *'")
    web_user = str(r.typed("webUsername") or "")
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", web_user):
        r.problem("webUsername", web_user, "1-64 letters, digits or . _ -")

    return KubernetesSettings(
        namespace=namespace,
        agents_namespace=agents,
        cluster_domain=str(r.typed("clusterDomain") or ""),
        storage_class=name("storageClass", required=False),
        ingress_class=name("ingressClass"),
        ingress_controller_namespace=name("ingressControllerNamespace"),
        hosts={
            "grafana": host("grafanaHost", required=True),
            "prometheus": host("prometheusHost", required=False),
            "alertmanager": host("alertmanagerHost", required=False),
            "jaeger": host("jaegerHost", required=False),
        },
        cert_manager_issuer=issuer,
        ingress_tls_secret=ingress_secret,
        internal_tls_secret=internal_secret,
        ca_bundle_configmap=name("caBundleConfigMap", required=False),
        vega_namespaces=vega_namespaces,
        api_server_cidrs=cidrs["apiServerCidrs"],
        external_cidrs=cidrs["externalCidrs"],
        web_username=web_user,
        web_password=required_secret("webPassword", 12),
        replicas=replicas,
        object_storage=storage,
        backup_schedule=schedule,
        object_storage_retention=r.duration("objectStorageRetention"),
        sizing=load_kubernetes_sizing(configs, problems),
    )


def _kubernetes_grafana(r: _Reader) -> tuple[GrafanaDatabase, SecretStr, Oidc | None]:
    db_host = str(r.typed("grafanaDatabaseHost") or "")
    if not db_host:
        r.problems.append("grafanaDatabaseHost: required on kubernetes (host:port of the shared PostgreSQL)")
    else:
        try:
            check_target(db_host)
        except ValueError:
            r.problem("grafanaDatabaseHost", db_host, "host:port, e.g. postgres.db.svc:5432")
    password = r.secret("grafanaDatabasePassword")
    if password is None:
        r.problems.append(missing_secret("grafanaDatabasePassword", "on kubernetes"))
    database = GrafanaDatabase(
        host=db_host,
        name=str(r.typed("grafanaDatabaseName") or ""),
        user=str(r.typed("grafanaDatabaseUser") or ""),
        password=password or SecretStr(""),
        ssl_mode=r.choice("grafanaDatabaseSslMode", ("verify-full", "verify-ca", "require")),
    )
    secret_key = r.secret("grafanaSecretKey")
    if secret_key is None:
        r.problems.append(missing_secret("grafanaSecretKey", "on kubernetes"))
        secret_key = SecretStr("")
    elif len(secret_key.reveal()) < 32:
        r.problem("grafanaSecretKey", None, "at least 32 characters", secret=True)
    oidc = None
    if r.typed("grafanaOidcEnabled"):
        fields = {}
        for key in ("grafanaOidcClientId", "grafanaOidcAuthUrl", "grafanaOidcTokenUrl", "grafanaOidcApiUrl"):
            value = str(r.typed(key) or "")
            if not value:
                r.problems.append(f"{key}: required when grafanaOidcEnabled is true")
            elif key != "grafanaOidcClientId" and not value.startswith("https://"):
                r.problem(key, value, "an https:// URL")
            fields[key] = value
        client_secret = r.secret("grafanaOidcClientSecret")
        if client_secret is None:
            r.problems.append(missing_secret("grafanaOidcClientSecret", "when grafanaOidcEnabled is true"))
        oidc = Oidc(
            name=str(r.typed("grafanaOidcName") or ""),
            client_id=fields["grafanaOidcClientId"],
            client_secret=client_secret or SecretStr(""),
            auth_url=fields["grafanaOidcAuthUrl"],
            token_url=fields["grafanaOidcTokenUrl"],
            api_url=fields["grafanaOidcApiUrl"],
            scopes=str(r.typed("grafanaOidcScopes") or ""),
            role_attribute_path=str(r.typed("grafanaOidcRoleAttributePath") or ""),
        )
    return database, secret_key, oidc


def _remote_write(r: _Reader) -> RemoteWrite | None:
    url = str(r.typed("prometheusRemoteWriteUrl") or "")
    username = str(r.typed("prometheusRemoteWriteUsername") or "")
    password = r.secret("prometheusRemoteWritePassword")
    if not url:
        if username or password is not None:
            r.problems.append("prometheusRemoteWriteUrl: required when remote-write credentials are set")
        return None
    if not url.startswith("https://"):
        r.problem("prometheusRemoteWriteUrl", url, "an https:// URL")
    if username and password is None:
        r.problems.append(missing_secret("prometheusRemoteWritePassword", "with prometheusRemoteWriteUsername"))
    return RemoteWrite(url=url, username=username, password=password)


def _kubernetes_jaeger(r: _Reader, jaeger: JaegerSettings) -> JaegerSettings:
    urls = tuple(r.typed("jaegerStorageUrls") or ())
    if not urls:
        r.problems.append("jaegerStorageUrls: required on kubernetes (OpenSearch/Elasticsearch URLs of trace storage)")
    for url in urls:
        if not re.match(r"^https?://[^\s/]+", url):
            r.problem("jaegerStorageUrls", url, "http:// or https:// URLs")
    username = str(r.typed("jaegerStorageUsername") or "")
    password = r.secret("jaegerStoragePassword")
    if username and password is None:
        r.problems.append(missing_secret("jaegerStoragePassword", "with jaegerStorageUsername"))
    prefix = str(r.typed("jaegerIndexPrefix") or "")
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,30}", prefix):
        r.problem("jaegerIndexPrefix", prefix, "lower-case letters, digits, _ and -, at most 31")
    return dataclasses.replace(
        jaeger, storage_urls=urls, storage_username=username, storage_password=password, index_prefix=prefix
    )


DOCKER_ONLY = {
    "bindAddress", "dockerNetwork", "dockerExternalNetworks", "grafanaPort", "prometheusPort",
    "alertmanagerPort", "lokiPort", "jaegerUiPort", "otlpGrpcPort", "otlpHttpPort",
}
KUBERNETES_ONLY = {
    "namespace", "agentsNamespace", "clusterDomain", "storageClass", "ingressClass", "ingressControllerNamespace",
    "grafanaHost", "prometheusHost", "alertmanagerHost", "jaegerHost", "certManagerIssuer", "ingressTlsSecret",
    "internalTlsSecret", "caBundleConfigMap", "vegaNamespaces", "apiServerCidrs", "externalCidrs", "webUsername",
    "webPassword", "prometheusReplicas", "alertmanagerReplicas", "grafanaReplicas", "lokiWriteReplicas",
    "lokiReadReplicas", "lokiBackendReplicas", "jaegerCollectorReplicas", "jaegerQueryReplicas",
    "thanosQueryReplicas", "prometheusRemoteWriteUrl", "prometheusRemoteWriteUsername",
    "prometheusRemoteWritePassword", "s3Endpoint", "s3Region", "s3Insecure", "s3AccessKeyId", "s3SecretAccessKey",
    "lokiBucket", "thanosBucket", "backupBucket", "backupSchedule", "objectStorageRetention", "grafanaDatabaseHost",
    "grafanaDatabaseName", "grafanaDatabaseUser", "grafanaDatabasePassword", "grafanaDatabaseSslMode",
    "grafanaSecretKey", "grafanaOidcEnabled", "grafanaOidcName", "grafanaOidcClientId", "grafanaOidcClientSecret",
    "grafanaOidcAuthUrl", "grafanaOidcTokenUrl", "grafanaOidcApiUrl", "grafanaOidcScopes",
    "grafanaOidcRoleAttributePath", "jaegerStorageUrls", "jaegerStorageUsername", "jaegerStoragePassword",
    "jaegerIndexPrefix",
}


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
    schema = dict(schema or load_schema())
    configs = configs or configs_dir()
    r = _Reader(raw, schema)

    for key in sorted(set(raw) - set(schema)):
        near = difflib.get_close_matches(key, schema, n=1)
        hint = f"; did you mean {near[0]!r}?" if near else "; see the config block of Pulumi.yaml"
        r.problems.append(f"{key}: unknown configuration key{hint}")

    platform = r.choice("platform", PLATFORMS)
    collector = r.choice("collector", COLLECTORS)
    explicit = frozenset(k for k in raw if k in schema)

    if platform == "kubernetes":
        for key in sorted(explicit & DOCKER_ONLY):
            r.problems.append(f"{key}: applies to platform 'docker' only; remove it from this kubernetes stack")
    else:
        for key in sorted(explicit & KUBERNETES_ONLY):
            r.problems.append(f"{key}: applies to platform 'kubernetes' only; remove it from this docker stack")

    # ---- prometheus
    scrape_interval = r.duration("scrapeInterval")
    scrape_timeout = r.duration("scrapeTimeout")
    try:
        if parse_duration(scrape_timeout) > parse_duration(scrape_interval):
            r.problem("scrapeTimeout", scrape_timeout, f"at most scrapeInterval ({scrape_interval})")
    except ValueError:
        pass
    retention_size = str(r.typed("prometheusRetentionSize") or "")
    if retention_size and not _SIZE.match(retention_size):
        r.problem("prometheusRetentionSize", retention_size, "empty or a size such as 512MB, 20GB or 1TB")
    runbook_base_url = str(r.typed("runbookBaseUrl") or "")
    if not re.match(r"^https?://[^\s/]+", runbook_base_url):
        r.problem("runbookBaseUrl", runbook_base_url, "an http:// or https:// URL where docs/runbooks.md is published")
    file_problems: list[str] = []
    prometheus = PrometheusSettings(
        scrape_interval=scrape_interval,
        scrape_timeout=scrape_timeout,
        evaluation_interval=r.duration("evaluationInterval"),
        vega_api_targets=r.targets("vegaApiTargets", required=True),
        vega_coordinator_targets=r.targets("vegaCoordinatorTargets", required=True),
        vega_database_targets=r.targets("vegaDatabaseTargets", required=False),
        retention_time=r.duration("prometheusRetentionTime"),
        retention_size=retention_size,
        runbook_base_url=runbook_base_url,
        extra_scrape_configs=load_extra_scrape_configs(configs, file_problems),
    )

    # ---- alertmanager
    webhook_url = str(r.typed("alertmanagerWebhookUrl") or "")
    if webhook_url and not re.match(r"^https?://[^\s/]+", webhook_url):
        r.problem("alertmanagerWebhookUrl", webhook_url, "empty or an http:// or https:// URL")
    email_to = str(r.typed("alertmanagerEmailTo") or "")
    email_from = str(r.typed("alertmanagerEmailFrom") or "")
    smarthost = str(r.typed("alertmanagerSmtpSmarthost") or "")
    smtp_user = str(r.typed("alertmanagerSmtpUsername") or "")
    smtp_password = r.secret("alertmanagerSmtpPassword")
    for key, value in (("alertmanagerEmailTo", email_to), ("alertmanagerEmailFrom", email_from)):
        if value and not _EMAIL.match(value):
            r.problem(key, value, "an e-mail address such as oncall@example.org")
    if email_to:
        if not email_from:
            r.problems.append("alertmanagerEmailFrom: required when alertmanagerEmailTo is set")
        if not smarthost:
            r.problems.append("alertmanagerSmtpSmarthost: required when alertmanagerEmailTo is set")
    if smarthost:
        try:
            check_target(smarthost)
        except ValueError:
            r.problem("alertmanagerSmtpSmarthost", smarthost, "host:port of an SMTP relay, e.g. smtp.example.org:587")
    if smtp_user and smtp_password is None:
        r.problems.append(missing_secret("alertmanagerSmtpPassword", "when alertmanagerSmtpUsername is set"))
    slack_url = r.secret("alertmanagerSlackApiUrl")
    if slack_url is not None and not slack_url.reveal().startswith("https://"):
        r.problem("alertmanagerSlackApiUrl", None, "an https:// URL", secret=True)
    alertmanager = AlertmanagerSettings(
        enabled=bool(r.typed("alertmanagerEnabled")),
        routing=load_routing(configs, file_problems),
        webhook_url=webhook_url,
        webhook_token=r.secret("alertmanagerWebhookToken"),
        slack_api_url=slack_url,
        slack_channel=str(r.typed("alertmanagerSlackChannel") or ""),
        email_to=email_to,
        email_from=email_from,
        smtp_smarthost=smarthost,
        smtp_username=smtp_user,
        smtp_password=smtp_password,
    )
    if slack_url is not None and not alertmanager.slack_channel:
        r.problem("alertmanagerSlackChannel", "", "a channel such as #vega-alerts when Slack is configured")

    # ---- grafana
    admin_user = str(r.typed("grafanaAdminUser") or "")
    if not re.fullmatch(r"[A-Za-z0-9._@-]{1,64}", admin_user):
        r.problem("grafanaAdminUser", admin_user, "1-64 letters, digits or . _ @ -")
    admin_password = r.secret("grafanaAdminPassword")
    if admin_password is None:
        if platform == "docker":
            admin_password = SecretStr("admin")  # the seed's documented dev login
        else:
            r.problems.append(missing_secret("grafanaAdminPassword", "on kubernetes"))
            admin_password = SecretStr("")
    elif platform == "kubernetes" and len(admin_password.reveal()) < 12:
        r.problem("grafanaAdminPassword", None, "at least 12 characters on kubernetes", secret=True)
    root_url = str(r.typed("grafanaRootUrl") or "")
    if root_url and not re.match(r"^https?://[^\s/]+", root_url):
        r.problem("grafanaRootUrl", root_url, "empty or an http:// or https:// URL")
    grafana = GrafanaSettings(admin_user=admin_user, admin_password=admin_password, root_url=root_url)

    # ---- loki
    loki_retention = r.duration("lokiRetention")
    try:
        if parse_duration(loki_retention) % 86400:
            r.problem("lokiRetention", loki_retention, "a multiple of 24h (Loki's index period), e.g. 168h")
    except ValueError:
        pass

    # ---- jaeger
    storages = ("memory", "badger") if platform == "docker" else ("opensearch", "elasticsearch")
    jaeger_storage = r.choice("jaegerStorage", storages, default=storages[0])
    max_traces = int(r.typed("jaegerMaxTraces") or 0)
    if max_traces < 1000:
        r.problem("jaegerMaxTraces", max_traces, "an integer of at least 1000")
    jaeger = JaegerSettings(storage=jaeger_storage, max_traces=max_traces, retention=r.duration("jaegerRetention"))

    # ---- images and sizing (configs/)
    images = load_images(configs, file_problems)

    docker = None
    if platform == "docker":
        ports = DockerPorts(
            grafana=r.port("grafanaPort"),
            prometheus=r.port("prometheusPort"),
            alertmanager=r.port("alertmanagerPort"),
            loki=r.port("lokiPort"),
            jaeger_ui=r.port("jaegerUiPort"),
            otlp_grpc=r.port("otlpGrpcPort"),
            otlp_http=r.port("otlpHttpPort"),
        )
        port_keys = {
            "grafanaPort": ports.grafana, "prometheusPort": ports.prometheus, "lokiPort": ports.loki,
            "jaegerUiPort": ports.jaeger_ui, "otlpGrpcPort": ports.otlp_grpc, "otlpHttpPort": ports.otlp_http,
        }
        if alertmanager.enabled:
            port_keys["alertmanagerPort"] = ports.alertmanager
        by_port: dict[int, list[str]] = {}
        for key, port in port_keys.items():
            by_port.setdefault(port, []).append(key)
        for port, keys in sorted(by_port.items()):
            if len(keys) > 1:
                r.problems.append(
                    f"{', '.join(sorted(keys))}: all set to host port {port}; each service needs its own port"
                )
        bind = str(r.typed("bindAddress"))
        try:
            ipaddress.ip_address(bind)
        except ValueError:
            r.problem("bindAddress", bind, "an IP address such as 127.0.0.1 (local only) or 0.0.0.0 (all interfaces)")
        network = str(r.typed("dockerNetwork"))
        if not _DOCKER_NAME.match(network):
            r.problem("dockerNetwork", network, "a Docker network name: letters, digits, _ . - (not first)")
        externals = tuple(r.typed("dockerExternalNetworks") or ())
        for name in externals:
            if not _DOCKER_NAME.match(name) or name == network:
                r.problem("dockerExternalNetworks", name, "names of existing Docker networks other than dockerNetwork")
        docker = DockerSettings(
            bind_address=bind,
            network=network,
            external_networks=externals,
            ports=ports,
            memory_mb=load_docker_memory(configs, file_problems),
        )

    kubernetes = None
    if platform == "kubernetes":
        kubernetes = _kubernetes(r, configs, file_problems)
        database, secret_key, oidc = _kubernetes_grafana(r)
        grafana = dataclasses.replace(grafana, database=database, secret_key=secret_key, oidc=oidc)
        prometheus = dataclasses.replace(prometheus, remote_write=_remote_write(r))
        jaeger = _kubernetes_jaeger(r, jaeger)

    problems = r.problems + file_problems
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
        loki=LokiSettings(retention=loki_retention),
        jaeger=jaeger,
        docker=docker,
        kubernetes=kubernetes,
        explicit_keys=explicit,
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
    return load(raw, pulumi.get_stack())
