"""Backups (kubernetes): Prometheus TSDB snapshots and Grafana dashboard exports, shipped to
the backup bucket.

- A CronJob asks every Prometheus replica for a snapshot (admin API, over TLS with basic
  auth). The snapshot lands on the replica's own volume, which only that pod can mount, so
  a `snapshot-shipper` sidecar in each Prometheus pod uploads it and then removes it.
- A CronJob exports every Grafana dashboard through Grafana's HTTP API.
- Each outcome reaches Prometheus as vega_backup_success{backup} (scripts/report.sh, through
  Prometheus' OTLP receiver): the shipper reports each snapshot to its own replica, the
  export job to every replica. The alert BackupFailing turns a failure, or a backup that
  stopped reporting, into a notification.
- Every credential is a file read when the job runs, so a rotated password (Grafana's admin
  password, the web password) works from the next run on.

The scripts are plain POSIX sh in scripts/ (the curl image runs them with busybox); uploads
are signed with curl's --aws-sigv4, so any S3-compatible store works.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import endpoints
from components.platform import topology as t
from components.platform.kubernetes import CA_FILE, S3_SECRET, KubernetesCluster, Mounted, labels
from components.prometheus import config as prometheus_config
from components.settings import Settings

SCRIPTS = Path(__file__).parent / "scripts"
SCRIPTS_CONFIGMAP = "backup-scripts"
SCRIPTS_DIR = "/scripts"


def scripts() -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(SCRIPTS.glob("*.sh"))}


def scripts_volume() -> Mounted:
    return Mounted(
        {"name": "scripts", "configMap": {"name": SCRIPTS_CONFIGMAP, "defaultMode": 0o555}},
        {"name": "scripts", "mountPath": SCRIPTS_DIR, "readOnly": True},
    )


S3_CREDENTIALS_DIR = "/etc/s3"
BACKUP_SECRETS_DIR = "/etc/backup/secrets"  # the jobs' credentials, read when they run
HEARTBEAT = "/tmp/heartbeat"


def s3_credentials() -> Mounted:
    """The stack's S3 keys as files (read by s3.sh at upload time, never in the environment)."""
    return Mounted(
        {"name": "s3-credentials", "secret": {"secretName": S3_SECRET, "defaultMode": 0o440}},
        {"name": "s3-credentials", "mountPath": S3_CREDENTIALS_DIR, "readOnly": True},
    )


def s3_env(cluster: KubernetesCluster) -> list[dict[str, Any]]:
    k = cluster.k
    s3 = k.object_storage
    env = [
        {"name": "S3_SCHEME", "value": "http" if s3.insecure else "https"},
        {"name": "S3_ENDPOINT", "value": s3.endpoint},
        {"name": "S3_REGION", "value": s3.region},
        {"name": "S3_BUCKET", "value": s3.backup_bucket},
        {"name": "S3_CREDENTIALS_DIR", "value": S3_CREDENTIALS_DIR},
    ]
    external_ca = cluster.external_ca()
    if external_ca:
        env.append({"name": "S3_CA_FILE", "value": external_ca})
    return env


def shipper_volumes() -> list[Mounted]:
    """Volumes the snapshot shipper adds to the Prometheus pod."""
    return [scripts_volume(), s3_credentials(), KubernetesCluster.empty_dir("shipper-tmp", "/tmp", "16Mi")]


def report_env(cluster: KubernetesCluster, targets: str, web_password_file: str) -> list[dict[str, Any]]:
    """What report.sh needs: the Prometheus servers to report to and the stack's credential."""
    return [
        {"name": "REPORT_TARGETS", "value": targets},
        {"name": "WEB_USERNAME", "value": cluster.k.web_username},
        {"name": "WEB_PASSWORD_FILE", "value": web_password_file},
        {"name": "CA_FILE", "value": CA_FILE},
    ]


