"""The settings both platforms share, one function per service: Prometheus, Alertmanager,
Grafana, Loki and Jaeger."""

from __future__ import annotations

import re
from pathlib import Path

from components.settings.checks import EMAIL, HTTP_URL, SIZE, check_target, parse_duration
from components.settings.content import load_extra_scrape_configs, load_routing
from components.settings.model import (
    AlertmanagerSettings,
    GrafanaSettings,
    JaegerSettings,
    LokiSettings,
    PrometheusSettings,
    SecretStr,
)
from components.settings.reader import Reader
from components.settings.schema import missing_secret


def prometheus(r: Reader, configs: Path, problems: list[str]) -> PrometheusSettings:
    scrape_interval = r.duration("scrapeInterval")
    scrape_timeout = r.duration("scrapeTimeout")
    try:
        if parse_duration(scrape_timeout) > parse_duration(scrape_interval):
            r.problem("scrapeTimeout", scrape_timeout, f"at most scrapeInterval ({scrape_interval})")
    except ValueError:
        pass
    retention_size = str(r.typed("prometheusRetentionSize") or "")
    if retention_size and not SIZE.match(retention_size):
        r.problem("prometheusRetentionSize", retention_size, "empty or a size such as 512MB, 20GB or 1TB")
    runbook_base_url = str(r.typed("runbookBaseUrl") or "")
    if not HTTP_URL.match(runbook_base_url):
        r.problem("runbookBaseUrl", runbook_base_url, "an http:// or https:// URL where docs/runbooks.md is published")
    return PrometheusSettings(
        scrape_interval=scrape_interval,
        scrape_timeout=scrape_timeout,
        evaluation_interval=r.duration("evaluationInterval"),
        vega_api_targets=r.targets("vegaApiTargets", required=True),
        vega_coordinator_targets=r.targets("vegaCoordinatorTargets", required=True),
        vega_database_targets=r.targets("vegaDatabaseTargets", required=False),
        retention_time=r.duration("prometheusRetentionTime"),
        retention_size=retention_size,
        runbook_base_url=runbook_base_url,
        extra_scrape_configs=load_extra_scrape_configs(configs, problems),
    )


def alertmanager(r: Reader, configs: Path, problems: list[str]) -> AlertmanagerSettings:
    webhook_url = str(r.typed("alertmanagerWebhookUrl") or "")
    if webhook_url and not HTTP_URL.match(webhook_url):
        r.problem("alertmanagerWebhookUrl", webhook_url, "empty or an http:// or https:// URL")
    email_to = str(r.typed("alertmanagerEmailTo") or "")
    email_from = str(r.typed("alertmanagerEmailFrom") or "")
    smarthost = str(r.typed("alertmanagerSmtpSmarthost") or "")
    smtp_user = str(r.typed("alertmanagerSmtpUsername") or "")
    smtp_password = r.secret("alertmanagerSmtpPassword")
    for key, value in (("alertmanagerEmailTo", email_to), ("alertmanagerEmailFrom", email_from)):
        if value and not EMAIL.match(value):
            r.problem(key, value, "an e-mail address such as oncall@example.org")
    if email_to:
        if not email_from:
            r.problems.append("alertmanagerEmailFrom: required when alertmanagerEmailTo is set")
        if not smarthost:
            r.problems.append("alertmanagerSmtpSmarthost: required when alertmanagerEmailTo is set")
    if smarthost:
        try:
            check_target(smarthost)
        except ValueError:
            r.problem("alertmanagerSmtpSmarthost", smarthost, "host:port of an SMTP relay, e.g. smtp.example.org:587")
    if smtp_user and smtp_password is None:
        r.problems.append(missing_secret("alertmanagerSmtpPassword", "when alertmanagerSmtpUsername is set"))
    slack_url = r.secret("alertmanagerSlackApiUrl")
    if slack_url is not None and not slack_url.reveal().startswith("https://"):
        r.problem("alertmanagerSlackApiUrl", None, "an https:// URL", secret=True)
    out = AlertmanagerSettings(
        enabled=bool(r.typed("alertmanagerEnabled")),
        routing=load_routing(configs, problems),
        webhook_url=webhook_url,
        webhook_token=r.secret("alertmanagerWebhookToken"),
        slack_api_url=slack_url,
        slack_channel=str(r.typed("alertmanagerSlackChannel") or ""),
        email_to=email_to,
        email_from=email_from,
        smtp_smarthost=smarthost,
        smtp_username=smtp_user,
        smtp_password=smtp_password,
    )
    if slack_url is not None and not out.slack_channel:
        r.problem("alertmanagerSlackChannel", "", "a channel such as #vega-alerts when Slack is configured")
    return out


def grafana(r: Reader, platform: str) -> GrafanaSettings:
    admin_user = str(r.typed("grafanaAdminUser") or "")
    if not re.fullmatch(r"[A-Za-z0-9._@-]{1,64}", admin_user):
        r.problem("grafanaAdminUser", admin_user, "1-64 letters, digits or . _ @ -")
    admin_password = r.secret("grafanaAdminPassword")
    if admin_password is None:
        if platform == "docker":
            admin_password = SecretStr(SEED_ADMIN_PASSWORD)  # the seed's documented dev login
        else:
            r.problems.append(missing_secret("grafanaAdminPassword", "on kubernetes"))
            admin_password = SecretStr("")
    elif platform == "kubernetes" and len(admin_password.reveal()) < 12:
        r.problem("grafanaAdminPassword", None, "at least 12 characters on kubernetes", secret=True)
    if admin_password.reveal() and ("\n" in admin_password.reveal() or "\r" in admin_password.reveal()):
        # Grafana's CLI reads the password from one line on every start (the reset keeps it true).
        r.problem("grafanaAdminPassword", None, "one line: no line breaks", secret=True)
    root_url = str(r.typed("grafanaRootUrl") or "")
    if root_url and not HTTP_URL.match(root_url):
        r.problem("grafanaRootUrl", root_url, "empty or an http:// or https:// URL")
    return GrafanaSettings(admin_user=admin_user, admin_password=admin_password, root_url=root_url)


SEED_ADMIN_PASSWORD = "admin"


def loki(r: Reader) -> LokiSettings:
    retention = r.duration("lokiRetention")
    try:
        if parse_duration(retention) % 86400:
            r.problem("lokiRetention", retention, "a multiple of 24h (Loki's index period), e.g. 168h")
    except ValueError:
        pass
    return LokiSettings(retention=retention)


def jaeger(r: Reader, platform: str) -> JaegerSettings:
    storages = ("memory", "badger") if platform == "docker" else ("opensearch", "elasticsearch")
    storage = r.choice("jaegerStorage", storages, default=storages[0])
    max_traces = int(r.typed("jaegerMaxTraces") or 0)
    if max_traces < 1000:
        r.problem("jaegerMaxTraces", max_traces, "an integer of at least 1000")
    return JaegerSettings(storage=storage, max_traces=max_traces, retention=r.duration("jaegerRetention"))
