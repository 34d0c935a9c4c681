#!/usr/bin/env bash
# Quick start, step 2: lint, type-check, build the docs and run the whole test suite against the sandbox and a
# real Airflow.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh dev
echo "== ruff"; ruff check .
echo "== mypy"; mypy
echo "== docs"; site="$(mktemp -d)"; mkdocs build --strict --quiet --site-dir "$site"; rm -rf "$site"
echo "== pytest"; exec pytest "$@"
