#!/usr/bin/env bash
# Command one: set everything up, then run the main job on the built-in local default:
# a throw-away CA and client certificate, the local Roles Anywhere emulator,
# `rasign credential-process`, and boto3 calling STS GetCallerIdentity with the result.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
exec .venv/bin/rasign demo "$@"
