"""Loki configuration. The dev stack runs Loki as one process (-target=all) on a volume;
retention is enforced by the compactor (retention_enabled, with its delete-request store)."""

from __future__ import annotations

from typing import Any

from components import endpoints
from components.content import read_yaml, to_yaml
from components.settings import ConfigError, LokiSettings
from components.settings.logs import LOKI_LIMITS

CONFIG_DIR = "/etc/loki"
DATA_DIR = "/loki"
SCHEMA_START = "2024-01-01"

HEADER = """\
Rendered by vega-observability. Do not edit here: change configs/loki/ or the loki* stack config."""

LIMIT_KEYS = tuple(LOKI_LIMITS)  # the limits_config keys configs/loki/limits.yaml may set


def limits(loki: LokiSettings) -> dict[str, Any]:
    doc = read_yaml("loki/limits.yaml")
    if not isinstance(doc, dict):
        raise ConfigError(["configs/loki/limits.yaml: expected a mapping of limits_config keys"])
    unknown = sorted(set(doc) - set(LIMIT_KEYS))
    if unknown:
        raise ConfigError(
            [f"configs/loki/limits.yaml: unknown key(s) {', '.join(unknown)}; allowed are " + ", ".join(LIMIT_KEYS)]
        )
    if "retention_period" in doc:
        raise ConfigError(["configs/loki/limits.yaml: retention_period is set by the lokiRetention stack key"])
    return {**doc, "retention_period": loki.retention}


def single_binary(loki: LokiSettings) -> dict[str, Any]:
    return {
        "auth_enabled": False,
        "server": {
            "http_listen_port": endpoints.LOKI,
            "grpc_listen_port": endpoints.LOKI_GRPC,
            "log_level": "info",
        },
        "common": {
            "path_prefix": DATA_DIR,
            "replication_factor": 1,
            "instance_addr": "127.0.0.1",
            "ring": {"kvstore": {"store": "inmemory"}},
            "storage": {
                "filesystem": {"chunks_directory": f"{DATA_DIR}/chunks", "rules_directory": f"{DATA_DIR}/rules"}
            },
        },
        "schema_config": {
            "configs": [
                {
                    "from": SCHEMA_START,
                    "store": "tsdb",
                    "object_store": "filesystem",
                    "schema": "v13",
                    "index": {"prefix": "index_", "period": "24h"},
                }
            ]
        },
        "limits_config": limits(loki),
        "compactor": {
            "working_directory": f"{DATA_DIR}/compactor",
            "compaction_interval": "10m",
            "retention_enabled": True,
            "retention_delete_delay": "2h",
            "retention_delete_worker_count": 150,
            "delete_request_store": "filesystem",
        },
        "query_range": {"results_cache": {"cache": {"embedded_cache": {"enabled": True, "max_size_mb": 100}}}},
        "analytics": {"reporting_enabled": False},
    }


def render(loki: LokiSettings, config: dict[str, Any] | None = None) -> dict[str, str]:
    """{path relative to /etc/loki: text}."""
    return {"config.yaml": to_yaml(config or single_binary(loki), HEADER)}


def args(target: str = "all") -> tuple[str, ...]:
    return (f"-config.file={CONFIG_DIR}/config.yaml", f"-target={target}")
