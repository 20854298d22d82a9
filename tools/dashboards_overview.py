"""The "Vega 2.0 - System Overview" dashboard (Grafana's home dashboard): API response times,
errors and traffic; container, host and process resources; federated participants; logs and
traces; and an optional, collapsed database row."""

from __future__ import annotations

from tools.dashboards_common import (
    ALL_ALERTS,
    API_VARIABLES,
    BY_REQUESTS,
    CONTAINER,
    DOWN_STEPS,
    ENDPOINT_ERRORS,
    ENDPOINT_REQUESTS,
    ERROR_RATIO,
    ERROR_STEPS,
    FEDERATED_TITLE,
    FEDERATED_UID,
    HEALTH_STEPS,
    HOST,
    JOB_ERRORS,
    JOB_LATENCY,
    JOB_REQUESTS,
    LATENCY,
    LATENCY_BUCKETS,
    LOG_STREAM,
    OVERVIEW_TITLE,
    OVERVIEW_UID,
    QUANTILES,
    REQUESTS,
    ROUTE,
    ROUTE_VARIABLES,
    SEED_ACTIVE,
    SEED_TAKING_PART,
    SEED_TOTAL,
    SILO_UP_RATIO,
    VEGA_LOGS,
    alerts_firing,
    alerts_panel,
    at_level,
    federation_fallback,
    links_to,
    or_federation,
)
from tools.dashboards_panels import (
    UP_DOWN,
    AlertMarks,
    Column,
    Json,
    Row,
    bargauge,
    dashboard,
    jaeger_search,
    logs,
    loki_variable,
    piechart,
    prom,
    prom_variable,
    stat,
    table,
    thresholds,
    timeseries,
    trace_table,
    with_links,
)

# Resource panels draw 5-minute rates and gauges of a few dozen series: at most this many
# points each (one every 5 minutes over 24h, every minute over 6h; every scrape over 1h).
RESOURCE_POINTS = 300


def resources(row: Row) -> Row:
    """`row` with every panel drawing at most RESOURCE_POINTS points (Grafana's maxDataPoints)."""
    for panel in row.panels:
        panel["maxDataPoints"] = RESOURCE_POINTS
    return row


def _overview_variables() -> list[Json]:
    return [
        prom_variable("job", "Job", "Prometheus scrape job", "up", "job"),
        prom_variable("instance", "Instance", "Scrape target of the selected jobs", 'up{job=~"$job"}', "instance"),
        prom_variable(
            "endpoint",
            "Endpoint",
            "API route template",
            'http_requests_total{job=~"$job", instance=~"$instance"}',
            "endpoint",
        ),
        prom_variable(
            "method",
            "Method",
            "HTTP method",
            'http_requests_total{job=~"$job", instance=~"$instance", endpoint=~"$endpoint"}',
            "method",
        ),
        prom_variable("status", "Status", "HTTP status code", "http_requests_total{" + ROUTE + "}", "status"),
        prom_variable("container", "Container", "Container name (cAdvisor)", 'container_last_seen{name!=""}', "name"),
        prom_variable("host", "Host", "node-exporter target", "node_load1", "instance"),
        loki_variable("level", "Log level", "The `level` field of Vega's logs", VEGA_LOGS, "level"),
        loki_variable("module", "Log module", "The `module` field of Vega's logs", VEGA_LOGS, "module"),
    ]


def _requests(label: str, kept: str) -> str:
    """Requests per second summed by `label`, recorded per job and `kept`."""
    coarse = (
        f"sum by ({label}) ({BY_REQUESTS.format(label=kept) if kept != 'endpoint' else ENDPOINT_REQUESTS}{{FILTERS}})"
    )
    return at_level(coarse, f"sum by ({label}) ({REQUESTS}{{FILTERS}})", API_VARIABLES, ("job", kept))


def _quantile(name: str, q: float) -> str:
    """A response time quantile over the selected jobs, instances, methods and routes."""
    return at_level(
        f"{JOB_LATENCY.format(q=name)}{{FILTERS}}",
        f"histogram_quantile({q}, sum by (job, le) ({LATENCY_BUCKETS}{{FILTERS}}))",
        ROUTE_VARIABLES,
        ("job",),
    )


