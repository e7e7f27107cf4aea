#!/usr/bin/env bash
# Checks that docker-compose.yml parses with `docker-compose config` (no Docker engine needed).
# Installs docker-compose 1.29.2 into a private virtualenv under target/ if it is not on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
if command -v docker-compose >/dev/null 2>&1; then
  dc=docker-compose
else
  venv=target/compose-venv
  if [ ! -x "$venv/bin/docker-compose" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "pyyaml==6.0.1"
    "$venv/bin/pip" install -q --no-deps docker-compose==1.29.2
    # docker-compose 1.29 pins PyYAML<6, which no longer builds; 6.0.1 works and pip says so.
    "$venv/bin/pip" install -q "docker>=5,<7" dockerpty docopt "jsonschema<4" "python-dotenv<1" requests texttable "websocket-client<1" distro 2>/dev/null
  fi
  dc="$venv/bin/docker-compose"
fi
"$dc" -f docker-compose.yml config -q
echo "docker-compose.yml: valid"
