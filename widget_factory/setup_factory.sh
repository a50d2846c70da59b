#!/usr/bin/env bash
# Creates every Widget Factory topic (the walkthrough's ./setup_factory.sh).
# Options pass through: ./setup_factory.sh --bootstrap-servers HOST:PORT --partitions 3
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if command -v widget-factory >/dev/null 2>&1; then
    exec widget-factory setup "$@"
fi
python="${PYTHON:-python3}"
[ -x "$here/../.venv/bin/python" ] && python="$here/../.venv/bin/python"
cd "$here/.."
exec "$python" -m widget_factory setup "$@"
