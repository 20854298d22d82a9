# Shared by the backup scripts: upload a file to the backup bucket, signed with SigV4.
# Needs S3_SCHEME, S3_ENDPOINT, S3_REGION, S3_BUCKET, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
# and S3_CA_FILE when the object store has a private CA.

s3_upload() { # <local file> <object key>
  ca=""
  if [ -n "${S3_CA_FILE:-}" ]; then ca="--cacert $S3_CA_FILE"; fi
  # shellcheck disable=SC2086
  curl -sS --fail --retry 3 $ca \
    --aws-sigv4 "aws:amz:${S3_REGION}:s3" \
    --user "${AWS_ACCESS_KEY_ID}:${AWS_SECRET_ACCESS_KEY}" \
    --upload-file "$1" "${S3_SCHEME}://${S3_ENDPOINT}/${S3_BUCKET}/$2"
}
