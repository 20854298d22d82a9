"""What every service component receives, and the parts they share."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from components.platform.docker import DockerHost
from components.platform.kubernetes import KubernetesCluster
from components.settings import Settings

# Every component dispatches on the platform it is given.
Platform = DockerHost | KubernetesCluster


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


def kubernetes_url(cluster: KubernetesCluster, service: str, in_cluster: str) -> str:
    """The public URL when the service has an Ingress host, else its in-cluster address."""
    host = cluster.k.hosts.get(service, "")
    return f"https://{host}/" if host else in_cluster
