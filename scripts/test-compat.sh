#!/usr/bin/env bash
# Run the Airflow-layer tests (tests/airflow, tests/cli) against an older Airflow: scripts/test-compat.sh 3.1
# Creates .venv-airflow-VERSION with apache-airflow==VERSION.* and the project's dev extra (editable, this tree),
# reinstalling only when pyproject.toml changes. Extra arguments go to pytest. PYTHON picks the interpreter.
set -euo pipefail
version="${1:?usage: scripts/test-compat.sh VERSION [pytest args], e.g. 3.0 or 3.1}"
shift
if [[ ! "$version" =~ ^3\.[0-9]+$ ]]; then
  echo "test-compat: VERSION is an Airflow minor release such as 3.0 or 3.1, not '$version'" >&2
  exit 2
fi
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv-airflow-$version"
requirements=("apache-airflow==$version.*")
if [ "$version" = "3.0" ]; then
  # Airflow 3.0 leaves FastAPI and Cadwyn unbounded; their later releases reject the in-process Execution API
  # calls of `airflow dags test` (HTTP 422 when a task starts). Cap them where Airflow 3.1 resolves them.
  requirements+=("fastapi<0.118" "cadwyn<6")
fi
if [ ! -x "$venv/bin/python" ]; then
  "${PYTHON:-python3}" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip 2>&1 \
    | grep -v "^WARNING: Location" || true
fi
stamp="$venv/.installed-$(sha256sum "$root/pyproject.toml" | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "Installing apache-airflow==$version.* and airflow-provider-m365mail[dev] into $venv..."
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e "$root[dev]" "${requirements[@]}" 2>&1 \
    | grep -v "^WARNING: Location" || true
  "$venv/bin/python" -c "import airflow, airflow_provider_m365mail; print('Airflow', airflow.__version__)"
  touch "$stamp"
fi
cd "$root"
export PATH="$venv/bin:$PATH"
exec "$venv/bin/python" -m pytest -p no:cacheprovider tests/airflow tests/cli "$@"
