"""Loki: stores and queries the logs the collector ships."""

from __future__ import annotations

import pulumi

from components import endpoints
from components.loki import config
from components.platform.docker import DockerHost
from components.platform.spec import ContainerSpec, PortSpec
from components.service import ServiceArgs, docker_url


class Loki(pulumi.ComponentResource):
    url: pulumi.Output[str]

    def __init__(self, name: str, args: ServiceArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("vega:loki:Loki", name, None, opts)
        s = args.settings
        host = args.platform
        if isinstance(host, DockerHost):
            assert s.docker is not None
            spec = ContainerSpec(
                service="loki",
                image=s.images["loki"],
                args=config.args(),
                config_dir=config.CONFIG_DIR,
                files=args.files,
                ports=(PortSpec("http", endpoints.LOKI, s.docker.ports.loki),),
                memory_mb=s.docker.memory_mb["loki"],
                volumes={"data": config.DATA_DIR},
                # The image is distroless (no shell, no wget): Loki checks itself.
                health_cmd=("/usr/bin/loki", "-health"),
                health_path="/ready",
            )
            self.container = host.run(name, spec, self)
            self.url = pulumi.Output.from_input(docker_url(host, s.docker.ports.loki))
        else:
            from components.loki import kubernetes

            assert s.kubernetes is not None
            kubernetes.deploy(name, s, dict(args.files), host, self)
            # In-cluster only: Grafana queries the query frontends; Loki has no Ingress.
            self.url = pulumi.Output.from_input(kubernetes.query_url(s.kubernetes))
        self.register_outputs({"url": self.url})
