# Shared by the backup scripts: upload a file to the backup bucket, signed with SigV4.
# Needs S3_SCHEME, S3_ENDPOINT, S3_REGION, S3_BUCKET, S3_CREDENTIALS_DIR (files access_key_id
# and secret_access_key), and S3_CA_FILE when the object store has a private CA.

s3_upload() { # <local file> <object key>
  ca=""
  if [ -n "${S3_CA_FILE:-}" ]; then ca="--cacert $S3_CA_FILE"; fi
  # shellcheck disable=SC2086
  curl -sS --fail --retry 3 $ca \
    --aws-sigv4 "aws:amz:${S3_REGION}:s3" \
    --user "$(cat "$S3_CREDENTIALS_DIR/access_key_id"):$(cat "$S3_CREDENTIALS_DIR/secret_access_key")" \
    --upload-file "$1" "${S3_SCHEME}://${S3_ENDPOINT}/${S3_BUCKET}/$2"
}
