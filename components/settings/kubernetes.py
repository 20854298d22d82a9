"""The kubernetes platform's settings (prod): namespaces, TLS, ingress, network, replicas,
object storage, backups, Grafana's shared database and single sign-on, trace storage."""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from pathlib import Path

from components.settings.checks import BUCKET, HOSTNAME, HTTP_URL, K8S_NAME, check_cron, check_target
from components.settings.content import load_kubernetes_sizing
from components.settings.model import (
    GrafanaDatabase,
    Images,
    JaegerSettings,
    KubernetesSettings,
    ObjectStorage,
    Oidc,
    RemoteWrite,
    SecretStr,
)
from components.settings.reader import Reader
from components.settings.schema import missing_secret

# Loki in microservices mode: the replicas of each part but the compactor (exactly one runs).
# Ingesters hold every stream three times (the replication factor); the others are stateless.
LOKI_REPLICATION_FACTOR = 3
LOKI_MIN_REPLICAS = {
    "loki-distributor": ("lokiDistributorReplicas", 2),
    "loki-ingester": ("lokiIngesterReplicas", LOKI_REPLICATION_FACTOR),
    "loki-querier": ("lokiQuerierReplicas", 2),
    "loki-query-frontend": ("lokiQueryFrontendReplicas", 2),
    "loki-query-scheduler": ("lokiQuerySchedulerReplicas", 2),
    "loki-index-gateway": ("lokiIndexGatewayReplicas", 2),
    "loki-chunks-cache": ("lokiChunksCacheReplicas", 2),
    "loki-results-cache": ("lokiResultsCacheReplicas", 2),
}
LOKI_REPLICA_KEYS = tuple(key for key, _ in LOKI_MIN_REPLICAS.values())
# A zone as it becomes part of the name of its ingesters' StatefulSet (loki-ingester-<zone>).
LOKI_ZONE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,36}[a-z0-9])?$")

KUBERNETES_ONLY = {
    "namespace", "agentsNamespace", "clusterDomain", "storageClass", "ingressClass", "ingressControllerNamespace",
    "grafanaHost", "prometheusHost", "alertmanagerHost", "jaegerHost", "certManagerIssuer", "ingressTlsSecret",
    "internalTlsSecret", "caBundleConfigMap", "vegaNamespaces", "apiServerCidrs", "nodeCidrs", "externalCidrs",
    "webUsername", "webPassword", "prometheusReplicas", "alertmanagerReplicas", "grafanaReplicas", *LOKI_REPLICA_KEYS,
    "lokiIngesterZones", "jaegerCollectorReplicas", "jaegerQueryReplicas",
    "thanosQueryReplicas", "prometheusRemoteWriteUrl", "prometheusRemoteWriteUsername",
    "prometheusRemoteWritePassword", "s3Endpoint", "s3Region", "s3Insecure", "s3AccessKeyId", "s3SecretAccessKey",
    "lokiBucket", "thanosBucket", "backupBucket", "backupSchedule", "objectStorageRetention", "grafanaDatabaseHost",
    "grafanaDatabaseName", "grafanaDatabaseUser", "grafanaDatabasePassword", "grafanaDatabaseSslMode",
    "grafanaSecretKey", "grafanaOidcEnabled", "grafanaOidcName", "grafanaOidcClientId", "grafanaOidcClientSecret",
    "grafanaOidcAuthUrl", "grafanaOidcTokenUrl", "grafanaOidcApiUrl", "grafanaOidcScopes",
    "grafanaOidcRoleAttributePath", "jaegerStorageUrls", "jaegerStorageUsername", "jaegerStoragePassword",
    "jaegerIndexPrefix", "jaegerStorageVersion", "jaegerDependencies", "jaegerDependenciesSchedule",
}



CLUSTER_DOMAIN = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$")
PG_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$")
_MIN_REPLICAS = {
    "prometheus": ("prometheusReplicas", 2),
    "alertmanager": ("alertmanagerReplicas", 3),
    "grafana": ("grafanaReplicas", 2),
    **LOKI_MIN_REPLICAS,
    "jaeger-collector": ("jaegerCollectorReplicas", 2),
    "jaeger-query": ("jaegerQueryReplicas", 2),
    "thanos-query": ("thanosQueryReplicas", 2),
}


