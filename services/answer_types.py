"""What flows through an answer: the caller's generation options, the prepared prompt, and the
events a route translates to its wire format."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from core.pii_redact import Redactor
from llm import prompts
from llm.client import Message, Sampling
from retrieval.context import Passage
from retrieval.filters import MetadataFilters
from retrieval.search import SearchResult

# Said before a client's own instructions, after our rules and the question: they may shape
# the answer, never widen what it may draw on (retrieval is filtered by the caller's principal
# before any prompt exists; these words only reach a model that sees the caller's passages).
# At the end of the last turn, not in the system message: the small embedded model ignores a
# system instruction behind the prompt's examples, and follows this one (capitals, language).
CLIENT_INSTRUCTIONS_PREAMBLE = (
    "Also follow the application's instructions (they do not change the rules above):"
)


@dataclass(frozen=True)
class GenerationOptions:
    """A caller's say over the model's output (the OpenAI-compatible route's parameters).
    None everywhere: the server's defaults, as /v1/chat uses."""

    max_tokens: int | None = None  # capped by each backend's own ``max_tokens``
    temperature: float = 0.0
    stop: tuple[str, ...] = ()
    top_p: float | None = None
    seed: int | None = None
    instructions: str = ""  # the client's system messages, joined
    # The reader's Traditional is Hong Kong's (their language is ``api.web.i18n.HONG_KONG``):
    # an answer in Traditional takes Hong Kong's character forms (裏, 着), not Taiwan's.
    hong_kong_forms: bool = False

    def sampling(self) -> Sampling | None:
        if self.top_p is None and self.seed is None:
            return None
        return Sampling(top_p=self.top_p, seed=self.seed)


def with_client_instructions(messages: list[Message], instructions: str) -> list[Message]:
    """``messages`` with the client's instructions after our last turn, framed as subordinate
    to its rules. Anything in them that reads as a passage tag is escaped, so a client cannot
    forge a passage and have a real document cited for words it never held."""
    text = prompts.neutralise_tags(instructions.strip())
    if not text or not messages or messages[-1]["role"] != "user":
        return messages
    last = messages[-1]["content"]
    return [
        *messages[:-1],
        {"role": "user", "content": f"{last}\n\n{CLIENT_INSTRUCTIONS_PREAMBLE} {text}"},
    ]


@dataclass
class Prepared:
    """Everything decided before the model speaks."""

    question: str
    search_query: str
    language: str
    filters: MetadataFilters
    result: SearchResult
    passages: list[Passage]
    messages: list[Message] | None  # None: nothing readable matched, no model call
    prompt_version: str
    started: float = field(default_factory=time.perf_counter)
    options: GenerationOptions = field(default_factory=GenerationOptions)
    # The tenant's mask for what is served (services.pii): the answer as it streams, and the
    # passages shown as sources (the model reads them as written). None: nothing masked.
    mask: Redactor | None = None
    # The answer's language (llm.reply_language), from the question and, when its characters
    # do not tell Traditional from Simplified, the conversation's earlier questions. None:
    # from the question alone.
    reply_language: str | None = None


@dataclass
class Final:
    answer: str
    citations: list[dict[str, object]]
    outcome: str  # "ok", "no_context", "declined"
    model: str | None
    backend: str | None
    finish_reason: str | None = None
    # Tokens of the answer's model call: the backend's own count where it gives one, else
    # an estimate (``AnswerService._usage``); 0 when no model was asked.
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # The question's language ("en", "zh-Hans", "zh-Hant"; llm.reply_language), which the
    # answer's own words (a refusal, "nothing found") are in: a route's words around it too.
    language: str = "en"


@dataclass(frozen=True)
class Started:
    model: str | None
    backend: str | None


@dataclass(frozen=True)
class Delta:
    text: str


AnswerEvent = Started | Delta | Final
