"""Stack settings checked for what they mean, alone and together: real duration ranges, cron
fields, DNS names, unique Ingress hosts, retention against volumes and object storage, an
API server that is not the whole internet, a dev stack that is not published with the seed's
password, alerts that reach someone."""

from __future__ import annotations

from typing import Any

import pytest

from components.settings import ConfigError, load
from components.settings.checks import check_cron, parse_duration, prometheus_bytes, quantity
from tests.test_settings import PROD_SECRETS, dev_raw, prod_raw

NO_CHANNELS = {"alertmanagerWebhookUrl": "", "alertmanagerEmailTo": "", "alertmanagerEmailFrom": "",
               "alertmanagerSmtpSmarthost": "", "alertmanagerSmtpUsername": ""}

# (case, stack, overrides of the committed stack config, fragments the one message must contain)
BAD_SETTINGS: list[tuple[str, str, dict[str, Any], list[str]]] = [
    # ---- dev
    ("published with the seed password", "dev", {"bindAddress": "0.0.0.0"},
     ["bindAddress", "'0.0.0.0'", "default 'admin'", "make config ARGS='set --secret grafanaAdminPassword"]),
    ("published on a LAN address with the seed password", "dev", {"bindAddress": "192.168.1.10"}, ["bindAddress", "'192.168.1.10'"]),
    ("published with the password set to admin", "dev", {"bindAddress": "::", "grafanaAdminPassword": "admin"}, ["bindAddress", "'::'"]),
    ("retention beyond what Prometheus holds", "dev", {"prometheusRetentionTime": "300y"}, ["prometheusRetentionTime", "'300y'", "292y"]),
    ("duration without unit", "dev", {"scrapeInterval": "1h30"}, ["scrapeInterval", "'1h30'"]),
    ("duration units out of order", "dev", {"evaluationInterval": "5m1h"}, ["evaluationInterval", "'5m1h'"]),
    ("zero evaluation interval", "dev", {"evaluationInterval": "0s"}, ["evaluationInterval", "'0s'", "greater than zero"]),
    ("zero retention size", "dev", {"prometheusRetentionSize": "0GB"}, ["prometheusRetentionSize", "'0GB'"]),
    ("retention size in words", "dev", {"prometheusRetentionSize": "10 gigabytes"}, ["prometheusRetentionSize", "'10 gigabytes'"]),
    ("trace retention in words", "dev", {"jaegerRetention": "forever"}, ["jaegerRetention", "'forever'"]),
    ("smtp relay without port", "dev", {"alertmanagerEmailTo": "a@example.org", "alertmanagerEmailFrom": "b@example.org",
                                        "alertmanagerSmtpSmarthost": "smtp.example.org"}, ["alertmanagerSmtpSmarthost", "host:port"]),
    ("root url without scheme", "dev", {"grafanaRootUrl": "grafana.local"}, ["grafanaRootUrl", "'grafana.local'"]),
    ("network name starting with a dash", "dev", {"dockerNetwork": "-net"}, ["dockerNetwork", "'-net'"]),
    ("two otlp ports on one host port", "dev", {"otlpGrpcPort": "4318"}, ["otlpGrpcPort, otlpHttpPort", "4318"]),
    # ---- prod
    ("api server is the whole internet", "prod", {"apiServerCidrs": '["0.0.0.0/0"]'},
     ["apiServerCidrs", "'0.0.0.0/0'", "kubectl get endpoints kubernetes -n default"]),
    ("api server is the whole ipv6 internet", "prod", {"apiServerCidrs": '["::/0"]'}, ["apiServerCidrs", "'::/0'", "not the whole internet"]),
    ("api server not given", "prod", {"apiServerCidrs": "[]"},
     ["apiServerCidrs: required on kubernetes", "kubectl get endpoints kubernetes -n default"]),
    ("api server cidr malformed", "prod", {"apiServerCidrs": '["10.0.0.1/33"]'}, ["apiServerCidrs", "'10.0.0.1/33'"]),
    ("nodes are the whole internet", "prod", {"nodeCidrs": '["0.0.0.0/0"]'}, ["nodeCidrs", "'0.0.0.0/0'", "kubectl get nodes -o wide"]),
    ("admin password with a line break", "dev", {"grafanaAdminPassword": "first-line\nsecond-line"},
     ["grafanaAdminPassword", "(secret value hidden)", "no line breaks"]),
    ("nodes not given", "prod", {"nodeCidrs": "[]"}, ["nodeCidrs: required on kubernetes", "kubelet (10250)", "INTERNAL-IP"]),
    ("node cidr malformed", "prod", {"nodeCidrs": '["10.0.0.0/99"]'}, ["nodeCidrs", "'10.0.0.0/99'"]),
    ("cluster domain with capitals", "prod", {"clusterDomain": "Cluster_Local"}, ["clusterDomain", "'Cluster_Local'", "DNS labels"]),
    ("cluster domain with trailing dot", "prod", {"clusterDomain": "cluster.local."}, ["clusterDomain", "'cluster.local.'"]),
    ("empty database name", "prod", {"grafanaDatabaseName": ""}, ["grafanaDatabaseName", "''", "PostgreSQL name"]),
    ("empty database user", "prod", {"grafanaDatabaseUser": ""}, ["grafanaDatabaseUser", "''", "PostgreSQL name"]),
    ("database name starting with a digit", "prod", {"grafanaDatabaseName": "1grafana"}, ["grafanaDatabaseName", "'1grafana'"]),
    ("cron minute and hour out of range", "prod", {"backupSchedule": "99 99 * * *"}, ["backupSchedule", "'99 99 * * *'", "minute", "0-59"]),
    ("cron day of week out of range", "prod", {"backupSchedule": "0 2 * * 8"}, ["backupSchedule", "day of week", "0-7"]),
    ("cron day of month out of range", "prod", {"backupSchedule": "0 2 32 * *"}, ["backupSchedule", "day of month"]),
    ("cron month out of range", "prod", {"backupSchedule": "0 2 * 13 *"}, ["backupSchedule", "month '13'"]),
    ("cron step of zero", "prod", {"backupSchedule": "*/0 * * * *"}, ["backupSchedule", "'*/0 * * * *'"]),
    ("cron range reversed", "prod", {"backupSchedule": "5-1 * * * *"}, ["backupSchedule", "'5-1 * * * *'"]),
    ("cron six fields", "prod", {"backupSchedule": "0 0 2 * * *"}, ["backupSchedule", "6 fields"]),
    ("two ingresses on one host", "prod", {"prometheusHost": "grafana.vega.example.org"},
     ["grafanaHost, prometheusHost", "'grafana.vega.example.org'", "host of its own"]),
    ("alertmanager and jaeger on one host", "prod", {"jaegerHost": "alertmanager.vega.example.org"}, ["alertmanagerHost, jaegerHost"]),
    ("single-label host", "prod", {"grafanaHost": "grafana"}, ["grafanaHost", "'grafana'", "DNS host name"]),
    ("plain http root url on prod", "prod", {"grafanaRootUrl": "http://grafana.vega.example.org/"},
     ["grafanaRootUrl", "'http://grafana.vega.example.org/'", "https://"]),
    ("root url on another host", "prod", {"grafanaRootUrl": "https://grafana.example.com/"},
     ["grafanaRootUrl", "grafanaHost (grafana.vega.example.org)"]),
    ("object storage keeps less than prometheus", "prod", {"objectStorageRetention": "7d"},
     ["objectStorageRetention", "'7d'", "at least prometheusRetentionTime (15d)"]),
    ("retention size above the volume", "prod", {"prometheusRetentionSize": "200GB"},
     ["prometheusRetentionSize", "'200GB'", "at most the Prometheus volume (100Gi"]),
    ("prod without any alert channel", "prod", NO_CHANNELS, ["none is set, so alerts reach nobody"]),
    ("vega target in a namespace prometheus cannot reach", "prod", {"vegaApiTargets": '["vega-api.billing.svc:8000"]'},
     ["vegaApiTargets", "'vega-api.billing.svc:8000'", "add its namespace to vegaNamespaces"]),
    ("vega target without namespace", "prod", {"vegaCoordinatorTargets": '["coordinator:8000"]'},
     ["vegaCoordinatorTargets", "'coordinator:8000'", "<service>.<namespace>.svc"]),
    ("vega target by address", "prod", {"vegaDatabaseTargets": '["10.1.2.3:9187"]'}, ["vegaDatabaseTargets", "'10.1.2.3:9187'"]),
    ("vega target in another cluster domain", "prod", {"vegaApiTargets": '["vega-api.vega.svc.other.domain:8000"]'},
     ["vegaApiTargets", "'vega-api.vega.svc.other.domain:8000'"]),
    ("namespace longer than 63", "prod", {"namespace": "n" * 64}, ["namespace", "at most 63"]),
    ("object storage endpoint with a space", "prod", {"s3Endpoint": "s3 .example.org"}, ["s3Endpoint", "'s3 .example.org'"]),
    ("bucket with capitals", "prod", {"lokiBucket": "Vega_Logs"}, ["lokiBucket", "'Vega_Logs'", "S3 bucket name"]),
    ("empty web user", "prod", {"webUsername": ""}, ["webUsername", "''"]),
    ("oidc over http", "prod", {"grafanaOidcEnabled": "true", "grafanaOidcClientId": "grafana", "grafanaOidcClientSecret": "s",
                                "grafanaOidcAuthUrl": "http://sso.example.org/auth", "grafanaOidcTokenUrl": "https://sso.example.org/t",
                                "grafanaOidcApiUrl": "https://sso.example.org/u"}, ["grafanaOidcAuthUrl", "https://"]),
    ("trace storage without scheme", "prod", {"jaegerStorageUrls": '["opensearch:9200"]'}, ["jaegerStorageUrls", "'opensearch:9200'"]),
]


