#!/bin/sh
# Export every Grafana dashboard (JSON model, as the HTTP API returns it) to
# s3://$S3_BUCKET/grafana/<UTC timestamp>/<uid>.json, and report the outcome (report.sh).
set -eu
. "$(dirname "$0")/s3.sh"
. "$(dirname "$0")/report.sh"
# Whatever ends the script, the outcome is reported: 1 when every dashboard is stored.
trap 'status=$?; if [ "$status" = 0 ]; then ok=1; else ok=0; fi; report_backup grafana-export "$ok" grafana-export; exit "$status"' EXIT
stamp=$(date -u +%Y%m%dT%H%M%SZ)
# Read at every run: a rotated password works from the next run on.
auth="${GRAFANA_USER}:$(cat "$GRAFANA_PASSWORD_FILE")"
work=$(mktemp -d)
curl -sS --fail --cacert "$CA_FILE" -u "$auth" \
  "${GRAFANA_URL}/api/search?type=dash-db&limit=5000" -o "$work/search.json"
count=0
# The uids of the search result (compact or spaced JSON alike); "folderUid" does not match.
for uid in $(grep -o '"uid" *: *"[^"]*"' "$work/search.json" | sed 's/.*"\([^"]*\)"$/\1/'); do
  curl -sS --fail --cacert "$CA_FILE" -u "$auth" "${GRAFANA_URL}/api/dashboards/uid/${uid}" -o "$work/${uid}.json"
  s3_upload "$work/${uid}.json" "grafana/${stamp}/${uid}.json"
  count=$((count + 1))
done
echo "exported ${count} dashboards to ${S3_BUCKET}/grafana/${stamp}/"
[ "$count" -gt 0 ]
