"""Grafana: dashboards over Prometheus, Loki and Jaeger, provisioned from configs/grafana/."""

from __future__ import annotations

import pulumi

from components import endpoints
from components.grafana import config
from components.platform.docker import DockerHost
from components.platform.spec import ContainerSpec, PortSpec
from components.service import ServiceArgs, docker_url, kubernetes_url


class Grafana(pulumi.ComponentResource):
    url: pulumi.Output[str]

    def __init__(self, name: str, args: ServiceArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("vega:grafana:Grafana", name, None, opts)
        s = args.settings
        host = args.platform
        if isinstance(host, DockerHost):
            assert s.docker is not None
            spec = ContainerSpec(
                service="grafana",
                image=s.images["grafana"],
                args=(),
                config_dir=config.CONFIG_DIR,
                files=args.files,
                secret_files={"secrets/admin_password": s.grafana.admin_password},
                # The configured admin password is set on every start, then the server starts.
                entrypoint=("/bin/sh", "-c", f"{config.RESET_ADMIN_PASSWORD} && exec {config.IMAGE_ENTRYPOINT}"),
                env=config.ENV,
                ports=(PortSpec("http", endpoints.GRAFANA, s.docker.ports.grafana),),
                memory_mb=s.docker.memory_mb["grafana"],
                volumes={"data": config.DATA_DIR},
                health_cmd=("wget", "-q", "--spider", f"http://localhost:{endpoints.GRAFANA}/api/health"),
                health_path="/api/health",
            )
            self.container = host.run(name, spec, self)
            self.url = pulumi.Output.from_input(docker_url(host, s.docker.ports.grafana))
        else:
            from components.grafana import kubernetes

            kubernetes.deploy(name, s, dict(args.files), host, self)
            in_cluster = f"https://grafana.{host.ns}.svc:{endpoints.GRAFANA}"
            self.url = pulumi.Output.from_input(kubernetes_url(host, "grafana", in_cluster))
        self.register_outputs({"url": self.url})