def raw_of(stack: str, overrides: dict[str, Any]) -> dict[str, Any]:
    if stack == "prod":
        return prod_raw(**{**PROD_SECRETS, **overrides})
    return dev_raw(**overrides)


@pytest.mark.parametrize(("case", "stack", "overrides", "fragments"), BAD_SETTINGS, ids=[c[0] for c in BAD_SETTINGS])
def test_bad_setting_is_refused_naming_key_value_and_what_is_allowed(
    case: str, stack: str, overrides: dict[str, Any], fragments: list[str]
) -> None:
    with pytest.raises(ConfigError) as caught:
        load(raw_of(stack, overrides), stack)
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, f"{case}: {fragment!r} missing from:\n{message}"
    for value in PROD_SECRETS.values():
        assert value not in message


def test_a_dev_stack_published_with_its_own_password_is_accepted_with_a_warning() -> None:
    settings = load(dev_raw(bindAddress="0.0.0.0", grafanaAdminPassword="a-password-of-its-own"), "dev")
    assert settings.docker is not None and settings.docker.bind_address == "0.0.0.0"
    assert any("lifecycle API" in w and "0.0.0.0" in w for w in settings.warnings)
    assert not any("lifecycle" in w for w in load(dev_raw(), "dev").warnings)


def test_a_warning_never_shows_a_secret() -> None:
    settings = load(dev_raw(bindAddress="0.0.0.0", grafanaAdminPassword="a-password-of-its-own"), "dev")
    assert all("a-password-of-its-own" not in w for w in settings.warnings)


@pytest.mark.parametrize("schedule", ["0 2 * * *", "*/15 * * * *", "0 0 1 jan,jul *", "30 3 * * mon-fri", "0 0 * * 7", "@daily"])
def test_good_cron_schedules_pass(schedule: str) -> None:
    assert check_cron(schedule) == schedule


def test_prod_api_server_is_required_with_no_internet_default() -> None:
    raw = prod_raw(**PROD_SECRETS)
    raw.pop("apiServerCidrs")
    with pytest.raises(ConfigError) as caught:
        load(raw, "prod")
    assert "apiServerCidrs: required on kubernetes" in str(caught.value)


@pytest.mark.parametrize(("text", "value"), [("500m", 0.5), ("2", 2.0), ("512Mi", 512 * 1024**2), ("4Gi", 4 * 1024**3)])
def test_quantities(text: str, value: float) -> None:
    assert quantity(text) == value


def test_prometheus_sizes_are_powers_of_1024_and_durations_have_a_ceiling() -> None:
    assert prometheus_bytes("90GB") == 90 * 1024**3
    assert parse_duration("292y") > 0
    with pytest.raises(ValueError):
        parse_duration("293y")
