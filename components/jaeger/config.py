"""Jaeger v2 configuration (an OpenTelemetry Collector build): OTLP in, storage, query UI."""

from __future__ import annotations

from typing import Any

from components import endpoints
from components.content import to_yaml
from components.settings import JaegerSettings

CONFIG_DIR = "/etc/jaeger"
# The image runs as uid 10001 and declares /tmp as its only writable volume; Badger's
# directories live there so a named volume mounted on /tmp keeps them.
DATA_DIR = "/tmp"
STORE = "main_store"

HEADER = """\
Rendered by vega-observability. Do not edit here: change the jaeger* stack config keys."""


def storage_backend(jaeger: JaegerSettings) -> dict[str, Any]:
    if jaeger.storage == "badger":
        return {
            "badger": {
                "directories": {"keys": f"{DATA_DIR}/badger/keys", "values": f"{DATA_DIR}/badger/values"},
                "ephemeral": False,
                "ttl": {"spans": jaeger.retention},
            }
        }
    return {"memory": {"max_traces": jaeger.max_traces}}


def render(jaeger: JaegerSettings, backend: dict[str, Any] | None = None) -> dict[str, str]:
    """{path relative to /etc/jaeger: text}. `backend` overrides the storage (kubernetes)."""
    config = {
        "service": {
            "extensions": ["jaeger_storage", "jaeger_query", "healthcheckv2"],
            "pipelines": {
                "traces": {
                    "receivers": ["otlp"],
                    "processors": ["batch"],
                    "exporters": ["jaeger_storage_exporter"],
                }
            },
            "telemetry": {
                "resource": {"service.name": "jaeger"},
                "metrics": {
                    "level": "detailed",
                    "readers": [
                        {"pull": {"exporter": {"prometheus": {"host": "0.0.0.0", "port": endpoints.JAEGER_METRICS}}}}
                    ],
                },
                "logs": {"level": "info"},
            },
        },
        "extensions": {
            "healthcheckv2": {"use_v2": True, "http": {"endpoint": f"0.0.0.0:{endpoints.JAEGER_HEALTH}"}},
            "jaeger_query": {
                "storage": {"traces": STORE},
                "base_path": "/",
                "http": {"endpoint": f"0.0.0.0:{endpoints.JAEGER_UI}"},
                "grpc": {"endpoint": "0.0.0.0:16685"},
            },
            "jaeger_storage": {"backends": {STORE: backend or storage_backend(jaeger)}},
        },
        "receivers": {
            "otlp": {
                "protocols": {
                    "grpc": {"endpoint": f"0.0.0.0:{endpoints.OTLP_GRPC}"},
                    "http": {"endpoint": f"0.0.0.0:{endpoints.OTLP_HTTP}"},
                }
            }
        },
        "processors": {"batch": {}},
        "exporters": {"jaeger_storage_exporter": {"trace_storage": STORE}},
    }
    return {"config.yaml": to_yaml(config, HEADER)}


def args() -> tuple[str, ...]:
    return ("--config", f"{CONFIG_DIR}/config.yaml")
