"""The stack's boundary on kubernetes: Ingresses with TLS for the four UIs, and
NetworkPolicies that deny everything in both namespaces except the flows the stack needs.

The flows are one table (`flows`): who may reach whom on which ports, and why. Each
component gets one NetworkPolicy holding its allowed ingress and egress, generated from that
table; the README's table of allowed flows is `flow_table` of the committed prod stack, and a
test compares it with the rendered NetworkPolicies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pulumi
import pulumi_kubernetes as k8s

from components import endpoints
from components.loki import kubernetes as loki_k8s
from components.platform import topology as t
from components.platform.kubernetes import (
    APP_NAMES,
    INTERNAL_TLS_SECRET,
    LABEL_COMPONENT,
    LABEL_NAME,
    LABEL_PART_OF,
    PART_OF,
    KubernetesCluster,
    labels,
)
from components.platform.webconfig import htpasswd
from components.prometheus.kubernetes import VEGA_METRICS_PORT
from components.settings import Settings

DNS = (53,)
JAEGER_AUTH_SECRET = "jaeger-ingress-auth"
LOKI_PORTS = (endpoints.LOKI, endpoints.LOKI_GRPC, t.LOKI_MEMBERLIST)
# The controller pods of ingress-nginx (the labels its chart and manifests give them): the
# only pods of ingressControllerNamespace let in to the UIs.
INGRESS_CONTROLLER_LABELS = {"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller"}

Port = int | str  # a number, or the name of a container port
# The ports Prometheus scrapes in vegaNamespaces follow the scrape jobs (vega_scrape_ports).
VEGA_PORTS_LABEL = f"the Vega jobs' target ports, {VEGA_METRICS_PORT}"


@dataclass(frozen=True)
class Peer:
    """One end of a flow: stack pods of a component (or of every component of an app), the
    ingress controller's pods, whole namespaces, or CIDRs (`label` names them in the table)."""

    component: str = ""
    app: str = ""  # every component of this app (LABEL_NAME), e.g. Loki's seven parts
    namespaces: tuple[str, ...] = ()
    pod_labels: tuple[tuple[str, str], ...] = ()  # with `namespaces`: only these pods of them
    cidrs: tuple[str, ...] = ()
    agents: bool = False  # a component in the agents namespace
    label: str = ""

    def matches(self, component: str, agents: bool) -> bool:
        """Whether the stack's pods of `component` are (among) this peer."""
        if self.agents != agents:
            return False
        return self.component == component or (bool(self.app) and APP_NAMES.get(component) == self.app)

    @property
    def name(self) -> str:
        return self.label or self.component or f"{self.app}-*"


@dataclass(frozen=True)
class Flow:
    source: Peer
    destination: Peer
    ports: tuple[Port, ...]
    why: str
    protocols: tuple[str, ...] = ("TCP",)
    ports_label: str = ""  # how the flow table names ports that follow the content of configs/


def _port(url_or_host: str, default: int) -> int:
    if "://" in url_or_host:
        parts = urlsplit(url_or_host)
        return parts.port or (443 if parts.scheme == "https" else 80)
    host, sep, port = url_or_host.rpartition(":")
    return int(port) if sep and port.isdigit() and host else default


def vega_scrape_ports(settings: Settings) -> tuple[Port, ...]:
    """The ports Prometheus scrapes in vegaNamespaces: those of the Vega jobs' targets, those
    of extra scrape jobs whose targets are Services of those namespaces, and the container
    port the `vega-pods` job scrapes by name."""
    k = settings.kubernetes
    assert k is not None
    p = settings.prometheus
    targets = [*p.vega_api_targets, *p.vega_coordinator_targets, *p.vega_database_targets]
    for job in p.extra_scrape_configs:
        for group in job.get("static_configs") or []:
            for target in group.get("targets") or []:
                labels_ = str(target).rpartition(":")[0].split(".")
                if len(labels_) > 1 and labels_[1] in k.vega_namespaces:
                    targets.append(str(target))
    numbers = sorted({_port(target, 80) for target in targets})
    return (*numbers, VEGA_METRICS_PORT)


