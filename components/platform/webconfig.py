"""The exporter-toolkit web config (TLS and basic auth) that Prometheus, Alertmanager,
Thanos and node-exporter read with --web.config.file / --http.config."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import bcrypt

from components.content import to_yaml
from components.platform.kubernetes import TLS_DIR

_BCRYPT_ALPHABET = b"./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
BCRYPT_COST = 10


def bcrypt_hash(username: str, password: str) -> str:
    """bcrypt hash of the password with a salt derived from it, so the same password gives
    the same hash on every `pulumi up` (a fresh salt would change the Secret, and restart
    the pods, on every run). The hash never leaves a Kubernetes Secret."""
    digest = hashlib.sha256(f"vega-observability\0{username}\0{password}".encode()).digest()
    salt = bytes(_BCRYPT_ALPHABET[b % 64] for b in digest[:22])
    # The last salt character carries only 2 significant bits in bcrypt's encoding.
    salt = salt[:21] + bytes([_BCRYPT_ALPHABET[(digest[21] % 4) * 16]])
    return bcrypt.hashpw(password.encode(), b"$2b$%02d$" % BCRYPT_COST + salt).decode()


def basic_auth_header(username: str, password: str) -> str:
    return base64.b64encode(f"{username}:{password}".encode()).decode()


def web_config(*, tls: bool = True, users: dict[str, str] | None = None) -> str:
    config: dict[str, Any] = {}
    if tls:
        config["tls_server_config"] = {
            "cert_file": f"{TLS_DIR}/tls.crt",
            "key_file": f"{TLS_DIR}/tls.key",
            "min_version": "TLS12",
        }
    if users:
        config["basic_auth_users"] = dict(users)
    return to_yaml(config, "Rendered by vega-observability: TLS and basic auth of this endpoint.")
