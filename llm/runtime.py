"""The answering models of this process: the configured backends, or the embedded llama.cpp
server, started in the background so the API is up (and ingesting) while the model loads.

The embedded server is warmed up before it answers (issue 12: the first token on a CPU is
almost all prompt processing): the answer prompt's fixed start (rules and examples, ~400
tokens) is evaluated once, so the first question finds it cached as every later one does, and
a second prompt with the same start measures how fast the server evaluates new prompt tokens.
:meth:`AnswerModels.prompt_speed` keeps that speed current from the server's own timings of
each answer; the answer service sizes the passages to it (``retrieval.context.timed_budget``).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import Component, Outage, UpstreamUnavailable
from core.settings import Settings
from llm import prompts
from llm.backend_probe import BackendProbe, answer_backends
from llm.local_server import LlamaCppServer, PromptEval
from llm.routing import LlmRouter

log = logging.getLogger(__name__)

# The router's name of the embedded llama.cpp server.
LOCAL_BACKEND = "local"


def local_server_pid_file(settings: Settings) -> Path:
    """Where this data folder's llama.cpp child is recorded: a restart after a crash finds it
    there and ends it, instead of starting a second multi-GB model beside it."""
    return settings.data_dir / "run" / "llama-server.pid"


# What the warm-up measures the prompt speed on: passages of the ordinary kind after the
# fixed start (which the first warm-up prompt has left in the cache), in both languages.
_MEASURE_PASSAGES = (
    "Travel policy\nEmployees may book hotels up to EUR 180 per night in capital cities and EUR "
    "130 per night elsewhere; breakfast is included. Economy class is booked for flights under "
    "six hours, premium economy for longer ones. Claims are submitted with receipts within 30 "
    "days of the end of the trip; late claims need the finance director's approval.",
    "员工手册\n员工入职满一年后享有15天带薪年假，未休年假可顺延至次年3月31日。连续病假超过2天的，"
    "须提供二级以上医院出具的病假证明。工作日加班按1.5倍工资支付，休息日加班优先安排调休。"
    "新员工试用期为6个月，试用期工资不低于正式工资的80%。",
)
# Texts whose length in the model's tokens, against the answer service's own counter, turns a
# budget in the model's tokens into the counter's (a Chinese character is about one token of
# a BERT vocabulary, two thirds of one of Qwen's).
CALIBRATION_TEXTS = {"en": _MEASURE_PASSAGES[0], "zh": _MEASURE_PASSAGES[1]}
# A prompt timing over fewer tokens than this says more about overheads than about speed.
MIN_MEASURED_TOKENS = 48
# Weight of the newest timing in the running speed: a loaded machine shows within a few
# answers, one slow answer does not halve the next one's passages.
SPEED_SMOOTHING = 0.3


@dataclass(frozen=True)
class BackendCapacity:
    """The backend that answers (the answer role's first; the others serve only when it
    fails) and how many answers it generates at once. ``key`` names its count among the
    slots: a configured backend's name, shared by every API process that uses it; the
    embedded server's is this host and process's, as each process starts its own child."""

    backend: str
    key: str
    slots: int


@dataclass(frozen=True)
class PromptSpeed:
    """The embedded model's measured prompt speed and what the passages may cost at it."""

    tokens_per_s: float
    target_s: float
    floor_tokens: int
    # Language -> the model's tokens of ``CALIBRATION_TEXTS[language]``.
    calibration: dict[str, int] = field(default_factory=dict)

    def counter_per_model_token(self, language: str, count_tokens: Callable[[str], int]) -> float:
        """Tokens of ``count_tokens`` per model token for text in ``language`` (1.0 unknown)."""
        model_tokens = self.calibration.get(language) or self.calibration.get("en")
        text = CALIBRATION_TEXTS.get(language, CALIBRATION_TEXTS["en"])
        return count_tokens(text) / model_tokens if model_tokens else 1.0