def flows(settings: Settings) -> list[Flow]:
    k = settings.kubernetes
    assert k is not None
    s3 = k.object_storage
    s3_port = _port(s3.endpoint, 80 if s3.insecure else 443)
    external = Peer(cidrs=k.external_cidrs, label="externalCidrs")
    api = Peer(cidrs=k.api_server_cidrs, label="apiServerCidrs")
    nodes = Peer(cidrs=k.node_cidrs, label="nodeCidrs")
    ingress = Peer(
        namespaces=(k.ingress_controller_namespace,),
        pod_labels=tuple(sorted(INGRESS_CONTROLLER_LABELS.items())),
        label="ingress controller pods",
    )
    vega = Peer(namespaces=k.vega_namespaces, label="Vega namespaces")
    loki = Peer(app="loki")

    def pods(component: str) -> Peer:
        return Peer(component=component)

    def agents(component: str) -> Peer:
        return Peer(component=component, agents=True)

    collector_port = endpoints.ALLOY if settings.collector == "alloy" else endpoints.PROMTAIL
    db = settings.grafana.database
    grafana_external = tuple(sorted({_port(db.host, 5432), 443})) if db else (443,)
    trace_storage = tuple(sorted({_port(u, 9200) for u in settings.jaeger.storage_urls})) or (9200,)
    scrape = "scrapes its metrics"
    out = [
        # ---- Prometheus: scrapes, discovery, the global view
        Flow(pods("prometheus"), pods("prometheus"), (endpoints.PROMETHEUS, t.THANOS_HTTP), "self and sidecar"),
        Flow(pods("prometheus"), pods("thanos-query"), (t.THANOS_HTTP,), scrape),
        Flow(pods("prometheus"), pods("thanos-store"), (t.THANOS_HTTP,), scrape),
        Flow(pods("prometheus"), pods("thanos-compact"), (t.THANOS_HTTP,), scrape),
        Flow(pods("prometheus"), pods("grafana"), (endpoints.GRAFANA,), scrape + " (basic auth)"),
        Flow(pods("prometheus"), loki, (endpoints.LOKI,), scrape),
        Flow(pods("prometheus"), pods("jaeger-collector"), (endpoints.JAEGER_METRICS,), scrape + " (plain HTTP)"),
        Flow(pods("prometheus"), pods("jaeger-query"), (t.JAEGER_QUERY_METRICS,), scrape + " (plain HTTP)"),
        Flow(pods("prometheus"), agents("collector"), (collector_port,), scrape + " (plain HTTP)"),
        Flow(pods("prometheus"), api, (443, 6443), "service discovery through the API server"),
        # node-exporter runs on the host network and the kubelet serves cAdvisor: node IPs.
        Flow(
            pods("prometheus"), nodes, (10250, endpoints.NODE_EXPORTER), "the nodes' kubelet (cAdvisor), node-exporter"
        ),
        Flow(pods("thanos-query"), pods("prometheus"), (t.THANOS_GRPC,), "queries the sidecars (mutual TLS)"),
        Flow(pods("thanos-query"), pods("thanos-store"), (t.THANOS_GRPC,), "queries the bucket (mutual TLS)"),
        Flow(pods("prometheus"), external, (s3_port,), "the sidecar uploads blocks to object storage"),
        Flow(pods("thanos-store"), external, (s3_port,), "reads blocks from object storage"),
        Flow(pods("thanos-compact"), external, (s3_port,), "compacts and expires the bucket"),
        Flow(ingress, pods("thanos-query"), (t.THANOS_HTTP,), "the Prometheus UI (basic auth)"),
        # ---- Grafana
        Flow(ingress, pods("grafana"), (endpoints.GRAFANA,), "the Grafana UI"),
        Flow(pods("grafana"), pods("grafana"), (t.GRAFANA_ALERTING,), "unified-alerting HA gossip", ("TCP", "UDP")),
        Flow(pods("grafana"), pods("thanos-query"), (t.THANOS_HTTP,), "Prometheus datasource"),
        Flow(pods("grafana"), pods(loki_k8s.COMPONENTS["query-frontend"]), (endpoints.LOKI,), "Loki datasource"),
        Flow(pods("grafana"), pods("jaeger-query"), (endpoints.JAEGER_UI,), "Jaeger datasource"),
        Flow(pods("grafana"), external, grafana_external, "PostgreSQL, and the OIDC provider"),
        # ---- Loki: its parts talk HTTP, gRPC (mutual TLS) and memberlist among themselves; the
        # ingesters, queriers and query frontends reach their memcached caches (mutual TLS)
        Flow(loki, loki, LOKI_PORTS, "rings, memberlist gossip and queries between Loki's parts"),
        Flow(loki, external, (s3_port,), "chunks and index in object storage"),
        *(
            Flow(pods(loki_k8s.COMPONENTS[user]), pods(cache.component), (loki_k8s.MEMCACHED_PORT,), cache.why)
            for cache in loki_k8s.CACHES.values()
            for user in cache.users
        ),
        Flow(
            agents("collector"), pods(loki_k8s.COMPONENTS["distributor"]), (endpoints.LOKI,),
            "pushes the logs it tails: the one log path",
        ),
        Flow(agents("collector"), api, (443, 6443), "pod discovery through the API server"),
        # ---- Jaeger
        Flow(ingress, pods("jaeger-query"), (endpoints.JAEGER_UI,), "the Jaeger UI (basic auth at the Ingress)"),
        Flow(pods("jaeger-collector"), external, trace_storage, "writes spans to the trace storage"),
        Flow(pods("jaeger-query"), external, trace_storage, "reads spans from the trace storage"),
        *(
            [Flow(pods("jaeger-dependencies"), external, trace_storage, "daily job: spans in, dependency graph out")]
            if settings.jaeger.dependencies_variant
            else []
        ),
        # ---- backups
        Flow(pods("backup"), pods("prometheus"), (endpoints.PROMETHEUS,), "asks every replica for a TSDB snapshot"),
        Flow(pods("backup"), pods("grafana"), (endpoints.GRAFANA,), "exports the dashboards"),
        Flow(pods("backup"), external, (s3_port,), "uploads backups to object storage"),
    ]
    if k.vega_namespaces:
        out += [
            Flow(
                pods("prometheus"), vega, vega_scrape_ports(settings), "scrapes Vega's metrics ports",
                ports_label=VEGA_PORTS_LABEL,
            ),
            Flow(vega, pods("jaeger-collector"), (endpoints.OTLP_GRPC, endpoints.OTLP_HTTP), "OTLP traces (TLS)"),
        ]
    if settings.alertmanager.enabled:
        am = settings.alertmanager
        notify_ports = {443}
        if am.webhook_url:
            notify_ports.add(_port(am.webhook_url, 443))
        if am.email_to:
            notify_ports.add(_port(am.smtp_smarthost, 587))
        out += [
            Flow(pods("prometheus"), pods("alertmanager"), (endpoints.ALERTMANAGER,), "sends alerts; scrapes it"),
            Flow(pods("grafana"), pods("alertmanager"), (endpoints.ALERTMANAGER,), "Alertmanager datasource"),
            Flow(ingress, pods("alertmanager"), (endpoints.ALERTMANAGER,), "the Alertmanager UI (basic auth)"),
            Flow(
                pods("alertmanager"), pods("alertmanager"), (endpoints.ALERTMANAGER_CLUSTER,),
                "cluster gossip (mutual TLS)", ("TCP", "UDP"),
            ),
            Flow(pods("alertmanager"), external, tuple(sorted(notify_ports)), "notifications: webhook, Slack, SMTP"),
        ]
    if settings.prometheus.remote_write is not None:
        out.append(
            Flow(pods("prometheus"), external, (_port(settings.prometheus.remote_write.url, 443),), "remote write")
        )
    return out


