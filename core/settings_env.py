"""``ZHIKU_*`` variables checked against the settings: a misspelt name is an error at start-up,
not a setting silently left at its default (``ZHIKU_QDRANT_URL`` for ``ZHIKU_QDRANT__URL``
would otherwise run the embedded store beside an idle server).

Called by :class:`core.settings.Settings` each time it reads the environment. The error is
the operator's (a process that refuses to start), not a caller's: plain English, like the
other settings errors.
"""

from __future__ import annotations

import difflib
import os
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path

from pydantic import BaseModel

PREFIX = "ZHIKU_"
DELIMITER = "__"

# ``ZHIKU_*`` names that are read by something other than the settings, so they are no typo.
# The one place to list them: a new knob outside Settings is added here
# (tests/core/test_settings_env.py checks every ``ZHIKU_*`` name the repository writes).
NOT_SETTINGS = frozenset(
    {
        # Command-line options' environment defaults (zhiku/cli.py: ingest --url, reindex).
        "ZHIKU_API_KEY",
        "ZHIKU_URL",
        # scripts/install.sh and scripts/vllm_env.sh: where and what to install.
        "ZHIKU_VENV",
        "ZHIKU_NO_APT",
        "ZHIKU_NO_MODEL",
        "ZHIKU_CACHE_DIR",
        # The test suite's and benchmarks' knobs (tests/support.py, tests/llm/vllm_server.py,
        # scripts/test.sh, bench/common.py, tests/web/browser.py).
        "ZHIKU_TEST_REDIS",
        "ZHIKU_TEST_PG",
        "ZHIKU_TEST_LLM_MODEL",
        "ZHIKU_TEST_EMBEDDING_MODEL",
        "ZHIKU_NO_VLLM",
        "ZHIKU_VLLM_PYTHON",
        "ZHIKU_VLLM_MODEL",
        "ZHIKU_VLLM_SERVED_NAME",
        "ZHIKU_SHARED_DATA",
        "ZHIKU_PERMISSION_EXAMPLES",
        "ZHIKU_SCHEMATHESIS_EXAMPLES",
        "ZHIKU_CHROMIUM",
    }
)


class UnknownSettings(ValueError):
    """``ZHIKU_*`` variables that set nothing (the message names them)."""


def _unwrap(annotation: object) -> object:
    """``X | None``, ``Optional[X]`` and ``Annotated[X, ...]`` as ``X``."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return _unwrap(args[0])
    return annotation


def _is_mapping(annotation: object) -> bool:
    origin = typing.get_origin(annotation) or annotation
    return isinstance(origin, type) and issubclass(origin, Mapping)


def is_setting(name: str, model: type[BaseModel]) -> bool:
    """Whether ``ZHIKU_<name>`` (without the prefix) sets a field of ``model``: a field, a
    nested section's field (``EMBEDDING__BACKEND``) or a key of a dict field
    (``LLM__PROMPT_VERSIONS__ANSWER``). Case-insensitive, as the settings read it."""
    parts = name.lower().split(DELIMITER)
    current: type[BaseModel] = model
    for depth, part in enumerate(parts):
        field = current.model_fields.get(part)
        if field is None:
            return False
        rest = parts[depth + 1 :]
        if not rest:
            return True
        annotation = _unwrap(field.annotation)
        if _is_mapping(annotation):
            return all(rest)  # any key, but not an empty one (``__`` at the end)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return False
        current = annotation
    return False


def unknown_variables(names: Iterable[str], model: type[BaseModel]) -> list[str]:
    """The ``ZHIKU_*`` names among ``names`` that are neither a setting nor a known knob."""
    return sorted(
        name
        for name in set(names)
        if name.upper().startswith(PREFIX)
        and name.upper() not in NOT_SETTINGS
        and not is_setting(name[len(PREFIX) :], model)
    )


def _dotenv_names(env_file: object) -> list[str]:
    """The names the ``.env`` file(s) set (the settings read them too), where they exist."""
    if isinstance(env_file, list | tuple):
        return [name for one in env_file for name in _dotenv_names(one)]
    if not isinstance(env_file, str | Path) or not Path(env_file).is_file():
        return []
    from dotenv import dotenv_values  # pydantic-settings' own dependency

    return list(dotenv_values(env_file))


def _suggestion(name: str, model: type[BaseModel]) -> str:
    known = [PREFIX + path.upper() for path in setting_names(model)]
    close = difflib.get_close_matches(name.upper(), known, n=1, cutoff=0.75)
    return f" (did you mean {close[0]}?)" if close else ""


def setting_names(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every settable name below ``model``, lower case, nested with ``__`` (no dict keys)."""
    names: list[str] = []
    for field_name, field in model.model_fields.items():
        annotation = _unwrap(field.annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names += setting_names(annotation, f"{prefix}{field_name}{DELIMITER}")
        else:
            names.append(prefix + field_name)
    return names


def refuse_unknown_variables(
    model: type[BaseModel],
    environ: Mapping[str, str] | None = None,
    env_file: object = None,
) -> None:
    """Raise :class:`UnknownSettings` naming every ``ZHIKU_*`` variable (in ``environ``, default the
    process environment, and in ``env_file``) that sets nothing."""
    names = [*(os.environ if environ is None else environ), *_dotenv_names(env_file)]
    unknown = unknown_variables(names, model)
    if unknown:
        listed = "; ".join(name + _suggestion(name, model) for name in unknown)
        raise UnknownSettings(
            f"unknown setting{'s' if len(unknown) > 1 else ''} in the environment: {listed}."
            " Nested settings use a double underscore (ZHIKU_QDRANT__URL); the list of"
            " settings is core/settings.py. A variable for something else must not start"
            " with ZHIKU_ (or is added to core.settings_env.NOT_SETTINGS)."
        )
