"""The docker platform's settings (dev): host ports, bind address, networks, memory."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from components.settings.checks import DOCKER_NAME
from components.settings.content import load_docker_memory
from components.settings.model import DockerPorts, DockerSettings
from components.settings.reader import Reader

DOCKER_ONLY = {
    "bindAddress", "dockerNetwork", "dockerExternalNetworks", "grafanaPort", "prometheusPort",
    "alertmanagerPort", "lokiPort", "jaegerUiPort", "otlpGrpcPort", "otlpHttpPort",
    "demo", "demoApiPort", "demoCoordinatorPort",
}


def ports(r: Reader, *, alertmanager: bool, demo: bool) -> DockerPorts:
    """The host ports, each service on its own (Alertmanager's and the demo's only when they run)."""
    out = DockerPorts(
        grafana=r.port("grafanaPort"),
        prometheus=r.port("prometheusPort"),
        alertmanager=r.port("alertmanagerPort"),
        loki=r.port("lokiPort"),
        jaeger_ui=r.port("jaegerUiPort"),
        otlp_grpc=r.port("otlpGrpcPort"),
        otlp_http=r.port("otlpHttpPort"),
        demo_api=r.port("demoApiPort"),
        demo_coordinator=r.port("demoCoordinatorPort"),
    )
    port_keys = {
        "grafanaPort": out.grafana, "prometheusPort": out.prometheus, "lokiPort": out.loki,
        "jaegerUiPort": out.jaeger_ui, "otlpGrpcPort": out.otlp_grpc, "otlpHttpPort": out.otlp_http,
    }
    if alertmanager:
        port_keys["alertmanagerPort"] = out.alertmanager
    if demo:
        port_keys["demoApiPort"] = out.demo_api
        port_keys["demoCoordinatorPort"] = out.demo_coordinator
    by_port: dict[int, list[str]] = {}
    for key, port in port_keys.items():
        by_port.setdefault(port, []).append(key)
    for port, keys in sorted(by_port.items()):
        if len(keys) > 1:
            names = ", ".join(sorted(keys))
            r.problems.append(f"{names}: all set to host port {port}; each service needs its own port")
    return out


def host(r: Reader, configs: Path, problems: list[str], *, alertmanager: bool) -> DockerSettings:
    """The docker-only settings; every bad one becomes a problem."""
    demo = bool(r.typed("demo"))
    host_ports = ports(r, alertmanager=alertmanager, demo=demo)
    bind = str(r.typed("bindAddress"))
    try:
        ipaddress.ip_address(bind)
    except ValueError:
        r.problem("bindAddress", bind, "an IP address such as 127.0.0.1 (local only) or 0.0.0.0 (all interfaces)")
    network = str(r.typed("dockerNetwork"))
    if not DOCKER_NAME.match(network):
        r.problem("dockerNetwork", network, "a Docker network name: letters, digits, _ . - (not first)")
    externals = tuple(r.typed("dockerExternalNetworks") or ())
    for name in externals:
        if not DOCKER_NAME.match(name) or name == network:
            r.problem("dockerExternalNetworks", name, "names of existing Docker networks other than dockerNetwork")
    if demo:
        # The demo serves vega-api and vega-coordinator: next to a real Vega the two would mix.
        if externals:
            r.problems.append(
                f"demo: true next to dockerExternalNetworks ({', '.join(externals)}): the demo Vega would mix its"
                " data with your Vega's; set demo to false (make config ARGS='set demo false')"
            )
        for key in ("vegaApiTargets", "vegaCoordinatorTargets"):  # their defaults name the demo's containers
            if list(r.typed(key) or ()) != list(r.schema[key].default or ()):
                r.problems.append(
                    f"demo: true next to {key} of your own: the demo Vega would mix its data with your Vega's;"
                    " set demo to false (make config ARGS='set demo false')"
                )
    return DockerSettings(
        demo=demo,
        bind_address=bind,
        network=network,
        external_networks=externals,
        ports=host_ports,
        memory_mb=load_docker_memory(configs, problems),
    )
