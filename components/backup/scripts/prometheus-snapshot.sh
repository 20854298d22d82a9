#!/bin/sh
# Ask every Prometheus replica for a TSDB snapshot. Each replica's snapshot-shipper sidecar
# uploads it from the replica's own volume to the backup bucket and then removes it.
set -eu
password=$(cat "$WEB_PASSWORD_FILE")
failed=0
for target in $PROMETHEUS_TARGETS; do
  if answer=$(curl -sS --fail --cacert "$CA_FILE" -u "${WEB_USERNAME}:${password}" \
      -X POST "https://${target}/api/v1/admin/tsdb/snapshot"); then
    echo "snapshot requested on ${target}: ${answer}"
  else
    echo "snapshot FAILED on ${target}" >&2
    failed=1
  fi
done
exit "$failed"
