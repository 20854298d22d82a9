"""DemoVega (docker only, stack setting `demo`): the synthetic Vega of demo/ as two small
containers, `vega-api` and `vega-coordinator`, on the stack's network under the names the
default scrape jobs use. They serve the seed's metrics, write Vega's JSON logs (collected like
Vega's own) and send OTLP traces to Jaeger, so a first `make up` shows the whole loop.

The program is the repository's demo/ package, standard library only, run by the pinned
Python image (`images.demo`); its files travel in the container definition like every config
file, so changing them replaces the containers. The settings refuse the demo next to a real
Vega (dockerExternalNetworks or Vega targets of one's own), so demo data never mixes with Vega's.
"""

from __future__ import annotations

from pathlib import Path

import pulumi

from components import endpoints
from components.platform.docker import DockerHost
from components.platform.spec import ContainerSpec, PortSpec
from components.service import ServiceArgs

SOURCE = Path(__file__).resolve().parent.parent.parent / "demo"
MODULES = ("__init__.py", "__main__.py", "server.py", "telemetry.py", "vega.py")
HOME = "/opt/vega-demo"
PORT = 8000  # the port the seed's Vega serves /metrics on; the default scrape targets use it
NOBODY = "65534:65534"


def sources() -> dict[str, str]:
    """The demo program, as files relative to HOME."""
    return {f"demo/{name}": (SOURCE / name).read_text() for name in MODULES}


def spec(target: str, image: str, host_port: int, memory_mb: int) -> ContainerSpec:
    return ContainerSpec(
        service=target,
        image=image,
        entrypoint=("python", "-m", "demo"),
        args=(
            "--target",
            target,
            "--host",
            "0.0.0.0",
            "--port",
            str(PORT),
            "--otlp",
            f"http://jaeger:{endpoints.OTLP_HTTP}",
        ),
        config_dir=HOME,
        files=sources(),
        ports=(PortSpec("http", PORT, host_port=host_port),),
        memory_mb=memory_mb,
        env={"PYTHONPATH": HOME, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1"},
        health_cmd=(
            "python",
            "-c",
            f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{PORT}/metrics', timeout=3)",
        ),
        health_path="/metrics",
        user=NOBODY,
    )


class DemoVega(pulumi.ComponentResource):
    def __init__(self, name: str, args: ServiceArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("vega:demo:DemoVega", name, None, opts)
        s = args.settings
        host = args.platform
        if not isinstance(host, DockerHost) or s.docker is None:
            raise ValueError("the demo Vega runs on the docker platform only")
        ports = {"vega-api": s.docker.ports.demo_api, "vega-coordinator": s.docker.ports.demo_coordinator}
        self.containers = [
            host.run(
                f"{name}-{target.removeprefix('vega-')}",
                spec(target, s.images["demo"], port, s.docker.memory_mb["demo"]),
                self,
            )
            for target, port in ports.items()
        ]
        self.register_outputs({})