def _overview_summary() -> Row:
    errors = at_level(
        f"(sum({JOB_ERRORS}{{FILTERS}}) or vector(0)) / sum({JOB_REQUESTS}{{FILTERS}})",
        f'(sum({REQUESTS}{{FILTERS, status=~"5.."}}) or vector(0)) / sum({REQUESTS}{{FILTERS}})',
        ROUTE_VARIABLES,
        ("job",),
    )
    return Row(
        "Overview",
        [
            stat(
                "Request rate",
                "Requests per second over the selected jobs, routes and statuses.",
                [
                    prom(
                        at_level(
                            f"sum({JOB_REQUESTS}{{FILTERS}})", f"sum({REQUESTS}{{FILTERS}})", API_VARIABLES, ("job",)
                        )
                    )
                ],
                "reqps",
            ),
            stat(
                "Error ratio (5xx)",
                "Share of requests answered with a 5xx status over the last 5 minutes.",
                [prom(errors)],
                "percentunit",
                steps=ERROR_STEPS,
            ),
            stat(
                "p95 response time",
                "95th percentile of the response time over the selected routes.",
                [prom(_quantile("p95", 0.95), "{{job}}")],
                "s",
            ),
            stat(
                "Targets down",
                "Scrape targets of the selected jobs that do not answer (`up == 0`).",
                [prom('sum(1 - up{job=~"$job", instance=~"$instance"})')],
                "short",
                steps=DOWN_STEPS,
            ),
            stat(
                "Active participants",
                "Participants taking part in the current training round.",
                [prom(SEED_ACTIVE)],
                "short",
            ),
            stat(
                "Training round",
                "Number of the current training round.",
                [prom("max(federated_round_current)")],
                "short",
            ),
        ],
    )


def _overview_alerts() -> Row:
    return Row(
        "Alerts",
        [
            alerts_firing(ALL_ALERTS, "alerts"),
            alerts_panel(ALL_ALERTS, "Every alert firing now"),
        ],
    )


def _overview_api() -> Row:
    latency = [prom(_quantile(name, q), f"{name} ({{{{job}}}})") for name, q in QUANTILES]
    endpoint_latency = '{job=~"$job", endpoint=~"$endpoint"}'
    errors_by_endpoint = at_level(
        f"{ENDPOINT_ERRORS}{{FILTERS}}",
        f'sum by (job, endpoint) ({REQUESTS}{{FILTERS, status=~"5.."}})',
        ROUTE_VARIABLES,
        ("job", "endpoint"),
    )
    return Row(
        "API response times and errors",
        [
            timeseries(
                "Response time p50 / p95 / p99",
                "Quantiles of the response time over the selected jobs, instances, methods and routes.",
                latency,
                "s",
            ),
            timeseries(
                "p95 response time by endpoint",
                "95th percentile per route (all instances and methods).",
                [prom(LATENCY.format(q="p95") + endpoint_latency, "{{endpoint}} ({{job}})")],
                "s",
            ),
            timeseries(
                "p99 response time by endpoint",
                "99th percentile per route (all instances and methods).",
                [prom(LATENCY.format(q="p99") + endpoint_latency, "{{endpoint}} ({{job}})")],
                "s",
            ),
            timeseries(
                "5xx errors per second by endpoint",
                "Requests answered with a 5xx status, per route.",
                [prom(errors_by_endpoint, "{{endpoint}} ({{job}})")],
                "reqps",
            ),
            timeseries(
                "Error ratio by endpoint",
                "Share of a route's requests answered with a 5xx status (all instances and methods).",
                [prom(ERROR_RATIO + endpoint_latency, "{{endpoint}} ({{job}})")],
                "percentunit",
            ),
            table(
                "Endpoints",
                "Per route over the last 5 minutes: traffic, error ratio and response time quantiles.",
                [
                    prom(_requests("job, endpoint", "endpoint")),
                    prom(ERROR_RATIO + endpoint_latency),
                    *(prom(LATENCY.format(q=name) + endpoint_latency) for name, _ in QUANTILES),
                ],
                [
                    Column("Requests/s", "reqps"),
                    Column("5xx ratio", "percentunit", steps=ERROR_STEPS),
                    Column("p50", "s"),
                    Column("p95", "s"),
                    Column("p99", "s"),
                ],
                hide=("Time", "__name__"),
                sort_by="Requests/s",
                descending=True,
            ),
        ],
    )


def _overview_traffic() -> Row:
    return Row(
        "Request volume and patterns",
        [
            timeseries(
                "Requests per second by endpoint",
                "Traffic per route, stacked.",
                [prom(_requests("endpoint", "endpoint"), "{{endpoint}}")],
                "reqps",
                stack=True,
            ),
            timeseries(
                "Requests per second by status",
                "Traffic per HTTP status code, stacked.",
                [prom(_requests("status", "status"), "{{status}}")],
                "reqps",
                stack=True,
            ),
            timeseries(
                "Requests per second by method",
                "Traffic per HTTP method.",
                [prom(_requests("method", "method"), "{{method}}")],
                "reqps",
                w=8,
            ),
            timeseries(
                "Requests per second by instance",
                "How the load spreads over the instances of each job.",
                [prom(_requests("job, instance", "instance"), "{{instance}} ({{job}})")],
                "reqps",
                w=8,
            ),
            piechart(
                "Traffic share by endpoint",
                "Each route's share of the requests of the last 5 minutes.",
                [prom(_requests("endpoint", "endpoint"), "{{endpoint}}", instant=True)],
                "reqps",
            ),
        ],
    )