def _peers(k: Any, peer: Peer, here: str) -> list[dict[str, Any]]:
    """NetworkPolicy peer entries for `peer`, seen from a policy in namespace `here`."""
    if peer.cidrs:
        return [{"ipBlock": {"cidr": c}} for c in peer.cidrs]
    if peer.namespaces:
        out = []
        for n in peer.namespaces:
            entry: dict[str, Any] = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": n}}}
            if peer.pod_labels:
                entry["podSelector"] = {"matchLabels": dict(peer.pod_labels)}
            out.append(entry)
        return out
    namespace = k.agents_namespace if peer.agents else k.namespace
    key, value = (LABEL_COMPONENT, peer.component) if peer.component else (LABEL_NAME, peer.app)
    rule: dict[str, Any] = {"podSelector": {"matchLabels": {key: value, LABEL_PART_OF: PART_OF}}}
    if namespace != here:
        rule["namespaceSelector"] = {"matchLabels": {"kubernetes.io/metadata.name": namespace}}
    return [rule]


def _ports(flow: Flow) -> list[dict[str, Any]]:
    return [{"port": p, "protocol": proto} for p in flow.ports for proto in flow.protocols]


def _rule(k: Any, flow: Flow, peer: Peer, here: str, key: str) -> dict[str, Any]:
    return {key: _peers(k, peer, here), "ports": _ports(flow)}


