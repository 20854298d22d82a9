"""Kubernetes backend: namespaces, internal TLS, and builders for hardened workloads.

Every pod the stack runs gets the same hardening from here: non-root, read-only root file
system, no privilege escalation, all capabilities dropped, RuntimeDefault seccomp, no service
account token unless the pod talks to the API, requests and limits, probes, and spread across
nodes. Services build their StatefulSets, Deployments and DaemonSets from these pieces; what
differs for real (clustering, storage, sidecars) stays in each service's kubernetes.py.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_docker as docker
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.settings import KubernetesSettings, SecretStr, Settings, WorkloadSize

PART_OF = "vega-observability"
LABEL_NAME = "app.kubernetes.io/name"
LABEL_COMPONENT = "app.kubernetes.io/component"
LABEL_PART_OF = "app.kubernetes.io/part-of"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
# Where a ConfigMap's files land (relative paths) so the offline render can rebuild the tree.
ANNOTATION_CONFIG_DIR = "vega-observability/config-dir"
ANNOTATION_SERVICE = "vega-observability/service"
ANNOTATION_RENDER_VISIBLE = "vega-observability/render-visible"

TLS_DIR = "/etc/tls/internal"  # tls.crt, tls.key, ca.crt of the internal certificate
CA_FILE = "/etc/tls/ca/ca.crt"  # the CA of the internal certificate: clients verify the stack's services with it
# CAs for external endpoints (S3, PostgreSQL, OpenSearch, SMTP, webhooks), only when the user
# provides them (caBundleConfigMap); otherwise the image's system roots verify those.
EXTERNAL_CA_FILE = "/etc/tls/external-ca/ca.crt"
INTERNAL_TLS_SECRET = "vega-internal-tls"
S3_SECRET = "s3-credentials"  # keys: access_key_id, secret_access_key
S3_CREDENTIALS_DIR = "/etc/s3-credentials"  # where a container mounts that Secret's two files
READ = ["get", "list", "watch"]
STACK_KEY_BYTES = 32
# Pod annotation that rolls a workload's pods when a secret they mount changes (rotation).
ROTATION_ANNOTATION = "vega-observability/secrets-rotation"

# Data resources refuse replacement and deletion (`pulumi state unprotect` first; the README's
# "Changing a running stack" has the steps). The API server refuses any update of a
# StatefulSet's claim templates, which the provider would apply by replacing the StatefulSet
# (every replica down at once, the retained claims never resized): a new size or class is
# ignored here and applied to the claims by hand.
STATEFUL_DATA = pulumi.ResourceOptions(protect=True, ignore_changes=["spec.volumeClaimTemplates"])
# The services' namespace holds every claim: deleting it deletes them.
NAMESPACE_DATA = pulumi.ResourceOptions(protect=True)


# The app a component belongs to (the `job` label Prometheus gives its metrics).
APP_NAMES = {
    **{f"loki-{part}": "loki" for part in (
        "distributor", "ingester", "querier", "query-frontend", "query-scheduler", "index-gateway", "compactor",
    )},
    "jaeger-collector": "jaeger", "jaeger-query": "jaeger",
}


def labels(component: str, name: str | None = None) -> dict[str, str]:
    return {
        LABEL_NAME: name or APP_NAMES.get(component, component),
        LABEL_COMPONENT: component,
        LABEL_PART_OF: PART_OF,
        LABEL_MANAGED_BY: "pulumi",
    }


def selector(component: str) -> dict[str, str]:
    return {LABEL_COMPONENT: component, LABEL_PART_OF: PART_OF}


def logical(opts: pulumi.ResourceOptions, suffix: str) -> str:
    """Pulumi name of a child: its component's name, then what it is (Pulumi names must be
    unique per type; the component prefix keeps them apart and shows the owner)."""
    parent = opts.parent
    return f"{parent.pulumi_resource_name}-{suffix}" if parent is not None else suffix


def checksum(files: Mapping[str, str]) -> str:
    """Digest of config files that hold no secret (pod annotation: a change rolls the pods)."""
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.encode())
        digest.update(b"\0")
        digest.update(files[path].encode())
    return digest.hexdigest()[:16]


def keyed_digest(key: str, purpose: str, parts: Mapping[str, str]) -> str:
    """HMAC-SHA256 under the stack's random key (hex): without the key, the digest tells
    nothing about `parts` and lets no one test a guess of them."""
    mac = hmac.new(bytes.fromhex(key), purpose.encode(), hashlib.sha256)
    for name in sorted(parts):
        for field in (name.encode(), parts[name].encode()):
            mac.update(len(field).to_bytes(8, "big"))
            mac.update(field)
    return mac.hexdigest()


def config_key(path: str) -> str:
    """ConfigMap keys cannot hold '/'; files keep their tree through volume items."""
    return path.replace("/", "__")


@dataclass(frozen=True)
class Mounted:
    """A volume and where a container mounts it."""

    volume: dict[str, Any]
    mount: dict[str, Any]


class KubernetesCluster:
    """The cluster side shared by every service."""

    def __init__(self, name: str, settings: Settings, parent: pulumi.Resource):
        assert settings.kubernetes is not None
        self.settings = settings
        self.k: KubernetesSettings = settings.kubernetes
        self.ns = self.k.namespace
        self.agents_ns = self.k.agents_namespace
        child = pulumi.ResourceOptions(parent=parent)

        self.namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata={
                "name": self.ns,
                "labels": {
                    **labels("namespace", PART_OF),
                    "pod-security.kubernetes.io/enforce": "restricted",
                    "pod-security.kubernetes.io/enforce-version": "latest",
                    "pod-security.kubernetes.io/audit": "restricted",
                    "pod-security.kubernetes.io/warn": "restricted",
                },
            },
            opts=pulumi.ResourceOptions.merge(child, NAMESPACE_DATA),
        )
        # The node agents read host files: the one exception to the restricted profile,
        # kept in a namespace of its own so it cannot spread to the services.
        self.agents_namespace = k8s.core.v1.Namespace(
            f"{name}-agents-namespace",
            metadata={
                "name": self.agents_ns,
                "labels": {
                    **labels("namespace", PART_OF),
                    "pod-security.kubernetes.io/enforce": "privileged",
                    "pod-security.kubernetes.io/audit": "restricted",
                    "pod-security.kubernetes.io/warn": "restricted",
                },
            },
            opts=child,
        )
        in_ns, in_agents_ns = self.opts(parent), self.opts(parent, agents=True)

        # The stack's secret random key: created once, kept in the Pulumi state, the same on
        # every later run. It salts the bcrypt hashes (webconfig.py) and keys the digests that
        # tell when a workload's secrets changed (rotation), so neither is a function of a
        # secret alone.
        stack_key = random.RandomBytes(f"{name}-stack-key", length=STACK_KEY_BYTES, opts=child)
        self.key: pulumi.Output[str] = pulumi.Output.secret(stack_key.hex)
        # Looks up image digests in their registries; no Docker engine involved.
        self.registry = docker.Provider(f"{name}-registry", disable_docker_daemon_check=True, opts=child)
        self._images: dict[str, pulumi.Output[str]] = {}

        # The object-storage keys, mounted as files by Loki and the backups (s3_credentials).
        storage = self.k.object_storage
        k8s.core.v1.Secret(
            f"{name}-s3-credentials",
            metadata={"name": S3_SECRET, "namespace": self.ns, "labels": labels("object-storage")},
            type="Opaque",
            string_data={
                "access_key_id": pulumi.Output.secret(storage.access_key_id.reveal()),
                "secret_access_key": pulumi.Output.secret(storage.secret_access_key.reveal()),
            },
            opts=in_ns,
        )

        self.internal_tls_secret = self.k.internal_tls_secret or INTERNAL_TLS_SECRET
        self.agents_tls_secret = self.k.internal_tls_secret or INTERNAL_TLS_SECRET
        if not self.k.internal_tls_secret:
            for namespace, opts in ((self.ns, in_ns), (self.agents_ns, in_agents_ns)):
                k8s.apiextensions.CustomResource(
                    f"{name}-internal-certificate" + ("" if namespace == self.ns else "-agents"),
                    api_version="cert-manager.io/v1",
                    kind="Certificate",
                    metadata={"name": INTERNAL_TLS_SECRET, "namespace": namespace, "labels": labels("tls")},
                    spec={
                        "secretName": INTERNAL_TLS_SECRET,
                        "issuerRef": {"kind": "ClusterIssuer", "name": self.k.cert_manager_issuer},
                        "commonName": f"{PART_OF}.{namespace}.svc",
                        # The agents' pods are scraped under the name every stack endpoint
                        # is verified with (see topology.tls_server_name), so it is in both.
                        "dnsNames": [*self.internal_dns_names(namespace), f"metrics.{self.ns}.svc"],
                        "duration": "2160h",
                        "renewBefore": "360h",
                        "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
                        "usages": ["server auth", "client auth"],
                    },
                    opts=opts,
                )

    def opts(self, parent: pulumi.Resource, *, agents: bool = False) -> pulumi.ResourceOptions:
        """Options of a child of `parent` that lives in the services' (or the agents')
        namespace: it waits for that namespace to exist."""
        namespace = self.agents_namespace if agents else self.namespace
        return pulumi.ResourceOptions(parent=parent, depends_on=[namespace])

    # ---- naming and addresses

    def internal_dns_names(self, namespace: str) -> list[str]:
        domain = self.k.cluster_domain
        names = []
        for suffix in (f"{namespace}.svc", f"{namespace}.svc.{domain}"):
            names += [f"*.{suffix}", f"*.*.{suffix}"]
        names += ["localhost"]
        return names

    def host(self, service: str, namespace: str | None = None) -> str:
        """In-cluster DNS name of a Service."""
        return f"{service}.{namespace or self.ns}.svc"

    def pod_host(self, pod: str, headless: str) -> str:
        return f"{pod}.{headless}.{self.ns}.svc"

    # ---- building blocks

    def size(self, workload: str) -> WorkloadSize:
        return self.k.sizing[workload]

    def resources(self, workload: str) -> dict[str, Any]:
        size = self.size(workload)
        return {
            "requests": {"cpu": size.cpu, "memory": size.memory},
            "limits": {"cpu": size.cpu_limit, "memory": size.memory_limit},
        }

    def config_map(
        self,
        name: str,
        component: str,
        files: Mapping[str, str],
        mount_path: str,
        opts: pulumi.ResourceOptions,
        *,
        namespace: str | None = None,
        service: str | None = None,
    ) -> Mounted:
        """A ConfigMap of `files` (relative paths) mounted read-only at mount_path."""
        k8s.core.v1.ConfigMap(
            f"{name}-config",
            metadata={
                "name": f"{name}-config",
                "namespace": namespace or self.ns,
                "labels": labels(component),
                "annotations": {ANNOTATION_CONFIG_DIR: mount_path, ANNOTATION_SERVICE: service or component},
            },
            data={config_key(path): text for path, text in sorted(files.items())},
            opts=opts,
        )
        volume = {
            "name": "config",
            "configMap": {
                "name": f"{name}-config",
                "items": [{"key": config_key(p), "path": p} for p in sorted(files)],
            },
        }
        return Mounted(volume, {"name": "config", "mountPath": mount_path, "readOnly": True})

    def secret(
        self,
        name: str,
        component: str,
        files: Mapping[str, SecretStr | pulumi.Output[str]],
        mount_path: str,
        opts: pulumi.ResourceOptions,
        *,
        namespace: str | None = None,
        volume_name: str = "secrets",
        service: str | None = None,
        render_visible: Sequence[str] = (),
    ) -> Mounted:
        """A Secret of `files` mounted read-only (mode 0440) at mount_path.

        `render_visible` names files whose content is no secret (e.g. a web config holding
        only a bcrypt hash), which the offline render may show so validators can read them.
        """
        data: dict[str, Any] = {}
        for path, value in sorted(files.items()):
            text = value.reveal() if isinstance(value, SecretStr) else value
            data[config_key(path)] = pulumi.Output.secret(text)
        k8s.core.v1.Secret(
            f"{name}-secret",
            metadata={
                "name": f"{name}-secret",
                "namespace": namespace or self.ns,
                "labels": labels(component),
                "annotations": {
                    ANNOTATION_CONFIG_DIR: mount_path,
                    ANNOTATION_SERVICE: service or component,
                    ANNOTATION_RENDER_VISIBLE: ",".join(config_key(p) for p in render_visible),
                },
            },
            type="Opaque",
            string_data=data,
            opts=opts,
        )
        volume = {
            "name": volume_name,
            "secret": {
                "secretName": f"{name}-secret",
                "defaultMode": 0o440,
                "items": [{"key": config_key(p), "path": p} for p in sorted(files)],
            },
        }
        return Mounted(volume, {"name": volume_name, "mountPath": mount_path, "readOnly": True})

    def external_ca(self) -> str | None:
        """The CA file for external endpoints, or None to use the image's system roots."""
        return EXTERNAL_CA_FILE if self.k.ca_bundle_configmap else None

    def tls(self, *, namespace: str | None = None) -> list[Mounted]:
        """The internal certificate (tls.crt, tls.key, ca.crt), its CA at CA_FILE, and the
        user's CA bundle for external endpoints when one is configured."""
        secret = self.agents_tls_secret if namespace == self.agents_ns else self.internal_tls_secret
        mounted = [
            Mounted(
                {"name": "tls", "secret": {"secretName": secret, "defaultMode": 0o440}},
                {"name": "tls", "mountPath": TLS_DIR, "readOnly": True},
            )
        ]
        mounted.append(
            Mounted(
                {"name": "ca", "secret": {"secretName": secret, "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"name": "ca", "mountPath": "/etc/tls/ca", "readOnly": True},
            )
        )
        # The node agents talk to no external endpoint, and the ConfigMap lives in the
        # services' namespace only.
        if self.k.ca_bundle_configmap and namespace != self.agents_ns:
            mounted.append(
                Mounted(
                    {
                        "name": "external-ca",
                        "configMap": {
                            "name": self.k.ca_bundle_configmap,
                            "items": [{"key": "ca.crt", "path": "ca.crt"}],
                        },
                    },
                    {"name": "external-ca", "mountPath": "/etc/tls/external-ca", "readOnly": True},
                )
            )
        return mounted

    @staticmethod
    def s3_credentials() -> Mounted:
        """The stack's S3 Secret as two files (access_key_id, secret_access_key) under
        S3_CREDENTIALS_DIR."""
        return Mounted(
            {"name": "s3-credentials", "secret": {"secretName": S3_SECRET, "defaultMode": 0o440}},
            {"name": "s3-credentials", "mountPath": S3_CREDENTIALS_DIR, "readOnly": True},
        )

    def s3_secrets(self) -> dict[str, SecretStr]:
        """The S3 keys, for the rotation token of the pods that mount them."""
        storage = self.k.object_storage
        return {"s3/access_key_id": storage.access_key_id, "s3/secret_access_key": storage.secret_access_key}

    def image(self, service: str) -> pulumi.Output[str]:
        """The pinned image of `service` (configs/versions.yaml) with its digest: a tag is
        looked up in its registry at `pulumi up` (and preview) and the pods run
        `<tag>@sha256:<digest>`, so every node runs the same bytes and a re-pushed tag changes
        nothing until the next `pulumi up` shows it. A reference that already carries a
        digest is used as it is, with no lookup (private registries, air-gapped clusters)."""
        ref = self.settings.images[service]
        if "@sha256:" in ref:
            return pulumi.Output.from_input(ref)
        if ref not in self._images:
            found = docker.get_registry_image_output(name=ref, opts=pulumi.InvokeOptions(provider=self.registry))
            self._images[ref] = found.sha256_digest.apply(lambda digest: f"{ref}@{digest}")
        return self._images[ref]

    @staticmethod
    def empty_dir(name: str, path: str, size: str = "256Mi") -> Mounted:
        return Mounted({"name": name, "emptyDir": {"sizeLimit": size}}, {"name": name, "mountPath": path})

    def container(
        self,
        name: str,
        image: pulumi.Input[str],
        workload: str,
        *,
        args: Sequence[str] = (),
        ports: Mapping[str, int] | None = None,
        mounts: Sequence[Mounted] = (),
        env: Sequence[dict[str, Any]] = (),
        probe: dict[str, Any] | None = None,
        run_as_user: int | None = None,
        command: Sequence[str] = (),
    ) -> dict[str, Any]:
        """A hardened container; `probe` is the handler used for startup, readiness and liveness."""
        body: dict[str, Any] = {
            "name": name,
            "image": image,
            "imagePullPolicy": "IfNotPresent",
            "resources": self.resources(workload),
            "securityContext": {
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
                "runAsNonRoot": True,
                "capabilities": {"drop": ["ALL"]},
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "volumeMounts": [m.mount for m in mounts],
        }
        if run_as_user is not None:
            body["securityContext"]["runAsUser"] = run_as_user
            body["securityContext"]["runAsGroup"] = run_as_user
        if command:
            body["command"] = list(command)
        if args:
            body["args"] = list(args)
        if ports:
            body["ports"] = [{"name": n, "containerPort": p, "protocol": "TCP"} for n, p in ports.items()]
        if env:
            body["env"] = list(env)
        if probe:
            body["startupProbe"] = {**probe, "periodSeconds": 10, "failureThreshold": 30, "timeoutSeconds": 5}
            body["readinessProbe"] = {**probe, "periodSeconds": 10, "failureThreshold": 3, "timeoutSeconds": 5}
            body["livenessProbe"] = {**probe, "periodSeconds": 20, "failureThreshold": 6, "timeoutSeconds": 5}
        return body

    @staticmethod
    def http_probe(path: str, port: str, *, tls: bool = True) -> dict[str, Any]:
        return {"httpGet": {"path": path, "port": port, "scheme": "HTTPS" if tls else "HTTP"}}

    @staticmethod
    def tcp_probe(port: str) -> dict[str, Any]:
        return {"tcpSocket": {"port": port}}

    def pod_template(
        self,
        component: str,
        containers: Sequence[dict[str, Any]],
        mounts: Sequence[Mounted],
        *,
        checksum_of: Mapping[str, str] | None = None,
        rotation: pulumi.Output[str] | None = None,
        service_account: str | None = None,
        fs_group: int | None = None,
        spread: bool = True,
        extra_spec: Mapping[str, Any] | None = None,
        annotations: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Pod template: restricted security context, spread over nodes and zones, and
        annotations that roll the pods when what they mount changes: `checksum/config` over
        the config files (no secret in them), and ROTATION_ANNOTATION, the token `rotation`
        renews whenever the secret files change."""
        meta_annotations: dict[str, Any] = dict(annotations or {})
        if checksum_of:
            meta_annotations["checksum/config"] = checksum(checksum_of)
        if rotation is not None:
            meta_annotations[ROTATION_ANNOTATION] = rotation
        pod_security: dict[str, Any] = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
        if fs_group is not None:
            pod_security["fsGroup"] = fs_group
            pod_security["fsGroupChangePolicy"] = "OnRootMismatch"
        seen: set[str] = set()
        volumes = []
        for m in mounts:
            if m.volume["name"] not in seen:
                seen.add(m.volume["name"])
                volumes.append(m.volume)
        spec: dict[str, Any] = {
            "automountServiceAccountToken": service_account is not None,
            "serviceAccountName": service_account or "default",
            "securityContext": pod_security,
            "containers": list(containers),
            "volumes": volumes,
            "enableServiceLinks": False,
        }
        if spread:
            spec["topologySpreadConstraints"] = [
                {
                    "maxSkew": 1,
                    "topologyKey": "kubernetes.io/hostname",
                    "whenUnsatisfiable": "DoNotSchedule",
                    "labelSelector": {"matchLabels": selector(component)},
                },
                {
                    "maxSkew": 1,
                    "topologyKey": "topology.kubernetes.io/zone",
                    "whenUnsatisfiable": "ScheduleAnyway",
                    "labelSelector": {"matchLabels": selector(component)},
                },
            ]
        spec.update(extra_spec or {})
        return {
            "metadata": {"labels": labels(component), "annotations": meta_annotations},
            "spec": spec,
        }

    def rotation(
        self, component: str, secrets: Mapping[str, SecretStr | pulumi.Output[str]], opts: pulumi.ResourceOptions
    ) -> pulumi.Output[str]:
        """A random token that is renewed whenever `secrets` change, for the pod annotation
        that rolls the pods: a `random.RandomId` whose keeper is a digest of the secrets keyed
        with the stack's key. The token is random, not derived from any secret, so it stays a
        plain value (a secret annotation would make Pulumi hide the whole workload spec in
        every preview) and tells nothing about the secrets; the keeper stays secret in the
        RandomId's state."""
        names = sorted(secrets)
        values = [
            pulumi.Output.secret(v.reveal()) if isinstance(v, SecretStr) else v for v in (secrets[n] for n in names)
        ]

        def digest(args: list[str]) -> str:
            key, *texts = args
            return keyed_digest(key, ROTATION_ANNOTATION, dict(zip(names, texts, strict=True)))

        keeper = pulumi.Output.all(self.key, *values).apply(digest)  # secret, as the key is
        token = random.RandomId(
            logical(opts, f"{component}-secrets-rotation"), byte_length=8, keepers={"secrets": keeper}, opts=opts
        )
        return token.hex

    def service_account(
        self, name: str, component: str, opts: pulumi.ResourceOptions, *, namespace: str | None = None
    ) -> str:
        k8s.core.v1.ServiceAccount(
            logical(opts, f"{name}-serviceaccount"),
            metadata={"name": name, "namespace": namespace or self.ns, "labels": labels(component)},
            automount_service_account_token=False,
            opts=opts,
        )
        return name

    def discovery_access(
        self,
        name: str,
        component: str,
        service_account: str,
        opts: pulumi.ResourceOptions,
        rules: Sequence[dict[str, Any]],
        *,
        namespaces: Sequence[str] = (),
        account_namespace: str | None = None,
    ) -> None:
        """Read-only rights for a service account: a Role and RoleBinding in each of
        `namespaces`, or, without namespaces, a ClusterRole and ClusterRoleBinding. They wait
        for both of the stack's namespaces (a Role may live in either)."""
        both = pulumi.ResourceOptions(depends_on=[self.namespace, self.agents_namespace])
        opts = pulumi.ResourceOptions.merge(opts, both)
        role_name = f"{PART_OF}-{name}"
        subjects = [{"kind": "ServiceAccount", "name": service_account, "namespace": account_namespace or self.ns}]
        meta = {"name": role_name, "labels": labels(component)}
        scopes: list[tuple[Any, Any, str, str, dict[str, Any]]] = (
            [(k8s.rbac.v1.Role, k8s.rbac.v1.RoleBinding, "Role", f"-{n}", {**meta, "namespace": n}) for n in namespaces]
            if namespaces
            else [(k8s.rbac.v1.ClusterRole, k8s.rbac.v1.ClusterRoleBinding, "ClusterRole", "", meta)]
        )
        for role_type, binding_type, kind, where, metadata in scopes:
            role_type(logical(opts, f"{name}-{kind.lower()}{where}"), metadata=metadata, rules=list(rules), opts=opts)
            binding_type(
                logical(opts, f"{name}-{kind.lower()}binding{where}"),
                metadata=metadata,
                role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role_name},
                subjects=subjects,
                opts=opts,
            )

    def service(
        self,
        name: str,
        component: str,
        ports: Mapping[str, int],
        opts: pulumi.ResourceOptions,
        *,
        headless: bool = False,
        namespace: str | None = None,
        publish_not_ready: bool = False,
        annotations: Mapping[str, str] | None = None,
        select: Mapping[str, str] | None = None,
    ) -> str:
        """A Service; `annotations` such as vega-observability/scrape make Prometheus scrape
        it, `select` widens the selector (e.g. every Loki component for memberlist)."""
        spec: dict[str, Any] = {
            "selector": dict(select or selector(component)),
            "ports": [{"name": n, "port": p, "targetPort": n, "protocol": "TCP"} for n, p in ports.items()],
        }
        if headless:
            spec["clusterIP"] = "None"
            spec["publishNotReadyAddresses"] = publish_not_ready
        k8s.core.v1.Service(
            logical(opts, f"{name}-service"),
            metadata={
                "name": name,
                "namespace": namespace or self.ns,
                "labels": labels(component),
                "annotations": dict(annotations or {}),
            },
            spec=spec,
            opts=opts,
        )
        return name

    def disruption_budget(
        self, name: str, component: str, opts: pulumi.ResourceOptions, *, max_unavailable: int = 1
    ) -> None:
        k8s.policy.v1.PodDisruptionBudget(
            logical(opts, f"{name}-pdb"),
            metadata={"name": name, "namespace": self.ns, "labels": labels(component)},
            spec={"maxUnavailable": max_unavailable, "selector": {"matchLabels": selector(component)}},
            opts=opts,
        )

    def volume_claim(self, name: str, workload: str) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": self.size(workload).storage}},
        }
        if self.k.storage_class:
            spec["storageClassName"] = self.k.storage_class
        return {"metadata": {"name": name, "labels": labels(workload)}, "spec": spec}

    def stateful_set(
        self,
        name: str,
        component: str,
        replicas: int,
        template: dict[str, Any],
        opts: pulumi.ResourceOptions,
        *,
        headless_service: str,
        claims: Sequence[dict[str, Any]] = (),
        parallel: bool = False,
        min_ready_seconds: int = 0,
        extra_selector: Mapping[str, str] | None = None,
    ) -> None:
        """`extra_selector` narrows the selector to some of the component's pods (labels the
        template also carries), e.g. one StatefulSet per zone of one component."""
        spec: dict[str, Any] = {
            "replicas": replicas,
            "minReadySeconds": min_ready_seconds,
            "serviceName": headless_service,
            "selector": {"matchLabels": {**selector(component), **(extra_selector or {})}},
            "template": template,
            "podManagementPolicy": "Parallel" if parallel else "OrderedReady",
            "updateStrategy": {"type": "RollingUpdate"},
            "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
        }
        if claims:
            spec["volumeClaimTemplates"] = list(claims)
        k8s.apps.v1.StatefulSet(
            logical(opts, f"{name}-statefulset"),
            metadata={"name": name, "namespace": self.ns, "labels": labels(component)},
            spec=spec,
            opts=pulumi.ResourceOptions.merge(opts, STATEFUL_DATA),
        )

    def daemon_set(
        self, name: str, component: str, template: dict[str, Any], opts: pulumi.ResourceOptions, *, namespace: str
    ) -> None:
        """One pod per node (the node agents), rolled one node at a time."""
        k8s.apps.v1.DaemonSet(
            logical(opts, f"{name}-daemonset"),
            metadata={"name": name, "namespace": namespace, "labels": labels(component)},
            spec={
                "selector": {"matchLabels": selector(component)},
                "template": template,
                "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
                "revisionHistoryLimit": 5,
            },
            opts=opts,
        )

    def deployment(
        self, name: str, component: str, replicas: int, template: dict[str, Any], opts: pulumi.ResourceOptions
    ) -> None:
        k8s.apps.v1.Deployment(
            logical(opts, f"{name}-deployment"),
            metadata={"name": name, "namespace": self.ns, "labels": labels(component)},
            spec={
                "replicas": replicas,
                "selector": {"matchLabels": selector(component)},
                "template": template,
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
                "revisionHistoryLimit": 5,
            },
            opts=opts,
        )
