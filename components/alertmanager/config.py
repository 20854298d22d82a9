"""alertmanager.yml rendered from the routing in configs/alertmanager/routing.yaml and the
channels the stack configures. Secrets (Slack URL, SMTP password, webhook token) are never in
this file: it names files under secrets/, which the platform fills from Pulumi secrets."""

from __future__ import annotations

from typing import Any

from components.content import read_text, to_yaml
from components.settings import AlertmanagerSettings, SecretStr

CONFIG_DIR = "/etc/alertmanager"
DATA_DIR = "/alertmanager"
SECRETS = f"{CONFIG_DIR}/secrets"

HEADER = """\
Rendered by vega-observability from the stack config and configs/alertmanager/.
Do not edit here: change routing.yaml or the alertmanager* config keys, then `pulumi up`."""


def receiver_name(severity: str) -> str:
    return f"vega-{severity}"


def _receiver(severity: str, am: AlertmanagerSettings) -> dict[str, Any]:
    route = am.routing.severities.get(severity)
    wanted = set(route.channels if route else ())
    body: dict[str, Any] = {"name": receiver_name(severity)}
    channels = set(am.channels) & wanted
    if "webhook" in channels:
        hook: dict[str, Any] = {"url": am.webhook_url, "send_resolved": True}
        if am.webhook_token is not None:
            hook["http_config"] = {
                "authorization": {"type": "Bearer", "credentials_file": f"{SECRETS}/webhook_token"}
            }
        body["webhook_configs"] = [hook]
    if "slack" in channels:
        body["slack_configs"] = [
            {
                "api_url_file": f"{SECRETS}/slack_api_url",
                "channel": am.slack_channel,
                "send_resolved": True,
                "title": '{{ template "vega.title" . }}',
                "text": '{{ template "vega.text" . }}',
            }
        ]
    if "email" in channels:
        mail: dict[str, Any] = {"to": am.email_to, "send_resolved": True}
        body["email_configs"] = [mail]
    return body


def render(am: AlertmanagerSettings) -> dict[str, str]:
    """{path relative to /etc/alertmanager: text}."""
    routing = am.routing
    routes = []
    for severity in ("critical", "warning", "info"):
        route: dict[str, Any] = {
            "matchers": [f'severity="{severity}"'],
            "receiver": receiver_name(severity),
        }
        sev_route = routing.severities.get(severity)
        if sev_route and sev_route.repeat_interval:
            route["repeat_interval"] = sev_route.repeat_interval
        routes.append(route)

    global_section: dict[str, Any] = {"resolve_timeout": "5m"}
    if am.email_to:
        global_section["smtp_from"] = am.email_from
        global_section["smtp_smarthost"] = am.smtp_smarthost
        global_section["smtp_require_tls"] = True
        if am.smtp_username:
            global_section["smtp_auth_username"] = am.smtp_username
            global_section["smtp_auth_password_file"] = f"{SECRETS}/smtp_password"

    config = {
        "global": global_section,
        "templates": [f"{CONFIG_DIR}/templates/*.tmpl"],
        "route": {
            # Alerts without a severity label are treated as warnings.
            "receiver": receiver_name("warning"),
            "group_by": list(routing.group_by),
            "group_wait": routing.group_wait,
            "group_interval": routing.group_interval,
            "repeat_interval": routing.repeat_interval,
            "routes": routes,
        },
        "receivers": [_receiver(s, am) for s in ("critical", "warning", "info")],
        "inhibit_rules": [
            {
                "source_matchers": [f'severity="{rule.source_severity}"'],
                "target_matchers": [f'severity="{rule.target_severity}"'],
                "equal": list(rule.equal),
            }
            for rule in routing.inhibit
        ],
    }
    return {
        "alertmanager.yml": to_yaml(config, HEADER),
        "templates/vega.tmpl": read_text("alertmanager/vega.tmpl"),
    }


def secret_files(am: AlertmanagerSettings) -> dict[str, SecretStr]:
    """{path relative to /etc/alertmanager: secret} for the channels in use."""
    out: dict[str, SecretStr] = {}
    if am.webhook_url and am.webhook_token is not None:
        out["secrets/webhook_token"] = am.webhook_token
    if am.slack_api_url is not None:
        out["secrets/slack_api_url"] = am.slack_api_url
    if am.email_to and am.smtp_username and am.smtp_password is not None:
        out["secrets/smtp_password"] = am.smtp_password
    return out


def args(*, peers: tuple[str, ...] = (), external_url: str = "") -> tuple[str, ...]:
    out = [
        f"--config.file={CONFIG_DIR}/alertmanager.yml",
        f"--storage.path={DATA_DIR}",
        "--data.retention=120h",
    ]
    if external_url:
        out.append(f"--web.external-url={external_url}")
    if peers:
        out.append("--cluster.listen-address=0.0.0.0:9094")
        out += [f"--cluster.peer={peer}" for peer in peers]
    else:
        out.append("--cluster.listen-address=")  # a single instance: no gossip port
    return tuple(out)
