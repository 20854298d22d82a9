"""The log pipeline, configs/promtail/promtail-config.yaml, prepared for one platform.

The same file drives both collectors: Alloy runs it with `--config.format=promtail`, Promtail
runs it as is. Here the stack points `clients` at its own Loki and keeps the jobs of the
platform it runs on.
"""

from __future__ import annotations

import copy
from typing import Any

from components import endpoints
from components.content import read_yaml, to_yaml
from components.settings import ConfigError

CONFIG_DIR = "/etc/collector"
DATA_DIR = "/var/lib/collector"
SOURCE = "promtail/promtail-config.yaml"

HEADER = """\
Rendered by vega-observability from configs/promtail/promtail-config.yaml.
Do not edit here: edit that file, then `pulumi up`."""


def pipeline(platform: str, loki_push_url: str) -> dict[str, Any]:
    doc = read_yaml(SOURCE)
    where = f"configs/{SOURCE}"
    if not isinstance(doc, dict) or not isinstance(doc.get("scrape_configs"), list):
        raise ConfigError([f"{where}: expected a promtail config with a scrape_configs list"])
    config = copy.deepcopy(doc)
    config["clients"] = [{"url": loki_push_url}]
    other = "kubernetes" if platform == "docker" else "docker"
    jobs = []
    for job in config["scrape_configs"]:
        name = str(job.get("job_name", ""))
        if name.startswith(f"{other}-"):
            continue
        if platform == "kubernetes" and name.startswith("kubernetes-"):
            stages = list(job.get("pipeline_stages") or [])
            if not stages or "cri" not in stages[0]:
                job["pipeline_stages"] = [{"cri": {}}, *stages]
        jobs.append(job)
    if not jobs:
        raise ConfigError([f"{where}: no scrape job left for platform {platform}"])
    config["scrape_configs"] = jobs
    return config


def render(platform: str, loki_push_url: str) -> dict[str, str]:
    """{path relative to /etc/collector: text}."""
    return {"promtail-config.yaml": to_yaml(pipeline(platform, loki_push_url), HEADER)}


def args(kind: str) -> tuple[str, ...]:
    config = f"{CONFIG_DIR}/promtail-config.yaml"
    if kind == "alloy":
        return (
            "run",
            "--config.format=promtail",
            f"--server.http.listen-addr=0.0.0.0:{endpoints.ALLOY}",
            f"--storage.path={DATA_DIR}/alloy",
            "--disable-reporting",
            config,
        )
    return (f"-config.file={config}",)


def metrics_port(kind: str) -> int:
    return endpoints.ALLOY if kind == "alloy" else endpoints.PROMTAIL