def cluster(r: Reader, configs: Path, problems: list[str]) -> KubernetesSettings:
    """The kubernetes-only settings; every missing or contradictory one becomes a problem."""

    def name(key: str, *, required: bool = True) -> str:
        value = str(r.typed(key) or "")
        if (value or required) and not K8S_NAME.match(value):
            r.problem(key, value, "a Kubernetes name: lower-case letters, digits and -, at most 63")
        return value

    def host(key: str, *, required: bool) -> str:
        value = str(r.typed(key) or "")
        if required and not value:
            r.problems.append(f"{key}: required on kubernetes (the public host name, e.g. grafana.vega.example.org)")
        elif value and not HOSTNAME.match(value):
            r.problem(key, value, "a DNS host name such as grafana.vega.example.org")
        return value

    def required_secret(key: str, min_length: int = 1) -> SecretStr:
        value = r.secret(key)
        if value is None:
            r.problems.append(missing_secret(key, "on kubernetes"))
            return SecretStr("")
        if len(value.reveal()) < min_length:
            r.problem(key, None, f"at least {min_length} characters", secret=True)
        return value

    namespace = name("namespace")
    agents = name("agentsNamespace")
    if namespace and namespace == agents:
        r.problems.append(
            "agentsNamespace: must differ from namespace; the node agents' host access stays out of the "
            "restricted namespace"
        )
    issuer = str(r.typed("certManagerIssuer") or "")
    ingress_secret = name("ingressTlsSecret", required=False)
    internal_secret = name("internalTlsSecret", required=False)
    if not issuer and not (ingress_secret and internal_secret):
        r.problems.append(
            "certManagerIssuer: required on kubernetes unless both ingressTlsSecret and internalTlsSecret are given "
            "(every endpoint of the stack speaks TLS)"
        )
    cidrs = {key: _required_cidrs(r, key) for key in REQUIRED_CIDRS} | {"externalCidrs": _cidrs(r, "externalCidrs")}
    vega_namespaces = tuple(r.typed("vegaNamespaces") or ())
    for value in vega_namespaces:
        if not K8S_NAME.match(value):
            r.problem("vegaNamespaces", value, "Kubernetes namespace names")

    replicas = {}
    for workload, (key, minimum) in _MIN_REPLICAS.items():
        value = r.typed(key)
        if not isinstance(value, int) or value < minimum:
            r.problem(key, value, f"an integer of at least {minimum} (high availability)")
            value = minimum
        replicas[workload] = value
    if replicas["alertmanager"] % 2 == 0:
        r.problem("alertmanagerReplicas", replicas["alertmanager"], "an odd number, so a partition keeps a majority")
    loki_zones = _loki_zones(r, replicas["loki-ingester"])

    endpoint = str(r.typed("s3Endpoint") or "")
    if not endpoint:
        r.problems.append("s3Endpoint: required on kubernetes (host[:port] of the S3-compatible storage)")
    elif "://" in endpoint or not re.fullmatch(r"[A-Za-z0-9.-]+(:\d{1,5})?", endpoint):
        r.problem("s3Endpoint", endpoint, "host[:port] without a scheme, e.g. s3.eu-west-1.amazonaws.com")
    buckets = {}
    for key in ("lokiBucket", "thanosBucket", "backupBucket"):
        value = str(r.typed(key) or "")
        if not BUCKET.match(value):
            r.problem(key, value, "an S3 bucket name: 3-63 lower-case letters, digits, . and -")
        buckets[key] = value
    if len(set(buckets.values())) != len(buckets):
        r.problems.append("lokiBucket, thanosBucket, backupBucket: must be three different buckets")
    storage = ObjectStorage(
        endpoint=endpoint,
        region=str(r.typed("s3Region") or ""),
        insecure=bool(r.typed("s3Insecure")),
        access_key_id=required_secret("s3AccessKeyId"),
        secret_access_key=required_secret("s3SecretAccessKey"),
        loki_bucket=buckets["lokiBucket"],
        thanos_bucket=buckets["thanosBucket"],
        backup_bucket=buckets["backupBucket"],
    )
    schedule = str(r.typed("backupSchedule") or "")
    try:
        check_cron(schedule)
    except ValueError as exc:
        r.problem("backupSchedule", schedule, f"a cron schedule of five fields, e.g. '0 2 * * *' ({exc})")
    web_user = str(r.typed("webUsername") or "")
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", web_user):
        r.problem("webUsername", web_user, "1-64 letters, digits or . _ -")

    cluster_domain = str(r.typed("clusterDomain") or "")
    if not CLUSTER_DOMAIN.match(cluster_domain):
        r.problem("clusterDomain", cluster_domain, "lower-case DNS labels, e.g. cluster.local")
    hosts = {
        "grafana": host("grafanaHost", required=True),
        "prometheus": host("prometheusHost", required=False),
        "alertmanager": host("alertmanagerHost", required=False),
        "jaeger": host("jaegerHost", required=False),
    }
    by_host: dict[str, list[str]] = {}
    for service, value in hosts.items():
        if value:
            by_host.setdefault(value, []).append(f"{service}Host")
    for value, keys in sorted(by_host.items()):
        if len(keys) > 1:
            r.problems.append(f"{', '.join(keys)}: all set to {value!r}; each Ingress needs a host of its own")

    return KubernetesSettings(
        namespace=namespace,
        agents_namespace=agents,
        cluster_domain=cluster_domain,
        storage_class=name("storageClass", required=False),
        ingress_class=name("ingressClass"),
        ingress_controller_namespace=name("ingressControllerNamespace"),
        hosts=hosts,
        cert_manager_issuer=issuer,
        ingress_tls_secret=ingress_secret,
        internal_tls_secret=internal_secret,
        ca_bundle_configmap=name("caBundleConfigMap", required=False),
        vega_namespaces=vega_namespaces,
        api_server_cidrs=cidrs["apiServerCidrs"],
        node_cidrs=cidrs["nodeCidrs"],
        external_cidrs=cidrs["externalCidrs"],
        web_username=web_user,
        web_password=required_secret("webPassword", 12),
        replicas=replicas,
        object_storage=storage,
        backup_schedule=schedule,
        object_storage_retention=r.duration("objectStorageRetention"),
        sizing=load_kubernetes_sizing(configs, problems),
        loki_ingester_zones=loki_zones,
    )


