"""OpenAI-compatible clients, prompts and routing (issue 3)."""
