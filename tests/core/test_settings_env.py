"""A ``ZHIKU_*`` variable that sets nothing stops the settings from loading (a typo is an
error), and every ``ZHIKU_*`` name the repository uses is a setting or a listed knob."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from core.settings import Settings
from core.settings_env import NOT_SETTINGS, is_setting, unknown_variables
from tests.support import REPO_ROOT


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No ZHIKU_* variable of the caller's, and no .env file of the checkout's."""
    import os

    for name in [n for n in os.environ if n.upper().startswith("ZHIKU_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ZHIKU_ENVIRONMENT", "test")
    return monkeypatch


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("ZHIKU_QDRANT_URL", "ZHIKU_QDRANT__URL"),  # one underscore for two
        ("ZHIKU_EMBEDDING__BACKNED", "ZHIKU_EMBEDDING__BACKEND"),  # a misspelt field
        ("ZHIKU_WORKER__PARSE__MAX_MEMORY_MB", "ZHIKU_WORKER__PARSE__MAX_MEMORY_MIB"),
        ("ZHIKU_REDIS_URL__HOST", None),  # below a plain field
        ("zhiku_secret_keys", None),  # the settings read names case-insensitively
    ],
)
def test_an_unknown_variable_stops_the_settings(
    clean_env: pytest.MonkeyPatch, name: str, expected: str | None
) -> None:
    clean_env.setenv(name, "1")
    with pytest.raises(ValueError, match="unknown setting") as raised:
        Settings()
    message = str(raised.value)
    assert name in message and "ZHIKU_QDRANT__URL" in message  # how nesting is written
    if expected:
        assert f"did you mean {expected}?" in message
    assert "1" not in message.replace(name, "")  # names only, never values


def test_real_settings_nested_dict_keys_and_knobs_load(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("ZHIKU_QDRANT__URL", "http://qdrant:6333")
    clean_env.setenv("zhiku_embedding__batch_size", "8")  # any case
    clean_env.setenv("ZHIKU_WORKER__PARSE__MAX_MEMORY_MIB", "512")  # two levels down
    clean_env.setenv("ZHIKU_LLM__PROMPT_VERSIONS__ANSWER", "v1")  # a key of a dict setting
    clean_env.setenv("ZHIKU_TEST_REDIS", "redis://127.0.0.1:6379/3")  # a test knob
    clean_env.setenv("ZHIKU_API_KEY", "zk_x")  # the CLI's --api-key
    clean_env.setenv("ZHIKUX", "not ours")  # another prefix altogether
    settings = Settings()
    assert settings.qdrant.url == "http://qdrant:6333" and settings.embedding.batch_size == 8
    assert settings.worker.parse.max_memory_mib == 512
    assert settings.llm.prompt_versions == {"answer": "v1"}


def test_a_typo_in_the_env_file_is_refused_too(clean_env: pytest.MonkeyPatch) -> None:
    Path(".env").write_text("POSTGRES_PASSWORD=not-ours\nZHIKU_DATABASE__URLL=sqlite://\n")
    with pytest.raises(ValueError, match="ZHIKU_DATABASE__URLL"):
        Settings()
    Path(".env").write_text("POSTGRES_PASSWORD=not-ours\nZHIKU_DATABASE__POOL_SIZE=3\n")
    assert Settings().database.pool_size == 3


def test_the_command_line_stops_with_the_message(tmp_path: Path) -> None:
    """How an operator meets it: ``zhiku`` exits non-zero naming the variable."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "ZHIKU_ENVIRONMENT": "test"}
    env["ZHIKU_DATA_DIR"] = str(tmp_path)
    env["ZHIKU_QDRANT_URL"] = "http://qdrant:6333"
    result = subprocess.run(
        [sys.executable, "-m", "zhiku.cli", "db", "upgrade"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "unknown setting in the environment: ZHIKU_QDRANT_URL" in result.stderr
    assert "did you mean ZHIKU_QDRANT__URL?" in result.stderr


def test_is_setting_walks_sections_and_dicts() -> None:
    assert is_setting("LLM__LOCAL__N_CTX", Settings)
    assert is_setting("LLM__ROUTES__ANSWER", Settings)
    assert not is_setting("LLM__ROUTES__", Settings)  # an empty key
    assert is_setting("LLM", Settings)  # a whole section, as JSON
    assert not is_setting("LLM__LOCAL__N_CTX__X", Settings)
    assert unknown_variables(["PATH", "ZHIKU_NO_APT", "ZHIKU_NOPE"], Settings) == ["ZHIKU_NOPE"]


# Text files where ZHIKU_* names are written down for people or programs to set.
SCANNED = {".py", ".sh", ".md", ".toml", ".yaml", ".yml", ".example", ".ini", ".cfg", ""}
# Names in the repository that are no environment variable: the widget script's text slots
# (api/web/widget.py fills them), a postMessage origin in a comment, a help metavar, and
# the README's "ZHIKU_LIMITS__…"-style families (a prefix followed by an ellipsis).
NOT_VARIABLES = {"ZHIKU_CSS", "ZHIKU_WORDS", "ZHIKU_ORIGIN", "ZHIKU_X"}
# Files that misspell names on purpose (this one, and the check's own docstring).
TYPO_EXAMPLES = {"tests/core/test_settings_env.py", "core/settings_env.py"}


def _repository_names() -> dict[str, str]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    found: dict[str, str] = {}
    for relative in listed:
        path = REPO_ROOT / relative
        if path.suffix not in SCANNED or not path.is_file() or relative in TYPO_EXAMPLES:
            continue
        text = path.read_text(errors="replace")
        for match in re.finditer(r"\bZHIKU_[A-Z0-9_]*[A-Z0-9]\b(?![_…*])", text):
            found.setdefault(match.group(0), relative)
    return found


def test_every_zhiku_name_in_the_repository_is_a_setting_or_a_listed_knob() -> None:
    names = _repository_names()
    assert "ZHIKU_QDRANT__URL" in names and "ZHIKU_TEST_REDIS" in names  # the scan works
    unknown = {
        name: where
        for name, where in names.items()
        if name not in NOT_VARIABLES and unknown_variables([name], Settings)
    }
    assert unknown == {}, "add the setting, or list the knob in core.settings_env.NOT_SETTINGS"
    # And the allow-list holds no stale name: each is still used somewhere.
    assert names.keys() >= NOT_SETTINGS
