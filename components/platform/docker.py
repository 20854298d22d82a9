"""Docker backend: one network, named volumes, and one container per ContainerSpec.

Config files travel inside the container definition (`uploads`), so editing a file under
configs/ changes the container's inputs and the next `pulumi up` replaces the container;
data lives on named volumes, which a replacement keeps.

A volume's Docker name is fixed (VOLUME_PREFIX, the service, the volume key): no setting
feeds it, so no change of settings can replace a volume. Its name is also ignored on update,
so a stack whose volumes were named under an older scheme keeps them. Volumes are retained
on delete: switching a service off, or `pulumi destroy`, leaves the data in place, and
declaring the volume again reuses it (`docker volume rm` really deletes it).
"""

from __future__ import annotations

import pulumi
import pulumi_docker as docker

from components.platform.spec import ContainerSpec
from components.settings import DockerSettings

LABEL_SERVICE = "org.vega.observability.service"
LABEL_CONFIG_DIR = "org.vega.observability.config-dir"
LABEL_STACK = "org.vega.observability.stack"
# Secret files live under <config_dir>/secrets/; the offline render masks everything there.
SECRET_DIR = "/secrets/"
# The first word of every volume name: the default network's name, under which the first
# stacks named their volumes, so theirs keep their names.
VOLUME_PREFIX = "vega-observability"


class DockerHost:
    """The docker side shared by every service: the network and the naming rules."""

    def __init__(self, name: str, settings: DockerSettings, stack: str, parent: pulumi.Resource):
        self.settings = settings
        self.stack = stack
        self.network = docker.Network(
            f"{name}-network",
            name=settings.network,
            driver="bridge",
            labels=[docker.NetworkLabelArgs(label=LABEL_STACK, value=stack)],
            opts=pulumi.ResourceOptions(parent=parent),
        )

    def container_name(self, service: str) -> str:
        return f"{self.settings.network}-{service}"

    @staticmethod
    def volume_name(service: str, key: str) -> str:
        return f"{VOLUME_PREFIX}-{service}-{key}"

    def run(
        self,
        name: str,
        spec: ContainerSpec,
        parent: pulumi.Resource,
        *,
        external_networks: bool = False,
    ) -> docker.Container:
        """Declare the image, the named volumes and the container of one service; `name` is
        the owning component's name, which prefixes every child."""
        child = pulumi.ResourceOptions(parent=parent)
        image = docker.RemoteImage(f"{name}-image", name=spec.image, keep_locally=True, opts=child)

        volumes = []
        for key, path in sorted(spec.volumes.items()):
            volume = docker.Volume(
                f"{name}-{key}",
                name=self.volume_name(spec.service, key),
                labels=[docker.VolumeLabelArgs(label=LABEL_STACK, value=self.stack)],
                opts=pulumi.ResourceOptions(parent=parent, retain_on_delete=True, ignore_changes=["name"]),
            )
            volumes.append(docker.ContainerVolumeArgs(volume_name=volume.name, container_path=path))
        for mount in spec.host_mounts:
            volumes.append(
                docker.ContainerVolumeArgs(
                    host_path=mount.host_path, container_path=mount.container_path, read_only=mount.read_only
                )
            )

        uploads = [
            docker.ContainerUploadArgs(file=f"{spec.config_dir}/{rel}", content=text)
            for rel, text in sorted(spec.files.items())
        ]
        for rel in spec.secret_files:
            if not f"/{rel}".startswith(SECRET_DIR):
                raise ValueError(f"{spec.service}: secret file {rel!r} must live under secrets/")
        uploads += [
            docker.ContainerUploadArgs(
                file=f"{spec.config_dir}/{rel}", content=pulumi.Output.secret(secret.reveal())
            )
            for rel, secret in sorted(spec.secret_files.items())
        ]

        networks = [docker.ContainerNetworksAdvancedArgs(name=self.network.name, aliases=[spec.service])]
        if external_networks:
            networks += [
                docker.ContainerNetworksAdvancedArgs(name=net, aliases=[spec.service])
                for net in self.settings.external_networks
            ]

        ports = [
            docker.ContainerPortArgs(
                internal=p.container_port, external=p.host_port, ip=self.settings.bind_address, protocol=p.protocol
            )
            for p in spec.ports
            if p.host_port is not None
        ]

        healthcheck = None
        if spec.health_cmd:
            healthcheck = docker.ContainerHealthcheckArgs(
                tests=["CMD", *spec.health_cmd], interval="15s", timeout="5s", retries=5, start_period="60s"
            )

        return docker.Container(
            f"{name}-container",
            name=self.container_name(spec.service),
            image=image.image_id,
            hostname=spec.service,
            command=list(spec.args) or None,
            entrypoints=list(spec.entrypoint) or None,
            envs=[f"{k}={v}" for k, v in sorted(spec.env.items())] or None,
            ports=ports or None,
            uploads=uploads or None,
            volumes=volumes or None,
            networks_advanced=networks,
            healthcheck=healthcheck,
            # Wait for the health check on `pulumi up`, so a broken service fails the update
            # instead of leaving a half-working stack behind.
            wait=bool(spec.health_cmd),
            wait_timeout=180,
            restart="unless-stopped",
            memory=spec.memory_mb,
            user=spec.user or None,
            privileged=spec.privileged or None,
            security_opts=None if spec.privileged else ["no-new-privileges:true"],
            log_driver="json-file",
            log_opts={"max-size": "10m", "max-file": "3"},
            labels=[
                docker.ContainerLabelArgs(label=LABEL_SERVICE, value=spec.service),
                docker.ContainerLabelArgs(label=LABEL_CONFIG_DIR, value=spec.config_dir),
                docker.ContainerLabelArgs(label=LABEL_STACK, value=self.stack),
            ],
            # The container name and host ports are fixed, so the old container must go
            # before its replacement can start.
            opts=pulumi.ResourceOptions(parent=parent, delete_before_replace=True),
        )