def ports_text(ports: Sequence[Port], protocols: Sequence[str] = ("TCP",)) -> str:
    """How the flow table writes a rule's ports: `9090, 10902`, `9094 (TCP, UDP)`."""
    text = ", ".join(str(p) for p in ports)
    return text if tuple(protocols) == ("TCP",) else f"{text} ({', '.join(protocols)})"


def flow_table(settings: Settings) -> str:
    """The README's table of allowed flows (besides DNS to kube-dns, which every pod has)."""
    rows = ["| From | To | Ports | Why |", "| --- | --- | --- | --- |"]
    for f in flows(settings):
        ports = f.ports_label or ports_text(f.ports, f.protocols)
        rows.append(f"| {f.source.name} | {f.destination.name} | {ports} | {f.why} |")
    return "\n".join(rows)


def policies(settings: Settings) -> list[dict[str, Any]]:
    """Every NetworkPolicy of the stack as a manifest body (pure, for tests and the render)."""
    k = settings.kubernetes
    assert k is not None
    table = flows(settings)
    out: list[dict[str, Any]] = []
    dns_egress = {
        "to": [
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
            }
        ],
        "ports": [{"port": p, "protocol": proto} for p in DNS for proto in ("UDP", "TCP")],
    }
    for namespace in (k.namespace, k.agents_namespace):
        out.append(
            {
                "metadata": {"name": "default-deny", "namespace": namespace, "labels": labels("network-policy")},
                "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
            }
        )
    components: dict[tuple[str, bool], None] = {}
    for f in table:
        for peer in (f.source, f.destination):
            if peer.component:
                components[(peer.component, peer.agents)] = None
            for member, app in APP_NAMES.items():
                if peer.app and app == peer.app:
                    components[(member, peer.agents)] = None
    for component, in_agents in components:
        here = k.agents_namespace if in_agents else k.namespace
        into = [f for f in table if f.destination.matches(component, in_agents)]
        out_of = [f for f in table if f.source.matches(component, in_agents)]
        ingress_rules = [_rule(k, f, f.source, here, "from") for f in into]
        egress_rules = [_rule(k, f, f.destination, here, "to") for f in out_of]
        out.append(
            {
                "metadata": {"name": f"allow-{component}", "namespace": here, "labels": labels(component)},
                "spec": {
                    "podSelector": {"matchLabels": {LABEL_COMPONENT: component, LABEL_PART_OF: PART_OF}},
                    "policyTypes": ["Ingress", "Egress"],
                    "ingress": ingress_rules,
                    "egress": [dns_egress, *egress_rules],
                },
            }
        )
    return out


