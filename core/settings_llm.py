"""The answering models (``Settings.llm``): configured backends, the embedded llama.cpp server,
and the caps on answers generated at once."""

from __future__ import annotations

from pydantic import BaseModel, Field


class LlmBackendSettings(BaseModel):
    """One OpenAI-compatible server (vLLM, llama.cpp, a hosted API)."""

    name: str
    base_url: str  # up to and including ``/v1``
    model: str
    api_key: str = ""
    connect_timeout_s: float = 3.0
    # Longest wait for the first token (streaming) or the whole answer (not streaming), and
    # between two chunks: a slower backend counts as down and the next one is tried.
    read_timeout_s: float = 60.0
    # Retries on the same backend after a transient error, before the next backend is tried.
    max_retries: int = 1
    retry_backoff_s: float = 0.25
    max_tokens: int = 512
    # Answers this backend generates at once (vLLM batches dozens; its --max-num-seqs is
    # 256 by default, but each one slows the others): beyond it plus the answers queue
    # (``answers.queue_per_slot``), an answer is refused with 429 rather than left waiting.
    max_concurrent: int = Field(default=64, ge=1)


class LocalLlmSettings(BaseModel):
    """The embedded llama.cpp server, started when no backend is configured."""

    enabled: bool = True
    # A packaged model's name (llm/packaged_models.py) or a path to a GGUF file.
    model: str = "qwen2.5-coder-1.5b-instruct"
    n_ctx: int = 4096
    # One thread leaves a core to the API and ingestion (figures in llm/local_server.py).
    n_threads: int = 1
    startup_timeout_s: float = 180.0
    # Generous: a CPU needs ~1 min for a 2,500-token prompt, and requests queue one at a time.
    read_timeout_s: float = 300.0
    # Time to first token (issue 12; figures in docs/benchmarks.md): on 2 cores almost all of
    # it is prompt processing. Threads for the prompt only (None: ``n_threads``; never more
    # than the machine's cores); generation keeps ``n_threads``. Two measured 30 prompt
    # tokens/s against 22 for one on an idle 2-core machine (the prompt holds both cores
    # for its ~10 s; under heavy load one thread was faster: 5.2 against 4.3).
    n_threads_batch: int | None = 2
    # Evaluate the answer prompt's fixed start (rules, examples) once at start, so the first
    # question finds it cached as every later one does, and measure the prompt speed there.
    warm_up: bool = True
    # Passages are budgeted to reach the first token in about this many seconds of prompt
    # processing at the speed measured at warm-up (0: ``retrieval.context_tokens`` always);
    # measured through /v1/chat in one run: TTFT p50 0.20x the fixed budget's, accuracy not lower;
    # never below ``min_context_tokens`` nor above ``retrieval.context_tokens``. The floor is
    # less than a whole 256-token chunk: a passage cut to fit keeps the sentences that share
    # most terms with the question (``retrieval.context``), so a slow CPU reads those alone.
    first_token_target_s: float = 8.0
    min_context_tokens: int = 180
    # Longest answer in tokens: on a CPU each costs ~50 ms of generation while later
    # questions queue behind it (one answer at a time), so a deployment may cut it.
    max_tokens: int = Field(default=512, ge=16, le=4096)


class AnswerLimits(BaseModel):
    """Answers generated at once (each holds a model slot for up to minutes on a CPU), and the
    history a client may send to /v1/chat/completions. Over a cap: 429 with Retry-After."""

    per_tenant: int = 4
    per_user: int = 2
    # Per API key (a caller without a key, e.g. a web session, has only the user cap): lower
    # it so one integration's key cannot take every slot of the user it runs as.
    per_key: int = 2
    # Answers that may wait for the answer backend beside those it generates, per slot of it
    # (``max_concurrent``; 1 for the embedded llama.cpp server): enough that the model never
    # idles between two answers; one more is refused at once (429) instead of queueing for
    # minutes (issue 14: 50-65 s to the first token at 4 clients on the embedded model).
    queue_per_slot: int = Field(default=1, ge=0)
    # Retry-After of a refusal before any answer has been timed; after, estimated from the
    # recent answers' durations (services.answer_limits).
    retry_after_s: int = 10
    max_history_messages: int = 50
    max_history_chars: int = 32_000
    # Tokens of earlier turns the question rewriter reads (the newest, cut to fit): with the
    # rewrite prompt this stays well inside the embedded model's 4,096-token context.
    history_tokens: int = 1024


class LlmSettings(BaseModel):
    # JSON in the environment:
    # ZHIKU_LLM__BACKENDS='[{"name": "vllm", "base_url": "http://…/v1", "model": "…"}]'
    backends: list[LlmBackendSettings] = []
    # Role ("answer", "rewrite") -> backend names in order of preference; a role not listed
    # uses every backend in the order above.
    routes: dict[str, list[str]] = {}
    # Prompt name -> version ("v1"); a prompt not listed uses its default version
    # (llm.prompts.DEFAULT_VERSIONS, else its latest).
    prompt_versions: dict[str, str] = {}
    local: LocalLlmSettings = LocalLlmSettings()
    answers: AnswerLimits = AnswerLimits()
