"""Host and container metrics for the seed's "System Metrics": node-exporter and cAdvisor."""

from __future__ import annotations

import pulumi

from components import endpoints
from components.platform.docker import DockerHost
from components.platform.spec import ContainerSpec, HostMount, PortSpec
from components.service import ServiceArgs

NODE_EXPORTER_ARGS = (
    "--path.procfs=/host/proc",
    "--path.sysfs=/host/sys",
    "--path.rootfs=/rootfs",
    "--collector.filesystem.mount-points-exclude=^/(dev|proc|sys|run|var/lib/docker/.+)($|/)",
)

CADVISOR_ARGS = (
    "--docker_only=true",
    "--housekeeping_interval=15s",
    "--store_container_labels=false",
    # Per-CPU, scheduler and socket series multiply cardinality without serving a panel.
    "--disable_metrics=percpu,sched,tcp,udp,hugetlb,referenced_memory,cpu_topology,resctrl,advtcp,process",
)


class NodeExporter(pulumi.ComponentResource):
    def __init__(self, name: str, args: ServiceArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("vega:exporters:NodeExporter", name, None, opts)
        s = args.settings
        host = args.platform
        if isinstance(host, DockerHost):
            assert s.docker is not None
            spec = ContainerSpec(
                service="node-exporter",
                image=s.images["node_exporter"],
                args=NODE_EXPORTER_ARGS,
                config_dir="/etc/node-exporter",
                files={},
                ports=(PortSpec("metrics", endpoints.NODE_EXPORTER),),
                memory_mb=s.docker.memory_mb["node_exporter"],
                host_mounts=(
                    HostMount("/proc", "/host/proc"),
                    HostMount("/sys", "/host/sys"),
                    HostMount("/", "/rootfs"),
                ),
                health_cmd=("wget", "-q", "--spider", f"http://localhost:{endpoints.NODE_EXPORTER}/"),
                health_path="/",
            )
            self.container = host.run(name, spec, self)
        else:
            from components.exporters import kubernetes

            kubernetes.deploy(name, s, dict(args.files), host, self)
        self.register_outputs({})


class Cadvisor(pulumi.ComponentResource):
    def __init__(self, name: str, args: ServiceArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("vega:exporters:Cadvisor", name, None, opts)
        s = args.settings
        host = args.platform
        if isinstance(host, DockerHost):
            assert s.docker is not None
            spec = ContainerSpec(
                service="cadvisor",
                image=s.images["cadvisor"],
                args=CADVISOR_ARGS,
                config_dir="/etc/cadvisor",
                files={},
                ports=(PortSpec("metrics", endpoints.CADVISOR),),
                memory_mb=s.docker.memory_mb["cadvisor"],
                host_mounts=(
                    HostMount("/", "/rootfs"),
                    HostMount("/var/run", "/var/run"),
                    HostMount("/sys", "/sys"),
                    HostMount("/var/lib/docker", "/var/lib/docker"),
                    HostMount("/dev/disk", "/dev/disk"),
                ),
                # cAdvisor reads cgroups and the kernel log of every container: it needs
                # privileged mode on Docker (the documented way to run it).
                privileged=True,
                health_cmd=("wget", "-q", "--spider", f"http://localhost:{endpoints.CADVISOR}/healthz"),
                health_path="/healthz",
            )
            self.container = host.run(name, spec, self)
        self.register_outputs({})
