"""Keeps the fast subset (``pytest -m "not slow"``) honest.

No test may skip itself or expect to fail: a skipped test passes silently, and CI runs
everything. The one way to skip is a helper that skips only outside CI and fails under it,
where a user's clone lacks the project's shared data (``tests/support.py: shared_data_dir``)
or the vLLM environment that ``scripts/test.sh`` builds (``tests/llm/vllm_server.py``).
Markers are spelled as declared: a misspelt ``slow`` would only make a test unmarked.
And conftest files hold fixtures (and hooks) only: helpers live in importable modules
(``tests/support.py``, ``tests/*/helpers.py``), never imported from a conftest.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from tests.support import REPO_ROOT

TESTS = REPO_ROOT / "tests"
SKIPPING = {"skip", "skipif", "importorskip", "xfail", "skipTest", "SkipTest"}
# (file, function) pairs allowed to call pytest.skip: each raises instead under CI=true.
ALLOWED = {
    ("tests/support.py", "shared_data_dir"),
    ("tests/llm/vllm_server.py", "vllm_env_or_skip"),
}
# pytest's own markers the tests use, and those declared in pyproject.toml.
MARKERS = {"parametrize", "filterwarnings", "usefixtures", "timeout", "slow"}


def _modules() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(TESTS.rglob("*.py")):
        relative = path.relative_to(REPO_ROOT).as_posix()
        yield relative, ast.parse(path.read_text(encoding="utf-8"), relative)


def _functions(tree: ast.Module) -> dict[ast.AST, str]:
    """Each node's innermost enclosing function name ("" at module or class level)."""
    owner: dict[ast.AST, str] = {}

    def visit(node: ast.AST, name: str) -> None:
        for child in ast.iter_child_nodes(node):
            is_function = isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            inner = child.name if is_function else name
            owner[child] = inner
            visit(child, inner)

    visit(tree, "")
    return owner


def _skips(tree: ast.Module) -> Iterator[tuple[ast.AST, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in SKIPPING:
            yield node, node.attr
        elif isinstance(node, ast.ImportFrom) and node.module in {"pytest", "unittest"}:
            for alias in node.names:
                if alias.name in SKIPPING:
                    yield node, alias.name


def test_no_test_skips_except_through_the_ci_guarded_helpers() -> None:
    found = []
    for relative, tree in _modules():
        owner = _functions(tree)
        for node, name in _skips(tree):
            if (relative, owner.get(node, "")) not in ALLOWED:
                found.append(f"{relative}:{node.lineno}: {name}")
    assert not found, "skips outside the CI-guarded helpers:\n" + "\n".join(found)


def test_every_marker_is_one_pytest_knows() -> None:
    unknown = []
    for relative, tree in _modules():
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Attribute)
                and node.value.attr == "mark"
                and isinstance(node.value.value, ast.Name)
                and node.value.value.id == "pytest"
                and node.attr not in MARKERS
            ):
                unknown.append(f"{relative}:{node.lineno}: pytest.mark.{node.attr}")
    assert not unknown, "unknown markers:\n" + "\n".join(unknown)


def test_conftest_files_hold_only_fixtures_and_hooks() -> None:
    found = []
    for relative, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").endswith("conftest"):
                found.append(f"{relative}:{node.lineno}: imports from {node.module}")
        if not relative.endswith("/conftest.py"):
            continue
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                fixture = any("fixture" in ast.unparse(d) for d in node.decorator_list)
                if not fixture and not node.name.startswith("pytest_"):
                    found.append(f"{relative}:{node.lineno}: def {node.name}")
            elif isinstance(node, ast.ClassDef | ast.Assign | ast.AnnAssign):
                found.append(f"{relative}:{node.lineno}: {ast.unparse(node).splitlines()[0]}")
    assert not found, "move these out of conftest into a helper module:\n" + "\n".join(found)


def test_the_checks_find_what_they_look_for() -> None:
    sample = ast.parse(
        "import pytest\n"
        "@pytest.mark.skipif(True, reason='x')\n"
        "def test_a():\n"
        "    pytest.skip('no')\n"
    )
    assert sorted(name for _, name in _skips(sample)) == ["skip", "skipif"]
    owner = _functions(sample)
    assert {owner[node] for node, name in _skips(sample) if name == "skip"} == {"test_a"}
