"""The permission property at nightly size: ``tests/index/contract/scope.py`` (no read of
either vector-store backend ever leaves the caller's tenant and tokens: count, exact search,
hybrid and sparse search, a document's chunks) with 10,000 generated cases, reported as cases,
failures and wall time for ``docs/benchmarks.md``.

    python -m bench.permissions                        # 10,000 cases, embedded engine
    python -m bench.permissions --examples 500 --backend server
    python -m bench.permissions --http 50              # also the HTTP property (slow: each
                                                       # case ingests and answers for real)

It runs the very tests CI runs, through pytest, with ``ZHIKU_PERMISSION_EXAMPLES`` set; CI
runs them with their small defaults.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STORE_TESTS = {
    "embedded": "tests/index/test_store_contract.py::TestEmbeddedStore::"
    "test_no_read_ever_leaves_the_scope",
    "server": "tests/index/test_store_contract.py::TestServerStore::"
    "test_no_read_ever_leaves_the_scope",
}
HTTP_TEST = "tests/api/test_permissions.py::test_no_user_ever_sees_a_document_they_may_not_read"
# Hypothesis' statistics line: "- 10000 passing, 0 failing, and 3 invalid test cases".
_COUNTS = re.compile(r"(\d+) passing, (\d+) failing")


def run_property(test: str, examples: int) -> dict[str, object]:
    env = {**os.environ, "ZHIKU_PERMISSION_EXAMPLES": str(examples)}
    command = [
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
        "--hypothesis-show-statistics", "-o", "addopts=", "--timeout", "0", test,
    ]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    passing = failing = 0
    for found in _COUNTS.finditer(done.stdout):
        passing += int(found.group(1))
        failing += int(found.group(2))
    result = {
        "test": test,
        "requested": examples,
        "cases": passing + failing,
        "failures": failing,
        "pytest_exit": done.returncode,
        "wall_s": round(wall, 1),
    }
    if done.returncode != 0:
        result["output_tail"] = done.stdout[-3000:]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=10_000)
    parser.add_argument("--backend", choices=[*STORE_TESTS, "both"], default="embedded")
    parser.add_argument("--http", type=int, default=0, help="cases of the HTTP property")
    parser.add_argument("--out", type=Path, help="write the figures here as JSON")
    args = parser.parse_args()
    backends = list(STORE_TESTS) if args.backend == "both" else [args.backend]
    results = [run_property(STORE_TESTS[b], args.examples) for b in backends]
    if args.http:
        results.append(run_property(HTTP_TEST, args.http))
    for result in results:
        print(json.dumps(result, ensure_ascii=False))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    sys.exit(0 if all(r["pytest_exit"] == 0 for r in results) else 1)


if __name__ == "__main__":
    main()
