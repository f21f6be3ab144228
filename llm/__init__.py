"""Answer generation: every model is reached through an OpenAI-compatible server.

- ``routing.LlmRouter``: roles (``answer``, ``rewrite``) -> backends in order, with failover.
- ``client.LlmClient``: one backend on ``openai.AsyncOpenAI``; timeouts, retries, errors.
- ``local_server.LlamaCppServer``: the embedded llama.cpp server (no backend configured).
- ``packaged_models``: GGUF models that ship as PyPI packages, fetched and hash-checked.
- ``prompts``: versioned prompt files; ``citations``: citation repair and "don't know".
"""
