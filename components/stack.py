"""ObservabilityStack: renders every service's config, then declares the services.

Every config file is rendered (and checked) before the first resource is declared, so a bad
rule file or dashboard stops `pulumi up` before it changes anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi

from components import endpoints
from components.alertmanager import Alertmanager
from components.alertmanager import config as alertmanager_config
from components.collector import LogCollector
from components.collector import config as collector_config
from components.demo import DemoVega
from components.exporters import Cadvisor, NodeExporter
from components.grafana import Grafana
from components.grafana import config as grafana_config
from components.jaeger import Jaeger
from components.jaeger import config as jaeger_config
from components.loki import Loki
from components.loki import config as loki_config
from components.platform.docker import DockerHost
from components.platform.kubernetes import KubernetesCluster
from components.prometheus import Prometheus
from components.prometheus import config as prometheus_config
from components.prometheus.config import static_job
from components.service import ServiceArgs
from components.settings import Settings


@dataclass(frozen=True)
class Bundle:
    """Every config file of the stack, by service: {service: {relative path: text}}."""

    files: Mapping[str, Mapping[str, str]]

    def __getitem__(self, service: str) -> Mapping[str, str]:
        return self.files.get(service, {})


def render_docker(settings: Settings) -> Bundle:
    """The config files of the docker platform: services find each other by network alias."""
    s = settings
    collector_port = collector_config.metrics_port(s.collector)
    jobs = [
        static_job("prometheus", (f"localhost:{endpoints.PROMETHEUS}",)),
        static_job("grafana", (f"grafana:{endpoints.GRAFANA}",)),
        static_job("loki", (f"loki:{endpoints.LOKI}",)),
        static_job("collector", (f"collector:{collector_port}",)),
        static_job("jaeger", (f"jaeger:{endpoints.JAEGER_METRICS}",)),
        static_job("node-exporter", (f"node-exporter:{endpoints.NODE_EXPORTER}",)),
        static_job("cadvisor", (f"cadvisor:{endpoints.CADVISOR}",)),
    ]
    alerting = None
    if s.alertmanager.enabled:
        am = f"alertmanager:{endpoints.ALERTMANAGER}"
        jobs.insert(1, static_job("alertmanager", (am,)))
        alerting = {"alertmanagers": [{"api_version": "v2", "static_configs": [{"targets": [am]}]}]}

    assert s.docker is not None
    urls = {
        "prometheus": f"http://prometheus:{endpoints.PROMETHEUS}",
        "loki": f"http://loki:{endpoints.LOKI}",
        "jaeger": f"http://jaeger:{endpoints.JAEGER_UI}",
    }
    if s.alertmanager.enabled:
        urls["alertmanager"] = f"http://alertmanager:{endpoints.ALERTMANAGER}"
    root_url = s.grafana.root_url or f"http://localhost:{s.docker.ports.grafana}/"

    files = {
        "prometheus": prometheus_config.render(
            s,
            stack_jobs=jobs,
            alerting=alerting,
            external_labels={"environment": s.stack, "platform": "docker"},
        ),
        "grafana": grafana_config.render(s, urls=urls, root_url=root_url),
        "loki": loki_config.render(s.loki),
        "collector": collector_config.render("docker", f"http://loki:{endpoints.LOKI}/loki/api/v1/push"),
        "jaeger": jaeger_config.render(s.jaeger),
    }
    if s.alertmanager.enabled:
        files["alertmanager"] = alertmanager_config.render(s.alertmanager)
    return Bundle(files)


def render_kubernetes(settings: Settings) -> Bundle:
    """The config files of the kubernetes platform: services find each other by Service DNS
    name and speak TLS."""
    from components.collector import kubernetes as collector_k8s
    from components.exporters import kubernetes as exporters_k8s
    from components.grafana import kubernetes as grafana_k8s
    from components.jaeger import kubernetes as jaeger_k8s
    from components.loki import kubernetes as loki_k8s
    from components.prometheus import kubernetes as prometheus_k8s

    files = {
        "prometheus": prometheus_k8s.render(settings),
        "grafana": grafana_k8s.render(settings),
        "loki": loki_k8s.render(settings),
        "collector": collector_k8s.render(settings),
        "jaeger": jaeger_k8s.render(settings),
        "node_exporter": exporters_k8s.render(settings),
    }
    if settings.alertmanager.enabled:
        files["alertmanager"] = alertmanager_config.render(settings.alertmanager)
    return Bundle(files)


def render(settings: Settings) -> Bundle:
    return render_docker(settings) if settings.platform == "docker" else render_kubernetes(settings)


class ObservabilityStack(pulumi.ComponentResource):
    """The whole observability stack of one environment."""

    urls: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, settings: Settings, opts: pulumi.ResourceOptions | None = None):
        bundle = render(settings)  # before anything is declared: a bad file changes nothing
        super().__init__("vega:stack:ObservabilityStack", name, None, opts)

        platform: DockerHost | KubernetesCluster
        if settings.docker is not None:
            platform = DockerHost(name, settings.docker, settings.stack, self)
        else:
            platform = KubernetesCluster(name, settings, self)

        def args(service: str) -> ServiceArgs:
            return ServiceArgs(settings=settings, files=bundle[service], platform=platform)

        child = pulumi.ResourceOptions(parent=self)
        self.loki = Loki(f"{name}-loki", args("loki"), child)
        self.jaeger = Jaeger(f"{name}-jaeger", args("jaeger"), child)
        self.alertmanager = (
            Alertmanager(f"{name}-alertmanager", args("alertmanager"), child)
            if settings.alertmanager.enabled
            else None
        )
        self.prometheus = Prometheus(f"{name}-prometheus", args("prometheus"), child)
        self.grafana = Grafana(f"{name}-grafana", args("grafana"), child)
        self.collector = LogCollector(f"{name}-collector", args("collector"), child)
        self.node_exporter = NodeExporter(f"{name}-node-exporter", args("node_exporter"), child)
        if isinstance(platform, DockerHost):
            self.cadvisor = Cadvisor(f"{name}-cadvisor", args("cadvisor"), child)
            if platform.settings.demo:
                self.demo = DemoVega(f"{name}-demo", args("demo"), child)
        else:
            # On kubernetes the kubelet serves cAdvisor's metrics; Prometheus scrapes it.
            from components.backup import Backups
            from components.platform.edge import Edge
            from components.thanos import Thanos

            self.thanos = Thanos(f"{name}-thanos", settings, platform, child)
            self.edge = Edge(f"{name}-edge", settings, platform, child)
            self.backups = Backups(f"{name}-backups", settings, platform, child)

        self.urls = {
            "grafana": self.grafana.url,
            "prometheus": self.prometheus.url,
            "loki": self.loki.url,
            "jaeger": self.jaeger.url,
            "otlp_grpc": self.jaeger.otlp_grpc,
            "otlp_http": self.jaeger.otlp_http,
        }
        if self.alertmanager is not None:
            self.urls["alertmanager"] = self.alertmanager.url
        self.register_outputs({"urls": self.urls})
