#!/bin/sh
# Sidecar of each Prometheus replica: uploads every finished snapshot under
# $DATA_DIR/snapshots/ to s3://$S3_BUCKET/prometheus/$POD_NAME/<snapshot>/ and deletes it
# locally once every file is stored. A failed upload is retried on the next pass. Each
# outcome is reported as backup prometheus-snapshot of this pod (report.sh).
# HEARTBEAT names a file touched on every pass.
set -u
. "$(dirname "$0")/s3.sh"
. "$(dirname "$0")/report.sh"
while true; do
  touch "$HEARTBEAT"  # the liveness probe checks that this loop still turns
  for snapshot in "$DATA_DIR"/snapshots/*/; do
    [ -d "$snapshot" ] || continue
    name=$(basename "$snapshot")
    ok=1
    for file in $(cd "$snapshot" && find . -type f | sed 's|^\./||'); do
      s3_upload "$snapshot/$file" "prometheus/${POD_NAME}/${name}/${file}" || { ok=0; break; }
    done
    if [ "$ok" = 1 ]; then
      rm -rf "$snapshot"
      echo "shipped snapshot ${name}"
      report_backup prometheus-snapshot 1 "$POD_NAME"
    else
      echo "upload of snapshot ${name} failed; retrying later" >&2
      report_backup prometheus-snapshot 0 "$POD_NAME"
    fi
  done
  sleep 60
done
