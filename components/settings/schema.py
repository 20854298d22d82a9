"""The stack config keys declared in Pulumi.yaml, and where the program finds its files.

Every key the program reads is declared in the ``config:`` block of ``Pulumi.yaml``; the
types and defaults come from there, so the schema and the program cannot drift apart.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

PROJECT = "vega-observability"
ROOT = Path(__file__).resolve().parent.parent.parent
CONFIGS_ENV = "VEGA_CONFIGS_DIR"


def configs_dir() -> Path:
    """The content directory: configs/ of this repository, or $VEGA_CONFIGS_DIR when set
    (a copy of configs/ with local changes, e.g. in tests)."""
    return Path(os.environ.get(CONFIGS_ENV) or ROOT / "configs")


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



def missing_secret(key: str, when: str) -> str:
    return f"{key}: required {when}; set it with `make config ARGS='set --secret {key}'` (asks for the value)"


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


