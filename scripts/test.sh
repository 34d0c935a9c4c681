#!/usr/bin/env bash
# Quick start, step 2: lint, type-check and run the whole test suite against the sandbox and a real Airflow.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh dev
echo "== ruff"; ruff check .
echo "== mypy"; mypy
echo "== pytest"; exec pytest "$@"
