"""The log collector: Grafana Alloy (default) or Promtail, running the same pipeline file."""

from __future__ import annotations

import pulumi

from components.collector import config
from components.platform.docker import DockerHost
from components.platform.spec import ContainerSpec, HostMount, PortSpec
from components.service import ServiceArgs


class LogCollector(pulumi.ComponentResource):
    kind: str

    def __init__(self, name: str, args: ServiceArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("vega:collector:LogCollector", name, None, opts)
        s = args.settings
        host = args.platform
        self.kind = s.collector
        if isinstance(host, DockerHost):
            assert s.docker is not None
            spec = ContainerSpec(
                service="collector",
                image=s.images[s.collector],
                args=config.args(s.collector),
                config_dir=config.CONFIG_DIR,
                files=args.files,
                ports=(PortSpec("http", config.metrics_port(s.collector)),),
                memory_mb=s.docker.memory_mb["collector"],
                volumes={"data": config.DATA_DIR},
                # Container logs come through the Docker API; system logs from /var/log.
                # Read-only, but the Docker socket still grants API access: the one
                # privileged grant of the dev stack, as for any log agent on Docker.
                host_mounts=(
                    HostMount("/var/run/docker.sock", "/var/run/docker.sock"),
                    HostMount("/var/log", "/var/log"),
                ),
                # Neither image ships an HTTP client for an in-container check; Prometheus
                # watches the collector through its `collector` scrape job instead.
                health_path="/-/ready" if s.collector == "alloy" else "/ready",
            )
            self.container = host.run(name, spec, self)
        else:
            from components.collector import kubernetes

            kubernetes.deploy(name, s, dict(args.files), host, self)
        self.register_outputs({"kind": self.kind})
