"""What every service component receives, and the parts they share."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from components.platform.docker import DockerHost
from components.settings import Settings

# The kubernetes backend joins this union when it exists; every component dispatches on it.
Platform = DockerHost


@dataclass(frozen=True)
class ServiceArgs:
    """One Args shape for every service on every platform: the validated settings, the
    service's rendered config files, and the platform backend to deploy through."""

    settings: Settings
    files: Mapping[str, str]
    platform: Platform


def docker_url(host: DockerHost, port: int) -> str:
    """The URL a person on the docker host opens for a published port."""
    bind = host.settings.bind_address
    shown = "localhost" if bind in ("127.0.0.1", "0.0.0.0", "::", "::1") else bind
    return f"http://{shown}:{port}"
