"""The service dependency graph on kubernetes: with OpenSearch or Elasticsearch nothing in
Jaeger computes it, so a CronJob runs upstream's Spark job (jaegertracing/spark-dependencies)
in one pod.

- Each run reads one UTC day of spans (`<prefix>-jaeger-span-<day>`) and writes that day's
  links to `<prefix>-jaeger-dependencies-<day>`, where Jaeger's Dependencies view and
  Grafana's service graph (Jaeger datasource) read them.
- It processes the previous UTC day, once: every run appends a new document, and Jaeger
  returns every document of the period, so runs during the day would count each call again.
- The storage password is a file of Jaeger's Secret, read into the job's environment (the
  only place the job takes it from) when the pod starts; nothing of it is in the spec.
- With caBundleConfigMap, the bundle becomes a Java trust store in the pod's scratch space
  (the JVM reads no PEM file); without it, the image's Java roots verify the storage.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.platform.kubernetes import EXTERNAL_CA_FILE, KubernetesCluster, Mounted, labels
from components.settings import Settings

NAME = "jaeger-dependencies"
# The image's USER (185) has no passwd entry, which it adds at start into a writable
# /etc/passwd (Spark asks the OS for the user's name). With a read-only root file system the
# pod runs as `nobody` instead, a high uid the image's passwd has; its files are world-readable.
RUN_AS_USER = 65534
SCRATCH = "/tmp"  # Spark's local dir and java.io.tmpdir, the trust store
ENTRYPOINT = "/entrypoint.sh"  # the image's: picks the job class of its variant
# The image's readers of the day's spans filter on `now - range`: two days cover the whole
# previous day from any time of the day after.
TIME_RANGE = "48h"
# The trust store holds only the bundle's public certificates; its password guards nothing
# secret (the JDK's own default).
TRUSTSTORE_PASSWORD = "changeit"

# The environment variables of each variant family: OpenSearch's job reads OS_*, the
# Elasticsearch jobs ES_*.
ENV_PREFIX = {"opensearch": "OS", "elasticsearch": "ES"}

# Runs as the container's command (sh of the image): the password file into the job's
# environment, the CA bundle into a trust store, then the image's entrypoint for the day.
SCRIPT = f"""\
set -eu
if [ -n "${{PASSWORD_FILE:-}}" ]; then
  {{PREFIX}}_PASSWORD="$(cat "$PASSWORD_FILE")"
  export {{PREFIX}}_PASSWORD
fi
if [ -n "${{CA_FILE:-}}" ]; then
  store={SCRATCH}/truststore.p12
  awk -v dir={SCRATCH} '/-BEGIN CERTIFICATE-/ {{ n++ }} n {{ print > (dir "/ca-" n ".pem") }}' "$CA_FILE"
  for pem in {SCRATCH}/ca-*.pem; do
    keytool -importcert -noprompt -alias "$(basename "$pem" .pem)" -file "$pem" \\
      -keystore "$store" -storetype PKCS12 -storepass {TRUSTSTORE_PASSWORD}
  done
  JAVA_OPTS="$JAVA_OPTS -Djavax.net.ssl.trustStore=$store -Djavax.net.ssl.trustStoreType=PKCS12 \\
-Djavax.net.ssl.trustStorePassword={TRUSTSTORE_PASSWORD}"
fi
export JAVA_OPTS
exec {ENTRYPOINT} "$(date -u -d yesterday +%F)"
"""


def env_prefix(settings: Settings) -> str:
    return ENV_PREFIX[settings.jaeger.storage]


def script(settings: Settings) -> str:
    return SCRIPT.replace("{PREFIX}", env_prefix(settings))


def environment(settings: Settings, password_file: str | None) -> list[dict[str, Any]]:
    """The job's settings (upstream's README): nodes, index prefix, credentials, day range."""
    j = settings.jaeger
    p = env_prefix(settings)
    env = [
        {"name": f"{p}_NODES", "value": ",".join(j.storage_urls)},
        # Only the configured URLs: the NetworkPolicy opens their ports and nothing else.
        {"name": f"{p}_NODES_WAN_ONLY", "value": "true"},
        {"name": f"{p}_INDEX_PREFIX", "value": j.index_prefix},
        {"name": f"{p}_TIME_RANGE", "value": TIME_RANGE},
        # Heap within the container's memory limit; scratch on the emptyDir.
        {"name": "JAVA_OPTS", "value": f"-XX:MaxRAMPercentage=75 -Djava.io.tmpdir={SCRATCH}"},
    ]
    if j.storage_username:
        env.append({"name": f"{p}_USERNAME", "value": j.storage_username})
    if password_file:
        env.append({"name": "PASSWORD_FILE", "value": password_file})
    if settings.kubernetes is not None and settings.kubernetes.ca_bundle_configmap:
        env.append({"name": "CA_FILE", "value": EXTERNAL_CA_FILE})
    return env


def deploy(
    name: str,
    settings: Settings,
    cluster: KubernetesCluster,
    secrets: Mounted | None,
    password_file: str | None,
    opts: pulumi.ResourceOptions,
) -> None:
    """The CronJob, when jaegerDependencies is on (`secrets`: Jaeger's Secret of files)."""
    j = settings.jaeger
    if not j.dependencies_variant:
        return
    external_ca = [m for m in cluster.tls() if m.mount["mountPath"] == EXTERNAL_CA_FILE.rpartition("/")[0]]
    mounts = [*([secrets] if secrets else []), *external_ca, cluster.empty_dir("scratch", SCRATCH, "2Gi")]
    container = cluster.container(
        NAME,
        cluster.image("jaeger_dependencies"),
        NAME,
        command=["/bin/sh", "-c", script(settings)],
        mounts=mounts,
        env=environment(settings, password_file if secrets else None),
        run_as_user=RUN_AS_USER,
    )
    template = cluster.pod_template(NAME, [container], mounts, spread=False, fs_group=RUN_AS_USER)
    template["spec"]["restartPolicy"] = "OnFailure"
    k8s.batch.v1.CronJob(
        f"{name}-dependencies",
        metadata={"name": NAME, "namespace": cluster.k.namespace, "labels": labels(NAME)},
        spec={
            "schedule": j.dependencies_schedule,
            "timeZone": "Etc/UTC",  # the job's days are UTC days
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": 3600,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {
                "metadata": {"labels": labels(NAME)},
                "spec": {"backoffLimit": 2, "activeDeadlineSeconds": 3 * 3600, "template": template},
            },
        },
        opts=opts,
    )
