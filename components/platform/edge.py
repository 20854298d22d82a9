"""The stack's boundary on kubernetes: Ingresses with TLS for the four UIs, and
NetworkPolicies that deny everything in both namespaces except the flows the stack needs.

The flows are one table (FLOWS): who may reach whom on which ports. Each component gets one
NetworkPolicy holding its allowed ingress and egress, generated from that table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pulumi
import pulumi_kubernetes as k8s

from components import endpoints
from components.platform import topology as t
from components.platform.kubernetes import (
    INTERNAL_TLS_SECRET,
    LABEL_COMPONENT,
    LABEL_PART_OF,
    PART_OF,
    KubernetesCluster,
    labels,
)
from components.platform.webconfig import bcrypt_hash
from components.settings import Settings

DNS = (53,)
JAEGER_AUTH_SECRET = "jaeger-ingress-auth"
LOKI_PORTS = (endpoints.LOKI, endpoints.LOKI_GRPC, t.LOKI_MEMBERLIST)


@dataclass(frozen=True)
class Peer:
    """One end of a flow: stack pods of a component (in a namespace), whole namespaces, or CIDRs."""

    component: str = ""
    namespace: str = ""  # "" = the stack's namespace
    namespaces: tuple[str, ...] = ()
    cidrs: tuple[str, ...] = ()
    agents: bool = False  # a component in the agents namespace


@dataclass(frozen=True)
class Flow:
    source: Peer
    destination: Peer
    ports: tuple[int, ...]
    protocols: tuple[str, ...] = ("TCP",)


def _port(url_or_host: str, default: int) -> int:
    if "://" in url_or_host:
        parts = urlsplit(url_or_host)
        return parts.port or (443 if parts.scheme == "https" else 80)
    host, sep, port = url_or_host.rpartition(":")
    return int(port) if sep and port.isdigit() and host else default


def flows(settings: Settings) -> list[Flow]:
    k = settings.kubernetes
    assert k is not None
    s3 = k.object_storage
    s3_port = _port(s3.endpoint, 80 if s3.insecure else 443)
    external = Peer(cidrs=k.external_cidrs)
    api = Peer(cidrs=k.api_server_cidrs)
    ingress = Peer(namespaces=(k.ingress_controller_namespace,))
    vega = Peer(namespaces=k.vega_namespaces)

    def pods(component: str) -> Peer:
        return Peer(component=component)

    def agents(component: str) -> Peer:
        return Peer(component=component, agents=True)

    collector_port = endpoints.ALLOY if settings.collector == "alloy" else endpoints.PROMTAIL
    # PostgreSQL, and OIDC providers on 443
    db = settings.grafana.database
    grafana_external = tuple(sorted({_port(db.host, 5432), 443})) if db else (443,)
    trace_storage = tuple(sorted({_port(u, 9200) for u in settings.jaeger.storage_urls})) or (9200,)
    out = [
        # ---- Prometheus and its global view
        Flow(pods("prometheus"), pods("prometheus"), (endpoints.PROMETHEUS, t.THANOS_HTTP)),
        Flow(pods("prometheus"), pods("thanos-query"), (t.THANOS_HTTP,)),
        Flow(pods("prometheus"), pods("thanos-store"), (t.THANOS_HTTP,)),
        Flow(pods("prometheus"), pods("thanos-compact"), (t.THANOS_HTTP,)),
        Flow(pods("prometheus"), pods("grafana"), (endpoints.GRAFANA,)),
        Flow(pods("prometheus"), pods("loki-write"), (endpoints.LOKI,)),
        Flow(pods("prometheus"), pods("loki-read"), (endpoints.LOKI,)),
        Flow(pods("prometheus"), pods("loki-backend"), (endpoints.LOKI,)),
        Flow(pods("prometheus"), pods("jaeger-collector"), (endpoints.JAEGER_METRICS,)),
        Flow(pods("prometheus"), pods("jaeger-query"), (t.JAEGER_QUERY_METRICS,)),
        Flow(pods("prometheus"), agents("collector"), (collector_port,)),
        # node-exporter runs on the host network, and the kubelet serves cAdvisor's metrics:
        # both are node IPs, as is the API server used for discovery.
        Flow(pods("prometheus"), api, (443, 6443, 10250, endpoints.NODE_EXPORTER)),
        Flow(pods("prometheus"), vega, ()),  # Vega's pods expose metrics on ports of their own
        Flow(pods("thanos-query"), pods("prometheus"), (t.THANOS_GRPC,)),
        Flow(pods("thanos-query"), pods("thanos-store"), (t.THANOS_GRPC,)),
        Flow(pods("prometheus"), external, (s3_port,)),  # the sidecar uploads blocks
        Flow(pods("thanos-store"), external, (s3_port,)),
        Flow(pods("thanos-compact"), external, (s3_port,)),
        Flow(ingress, pods("thanos-query"), (t.THANOS_HTTP,)),
        # ---- Grafana
        Flow(ingress, pods("grafana"), (endpoints.GRAFANA,)),
        Flow(pods("grafana"), pods("grafana"), (t.GRAFANA_ALERTING,), ("TCP", "UDP")),
        Flow(pods("grafana"), pods("thanos-query"), (t.THANOS_HTTP,)),
        Flow(pods("grafana"), pods("loki-read"), (endpoints.LOKI,)),
        Flow(pods("grafana"), pods("jaeger-query"), (endpoints.JAEGER_UI,)),
        Flow(pods("grafana"), external, grafana_external),
        # ---- Loki: the three targets talk HTTP, gRPC and memberlist among themselves
        *[
            Flow(pods(a), pods(b), LOKI_PORTS)
            for a in ("loki-write", "loki-read", "loki-backend")
            for b in ("loki-write", "loki-read", "loki-backend")
        ],
        *[Flow(pods(c), external, (s3_port,)) for c in ("loki-write", "loki-read", "loki-backend")],
        Flow(agents("collector"), pods("loki-write"), (endpoints.LOKI,)),
        Flow(agents("collector"), api, (443, 6443)),  # pod discovery
        Flow(vega, pods("loki-write"), (endpoints.LOKI,)),  # workloads that push their logs
        # ---- Jaeger
        Flow(vega, pods("jaeger-collector"), (endpoints.OTLP_GRPC, endpoints.OTLP_HTTP)),
        Flow(ingress, pods("jaeger-query"), (endpoints.JAEGER_UI,)),
        Flow(pods("jaeger-collector"), external, trace_storage),
        Flow(pods("jaeger-query"), external, trace_storage),
        # ---- backups
        Flow(pods("backup"), pods("prometheus"), (endpoints.PROMETHEUS,)),
        Flow(pods("backup"), pods("grafana"), (endpoints.GRAFANA,)),
        Flow(pods("backup"), external, (s3_port,)),
    ]
    if settings.alertmanager.enabled:
        am = settings.alertmanager
        notify_ports = {443}
        if am.webhook_url:
            notify_ports.add(_port(am.webhook_url, 443))
        if am.email_to:
            notify_ports.add(_port(am.smtp_smarthost, 587))
        out += [
            Flow(pods("prometheus"), pods("alertmanager"), (endpoints.ALERTMANAGER,)),
            Flow(pods("grafana"), pods("alertmanager"), (endpoints.ALERTMANAGER,)),
            Flow(ingress, pods("alertmanager"), (endpoints.ALERTMANAGER,)),
            Flow(pods("alertmanager"), pods("alertmanager"), (endpoints.ALERTMANAGER_CLUSTER,), ("TCP", "UDP")),
            Flow(pods("alertmanager"), external, tuple(sorted(notify_ports))),
        ]
    if settings.prometheus.remote_write is not None:
        out.append(Flow(pods("prometheus"), external, (_port(settings.prometheus.remote_write.url, 443),)))
    return out


def _peer_rule(k: Any, peer: Peer, here: str) -> dict[str, Any]:
    """A NetworkPolicy peer entry for `peer`, seen from a policy in namespace `here`."""
    if peer.cidrs:
        return {"ipBlock": {"cidr": peer.cidrs[0]}}
    if peer.namespaces:
        raise AssertionError("expanded by _peers")
    namespace = k.agents_namespace if peer.agents else k.namespace
    rule: dict[str, Any] = {"podSelector": {"matchLabels": {LABEL_COMPONENT: peer.component, LABEL_PART_OF: PART_OF}}}
    if namespace != here:
        rule["namespaceSelector"] = {"matchLabels": {"kubernetes.io/metadata.name": namespace}}
    return rule


def _peers(k: Any, peer: Peer, here: str) -> list[dict[str, Any]]:
    if peer.cidrs:
        return [{"ipBlock": {"cidr": c}} for c in peer.cidrs]
    if peer.namespaces:
        return [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": n}}} for n in peer.namespaces]
    return [_peer_rule(k, peer, here)]


def _ports(flow: Flow) -> list[dict[str, Any]]:
    return [{"port": p, "protocol": proto} for p in flow.ports for proto in flow.protocols]


def _rule(k: Any, flow: Flow, peer: Peer, here: str, key: str) -> dict[str, Any]:
    rule: dict[str, Any] = {key: _peers(k, peer, here)}
    if flow.ports:
        rule["ports"] = _ports(flow)
    return rule


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
    for component, in_agents in components:
        here = k.agents_namespace if in_agents else k.namespace
        me = Peer(component=component, agents=in_agents)
        ingress_rules = [_rule(k, f, f.source, here, "from") for f in table if f.destination == me]
        egress_rules = [_rule(k, f, f.destination, here, "to") for f in table if f.source == me]
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
                string_data={
                    "auth": pulumi.Output.secret(
                        f"{k.web_username}:{bcrypt_hash(k.web_username, k.web_password.reveal())}"
                    )
                },
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


__all__: Sequence[str] = ("Edge", "flows", "ingresses", "policies")
