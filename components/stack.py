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
from components.exporters import Cadvisor, NodeExporter
from components.grafana import Grafana
from components.grafana import config as grafana_config
from components.jaeger import Jaeger
from components.jaeger import config as jaeger_config
from components.loki import Loki
from components.loki import config as loki_config
from components.platform.docker import DockerHost
from components.prometheus import Prometheus
from components.prometheus import config as prometheus_config
from components.prometheus.config import ScrapeTarget
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
        ScrapeTarget("grafana", (f"grafana:{endpoints.GRAFANA}",)),
        ScrapeTarget("loki", (f"loki:{endpoints.LOKI}",)),
        ScrapeTarget("collector", (f"collector:{collector_port}",)),
        ScrapeTarget("jaeger", (f"jaeger:{endpoints.JAEGER_METRICS}",)),
        ScrapeTarget("node-exporter", (f"node-exporter:{endpoints.NODE_EXPORTER}",)),
        ScrapeTarget("cadvisor", (f"cadvisor:{endpoints.CADVISOR}",)),
    ]
    alertmanagers: tuple[str, ...] = ()
    if s.alertmanager.enabled:
        alertmanagers = (f"alertmanager:{endpoints.ALERTMANAGER}",)
        jobs.insert(0, ScrapeTarget("alertmanager", alertmanagers))

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
            alertmanagers=alertmanagers,
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


def render(settings: Settings) -> Bundle:
    return render_docker(settings)


class ObservabilityStack(pulumi.ComponentResource):
    """The whole observability stack of one environment."""

    urls: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, settings: Settings, opts: pulumi.ResourceOptions | None = None):
        bundle = render(settings)  # before anything is declared: a bad file changes nothing
        super().__init__("vega:stack:ObservabilityStack", name, None, opts)

        assert settings.docker is not None
        platform = DockerHost(name, settings.docker, settings.stack, self)

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
        self.cadvisor = Cadvisor(f"{name}-cadvisor", args("cadvisor"), child)

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