def _overview_containers() -> Row:
    memory = f"sum by (instance, name) (container_memory_working_set_bytes{{{CONTAINER}}})"
    return Row(
        "System resources: containers",
        [
            timeseries(
                "CPU by container",
                "CPU cores used per container (cAdvisor).",
                [prom(f"instance_name:container_cpu_usage_seconds:rate5m{{{CONTAINER}}}", "{{name}}")],
                "short",
            ),
            timeseries(
                "Memory by container",
                "Working set per container (what the memory limit is enforced on).",
                [prom(memory, "{{name}}")],
                "bytes",
            ),
            timeseries(
                "Memory use of limit by container",
                "Working set as a share of the container's memory limit.",
                [prom(f"instance_name:container_memory_working_set_bytes:ratio_limit{{{CONTAINER}}}", "{{name}}")],
                "percentunit",
                max_value=1,
            ),
            timeseries(
                "Network I/O by container",
                "Bytes per second received (up) and sent (down) per container.",
                [
                    prom(f"instance_name:container_network_receive_bytes:rate5m{{{CONTAINER}}}", "{{name}} received"),
                    prom(f"instance_name:container_network_transmit_bytes:rate5m{{{CONTAINER}}}", "{{name}} sent"),
                ],
                "Bps",
                negative="/ sent$/",
            ),
            timeseries(
                "Disk I/O by container",
                "Bytes per second read (up) and written (down) per container.",
                [
                    prom(f"instance_name:container_fs_reads_bytes:rate5m{{{CONTAINER}}}", "{{name}} read"),
                    prom(f"instance_name:container_fs_writes_bytes:rate5m{{{CONTAINER}}}", "{{name}} written"),
                ],
                "Bps",
                w=24,
                negative="/ written$/",
            ),
        ],
    )


def _overview_hosts() -> Row:
    filesystems = f'{HOST}, fstype!~"tmpfs|overlay|squashfs|nsfs"'
    disk_used = (
        f"1 - sum by (instance, mountpoint) (node_filesystem_avail_bytes{{{filesystems}}})"
        f" / sum by (instance, mountpoint) (node_filesystem_size_bytes{{{filesystems}}})"
    )
    return Row(
        "System resources: hosts",
        [
            timeseries(
                "CPU utilisation by host",
                "Share of CPU time not idle, over all CPUs (node-exporter).",
                [prom(f"instance:node_cpu_utilisation:rate5m{{{HOST}}}", "{{instance}}")],
                "percentunit",
                w=8,
                max_value=1,
            ),
            timeseries(
                "Memory utilisation by host",
                "Share of memory not available to new work.",
                [prom(f"instance:node_memory_utilisation:ratio{{{HOST}}}", "{{instance}}")],
                "percentunit",
                w=8,
                max_value=1,
            ),
            timeseries(
                "Load average (1m) by host",
                "Runnable and waiting tasks, averaged over one minute.",
                [prom(f"node_load1{{{HOST}}}", "{{instance}}")],
                "short",
                w=8,
            ),
            timeseries(
                "Network I/O by host",
                "Bytes per second received (up) and sent (down), loopback excluded.",
                [
                    prom(f"instance:node_network_receive_bytes_excluding_lo:rate5m{{{HOST}}}", "{{instance}} received"),
                    prom(f"instance:node_network_transmit_bytes_excluding_lo:rate5m{{{HOST}}}", "{{instance}} sent"),
                ],
                "Bps",
                w=8,
                negative="/ sent$/",
            ),
            timeseries(
                "Disk I/O by host",
                "Bytes per second read (up) and written (down) over all disks.",
                [
                    prom(f"instance:node_disk_read_bytes:rate5m{{{HOST}}}", "{{instance}} read"),
                    prom(f"instance:node_disk_written_bytes:rate5m{{{HOST}}}", "{{instance}} written"),
                ],
                "Bps",
                w=8,
                negative="/ written$/",
            ),
            timeseries(
                "Disk space used by host",
                "Share of each filesystem in use.",
                [prom(disk_used, "{{instance}} {{mountpoint}}")],
                "percentunit",
                w=8,
                max_value=1,
            ),
        ],
    )


def _overview_processes() -> Row:
    selector = '{job=~"$job", instance=~"$instance"}'
    return Row(
        "System resources: processes",
        [
            timeseries(
                "Process CPU by job",
                "CPU cores used by the process of each scrape target.",
                [prom(f"job_instance:process_cpu_seconds:rate5m{selector}", "{{instance}} ({{job}})")],
                "short",
            ),
            timeseries(
                "Process resident memory by job",
                "Resident memory of the process of each scrape target.",
                [prom(f"sum by (job, instance) (process_resident_memory_bytes{selector})", "{{instance}} ({{job}})")],
                "bytes",
            ),
        ],
    )