def snapshot_shipper(
    settings: Settings, cluster: KubernetesCluster, data: Mounted, secrets: Mounted, tls: Sequence[Mounted]
) -> dict[str, Any]:
    """The sidecar that uploads a Prometheus replica's snapshots (see the module doc) and
    reports each to its own replica, with the replica's `secrets` (web_password) and `tls`
    (the CA); its probes check that its loop still turns (a heartbeat file younger than five
    minutes)."""
    web_password_file = f"{secrets.mount['mountPath']}/web_password"
    return cluster.container(
        "snapshot-shipper",
        cluster.image("curl"),
        "backup",
        command=["/bin/sh", f"{SCRIPTS_DIR}/ship-snapshots.sh"],
        mounts=[*shipper_volumes(), data, secrets, *tls],
        env=[
            *s3_env(cluster),
            *report_env(cluster, f"localhost:{endpoints.PROMETHEUS}", web_password_file),
            {"name": "DATA_DIR", "value": prometheus_config.DATA_DIR},
            {"name": "HEARTBEAT", "value": HEARTBEAT},
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        ],
        probe={"exec": {"command": ["/bin/sh", "-c", f"find {HEARTBEAT} -mmin -5 | grep -q ."]}},
        run_as_user=65534,
    )


class Backups(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        settings: Settings,
        cluster: KubernetesCluster,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("vega:backup:Backups", name, None, opts)
        k = cluster.k
        child = cluster.opts(self)
        k8s.core.v1.ConfigMap(
            f"{name}-scripts",
            metadata={"name": SCRIPTS_CONFIGMAP, "namespace": k.namespace, "labels": labels("backup")},
            data=scripts(),
            opts=child,
        )
        credentials = cluster.secret(
            name,
            "backup",
            {"web_password": k.web_password, "grafana_password": settings.grafana.admin_password},
            BACKUP_SECRETS_DIR,
            child,
            service="backup",
        )
        tls = cluster.tls()
        mounts = [scripts_volume(), credentials, s3_credentials(), *tls, cluster.empty_dir("tmp", "/tmp", "1Gi")]
        replicas = k.replicas["prometheus"]
        prometheus_targets = " ".join(
            f"prometheus-{i}.{t.PROMETHEUS_HEADLESS}.{k.namespace}.svc:{endpoints.PROMETHEUS}" for i in range(replicas)
        )
        jobs = {
            "prometheus-snapshot": (
                "prometheus-snapshot.sh",
                [
                    {"name": "PROMETHEUS_TARGETS", "value": prometheus_targets},
                    {"name": "WEB_USERNAME", "value": k.web_username},
                    {"name": "WEB_PASSWORD_FILE", "value": f"{BACKUP_SECRETS_DIR}/web_password"},
                    {"name": "CA_FILE", "value": CA_FILE},
                ],
            ),
            "grafana-export": (
                "export-dashboards.sh",
                [
                    *s3_env(cluster),
                    *report_env(cluster, prometheus_targets, f"{BACKUP_SECRETS_DIR}/web_password"),
                    {"name": "GRAFANA_URL", "value": f"https://{t.svc(k, 'grafana')}:{endpoints.GRAFANA}"},
                    {"name": "GRAFANA_USER", "value": settings.grafana.admin_user},
                    {"name": "GRAFANA_PASSWORD_FILE", "value": f"{BACKUP_SECRETS_DIR}/grafana_password"},
                ],
            ),
        }
        for job, (script, env) in jobs.items():
            container = cluster.container(
                job,
                cluster.image("curl"),
                "backup",
                command=["/bin/sh", f"{SCRIPTS_DIR}/{script}"],
                mounts=mounts,
                env=env,
                run_as_user=65534,
            )
            template = cluster.pod_template("backup", [container], mounts, checksum_of=scripts(), spread=False)
            template["spec"]["restartPolicy"] = "OnFailure"
            k8s.batch.v1.CronJob(
                f"{name}-{job}",
                metadata={"name": job, "namespace": k.namespace, "labels": labels("backup")},
                spec={
                    "schedule": k.backup_schedule,
                    "concurrencyPolicy": "Forbid",
                    "successfulJobsHistoryLimit": 3,
                    "failedJobsHistoryLimit": 3,
                    "jobTemplate": {
                        "metadata": {"labels": labels("backup")},
                        "spec": {"backoffLimit": 2, "activeDeadlineSeconds": 1800, "template": template},
                    },
                },
                opts=child,
            )
        self.register_outputs({})
