#!/usr/bin/env bash
# Install (cached) and run the whole test suite, lint and import rules included.
# Needs PostgreSQL on 127.0.0.1:5432 (database "test") and Redis on 127.0.0.1:6379
# (.ci/run starts them when they are not answering).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$(bash scripts/install.sh | tail -n 1)
# The portal's browser tests (tests/web) drive Debian's Chromium; Playwright's own browser
# download cannot reach its CDN here.
if ! command -v chromium >/dev/null && [ "${ZHIKU_NO_APT:-0}" != 1 ] && command -v apt-get >/dev/null; then
  echo "[test] apt-get install chromium" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >&2
fi
# tests/deploy validates compose.yaml with Debian's docker-compose (`config` needs no daemon).
if ! command -v docker-compose >/dev/null && [ "${ZHIKU_NO_APT:-0}" != 1 ] && command -v apt-get >/dev/null; then
  echo "[test] apt-get install docker-compose" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends docker-compose >&2
fi
export PATH="$venv/bin:$PATH"
# The real vLLM server's environment (tests/llm/test_vllm.py), built once and cached. If it
# cannot be built the rest still runs; that test then fails under CI and skips elsewhere.
# ZHIKU_NO_VLLM=1 leaves it out (a quick local run).
if [ "${ZHIKU_NO_VLLM:-0}" != 1 ]; then
  if vllm_env=$(bash scripts/vllm_env.sh); then
    eval "$vllm_env"
  else
    echo "[test] scripts/vllm_env.sh failed: the vLLM test cannot run" >&2
  fi
fi
ruff check .
ruff format --check .
lint-imports
exec python -m pytest "$@"
