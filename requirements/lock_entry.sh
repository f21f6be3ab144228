#!/bin/sh
# One package's entry (its pin, hashes and comments) out of a hashed lock, or, with --without,
# the lock minus that entry: the Dockerfile installs single entries with --require-hashes.
#   lock_entry.sh NAME LOCK            lock_entry.sh --without NAME LOCK
set -eu
keep=1
if [ "$1" = --without ]; then keep=0; shift; fi
awk -v pin="$1==" -v keep="$keep" '
  index($0, pin) == 1 { inside = 1 }
  inside && index($0, pin) != 1 && !/^[ \t]/ { inside = 0 }
  (inside && keep) || (!inside && !keep) { print }
' "$2"