def _loki_zones(r: Reader, ingesters: int) -> tuple[str, ...]:
    """lokiIngesterZones: none (no zone awareness), or at least as many zones as a stream has
    copies, each zone with the same number of ingesters."""
    zones = tuple(str(z) for z in r.typed("lokiIngesterZones") or ())
    for zone in zones:
        if not LOKI_ZONE.match(zone):
            r.problem(
                "lokiIngesterZones", zone, "the nodes' topology.kubernetes.io/zone values: lower-case letters, "
                "digits and -, at most 38",
            )
    if len(set(zones)) != len(zones):
        r.problem("lokiIngesterZones", list(zones), "each zone once")
    if zones and len(zones) < LOKI_REPLICATION_FACTOR:
        r.problem(
            "lokiIngesterZones", list(zones),
            f"none, or at least {LOKI_REPLICATION_FACTOR} zones: each zone holds one copy of a stream",
        )
    elif zones and ingesters % len(zones):
        r.problem(
            "lokiIngesterReplicas", ingesters,
            f"a multiple of the {len(zones)} lokiIngesterZones (the same number of ingesters in every zone)",
        )
    return zones


def _cidrs(r: Reader, key: str) -> tuple[str, ...]:
    values = tuple(r.typed(key) or ())
    if not values:
        r.problem(key, list(values), "at least one CIDR such as 10.0.0.0/8")
    for value in values:
        try:
            ipaddress.ip_network(value)
        except ValueError:
            r.problem(key, value, "CIDRs such as 10.0.0.0/8 or 0.0.0.0/0")
    return values


# The addresses Prometheus and the collector must reach outside the cluster network, each
# required and never the whole internet: key -> (what they are, how to find them).
REQUIRED_CIDRS = {
    "apiServerCidrs": (
        "the API server's addresses as CIDRs, e.g. ['10.0.0.1/32']",
        "`kubectl get endpoints kubernetes -n default` (one /32 per address)",
    ),
    "nodeCidrs": (
        "the nodes' internal addresses as CIDRs, e.g. ['10.0.0.0/24'], where Prometheus reaches the kubelet"
        " (10250) and node-exporter (9100)",
        "`kubectl get nodes -o wide` (INTERNAL-IP), or the node subnet of your cloud",
    ),
}


