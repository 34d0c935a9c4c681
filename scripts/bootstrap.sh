# Create .venv and install the project with the given extra, once per pyproject change.
# Sourced by demo.sh and test.sh; PYTHON picks the interpreter (default: python3).
set -euo pipefail
extra="$1"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
if [ ! -x "$venv/bin/python" ]; then
  "${PYTHON:-python3}" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
fi
stamp="$venv/.installed-$extra-$(sha256sum "$root/pyproject.toml" | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "Installing airflow-provider-m365mail[$extra] into $venv (first run takes a minute or two)..."
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e "$root[$extra]" 2>&1 \
    | grep -v "^WARNING: Location" || true
  "$venv/bin/python" -c "import airflow_provider_m365mail" # fail here, not later, if the install did not take
  touch "$stamp"
fi
export PATH="$venv/bin:$PATH"
