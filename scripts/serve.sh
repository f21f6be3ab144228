#!/usr/bin/env bash
# Install (cached) and run Zhiku on the embedded default: SQLite, embedded Qdrant,
# ingestion in the same process. Extra arguments go to `zhiku serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$(bash scripts/install.sh | tail -n 1)
exec "$venv/bin/zhiku" serve "$@"