class AnswerModels:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._router: LlmRouter | None = None
        self._local: LlamaCppServer | None = None
        self._speed: PromptSpeed | None = None
        self._speed_lock = threading.Lock()
        self._status = "starting"
        self._thread: threading.Thread | None = None
        # Configured backends: readiness asks them (a vLLM server may still be loading).
        self._probe: BackendProbe | None = None
        if settings.llm.backends:
            self._router = LlmRouter.from_settings(settings.llm)
            self._status = "ok"
            self._probe = BackendProbe(answer_backends(settings.llm))
        elif not settings.llm.local.enabled:
            self._status = "not configured"

    @property
    def status(self) -> str:
        """ "ok", "starting", "not configured" or "unavailable: <why>"."""
        return self._status

    def readiness(self) -> str:
        """:attr:`status`, where backends are configured whether one answers now: "ok" or
        "unavailable: <why>" (probed at most every few seconds)."""
        if self._probe is not None and self._status == "ok":
            return self._probe.state()
        return self._status

    def start(self) -> None:
        """Start the embedded server if this process needs one (no backend configured)."""
        if self._router is not None or self._status != "starting" or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._start_local, name="zhiku-llm", daemon=True)
        self._thread.start()

    def _start_local(self) -> None:
        local = self._settings.llm.local
        try:
            server = LlamaCppServer.from_settings(
                local,
                self._settings.model_cache_path,
                pid_file=local_server_pid_file(self._settings),
            )
            self._local = server.start()
            if local.warm_up:
                self._speed = warm_up(server, self._settings)
            backend = server.backend_settings(
                name=LOCAL_BACKEND, read_timeout_s=local.read_timeout_s, max_tokens=local.max_tokens
            )
            self._router = LlmRouter.from_settings(self._settings.llm, [backend])
            self._status = "ok"
            log.info("answer model %s ready at %s", server.model, server.base_url)
        except Exception as exc:
            log.exception("the embedded answer model could not be started")
            self._status = f"unavailable: {exc}"[:300]

    def prompt_speed(self) -> PromptSpeed | None:
        """The embedded model's prompt speed, updated from its timings of the answers since the
        last call; None where passages keep their fixed budget (a configured backend, no
        warm-up, no target, no timing)."""
        local = self._local
        if local is None or self._speed is None:
            return None
        with self._speed_lock:
            speed = self._speed.tokens_per_s
            for timing in local.new_prompt_evals():
                speed = smoothed_speed(speed, timing)
            self._speed = PromptSpeed(
                speed, self._speed.target_s, self._speed.floor_tokens, self._speed.calibration
            )
            return self._speed

    def answer_capacity(self) -> BackendCapacity | None:
        """The answering backend and its capacity; None while no backend is up (the answer
        then fails with the router's 503 anyway)."""
        router = self._router
        if router is None:
            return None
        first = router.backends_for("answer")[0]
        key = first.name
        if self._local is not None and first.name == LOCAL_BACKEND:
            key = f"{LOCAL_BACKEND}@{socket.gethostname()}:{os.getpid()}"
        return BackendCapacity(first.name, key, first.settings.max_concurrent)

    def router(self) -> LlmRouter:
        if self._router is not None:
            return self._router
        if self._status == "starting":
            raise UpstreamUnavailable(
                "the answer model is still starting",
                component=Component.ANSWER_MODEL,
                outage=Outage.STARTING,
            )
        if self._status == "not configured":
            raise UpstreamUnavailable(
                "no answer model is configured: set ZHIKU_LLM__BACKENDS or enable the local one",
                component=Component.ANSWER_MODEL,
                outage=Outage.NOT_CONFIGURED,
            )
        raise UpstreamUnavailable(
            f"the answer model is {self._status}", component=Component.ANSWER_MODEL
        )

    async def aclose(self) -> None:
        router, self._router = self._router, None
        if router is not None:
            await router.aclose()
        if self._local is not None:
            self._local.stop()
            self._local = None


def smoothed_speed(speed: float, timing: PromptEval) -> float:
    """``speed`` moved towards ``timing``'s (timings over few tokens are ignored)."""
    if timing.evaluated_tokens < MIN_MEASURED_TOKENS or timing.seconds <= 0:
        return speed
    return (1 - SPEED_SMOOTHING) * speed + SPEED_SMOOTHING * timing.tokens_per_s


def warm_up(server: LlamaCppServer, settings: Settings) -> PromptSpeed | None:
    """The fixed start of the answer prompt into ``server``'s cache, and its prompt speed
    measured on a second prompt sharing that start: None where it cannot be measured or no
    first-token target is set. A failure costs only the head start, never the answers."""
    version = settings.llm.prompt_versions.get("answer")
    try:
        server.complete(prompts.answer_messages("Warm-up", ["Warm-up."], version=version))
        server.new_prompt_evals()  # the cold start: loading the weights, the fixed start
        server.complete(
            prompts.answer_messages("年假有多少天？", list(_MEASURE_PASSAGES), version=version)
        )
        measured = [
            e for e in server.new_prompt_evals() if e.evaluated_tokens >= MIN_MEASURED_TOKENS
        ]
        calibration = {
            language: server.count_tokens(text) for language, text in CALIBRATION_TEXTS.items()
        }
    except Exception as exc:  # any failure: answer without the head start
        log.warning("warming up the answer model failed: %s", exc)
        return None
    local = settings.llm.local
    if not measured or local.first_token_target_s <= 0:
        return None
    timing = measured[-1]
    log.info(
        "answer model: prompt %.1f tokens/s (%d tokens cached, %d evaluated at warm-up)",
        timing.tokens_per_s, timing.cached_tokens, timing.evaluated_tokens,
    )  # fmt: skip
    return PromptSpeed(
        timing.tokens_per_s, local.first_token_target_s, local.min_context_tokens, calibration
    )
