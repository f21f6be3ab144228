"""Backends for the LLM tests that no server answers (connections refused at once)."""

from __future__ import annotations

import socket

from core.settings_llm import LlmBackendSettings


def closed_port() -> int:
    """A loopback port nothing listens on (connections are refused at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def dead_backend(name: str) -> LlmBackendSettings:
    return LlmBackendSettings(
        name=name,
        base_url=f"http://127.0.0.1:{closed_port()}/v1",
        model="nothing",
        connect_timeout_s=1.0,
        max_retries=1,
        retry_backoff_s=0.05,
    )
