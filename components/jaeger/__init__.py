"""Jaeger v2: receives OTLP traces from Vega's OpenTelemetry SDKs and serves the trace UI."""

from __future__ import annotations

import pulumi

from components import endpoints
from components.jaeger import config
from components.platform.docker import DockerHost
from components.platform.spec import ContainerSpec, PortSpec
from components.service import ServiceArgs, docker_url, kubernetes_url


class Jaeger(pulumi.ComponentResource):
    url: pulumi.Output[str]
    otlp_grpc: pulumi.Output[str]
    otlp_http: pulumi.Output[str]

    def __init__(self, name: str, args: ServiceArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("vega:jaeger:Jaeger", name, None, opts)
        s = args.settings
        host = args.platform
        if isinstance(host, DockerHost):
            assert s.docker is not None
            ports = s.docker.ports
            spec = ContainerSpec(
                service="jaeger",
                image=s.images["jaeger"],
                args=config.args(),
                config_dir=config.CONFIG_DIR,
                files=args.files,
                ports=(
                    PortSpec("ui", endpoints.JAEGER_UI, ports.jaeger_ui),
                    PortSpec("otlp-grpc", endpoints.OTLP_GRPC, ports.otlp_grpc),
                    PortSpec("otlp-http", endpoints.OTLP_HTTP, ports.otlp_http),
                ),
                memory_mb=s.docker.memory_mb["jaeger"],
                volumes={"data": config.DATA_DIR} if s.jaeger.storage == "badger" else {},
                health_cmd=("wget", "-q", "--spider", f"http://localhost:{endpoints.JAEGER_HEALTH}/status"),
                health_path="/status",
            )
            self.container = host.run(name, spec, self, external_networks=True)
            self.url = pulumi.Output.from_input(docker_url(host, ports.jaeger_ui))
            self.otlp_grpc = pulumi.Output.from_input(docker_url(host, ports.otlp_grpc))
            self.otlp_http = pulumi.Output.from_input(docker_url(host, ports.otlp_http))
        else:
            from components.jaeger import kubernetes

            kubernetes.deploy(name, s, dict(args.files), host, self)
            urls = kubernetes.in_cluster_urls(s)
            self.url = pulumi.Output.from_input(kubernetes_url(host, "jaeger", urls["query"]))
            self.otlp_grpc = pulumi.Output.from_input(urls["otlp_grpc"])
            self.otlp_http = pulumi.Output.from_input(urls["otlp_http"])
        self.register_outputs({"url": self.url, "otlp_grpc": self.otlp_grpc, "otlp_http": self.otlp_http})
