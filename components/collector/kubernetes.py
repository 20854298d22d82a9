"""The log collector on kubernetes: a DaemonSet that tails the pod logs of its own node.

It runs the same pipeline file as on docker (configs/promtail/promtail-config.yaml), with the
`kubernetes-pods` job: each pod's files under /var/log/pods, found through the API, kept to
the pods of this node (HOSTNAME is the node name; Promtail keeps only targets whose __host__
equals it, and Alloy's converter turns it into a spec.nodeName field selector), shipped over
TLS to the Loki write Service.

Host access is the one documented exception to the restricted profile, which is why the
collector runs in the agents namespace (Pod Security "privileged"):
- /var/log is mounted read-only: pod log files are owned by root, so the process runs as
  uid 0, with every capability dropped, no privilege escalation and a read-only root file
  system; it can read what root owns, not change the host.
- One host directory (STATE_HOST_PATH, writable) keeps the read positions, so a restarted
  or upgraded collector resumes where it stopped instead of shipping every file again.
"""

from __future__ import annotations

import pulumi

from components.collector import config
from components.content import to_yaml
from components.platform import topology as t
from components.platform.kubernetes import CA_FILE, READ, KubernetesCluster, Mounted
from components.settings import Settings

COMPONENT = "collector"
LOG_DIR = "/var/log"
# Positions (Promtail) and storage (Alloy) survive restarts on the node itself.
STATE_HOST_PATH = "/var/lib/vega-observability/collector"


def render(settings: Settings) -> dict[str, str]:
    """{path relative to /etc/collector: text}: the pipeline with the kubernetes jobs, pushing
    to the Loki write Service over TLS verified with the internal CA."""
    k = settings.kubernetes
    assert k is not None
    doc = config.pipeline("kubernetes", t.loki_push_url(k))
    doc["clients"] = [{**client, "tls_config": {"ca_file": CA_FILE}} for client in doc["clients"]]
    return {"promtail-config.yaml": to_yaml(doc, config.HEADER)}


def probe_path(kind: str) -> str:
    return "/-/ready" if kind == "alloy" else "/ready"


def host_mounts() -> list[Mounted]:
    return [
        Mounted(
            {"name": "varlog", "hostPath": {"path": LOG_DIR, "type": "Directory"}},
            {"name": "varlog", "mountPath": LOG_DIR, "readOnly": True},
        ),
        Mounted(
            {"name": "state", "hostPath": {"path": STATE_HOST_PATH, "type": "DirectoryOrCreate"}},
            {"name": "state", "mountPath": config.DATA_DIR},
        ),
    ]


def deploy(
    name: str, settings: Settings, files: dict[str, str], cluster: KubernetesCluster, parent: pulumi.Resource
) -> None:
    ns = cluster.agents_ns
    opts = cluster.opts(parent, agents=True)
    kind = settings.collector
    port = config.metrics_port(kind)

    account = cluster.service_account(COMPONENT, COMPONENT, opts, namespace=ns)
    # The `kubernetes-pods` job's pod discovery, in every namespace: the pods it tails are
    # those of its node, wherever they run. Nothing else is read.
    cluster.discovery_access(
        COMPONENT, COMPONENT, account, opts, [{"apiGroups": [""], "resources": ["pods"], "verbs": READ}],
        account_namespace=ns,
    )
    config_volume = cluster.config_map(
        name, COMPONENT, files, config.CONFIG_DIR, opts, namespace=ns, service=COMPONENT
    )
    # Only the CA that verifies Loki: the collector serves nothing over TLS.
    ca = [m for m in cluster.tls(namespace=ns) if m.volume["name"] == "ca"]
    tmp = KubernetesCluster.empty_dir("tmp", "/tmp")
    mounts = [config_volume, *ca, *host_mounts(), tmp]

    container = cluster.container(
        COMPONENT,
        cluster.image(kind),
        COMPONENT,
        args=config.args(kind),
        ports={"http": port},
        mounts=mounts,
        # The node this pod runs on: both collectors tail only the pods whose node is HOSTNAME.
        env=[{"name": "HOSTNAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
        # Neither serves TLS when it runs a Promtail config: plain HTTP on the pod network.
        probe=KubernetesCluster.http_probe(probe_path(kind), "http", tls=False),
        run_as_user=0,
    )
    container["securityContext"]["runAsNonRoot"] = False  # root, for root-owned log files
    template = cluster.pod_template(
        COMPONENT,
        [container],
        mounts,
        checksum_of=files,
        service_account=account,
        spread=False,  # one pod per node by construction
        extra_spec={
            "securityContext": {
                "runAsNonRoot": False,
                "runAsUser": 0,
                "runAsGroup": 0,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            # Every node, tainted or not: a node whose logs are not shipped is a blind spot.
            "tolerations": [{"operator": "Exists"}],
            "terminationGracePeriodSeconds": 30,
        },
    )
    cluster.daemon_set(COMPONENT, COMPONENT, template, opts, namespace=ns)
    cluster.service(
        COMPONENT, COMPONENT, {"http": port}, opts, headless=True, namespace=ns,
        annotations={"vega-observability/scrape": "http", "vega-observability/metrics-port": "http"},
    )
