#!/usr/bin/env bash
# Quick start, step 1: run an example DAG that sends real mail into the local Microsoft 365 sandbox.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh sandbox
exec m365mail demo "$@"
