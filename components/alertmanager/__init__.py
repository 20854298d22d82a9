"""Alertmanager: groups, routes and delivers the alerts Prometheus sends."""

from __future__ import annotations

import pulumi

from components import endpoints
from components.alertmanager import config
from components.platform.docker import DockerHost
from components.platform.spec import ContainerSpec, PortSpec
from components.service import ServiceArgs, docker_url, kubernetes_url


class Alertmanager(pulumi.ComponentResource):
    url: pulumi.Output[str]

    def __init__(self, name: str, args: ServiceArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("vega:alertmanager:Alertmanager", name, None, opts)
        s = args.settings
        host = args.platform
        if isinstance(host, DockerHost):
            assert s.docker is not None
            url = docker_url(host, s.docker.ports.alertmanager)
            spec = ContainerSpec(
                service="alertmanager",
                image=s.images["alertmanager"],
                args=config.args(external_url=url),
                config_dir=config.CONFIG_DIR,
                files=args.files,
                secret_files=config.secret_files(s.alertmanager),
                ports=(PortSpec("http", endpoints.ALERTMANAGER, s.docker.ports.alertmanager),),
                memory_mb=s.docker.memory_mb["alertmanager"],
                volumes={"data": config.DATA_DIR},
                health_cmd=("wget", "-q", "--spider", f"http://localhost:{endpoints.ALERTMANAGER}/-/ready"),
                health_path="/-/ready",
            )
            self.container = host.run(name, spec, self)
            self.url = pulumi.Output.from_input(url)
        else:
            from components.alertmanager import kubernetes

            kubernetes.deploy(name, s, dict(args.files), host, self)
            in_cluster = f"https://alertmanager.{host.ns}.svc:{endpoints.ALERTMANAGER}"
            self.url = pulumi.Output.from_input(kubernetes_url(host, "alertmanager", in_cluster))
        self.register_outputs({"url": self.url})
