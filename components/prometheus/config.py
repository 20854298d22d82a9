"""prometheus.yml and the rule files, rendered from settings and configs/prometheus/.

Pure functions: no Pulumi resources here, so the same text is what the tests validate with
promtool and what the container receives.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from components.content import files_under, fill, read_yaml, to_yaml
from components.settings import ConfigError, Settings
from components.settings.rules import scrape_limit_problems

CONFIG_DIR = "/etc/prometheus"
DATA_DIR = "/prometheus"
# Relative to prometheus.yml: the same file works in the container and under promtool.
RULE_FILES = "rules/*.yml"


HEADER = """\
Rendered by vega-observability from Pulumi.{stack}.yaml and configs/prometheus/.
Do not edit here: change the stack config or configs/, then `pulumi up`."""


def limits(configs_limits: Mapping[str, Any] | None = None) -> dict[str, dict[str, int]]:
    """Per-job cardinality limits from configs/prometheus/limits.yaml, defaults applied."""
    doc = configs_limits if configs_limits is not None else read_yaml("prometheus/limits.yaml")
    problems = scrape_limit_problems(doc, "configs/prometheus/limits.yaml")
    if problems:
        raise ConfigError(problems)
    default = dict(doc["default"])
    out = {"__default__": default}
    for job, body in (doc.get("jobs") or {}).items():
        out[job] = {**default, **body}
    return out


def _with_limits(job: dict[str, Any], table: Mapping[str, Mapping[str, int]]) -> dict[str, Any]:
    chosen = table.get(job["job_name"], table["__default__"])
    return {**chosen, **job}  # a limit written on the job itself wins


def thresholds() -> dict[str, Any]:
    doc = read_yaml("prometheus/thresholds.yaml")
    if not isinstance(doc, dict) or not all(isinstance(v, (int, float, str)) for v in doc.values()):
        raise ConfigError(["configs/prometheus/thresholds.yaml: expected a flat mapping of name to value"])
    return doc


def rule_files(runbook_base: str) -> dict[str, str]:
    """configs/prometheus/rules/*.yml with ${threshold}, ${runbook_base} and ${scrape_sample_limits}
    filled in, plus slo.yml generated from configs/prometheus/slo.yaml.

    ${scrape_sample_limits} is a PromQL vector of every job's sample_limit, {job} -> limit, as
    prometheus.yml applies it: the job's own sample_limit, else its entry in limits.yaml, else
    the default (for any job that has targets). Prometheus does not expose the limit itself.
    """
    import json  # imported here: no other function of this module needs them

    from components.prometheus import slo
    from components.settings import configs_dir, load_extra_scrape_configs

    table = limits()
    default = table.pop("__default__")
    per_job = {job: body["sample_limit"] for job, body in table.items() if "sample_limit" in body}
    for job in load_extra_scrape_configs(configs_dir(), []):  # problems in them are reported by settings
        if "sample_limit" in job:
            per_job[str(job["job_name"])] = job["sample_limit"]
    vectors = [f'label_replace(vector({n}), "job", {json.dumps(job)}, "", "")' for job, n in sorted(per_job.items())]
    if "sample_limit" in default:
        vectors.append(f"(max by (job) (up) * 0 + {default['sample_limit']})")
    sample_limits = "(" + (" or ".join(vectors) or "vector(0) < 0") + ")"
    generated = {"runbook_base": runbook_base, "scrape_sample_limits": sample_limits}

    values = {**thresholds(), **generated}
    out = {}
    unused = set(values) - set(generated)
    for name, text in files_under("prometheus/rules", "*.yml").items():
        filled, used = fill(text, values, f"configs/prometheus/rules/{name}")
        unused -= used
        out[name] = filled
    if unused:
        raise ConfigError(
            [f"configs/prometheus/thresholds.yaml: {', '.join(sorted(unused))} not used by any rule; remove or use it"]
        )
    if slo.RULE_FILE in out:
        raise ConfigError(
            [f"configs/prometheus/rules/{slo.RULE_FILE}: this name is taken by the rules generated from slo.yaml"]
        )
    out[slo.RULE_FILE] = slo.render(slo.load(), runbook_base)
    return out


def static_job(job: str, targets: Sequence[str], metrics_path: str = "/metrics") -> dict[str, Any]:
    entry: dict[str, Any] = {"job_name": job, "static_configs": [{"targets": list(targets)}]}
    if metrics_path != "/metrics":
        entry["metrics_path"] = metrics_path
    return entry


def render(
    settings: Settings,
    *,
    stack_jobs: Sequence[Mapping[str, Any]],
    alerting: Mapping[str, Any] | None,
    external_labels: Mapping[str, str],
    remote_write: Sequence[Mapping[str, Any]] = (),
    extra_rule_files: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """{path relative to /etc/prometheus: text} for one Prometheus server.

    `stack_jobs` are the scrape jobs of the stack's own services (they differ by platform);
    the Vega jobs, the extra jobs of configs/prometheus/scrape_configs/ and the cardinality
    limits are added here.
    """
    p = settings.prometheus
    table = limits()

    scrape_configs: list[dict[str, Any]] = [dict(job) for job in stack_jobs]
    for job_name, targets in (
        ("vega-api", p.vega_api_targets),
        ("vega-coordinator", p.vega_coordinator_targets),
        ("vega-database", p.vega_database_targets),
    ):
        if targets:
            scrape_configs.append(static_job(job_name, targets))
    scrape_configs += [dict(job) for job in p.extra_scrape_configs]

    config: dict[str, Any] = {
        "global": {
            "scrape_interval": p.scrape_interval,
            "scrape_timeout": p.scrape_timeout,
            "evaluation_interval": p.evaluation_interval,
            "external_labels": dict(external_labels),
        },
        "rule_files": [RULE_FILES],
        "scrape_configs": [_with_limits(job, table) for job in scrape_configs],
    }
    if alerting:
        config["alerting"] = dict(alerting)
    if remote_write:
        config["remote_write"] = [dict(r) for r in remote_write]

    files = {"prometheus.yml": to_yaml(config, HEADER.format(stack=settings.stack))}
    rules = {**rule_files(p.runbook_base_url), **(extra_rule_files or {})}
    for name, text in sorted(rules.items()):
        files[f"rules/{name}"] = text
    return files


def args(settings: Settings) -> tuple[str, ...]:
    """Command line of the Prometheus server."""
    p = settings.prometheus
    out = [
        f"--config.file={CONFIG_DIR}/prometheus.yml",
        f"--storage.tsdb.path={DATA_DIR}",
        f"--storage.tsdb.retention.time={p.retention_time}",
        "--web.enable-lifecycle",
        "--enable-feature=exemplar-storage",
    ]
    if p.retention_size:
        out.append(f"--storage.tsdb.retention.size={p.retention_size}")
    return tuple(out)
