"""The Dockerfile and the locks it installs from, checked statically (no Docker engine here):
its targets, a non-root user and a health check on the readiness route in each image, every
Python package from a hashed lock, and never both onnxruntime packages in one image."""

from __future__ import annotations

import re
import subprocess
import tomllib
from dataclasses import dataclass, field

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from api.routes.health import router as health_router
from tests.support import REPO_ROOT

DOCKERFILE = REPO_ROOT / "Dockerfile"
LOCKS = REPO_ROOT / "requirements"
TARGETS = ("cpu", "cpu-llama", "gpu")
# Which lock each image's virtual environment is built from.
TARGET_LOCK = {"cpu": "cpu.lock", "cpu-llama": "cpu.lock", "gpu": "gpu.lock"}


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)


def stages() -> dict[str, Stage]:
    """The Dockerfile's stages by name, each with its (INSTRUCTION, arguments) in order."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    found: dict[str, Stage] = {}
    current: Stage | None = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, args = line.partition(" ")
        if instruction.upper() == "FROM":
            base, _, name = args.partition(" AS ")
            current = found.setdefault(name.strip(), Stage(name.strip(), base.strip()))
        elif current is not None:
            current.instructions.append((instruction.upper(), args.strip()))
    return found


def chain(target: str) -> list[Stage]:
    """``target`` and the stages it is built on, the base first."""
    all_stages = stages()
    out = [all_stages[target]]
    while out[0].base in all_stages:
        out.insert(0, all_stages[out[0].base])
    return out


def lock_entries(name: str) -> dict[str, tuple[Version, list[str]]]:
    """A lock's packages: canonical name -> (pinned version, hashes)."""
    text = re.sub(r"\\\n", " ", (LOCKS / name).read_text())
    entries = {}
    for line in text.splitlines():
        if not line or line.startswith((" ", "#", "-")):
            continue
        pin, *hashes = line.split("--hash=sha256:")
        requirement = Requirement(pin.strip())
        (spec,) = requirement.specifier
        assert spec.operator == "==", line
        entries[canonicalize_name(requirement.name)] = (
            Version(spec.version),
            [h.strip() for h in hashes],
        )
    return entries


@pytest.mark.parametrize("target", TARGETS)
def test_each_image_runs_as_a_user_with_a_health_check(target: str) -> None:
    instructions = [i for stage in chain(target) for i in stage.instructions]
    users = [args for op, args in instructions if op == "USER"]
    assert users and users[-1] not in ("root", "0"), target
    (check,) = [args for op, args in instructions if op == "HEALTHCHECK"]
    # It asks the readiness route, which exists (the API's health router).
    assert "/health/ready" in check
    assert "/health/ready" in {route.path for route in health_router.routes}  # type: ignore[attr-defined]
    command = [args for op, args in instructions if op == "CMD"][-1]
    assert '"zhiku", "serve"' in command
    # Multi-stage: no compiler in the image, only what the builders made.
    assert not any("g++" in args or "cmake" in args for op, args in instructions if op == "RUN")
    assert any(op == "COPY" and "--from=builder-" in args for op, args in instructions)


@pytest.mark.parametrize("target", TARGETS)
def test_every_python_package_comes_from_the_targets_hashed_lock(target: str) -> None:
    builder = next(
        args.split()[0].removeprefix("--from=")
        for op, args in stages()[target].instructions
        if op == "COPY" and args.endswith("/opt/zhiku /opt/zhiku")
    )
    installs = [args for op, args in stages()[builder].instructions if op == "RUN"]
    assert installs and all("--require-hashes" in cmd for cmd in installs if "pip install" in cmd)
    assert any(f"requirements/{TARGET_LOCK[target]}" in cmd for cmd in installs)
    other = {"cpu.lock", "gpu.lock"} - {TARGET_LOCK[target]}
    assert not any(f"requirements/{name}" in cmd for cmd in installs for name in other)
    if TARGET_LOCK[target] == "cpu.lock":
        # PyTorch's CPU build from PyTorch's own index, named here, not by pip's configuration.
        assert any("--extra-index-url https://download.pytorch.org/whl/cpu" in c for c in installs)


