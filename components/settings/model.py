"""The typed, frozen settings the program reads, and the error every bad input ends in."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

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
    demo_api: int = 8000
    demo_coordinator: int = 8001


@dataclass(frozen=True)
class DockerSettings:
    bind_address: str
    network: str
    external_networks: tuple[str, ...]
    ports: DockerPorts
    memory_mb: Mapping[str, int]
    demo: bool = False  # the demo Vega (components/demo)


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
    # kubernetes: the job that computes the service dependency graph from the stored spans
    # ("" when switched off), the variant of its image, and its cron schedule.
    dependencies_variant: str = ""
    dependencies_schedule: str = ""


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
    node_cidrs: tuple[str, ...]
    external_cidrs: tuple[str, ...]
    web_username: str
    web_password: SecretStr
    replicas: Mapping[str, int]
    object_storage: ObjectStorage
    backup_schedule: str
    object_storage_retention: str
    sizing: Mapping[str, WorkloadSize]
    loki_ingester_zones: tuple[str, ...] = ()  # zone-aware replication across these zones (empty: off)


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
    warnings: tuple[str, ...] = ()  # accepted, but worth a word at `pulumi up`


