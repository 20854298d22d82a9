"""Prometheus: scrapes the stack and the Vega targets, evaluates the rules, sends alerts."""

from __future__ import annotations

import pulumi

from components import endpoints
from components.platform.docker import DockerHost
from components.platform.spec import ContainerSpec, PortSpec
from components.prometheus import config
from components.service import ServiceArgs, docker_url, kubernetes_url


class Prometheus(pulumi.ComponentResource):
    url: pulumi.Output[str]

    def __init__(self, name: str, args: ServiceArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("vega:prometheus:Prometheus", name, None, opts)
        s = args.settings
        host = args.platform
        if isinstance(host, DockerHost):
            assert s.docker is not None
            spec = ContainerSpec(
                service="prometheus",
                image=s.images["prometheus"],
                args=config.args(s),
                config_dir=config.CONFIG_DIR,
                files=args.files,
                ports=(PortSpec("http", endpoints.PROMETHEUS, s.docker.ports.prometheus),),
                memory_mb=s.docker.memory_mb["prometheus"],
                volumes={"data": config.DATA_DIR},
                health_cmd=("wget", "-q", "--spider", f"http://localhost:{endpoints.PROMETHEUS}/-/ready"),
                health_path="/-/ready",
            )
            self.container = host.run(name, spec, self, external_networks=True)
            self.url = pulumi.Output.from_input(docker_url(host, s.docker.ports.prometheus))
        else:
            from components.prometheus import kubernetes

            kubernetes.deploy(name, s, dict(args.files), host, self)
            in_cluster = f"https://prometheus.{host.ns}.svc:{endpoints.PROMETHEUS}"
            self.url = pulumi.Output.from_input(kubernetes_url(host, "prometheus", in_cluster))
        self.register_outputs({"url": self.url})
