#!/usr/bin/env bash
# Refresh the third-party browser files the portal serves itself (pages load nothing from a
# CDN): installs web/package-lock.json's exact versions with npm and copies their built files
# into the repository. Run after changing web/package.json; commit the lock file and the copies.
set -euo pipefail
cd "$(dirname "$0")/../web"
npm ci --no-audit --no-fund >&2
static=../api/web/static/vendor
mkdir -p "$static" ../tests/web/vendor
cp node_modules/htmx.org/dist/htmx.min.js "$static/htmx.min.js"
cp node_modules/markdown-it/dist/markdown-it.min.js "$static/markdown-it.min.js"
# axe-core runs only inside the browser tests (accessibility checks), never on a served page.
cp node_modules/axe-core/axe.min.js ../tests/web/vendor/axe.min.js
for pkg in htmx.org markdown-it axe-core; do
  printf '%s %s\n' "$pkg" "$(node -p "require('./node_modules/$pkg/package.json').version")"
done > "$static/VERSIONS"
cat "$static/VERSIONS" >&2
