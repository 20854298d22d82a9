"""What a service's container needs, independent of where it runs.

Each service component fills in a ContainerSpec from its rendered config; a platform backend
turns it into a Docker container or into a Kubernetes pod template. What differs between
the platforms for real (replicas, clustering, storage, TLS) stays in the service's own
backend code, not here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from components.settings import SecretStr


@dataclass(frozen=True)
class PortSpec:
    name: str
    container_port: int
    host_port: int | None = None  # published on the docker host when set
    protocol: str = "tcp"


@dataclass(frozen=True)
class HostMount:
    host_path: str
    container_path: str
    read_only: bool = True


@dataclass(frozen=True)
class ContainerSpec:
    service: str  # short name: network alias on docker, app name on kubernetes
    image: str
    args: tuple[str, ...]
    config_dir: str  # where `files` land inside the container
    files: Mapping[str, str]  # path relative to config_dir -> content
    ports: tuple[PortSpec, ...]
    memory_mb: int
    secret_files: Mapping[str, SecretStr] = field(default_factory=dict)  # relative to config_dir
    env: Mapping[str, str] = field(default_factory=dict)
    volumes: Mapping[str, str] = field(default_factory=dict)  # volume key -> mount path
    host_mounts: tuple[HostMount, ...] = ()
    health_cmd: tuple[str, ...] = ()  # docker HEALTHCHECK test, run inside the container
    health_path: str = ""  # HTTP path for kubernetes probes (on the first port)
    user: str = ""
    privileged: bool = False
    entrypoint: tuple[str, ...] = ()
