#!/usr/bin/env bash
# Run the Airflow-layer tests (tests/airflow, tests/cli) against an older Airflow: scripts/test-compat.sh 3.1
# Creates .venv-airflow-VERSION with apache-airflow==VERSION.* and the project's dev extra (editable, this tree),
# reinstalling only when pyproject.toml or the pins below change. Extra arguments go to pytest. PYTHON picks the
# interpreter. scripts/test.sh runs it for Airflow 3.1 and 3.0 after the main suite.
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
  # Airflow 3.0 adds a provider's connection form fields only when Flask-AppBuilder and wtforms are installed, as
  # the fab provider (in Airflow's images) brings them; 3.1 stands in for them, so its stage runs without.
  requirements+=("apache-airflow-providers-fab")
fi
log="$venv/pip-install.log"
if [ ! -x "$venv/bin/python" ]; then
  "${PYTHON:-python3}" -m venv "$venv"
  if ! "$venv/bin/python" -m pip install --disable-pip-version-check --upgrade pip >"$log" 2>&1; then
    cat "$log" >&2
    exit 1
  fi
fi
stamp="$venv/.installed-$( (cat "$root/pyproject.toml"; echo "${requirements[*]}") | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  started=$SECONDS
  echo "Installing apache-airflow==$version.* and airflow-provider-m365mail[dev] into $venv..."
  rm -f "$venv"/.installed-*
  if ! "$venv/bin/python" -m pip install --disable-pip-version-check -e "$root[dev]" "${requirements[@]}" >"$log" 2>&1
  then
    tail -n 40 "$log" >&2
    echo "test-compat: installing into $venv failed (whole log: $log)" >&2
    exit 1
  fi
  # The last line: importing Airflow may log first.
  installed=$("$venv/bin/python" -c "import airflow, airflow_provider_m365mail; print(airflow.__version__)" | tail -n 1)
  echo "   Airflow $installed installed in $((SECONDS - started)) s"
  touch "$stamp"
fi
cd "$root"
export PATH="$venv/bin:$PATH"
# This machine's environment may set PYTHONDONTWRITEBYTECODE: then every `airflow` process the tests start would
# compile the project's modules again. pip compiled the venv's own packages when it installed them.
unset PYTHONDONTWRITEBYTECODE
exec "$venv/bin/python" -m pytest -p no:cacheprovider tests/airflow tests/cli "$@"