def _overview_participants() -> Row:
    more = [{"title": FEDERATED_TITLE, "url": f"/d/{FEDERATED_UID}?${{__url_time_range}}"}]
    return Row(
        "Federated learning participants",
        [
            with_links(
                timeseries(
                    "Active and registered participants",
                    "Participants in the current round against those registered.",
                    [
                        prom(SEED_ACTIVE, "active"),
                        prom(SEED_TOTAL, "registered"),
                    ],
                    "short",
                ),
                more,
            ),
            with_links(
                bargauge(
                    "Healthy participants by silo",
                    "Share of each silo's participants that are connected and healthy."
                    + federation_fallback("the share of participants taking part in the round"),
                    [prom(or_federation(SILO_UP_RATIO, SEED_TAKING_PART), "{{silo}}", instant=True)],
                    "percentunit",
                    steps=HEALTH_STEPS,
                    max_value=1,
                ),
                more,
            ),
        ],
    )


def _overview_logs_and_traces() -> Row:
    return Row(
        "Logs and traces",
        [
            logs(
                "Vega logs",
                "Vega's JSON logs, filtered by the Log level and Log module variables.",
                LOG_STREAM + " | json",
            ),
            trace_table(
                "Recent vega-api traces",
                "The latest traces of vega-api in Jaeger; a trace ID opens the trace.",
                jaeger_search("vega-api"),
            ),
            trace_table(
                "Recent failed vega-api traces",
                "Latest vega-api traces with a span marked as an error.",
                jaeger_search("vega-api", tags="error=true"),
            ),
        ],
    )


def _overview_database() -> Row:
    by_db = "sum by (instance, datname)"
    hits = f"{by_db} (rate(pg_stat_database_blks_hit[$__rate_interval]))"
    reads = f"{by_db} (rate(pg_stat_database_blks_read[$__rate_interval]))"
    note = " Needs a postgres_exporter target (vegaDatabaseTargets); shows No data otherwise."
    return Row(
        "Database (optional: postgres_exporter)",
        [
            stat(
                "PostgreSQL up",
                "Whether postgres_exporter reaches its database." + note,
                [prom("pg_up", "{{instance}}")],
                "short",
                mappings=UP_DOWN,
                steps=thresholds(("red", None), ("green", 1)),
            ),
            timeseries(
                "Transactions per second",
                "Committed and rolled back transactions per database." + note,
                [
                    prom(f"{by_db} (rate(pg_stat_database_xact_commit[$__rate_interval]))", "{{datname}} commit"),
                    prom(f"{by_db} (rate(pg_stat_database_xact_rollback[$__rate_interval]))", "{{datname}} rollback"),
                ],
                "ops",
                w=10,
            ),
            timeseries(
                "Connections",
                "Backends connected to each database." + note,
                [prom(f"{by_db} (pg_stat_database_numbackends)", "{{datname}}")],
                "short",
                w=10,
            ),
            timeseries(
                "Buffer cache hit ratio",
                "Share of block reads served from PostgreSQL's buffer cache." + note,
                [prom(f"{hits} / ({hits} + {reads})", "{{datname}}")],
                "percentunit",
                max_value=1,
            ),
            timeseries(
                "Deadlocks",
                "Deadlocks detected per database." + note,
                [prom(f"{by_db} (increase(pg_stat_database_deadlocks[$__rate_interval]))", "{{datname}}")],
                "short",
            ),
        ],
        collapsed=True,
    )


def system_overview() -> Json:
    return dashboard(
        uid=OVERVIEW_UID,
        title=OVERVIEW_TITLE,
        description="API response times, errors and traffic; container, host and process resources; "
        "federated participants; logs and traces of Vega 2.0.",
        variables=_overview_variables(),
        links=links_to(FEDERATED_UID, FEDERATED_TITLE),
        rows=[
            _overview_summary(),
            _overview_alerts(),
            _overview_api(),
            _overview_traffic(),
            resources(_overview_containers()),
            resources(_overview_hosts()),
            resources(_overview_processes()),
            _overview_participants(),
            _overview_logs_and_traces(),
            _overview_database(),
        ],
        alert_marks=(
            AlertMarks(
                "API alerts",
                'alertname=~"HighErrorRate|Api.*BudgetBurn"',
                (
                    "Response time p50 / p95 / p99",
                    "5xx errors per second by endpoint",
                    "Error ratio by endpoint",
                    "Requests per second by status",
                ),
            ),
            AlertMarks(
                "Participant alerts",
                'alertname=~"FederatedParticipant.*"',
                ("Active and registered participants",),
            ),
        ),
    )