def test_llama_cpp_only_in_the_image_that_answers_with_it() -> None:
    copies = {
        target: [args for stage in chain(target) for op, args in stage.instructions if op == "COPY"]
        for target in TARGETS
    }
    assert any("--from=llama-wheel" in c for c in copies["cpu-llama"])
    assert not any("--from=llama-wheel" in c for t in ("cpu", "gpu") for c in copies[t])
    for name in ("cpu.lock", "gpu.lock"):
        assert "llama-cpp-python" not in lock_entries(name)
    assert "llama-cpp-python" in lock_entries("llama.lock")
    # The lock_entry helper the llama stage uses hands pip exactly that package, with hashes.
    entry = subprocess.run(
        ["sh", str(LOCKS / "lock_entry.sh"), "llama-cpp-python", str(LOCKS / "llama.lock")],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert entry.startswith("llama-cpp-python==") and "--hash=sha256:" in entry
    assert len([line for line in entry.splitlines() if not line.startswith(" ")]) == 1


def test_never_both_onnxruntime_packages_in_one_image() -> None:
    cpu, gpu = lock_entries("cpu.lock"), lock_entries("gpu.lock")
    assert "onnxruntime" in cpu and "onnxruntime-gpu" not in cpu
    assert "onnxruntime-gpu" in gpu and "onnxruntime" not in gpu
    # The CUDA libraries onnxruntime-gpu loads are those torch's CUDA build brings (one set).
    assert any(name.startswith("nvidia-cudnn") for name in gpu)
    # And no extra of the package puts onnxruntime-gpu beside the base onnxruntime.
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    for extra, requirements in project["optional-dependencies"].items():
        names = {canonicalize_name(Requirement(r).name) for r in requirements}
        assert "onnxruntime-gpu" not in names, extra


def test_torch_builds_are_the_pinned_version() -> None:
    pinned = next(
        line.split("==")[1].strip()
        for line in (REPO_ROOT / "constraints.txt").read_text().splitlines()
        if line.startswith("torch==")
    )
    cpu_torch = lock_entries("cpu.lock")["torch"][0]
    assert str(cpu_torch) == f"{pinned}+cpu"  # PyTorch's CPU build, not PyPI's CUDA one
    assert str(lock_entries("gpu.lock")["torch"][0]) == pinned  # PyPI's: the CUDA build
    assert "torchvision" not in lock_entries("cpu.lock")  # CUDA-only on PyPI; breaks CPU torch


@pytest.mark.parametrize("name", ["cpu.lock", "gpu.lock", "llama.lock", "dev.lock"])
def test_locks_are_hashed_and_current_with_pyproject(name: str) -> None:
    """Every entry has hashes, and every dependency pyproject declares is in the lock at a
    version it allows: a changed pyproject without a new lock (scripts/lock.sh) fails here."""
    entries = lock_entries(name)
    assert entries and all(hashes for _, hashes in entries.values())
    if name == "llama.lock":
        return
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    declared = [*project["dependencies"]]
    # The production extras scripts/lock.sh includes in the images' locks; every extra in the
    # development lock scripts/install.sh installs.
    extras = project["optional-dependencies"] if name == "dev.lock" else ("s3", "otel")
    for extra in extras:
        declared += project["optional-dependencies"].get(extra, [])
    replaced = {"onnxruntime"} if name == "gpu.lock" else set()
    if name != "dev.lock":  # the images' locks leave llama.cpp to llama.lock
        replaced.add("llama-cpp-python")
    for text in declared:
        requirement = Requirement(text)
        package = canonicalize_name(requirement.name)
        if package in replaced:
            continue
        assert package in entries, f"{name} lacks {package}: run scripts/lock.sh"
        version = entries[package][0]
        assert requirement.specifier.contains(version, prereleases=True), (name, text, version)


def test_development_lock_has_the_images_versions() -> None:
    """scripts/install.sh's lock (the tests' environment) holds what the CPU images install at
    the same versions and hashes, so the tests run what ships; no CUDA-only torchvision."""
    dev = lock_entries("dev.lock")
    for name in ("cpu.lock", "llama.lock"):
        for package, entry in lock_entries(name).items():
            assert dev.get(package) == entry, (name, package)
    assert "torchvision" not in dev
    assert "pip" in dev  # install.sh upgrades the venv's pip from this entry


def test_install_script_installs_from_the_development_lock_with_hashes() -> None:
    text = re.sub(r"\\\n", " ", (REPO_ROOT / "scripts" / "install.sh").read_text())
    installs = [line for line in text.splitlines() if '/bin/pip" install' in line]
    builds = [line for line in text.splitlines() if '/bin/pip" wheel' in line]
    assert installs and builds and "lock=requirements/dev.lock" in text
    assert all("--require-hashes" in line for line in builds)  # llama.cpp's sdist
    # Every install from a requirements file checks hashes; the others install without
    # dependencies (the project itself, the llama.cpp wheel built from the lock's sdist).
    assert all("--require-hashes" in line for line in installs if " -r " in line)
    assert all("--no-deps" in line for line in installs)
    assert "constraints.txt" not in text


def test_qdrant_client_supports_the_per_tenant_idf_the_server_backend_uses() -> None:
    from qdrant_client.http import models

    assert hasattr(models, "IdfCorpusParams")  # the installed client
    for name in ("cpu.lock", "gpu.lock"):
        assert lock_entries(name)["qdrant-client"][0] >= Version("1.19")


def test_what_the_dockerfile_copies_exists_and_is_in_the_build_context() -> None:
    ignored = {
        line.strip()
        for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert ".env" in ignored  # secrets never reach the builder
    packages = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    copied: set[str] = set()
    for stage in stages().values():
        for op, args in stage.instructions:
            if op == "COPY" and not args.startswith("--from="):
                *sources, _ = args.split()
                for source in sources:
                    assert (REPO_ROOT / source).exists(), source
                    assert source.split("/")[0] not in ignored, source
                    copied.add(source)
    # Every package the wheel is built from is copied into the project stage.
    wanted = {p.rstrip("*") for p in packages["packages"]["find"]["include"]}
    assert wanted <= copied