def _required_cidrs(r: Reader, key: str) -> tuple[str, ...]:
    """A required list of CIDRs that may not be the whole internet (REQUIRED_CIDRS)."""
    what, how = REQUIRED_CIDRS[key]
    values = tuple(r.typed(key) or ())
    if not values:
        r.problems.append(f"{key}: required on kubernetes: {what}; find them with {how}")
        return ()
    for value in values:
        try:
            network = ipaddress.ip_network(value)
        except ValueError:
            r.problem(key, value, f"CIDRs such as 10.0.0.1/32: {what}")
            continue
        if network.prefixlen == 0:
            r.problem(key, value, f"{what}, not the whole internet; see {how}")
    return values


def grafana(r: Reader) -> tuple[GrafanaDatabase, SecretStr, Oidc | None]:
    db_host = str(r.typed("grafanaDatabaseHost") or "")
    if not db_host:
        r.problems.append("grafanaDatabaseHost: required on kubernetes (host:port of the shared PostgreSQL)")
    else:
        try:
            check_target(db_host)
        except ValueError:
            r.problem("grafanaDatabaseHost", db_host, "host:port, e.g. postgres.db.svc:5432")
    password = r.secret("grafanaDatabasePassword")
    if password is None:
        r.problems.append(missing_secret("grafanaDatabasePassword", "on kubernetes"))
    db_name, db_user = str(r.typed("grafanaDatabaseName") or ""), str(r.typed("grafanaDatabaseUser") or "")
    for key, value in (("grafanaDatabaseName", db_name), ("grafanaDatabaseUser", db_user)):
        if not PG_NAME.match(value):
            r.problem(key, value, "a PostgreSQL name: 1-63 letters, digits, _ and $, not starting with a digit or $")
    database = GrafanaDatabase(
        host=db_host,
        name=db_name,
        user=db_user,
        password=password or SecretStr(""),
        ssl_mode=r.choice("grafanaDatabaseSslMode", ("verify-full", "verify-ca", "require")),
    )
    secret_key = r.secret("grafanaSecretKey")
    if secret_key is None:
        r.problems.append(missing_secret("grafanaSecretKey", "on kubernetes"))
        secret_key = SecretStr("")
    elif len(secret_key.reveal()) < 32:
        r.problem("grafanaSecretKey", None, "at least 32 characters", secret=True)
    oidc = None
    if r.typed("grafanaOidcEnabled"):
        fields = {}
        for key in ("grafanaOidcClientId", "grafanaOidcAuthUrl", "grafanaOidcTokenUrl", "grafanaOidcApiUrl"):
            value = str(r.typed(key) or "")
            if not value:
                r.problems.append(f"{key}: required when grafanaOidcEnabled is true")
            elif key != "grafanaOidcClientId" and not value.startswith("https://"):
                r.problem(key, value, "an https:// URL")
            fields[key] = value
        client_secret = r.secret("grafanaOidcClientSecret")
        if client_secret is None:
            r.problems.append(missing_secret("grafanaOidcClientSecret", "when grafanaOidcEnabled is true"))
        oidc = Oidc(
            name=str(r.typed("grafanaOidcName") or ""),
            client_id=fields["grafanaOidcClientId"],
            client_secret=client_secret or SecretStr(""),
            auth_url=fields["grafanaOidcAuthUrl"],
            token_url=fields["grafanaOidcTokenUrl"],
            api_url=fields["grafanaOidcApiUrl"],
            scopes=str(r.typed("grafanaOidcScopes") or ""),
            role_attribute_path=str(r.typed("grafanaOidcRoleAttributePath") or ""),
        )
    return database, secret_key, oidc


def remote_write(r: Reader) -> RemoteWrite | None:
    url = str(r.typed("prometheusRemoteWriteUrl") or "")
    username = str(r.typed("prometheusRemoteWriteUsername") or "")
    password = r.secret("prometheusRemoteWritePassword")
    if not url:
        if username or password is not None:
            r.problems.append("prometheusRemoteWriteUrl: required when remote-write credentials are set")
        return None
    if not url.startswith("https://"):
        r.problem("prometheusRemoteWriteUrl", url, "an https:// URL")
    if username and password is None:
        r.problems.append(missing_secret("prometheusRemoteWritePassword", "with prometheusRemoteWriteUsername"))
    return RemoteWrite(url=url, username=username, password=password)


