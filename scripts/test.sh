#!/usr/bin/env bash
# Install (cached) and run the whole test suite, lint and import rules included.
# Needs PostgreSQL on 127.0.0.1:5432 (database "test") and Redis on 127.0.0.1:6379
# (.ci/run starts them when they are not answering).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$(bash scripts/install.sh | tail -n 1)
export PATH="$venv/bin:$PATH"
ruff check .
ruff format --check .
lint-imports
exec python -m pytest "$@"
