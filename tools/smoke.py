"""`make smoke`: the seed's troubleshooting steps as one command against a running stack.

    make smoke                       # the dev stack: URLs from `pulumi stack output`
    make smoke STACK=prod
    python -m tools.smoke --url prometheus=http://127.0.0.1:9090 --url grafana=…   # no CLI

Each check is what a person would do by hand with curl (README, "Troubleshooting"), read for
them: every Prometheus target up (and the likely cause for each one that is not), every rule
group loaded and evaluating, Alertmanager ready (and clustered where the stack runs peers),
Loki ready and holding Vega's logs, Jaeger knowing Vega's services, Grafana healthy with every
datasource's health check passing and every dashboard of configs/grafana/dashboards provisioned.

It prints a table (check, result, what it saw, the fix for a failure) and exits 1 when any
check fails. Credentials come from the stack's config through the Pulumi CLI (or from
VEGA_GRAFANA_PASSWORD / VEGA_WEB_PASSWORD) and are never printed.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import ssl
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from components.endpoints import DATASOURCE_UIDS  # noqa: E402
from components.settings import configs_dir  # noqa: E402

# Vega's own jobs and services, as the stack scrapes and collects them (docs/metrics.md).
VEGA_JOBS = ("vega-api", "vega-coordinator")
VEGA_SERVICES = ("vega-api", "vega-coordinator")
SERVICES = ("prometheus", "alertmanager", "loki", "jaeger", "grafana")
TIMEOUT = 10.0


class SmokeError(Exception):
    """A request that did not give an answer worth reading: the reason, in words."""


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


@dataclass(frozen=True)
class Credentials:
    user: str
    password: str

    def header(self) -> str:
        token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        return f"Basic {token}"

    def __repr__(self) -> str:  # never shows the password, whatever prints it
        return f"Credentials(user={self.user!r}, password=***)"


@dataclass(frozen=True)
class Target:
    """Where a service answers: its base URL and the credential it asks for."""

    url: str
    auth: Credentials | None = None


@dataclass
class Client:
    """JSON over HTTP(S) with basic auth; every failure becomes a SmokeError with the reason."""

    timeout: float = TIMEOUT
    context: ssl.SSLContext | None = None

    def get(self, target: Target, path: str, params: Mapping[str, str] | None = None) -> Any:
        url = target.url.rstrip("/") + path
        if params:
            url += "?" + urllib.parse.urlencode(params)
        request = urllib.request.Request(url, headers={"Accept": "application/json"})
        if target.auth is not None:
            request.add_header("Authorization", target.auth.header())
        try:
            with urllib.request.urlopen(request, timeout=self.timeout, context=self.context) as response:
                body = response.read()
        except urllib.error.HTTPError as error:
            raise SmokeError(f"HTTP {error.code} from {_where(url)}{_message(error)}") from None
        except urllib.error.URLError as error:
            raise SmokeError(f"{_where(url)}: {error.reason}") from None
        except (TimeoutError, OSError) as error:
            raise SmokeError(f"{_where(url)}: {error}") from None
        text = body.decode(errors="replace")
        try:
            return json.loads(text)
        except ValueError:
            return text


def _message(error: urllib.error.HTTPError) -> str:
    """The `message` of a JSON error body (Grafana and Loki give one), if any."""
    try:
        body = json.loads(error.read().decode(errors="replace"))
    except (ValueError, OSError):
        return ""
    message = body.get("message") or body.get("error") if isinstance(body, dict) else None
    return f": {message}" if message else ""


def _where(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.netloc}{parts.path}"


def _unreachable(service: str, error: SmokeError, fix: str) -> Check:
    return Check(f"{service} reachable", False, str(error), fix)


# --------------------------------------------------------------------------- the checks


def likely_cause(error: str) -> str:
    """What a scrape error usually means on this stack, in a few words."""
    text = error.lower()
    causes = (
        (
            ("no such host", "server misbehaving", "name resolution"),
            "the name does not resolve: is the stack on Vega's network (dockerExternalNetworks),"
            " or the target's namespace in vegaNamespaces?",
        ),
        (("connection refused",), "nothing listens there: the service is down or on another port"),
        (
            ("deadline exceeded", "timeout", "i/o timeout"),
            "no answer in time: a NetworkPolicy or firewall drops the traffic, or the target is overloaded",
        ),
        (("401", "403", "unauthorized", "forbidden"), "the target asks for credentials the scrape job does not send"),
        (("sample limit", "label limit"), "the job exceeds its limits in configs/prometheus/limits.yaml"),
        (("certificate", "x509", "tls"), "TLS: the target's certificate is not trusted or does not match its name"),
        (("404",), "wrong metrics path: set metrics_path in the scrape job"),
    )
    for needles, cause in causes:
        if any(n in text for n in needles):
            return cause
    return "see the error"


def prometheus_checks(client: Client, prometheus: Target) -> list[Check]:
    try:
        client.get(prometheus, "/-/ready")
    except SmokeError as error:
        return [_unreachable("prometheus", error, "start Prometheus (make up) and check its logs")]
    checks = [Check("prometheus ready", True, prometheus.url)]
    try:
        active = client.get(prometheus, "/api/v1/targets", {"state": "active"})["data"]["activeTargets"]
    except (SmokeError, KeyError, TypeError) as error:
        return [*checks, Check("prometheus targets up", False, str(error), "read /api/v1/targets by hand")]
    down = [t for t in active if t.get("health") != "up"]
    if not active:
        checks.append(
            Check("prometheus targets up", False, "no active targets", "check prometheus.yml's scrape_configs")
        )
    elif down:
        lines = [
            f"{t.get('labels', {}).get('job', '?')} {t.get('scrapeUrl', '?')} {t.get('health')}: "
            f"{t.get('lastError') or 'not scraped yet'} ({likely_cause(t.get('lastError') or '')})"
            for t in down
        ]
        checks.append(
            Check(
                f"prometheus targets up ({len(active) - len(down)}/{len(active)})",
                False,
                "; ".join(lines),
                "fix each target named; a Vega target that is not connected yet is expected before Vega runs",
            )
        )
    else:
        checks.append(Check(f"prometheus targets up ({len(active)}/{len(active)})", True, "every target up"))
    try:
        groups = client.get(prometheus, "/api/v1/rules")["data"]["groups"]
    except (SmokeError, KeyError, TypeError) as error:
        return [*checks, Check("prometheus rules evaluating", False, str(error), "read /api/v1/rules by hand")]
    rules = [r for g in groups for r in g.get("rules", [])]
    failing = [f"{r.get('name')}: {r.get('lastError')}" for r in rules if r.get("health") == "err"]
    if not groups:
        checks.append(
            Check(
                "prometheus rules evaluating",
                False,
                "no rule groups loaded",
                "check rule_files in prometheus.yml and the rule files under configs/prometheus/rules",
            )
        )
    elif failing:
        checks.append(
            Check(
                "prometheus rules evaluating",
                False,
                "; ".join(failing),
                "fix the rule's expression in configs/prometheus/rules (promtool check rules)",
            )
        )
    else:
        checks.append(
            Check("prometheus rules evaluating", True, f"{len(groups)} groups, {len(rules)} rules, no errors")
        )
    return checks


def alertmanager_checks(client: Client, alertmanager: Target, peers: int) -> list[Check]:
    try:
        client.get(alertmanager, "/-/ready")
        status = client.get(alertmanager, "/api/v2/status")
    except SmokeError as error:
        return [_unreachable("alertmanager", error, "start Alertmanager and check its logs")]
    checks = [Check("alertmanager ready", True, alertmanager.url)]
    if peers > 1:
        cluster = status.get("cluster") or {} if isinstance(status, dict) else {}
        seen = len(cluster.get("peers") or [])
        ok = cluster.get("status") == "ready" and seen >= peers
        checks.append(
            Check(
                f"alertmanager clustered ({seen}/{peers} peers)",
                ok,
                f"cluster status {cluster.get('status')!r}",
                "" if ok else "check the peers' --cluster.peer flags and that port 9094 is open between them",
            )
        )
    return checks


def loki_checks(client: Client, loki: Target) -> list[Check]:
    try:
        client.get(loki, "/ready")
    except SmokeError as error:
        return [_unreachable("loki", error, "start Loki and check its logs (it answers 503 while its ring forms)")]
    checks = [Check("loki ready", True, loki.url)]
    try:
        jobs = client.get(loki, "/loki/api/v1/label/job/values").get("data") or []
    except (SmokeError, AttributeError) as error:
        return [*checks, Check("loki holds vega's logs", False, str(error), "query Loki's label API by hand")]
    found = [j for j in VEGA_JOBS if j in jobs]
    checks.append(
        Check(
            "loki holds vega's logs",
            bool(found),
            f"vega jobs with logs: {', '.join(found)}"
            if found
            else f"no logs of {', '.join(VEGA_JOBS)} (jobs: {', '.join(jobs) or 'none'})",
            "" if found else "is Vega running, and does the collector see its containers (collector logs)?",
        )
    )
    return checks


def jaeger_checks(client: Client, jaeger: Target) -> list[Check]:
    try:
        services = client.get(jaeger, "/api/services").get("data") or []
    except (SmokeError, AttributeError) as error:
        return [_unreachable("jaeger", SmokeError(str(error)), "start Jaeger and check its logs")]
    found = [s for s in VEGA_SERVICES if s in services]
    return [
        Check(
            "jaeger knows vega's services",
            bool(found),
            f"services: {', '.join(found)}" if found else f"no trace of {', '.join(VEGA_SERVICES)} yet",
            "" if found else "point Vega's OpenTelemetry exporter at the stack's OTLP endpoint (README)",
        )
    ]


def dashboard_uids(dashboards: Path) -> list[str]:
    """Every dashboard uid the stack provisions, from the files present."""
    uids = []
    for path in sorted(dashboards.rglob("*.json")):
        try:
            uid = json.loads(path.read_text()).get("uid")
        except (ValueError, AttributeError):
            continue
        if isinstance(uid, str):
            uids.append(uid)
    return uids


def grafana_checks(client: Client, grafana: Target, dashboards: Sequence[str]) -> list[Check]:
    try:
        health = client.get(grafana, "/api/health")
    except SmokeError as error:
        return [_unreachable("grafana", error, "start Grafana and check its logs")]
    db = health.get("database") if isinstance(health, dict) else None
    checks = [
        Check(
            "grafana healthy",
            db == "ok",
            f"database {db!r}, version {health.get('version') if isinstance(health, dict) else '?'}",
            "" if db == "ok" else "Grafana cannot reach its database: check its logs",
        )
    ]
    for kind, uid in sorted(DATASOURCE_UIDS.items()):
        try:
            answer = client.get(grafana, f"/api/datasources/uid/{uid}/health")
            ok = isinstance(answer, dict) and str(answer.get("status", "")).upper() == "OK"
            detail = answer.get("message", "") if isinstance(answer, dict) else str(answer)
        except SmokeError as error:
            ok, detail = False, str(error)
        checks.append(
            Check(
                f"grafana datasource {uid}",
                ok,
                detail,
                "" if ok else f"Grafana cannot query {kind}: is {kind} up, and reachable from Grafana?",
            )
        )
    missing = []
    for uid in dashboards:
        try:
            client.get(grafana, f"/api/dashboards/uid/{uid}")
        except SmokeError as error:
            missing.append(f"{uid} ({error})")
    checks.append(
        Check(
            f"grafana dashboards provisioned ({len(dashboards) - len(missing)}/{len(dashboards)})",
            not missing,
            "missing: " + ", ".join(missing) if missing else ", ".join(dashboards),
            "" if not missing else "check Grafana's provisioning logs for the dashboard files",
        )
    )
    return checks


# --------------------------------------------------------------------------- the run


@dataclass
class Stack:
    """What the checks need of a running stack."""

    targets: dict[str, Target]
    alertmanager_peers: int = 1
    dashboards: list[str] = field(default_factory=list)


def run_checks(stack: Stack, client: Client) -> list[Check]:
    t = stack.targets
    checks: list[Check] = []
    steps: list[tuple[str, Callable[[], list[Check]]]] = [
        ("prometheus", lambda: prometheus_checks(client, t["prometheus"])),
        ("alertmanager", lambda: alertmanager_checks(client, t["alertmanager"], stack.alertmanager_peers)),
        ("loki", lambda: loki_checks(client, t["loki"])),
        ("jaeger", lambda: jaeger_checks(client, t["jaeger"])),
        ("grafana", lambda: grafana_checks(client, t["grafana"], stack.dashboards)),
    ]
    for service, step in steps:
        if service in t:
            checks.extend(step())
    return checks


def table(checks: Iterable[Check]) -> str:
    rows = [("check", "result", "detail", "")]
    rows += [(c.name, "ok" if c.ok else "FAIL", c.detail, "" if c.ok else c.fix) for c in checks]
    widths = [max(len(r[i]) for r in rows) for i in range(2)]
    lines = [
        f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]}"
        + (f"\n{'':<{widths[0] + widths[1] + 4}}fix: {r[3]}" if r[3] else "")
        for r in rows
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- where the stack is


def pulumi(args: Sequence[str], stack: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["pulumi", *args, "--stack", stack], capture_output=True, text=True, check=False, timeout=120)


def stack_urls(stack: str) -> dict[str, str]:
    done = pulumi(["stack", "output", "urls", "--json"], stack)
    if done.returncode != 0:
        raise SystemExit(
            f"`pulumi stack output urls --stack {stack}` failed: {done.stderr.strip() or done.stdout.strip()}\n"
            "Is the stack up (make up STACK=…), and is this the shell `make` uses (make smoke sets it)?"
        )
    urls = json.loads(done.stdout)
    return {k: v for k, v in urls.items() if k in SERVICES}


def config_value(stack: str, key: str) -> str | None:
    done = pulumi(["config", "get", key], stack)
    return done.stdout.rstrip("\n") if done.returncode == 0 and done.stdout.strip() else None


def in_cluster(url: str) -> bool:
    host = urllib.parse.urlsplit(url).hostname or ""
    return host.endswith(".svc") or host.endswith(".svc.cluster.local")


def targets_for(urls: Mapping[str, str], grafana_auth: Credentials, web_auth: Credentials | None) -> dict[str, Target]:
    """Each service's Target. A service with only an in-cluster URL (Loki on kubernetes) is
    reached through Grafana's datasource proxy, which is what Grafana itself queries."""
    grafana = urls.get("grafana")
    targets: dict[str, Target] = {}
    for service, url in urls.items():
        if service == "grafana":
            targets[service] = Target(url, grafana_auth)
        elif in_cluster(url) and grafana and service in DATASOURCE_UIDS:
            proxy = f"{grafana.rstrip('/')}/api/datasources/proxy/uid/{DATASOURCE_UIDS[service]}"
            targets[service] = Target(proxy, grafana_auth)
        else:
            targets[service] = Target(url, web_auth)
    return targets


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.smoke", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", default="dev", help="the Pulumi stack whose URLs and credentials to use")
    parser.add_argument(
        "--url",
        action="append",
        default=[],
        metavar="SERVICE=URL",
        help=f"a service's URL instead of the stack output ({', '.join(SERVICES)}); repeatable",
    )
    parser.add_argument(
        "--alertmanager-peers",
        type=int,
        default=None,
        help="peers the Alertmanager cluster must have (default: 1 on docker, 3 on kubernetes)",
    )
    parser.add_argument("--cacert", type=Path, default=None, help="a CA bundle for the stack's TLS certificates")
    parser.add_argument("--timeout", type=float, default=TIMEOUT, help="seconds per request")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    given = dict(u.split("=", 1) for u in args.url if "=" in u)
    unknown = sorted(set(given) - set(SERVICES))
    if unknown or len(given) != len(args.url):
        print(
            f"--url takes SERVICE=URL with SERVICE one of {', '.join(SERVICES)}; got {', '.join(args.url)}",
            file=sys.stderr,
        )
        return 2
    urls = given or stack_urls(args.stack)
    env = os.environ
    grafana_password = env.get("VEGA_GRAFANA_PASSWORD") or (
        None if given else config_value(args.stack, "grafanaAdminPassword")
    )
    grafana_user = env.get("VEGA_GRAFANA_USER") or (None if given else config_value(args.stack, "grafanaAdminUser"))
    grafana_auth = Credentials(grafana_user or "admin", grafana_password or "admin")
    web_password = env.get("VEGA_WEB_PASSWORD") or (None if given else config_value(args.stack, "webPassword"))
    web_user = env.get("VEGA_WEB_USER") or (None if given else config_value(args.stack, "webUsername")) or "vega"
    web_auth = Credentials(web_user, web_password) if web_password else None
    secure = any(u.startswith("https://") for u in urls.values())
    replicas = None if given else config_value(args.stack, "alertmanagerReplicas")
    default_peers = int(replicas) if replicas and replicas.isdigit() else (3 if secure else 1)
    peers = args.alertmanager_peers if args.alertmanager_peers is not None else default_peers
    context = ssl.create_default_context(cafile=str(args.cacert)) if args.cacert else None
    stack = Stack(
        targets_for(urls, grafana_auth, web_auth), peers, dashboard_uids(configs_dir() / "grafana" / "dashboards")
    )
    checks = run_checks(stack, Client(timeout=args.timeout, context=context))
    print(table(checks))
    failed = sum(not c.ok for c in checks)
    print(f"\n{len(checks) - failed} checks ok, {failed} failing")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