def trace_storage(r: Reader, jaeger: JaegerSettings) -> JaegerSettings:
    urls = tuple(r.typed("jaegerStorageUrls") or ())
    if not urls:
        r.problems.append("jaegerStorageUrls: required on kubernetes (OpenSearch/Elasticsearch URLs of trace storage)")
    for url in urls:
        if not HTTP_URL.match(url):
            r.problem("jaegerStorageUrls", url, "http:// or https:// URLs")
    username = str(r.typed("jaegerStorageUsername") or "")
    password = r.secret("jaegerStoragePassword")
    if username and password is None:
        r.problems.append(missing_secret("jaegerStoragePassword", "with jaegerStorageUsername"))
    prefix = str(r.typed("jaegerIndexPrefix") or "")
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,30}", prefix):
        r.problem("jaegerIndexPrefix", prefix, "lower-case letters, digits, _ and -, at most 31")
    variant, schedule = _dependencies_job(r, jaeger.storage)
    return dataclasses.replace(
        jaeger, storage_urls=urls, storage_username=username, storage_password=password, index_prefix=prefix,
        dependencies_variant=variant, dependencies_schedule=schedule,
    )


STORAGE_VERSIONS = "Elasticsearch 7.12-7.16, 7.17, 8.x or 9.x; OpenSearch 2.x or 3.x"


def dependencies_variant(storage: str, version: str) -> str:
    """The image variant of the dependencies job (jaegertracing/spark-dependencies) for the
    trace storage and its version ("7.16", "8", "9.1.3"...); ValueError for none."""
    match = re.fullmatch(r"(\d+)(?:\.(\d+))?(?:\.\d+)?", version)
    if storage == "opensearch":
        if version and not (match and match.group(1) in ("2", "3")):
            raise ValueError(version)
        return "opensearch"
    if not match:
        raise ValueError(version)
    major, minor = int(match.group(1)), int(match.group(2) or -1)
    if major == 7 and 12 <= minor <= 16:
        return "elasticsearch7"
    if (major == 7 and minor >= 17) or major == 8:
        return "elasticsearch8"
    if major == 9:
        return "elasticsearch9"
    raise ValueError(version)


def _dependencies_job(r: Reader, storage: str) -> tuple[str, str]:
    """The dependencies job's image variant ("" when switched off) and schedule."""
    version = str(r.typed("jaegerStorageVersion") or "")
    schedule = str(r.typed("jaegerDependenciesSchedule") or "")
    if not r.typed("jaegerDependencies"):
        return "", schedule
    try:
        check_cron(schedule)
    except ValueError as exc:
        r.problem("jaegerDependenciesSchedule", schedule, f"a cron schedule of five fields, e.g. '15 0 * * *' ({exc})")
    if storage == "elasticsearch" and not version:
        r.problems.append(
            "jaegerStorageVersion: required with jaegerStorage 'elasticsearch' and jaegerDependencies, since the "
            f"dependencies job has one image per version ({STORAGE_VERSIONS}); or set jaegerDependencies to false"
        )
        return "", schedule
    try:
        return dependencies_variant(storage, version), schedule
    except ValueError:
        r.problem(
            "jaegerStorageVersion", version,
            f"a {storage} version the dependencies job supports ({STORAGE_VERSIONS}), "
            "or jaegerDependencies set to false",
        )
        return "", schedule


def dependencies_image(images: Images, jaeger: JaegerSettings) -> Images:
    """versions.yaml pins the dependencies job's release (repository:vX.Y.Z); each trace
    storage has its own image, tagged vX.Y.Z-<variant>. A digest is taken as it is."""
    ref = images.refs.get(DEPENDENCIES_IMAGE, "")
    if not jaeger.dependencies_variant or not ref or "@" in ref:
        return images
    return Images({**images.refs, DEPENDENCIES_IMAGE: f"{ref}-{jaeger.dependencies_variant}"})


DEPENDENCIES_IMAGE = "jaeger_dependencies"

