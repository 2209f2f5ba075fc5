#!/usr/bin/env bash
# Prepare a machine (Debian 12 / Python 3.11) to run omv_pipelines: the system packages the demo and the
# tests need, and a virtual environment in .venv with the project installed (editable).
#   scripts/bootstrap.sh         runtime only (enough for `omv demo`, `omv ui`)
#   scripts/bootstrap.sh --dev   with the test dependencies and the servers the tests start
set -euo pipefail
cd "$(dirname "$0")/.."

dev=false
[[ "${1:-}" == "--dev" ]] && dev=true

# MapServer serves the demo's WFS; GDAL's ogr2ogr is the benchmark peer; PostGIS is for the SQL tests.
packages=(cgi-mapserver mapserver-bin)
# Chromium is the headless browser the report and UI tests drive through Playwright (no browser download).
# redis-server is the Celery broker the scale-out test starts on loopback (omv_pipelines_tests/test_scale/).
$dev && packages+=(gdal-bin postgresql-15-postgis-3 chromium redis-server)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  sudo_cmd=""
  [[ $(id -u) -ne 0 ]] && sudo_cmd="sudo"
  echo "installing system packages: ${missing[*]}"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# constraints.txt pins the versions the test suite last passed with (`make lock` rewrites it).
constraints=()
[[ -f constraints.txt ]] && constraints=(-c constraints.txt)
if $dev; then
  .venv/bin/python -m pip install -q "${constraints[@]}" -e '.[dev]'
else
  .venv/bin/python -m pip install -q "${constraints[@]}" -e .
fi
echo "ready: .venv/bin/omv and .venv/bin/dagster"
