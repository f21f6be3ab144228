"""Fixtures for the LLM tests: a backend on the shared llama.cpp server."""

from __future__ import annotations

import pytest

from core.settings_llm import LlmBackendSettings
from llm.local_server import LlamaCppServer


@pytest.fixture
def local_backend(llama_server: LlamaCppServer) -> LlmBackendSettings:
    return llama_server.backend_settings(name="local", read_timeout_s=120.0)