def ingresses(settings: Settings) -> list[dict[str, Any]]:
    """The UIs behind the ingress controller, each over TLS; the controller reaches the
    backends over HTTPS and verifies them against the internal CA."""
    k = settings.kubernetes
    assert k is not None
    backends = {
        "grafana": ("grafana", endpoints.GRAFANA),
        "prometheus": ("thanos-query", t.THANOS_HTTP),  # the deduplicated global view
        "alertmanager": ("alertmanager", endpoints.ALERTMANAGER),
        "jaeger": ("jaeger-query", endpoints.JAEGER_UI),
    }
    internal_secret = k.internal_tls_secret or INTERNAL_TLS_SECRET
    out = []
    for ui, (service, port) in backends.items():
        host = k.hosts.get(ui, "")
        if not host or (ui == "alertmanager" and not settings.alertmanager.enabled):
            continue
        annotations = {
            "nginx.ingress.kubernetes.io/backend-protocol": "HTTPS",
            "nginx.ingress.kubernetes.io/proxy-ssl-verify": "on",
            "nginx.ingress.kubernetes.io/proxy-ssl-secret": f"{k.namespace}/{internal_secret}",
            "nginx.ingress.kubernetes.io/proxy-ssl-name": t.svc(k, service),
        }
        if ui == "jaeger":
            # The Jaeger UI has no login of its own: the controller asks for the stack's
            # basic-auth credential (a bcrypt hash in JAEGER_AUTH_SECRET).
            annotations["nginx.ingress.kubernetes.io/auth-type"] = "basic"
            annotations["nginx.ingress.kubernetes.io/auth-secret"] = JAEGER_AUTH_SECRET
            annotations["nginx.ingress.kubernetes.io/auth-realm"] = "Vega observability"
        if k.ingress_tls_secret:
            secret = k.ingress_tls_secret
        else:
            secret = f"{ui}-ingress-tls"
            annotations["cert-manager.io/cluster-issuer"] = k.cert_manager_issuer
        out.append(
            {
                "metadata": {
                    "name": ui,
                    "namespace": k.namespace,
                    "labels": labels("ingress"),
                    "annotations": annotations,
                },
                "spec": {
                    "ingressClassName": k.ingress_class,
                    "tls": [{"hosts": [host], "secretName": secret}],
                    "rules": [
                        {
                            "host": host,
                            "http": {
                                "paths": [
                                    {
                                        "path": "/",
                                        "pathType": "Prefix",
                                        "backend": {"service": {"name": service, "port": {"number": port}}},
                                    }
                                ]
                            },
                        }
                    ],
                },
            }
        )
    return out


class Edge(pulumi.ComponentResource):
    """Ingresses and NetworkPolicies of the stack."""

    def __init__(
        self,
        name: str,
        settings: Settings,
        cluster: KubernetesCluster,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("vega:edge:Edge", name, None, opts)
        k = cluster.k
        if k.hosts.get("jaeger"):
            k8s.core.v1.Secret(
                f"{name}-jaeger-ingress-auth",
                metadata={"name": JAEGER_AUTH_SECRET, "namespace": k.namespace, "labels": labels("ingress")},
                type="Opaque",
                string_data={"auth": htpasswd(cluster.key, k.web_username, k.web_password)},
                opts=cluster.opts(self),
            )
        for body in ingresses(settings):
            k8s.networking.v1.Ingress(
                f"{name}-{body['metadata']['name']}-ingress",
                metadata=body["metadata"],
                spec=body["spec"],
                opts=cluster.opts(self),
            )
        for body in policies(settings):
            in_agents = body["metadata"]["namespace"] == cluster.agents_ns
            k8s.networking.v1.NetworkPolicy(
                f"{name}-{body['metadata']['namespace']}-{body['metadata']['name']}",
                metadata=body["metadata"],
                spec=body["spec"],
                opts=cluster.opts(self, agents=in_agents),
            )
        self.register_outputs({})


__all__: Sequence[str] = ("Edge", "flow_table", "flows", "ingresses", "policies")
