#!/usr/bin/env bash
# make-secrets.sh: makes deploy/compose/secrets/ once (random passwords, the
# MinIO keys and the shared checkpoint signing key). Run from the repository
# root: deploy/compose/make-secrets.sh. Refuses to overwrite existing secrets.
set -euo pipefail
cd "$(dirname "$0")"
if [ -e secrets ]; then
  echo "make-secrets.sh: secrets/ exists; remove it first if you really want new secrets" >&2
  exit 1
fi
mkdir -m 700 secrets
rnd() { head -c 24 /dev/urandom | base64 | tr -d '/+=' ; }
rnd > secrets/nats_password
rnd > secrets/operator_password
echo "taizhang" > secrets/s3_access_key
rnd > secrets/s3_secret_key
(cd ../.. && go run ./deploy/tools/checkpointkey deploy/compose/secrets/checkpoint_key) > secrets/checkpoint_pubkey
# compose reads these for the NATS and MinIO containers' environment.
{
  echo "TAIZHANG_NATS_PASSWORD=$(cat secrets/nats_password)"
  echo "TAIZHANG_OPERATOR_PASSWORD=$(cat secrets/operator_password)"
  echo "MINIO_ROOT_USER=$(cat secrets/s3_access_key)"
  echo "MINIO_ROOT_PASSWORD=$(cat secrets/s3_secret_key)"
} > secrets/env
chmod 600 secrets/*
echo "secrets written to deploy/compose/secrets; checkpoint public key: $(cat secrets/checkpoint_pubkey)"
