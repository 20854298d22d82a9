"""The exporter-toolkit web config (TLS and basic auth) that Prometheus, Alertmanager,
Thanos and node-exporter read with --web.config.file / --http.config, and the htpasswd line
of the Jaeger Ingress.

Password hashes are bcrypt with a salt drawn from the stack's random key (KubernetesCluster.
key, a `random.RandomBytes` kept secret in the Pulumi state): unpredictable, one per stack and
user, never derived from the password, and the same on every `pulumi up`, so a run that
changes no password changes no Secret and restarts no pod. Everything derived here is an
Output derived from the secret key, so Pulumi keeps it secret too.
"""

from __future__ import annotations

import base64
from typing import Any

import bcrypt
import pulumi

from components.content import to_yaml
from components.platform.kubernetes import TLS_DIR, keyed_digest
from components.settings import SecretStr

BCRYPT_COST = 10
# bcrypt writes its 16 salt bytes in base64's bit order with an alphabet of its own.
_BASE64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_BCRYPT64 = b"./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_TO_BCRYPT64 = bytes.maketrans(_BASE64, _BCRYPT64)


def bcrypt_salt(key: str, username: str) -> bytes:
    """The bcrypt salt of `username`'s hashes: 16 bytes of HMAC(stack key, username)."""
    raw = bytes.fromhex(keyed_digest(key, "bcrypt-salt", {"username": username}))[:16]
    encoded = base64.b64encode(raw).translate(_TO_BCRYPT64)[:22]
    return b"$2b$%02d$" % BCRYPT_COST + encoded


def bcrypt_hash(key: str, username: str, password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt_salt(key, username)).decode()


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


def hashed_web_config(key: pulumi.Output[str], username: str, password: SecretStr) -> pulumi.Output[str]:
    """A web config with TLS and `username`'s bcrypt hash: a secret Output."""
    return key.apply(
        lambda k: web_config(users={username: bcrypt_hash(k, username, password.reveal())})
    )


def htpasswd(key: pulumi.Output[str], username: str, password: SecretStr) -> pulumi.Output[str]:
    """`user:bcrypt-hash`, the auth file of ingress-nginx's basic auth: a secret Output."""
    return key.apply(lambda k: f"{username}:{bcrypt_hash(k, username, password.reveal())}")
