"""node-exporter on kubernetes: one pod per node, in the agents namespace.

It reads the host's /proc, /sys and root file system (read-only) and sees the host's network
(hostNetwork), which is why it lives in the agents namespace, the one place allowed host
access. It needs no host PID namespace: the host's /proc, mounted read-only, shows the host's
processes whatever namespace the pod has. Beyond that it runs as nobody (65534), with a
read-only root file system and every capability dropped, and serves its metrics over TLS
with the stack's basic auth (webUsername/webPassword): on the host network no NetworkPolicy
guards port 9100, so the credential does.

hostNetwork: the exporter listens on the node's own address, port 9100 (NODE_EXPORTER), so
that port must be free on every node. It binds the node's internal IP only (status.hostIP),
not every interface.

Container metrics come from the kubelet's cAdvisor endpoint, which Prometheus scrapes; there
is no cAdvisor DaemonSet on kubernetes.
"""

from __future__ import annotations

import pulumi

from components import endpoints
from components.platform.kubernetes import KubernetesCluster, Mounted
from components.platform.webconfig import hashed_web_config
from components.settings import Settings

COMPONENT = "node-exporter"
SERVICE = "node_exporter"  # the stack's bundle key and the render's config/<service>/ directory
CONFIG_DIR = "/etc/node-exporter"
RUN_AS = 65534
HOST_PATHS = {"proc": ("/proc", "/host/proc"), "sys": ("/sys", "/host/sys"), "root": ("/", "/host/root")}
# Pod volumes, container runtimes' overlays and virtual interfaces come and go with every pod:
# their series would multiply cardinality without telling anything about the node.
ARGS = (
    f"--path.procfs={HOST_PATHS['proc'][1]}",
    f"--path.sysfs={HOST_PATHS['sys'][1]}",
    f"--path.rootfs={HOST_PATHS['root'][1]}",
    "--collector.filesystem.mount-points-exclude="
    "^/(dev|proc|sys|run/containerd/.+|var/lib/docker/.+|var/lib/containerd/.+|var/lib/kubelet/.+)($|/)",
    "--collector.netclass.ignored-devices=^(veth.*|cali.*|cilium.*|lxc.*|[a-f0-9]{15})$",
    "--collector.netdev.device-exclude=^(veth.*|cali.*|cilium.*|lxc.*|[a-f0-9]{15})$",
    f"--web.config.file={CONFIG_DIR}/web-config.yml",
    f"--web.listen-address=[$(HOST_IP)]:{endpoints.NODE_EXPORTER}",  # IPv4 or IPv6
)


WEB_CONFIG = "web-config.yml"  # TLS and basic auth, in a Secret (it holds a bcrypt hash)


def render(settings: Settings) -> dict[str, str]:
    """{path relative to /etc/node-exporter: text}: no plain config file; the one file, the web
    config, holds a password hash and is built at deploy time into a Secret."""
    return {}


def host_mounts() -> list[Mounted]:
    mounts = []
    for name, (host, path) in HOST_PATHS.items():
        mount = {"name": name, "mountPath": path, "readOnly": True}
        if name == "root":
            mount["mountPropagation"] = "HostToContainer"  # see file systems mounted later
        mounts.append(Mounted({"name": name, "hostPath": {"path": host, "type": "Directory"}}, mount))
    return mounts


def deploy(
    name: str, settings: Settings, files: dict[str, str], cluster: KubernetesCluster, parent: pulumi.Resource
) -> None:
    ns = cluster.agents_ns
    opts = cluster.opts(parent, agents=True)

    k = cluster.k
    secrets = {WEB_CONFIG: hashed_web_config(cluster.key, k.web_username, k.web_password)}
    config_volume = cluster.secret(
        name, COMPONENT, secrets, CONFIG_DIR, opts,
        namespace=ns, volume_name="config", service=SERVICE, render_visible=(WEB_CONFIG,),
    )
    # The internal certificate of the agents namespace (covers *.<agents namespace>.svc).
    tls = [m for m in cluster.tls(namespace=ns) if m.volume["name"] == "tls"]
    mounts = [config_volume, *tls, *host_mounts()]
    container = cluster.container(
        COMPONENT,
        cluster.image("node_exporter"),
        COMPONENT,
        args=ARGS,
        ports={"https": endpoints.NODE_EXPORTER},
        mounts=mounts,
        env=[{"name": "HOST_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}}],
        probe=KubernetesCluster.http_probe("/", "https"),
        run_as_user=RUN_AS,
    )
    template = cluster.pod_template(
        COMPONENT,
        [container],
        mounts,
        rotation=cluster.rotation(COMPONENT, secrets, opts),
        fs_group=RUN_AS,  # reads the certificate's key (mode 0440, group fsGroup)
        spread=False,  # one pod per node by construction
        extra_spec={
            "hostNetwork": True,
            "dnsPolicy": "ClusterFirstWithHostNet",
            "tolerations": [{"operator": "Exists"}],
            "terminationGracePeriodSeconds": 30,
        },
    )
    cluster.daemon_set(COMPONENT, COMPONENT, template, opts, namespace=ns)
    cluster.service(
        COMPONENT, COMPONENT, {"https": endpoints.NODE_EXPORTER}, opts, headless=True, namespace=ns,
        annotations={"vega-observability/scrape": "https-auth", "vega-observability/metrics-port": "https"},
    )
