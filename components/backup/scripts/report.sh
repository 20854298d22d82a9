# Shared by the backup scripts: report the outcome of a backup to Prometheus, as the gauge
# vega_backup_success{backup, job="vega-backup", instance} (1: done, 0: failed) at the current
# time, through each server's OTLP receiver (HTTPS with the stack's basic auth). The alert
# BackupFailing reads it: a 0, or no report within its window, reaches a person.
# Needs REPORT_TARGETS (host:port of every Prometheus), WEB_USERNAME, WEB_PASSWORD_FILE and
# CA_FILE. A server that cannot be reached is named on stderr; the backup's own result stands.

report_backup() { # <backup> <1|0> <instance>
  body=$(printf '{"resourceMetrics":[{"resource":{"attributes":[%s,%s]},"scopeMetrics":[{"metrics":[{"name":"vega_backup_success","gauge":{"dataPoints":[{"asDouble":%s,"timeUnixNano":"%s000000000","attributes":[%s]}]}}]}]}]}' \
    '{"key":"service.name","value":{"stringValue":"vega-backup"}}' \
    "{\"key\":\"service.instance.id\",\"value\":{\"stringValue\":\"$3\"}}" \
    "$2" "$(date +%s)" \
    "{\"key\":\"backup\",\"value\":{\"stringValue\":\"$1\"}}")
  for target in $REPORT_TARGETS; do
    curl -sS --fail --max-time 30 --cacert "$CA_FILE" -u "${WEB_USERNAME}:$(cat "$WEB_PASSWORD_FILE")" \
      -H 'Content-Type: application/json' --data "$body" \
      "https://${target}/api/v1/otlp/v1/metrics" >/dev/null \
      || echo "could not report backup $1 to ${target}" >&2
  done
}
