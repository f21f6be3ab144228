"""The request body of the OpenAI-compatible /v1/chat/completions, bounded field by field.

What Zhiku can honour is parsed and turned into :class:`GenerationOptions`; what it cannot
(tools, several choices, JSON modes, log-probabilities, images and audio) is parsed just enough
for :meth:`ChatCompletionRequest.unsupported` to name it, so the route refuses it with an
OpenAI-style 400 instead of quietly answering something else. Parameters the official client
may send that change nothing here (``store``, ``metadata``, penalties, ``service_tier``…) are
accepted and ignored, as OpenAI-compatible servers do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Discriminator, Field, Tag

from services.answer_types import GenerationOptions
from services.schemas.bounds import reject_control_characters
from services.schemas.search import SearchFilters

MODEL = "zhiku"
# Outer bounds of the wire format (the settings' caps are checked after parsing, with a
# clearer message): one message's text, content parts per message, messages per request.
MAX_MESSAGE_CHARS = 32_000
MAX_CONTENT_PARTS = 32
MAX_MESSAGES = 200
# The client's system messages share the model's context with the passages: a few
# paragraphs of style and format, not a second document.
MAX_INSTRUCTIONS_CHARS = 4_000
# OpenAI's own bound on stop sequences.
MAX_STOP_SEQUENCES = 4
MAX_STOP_CHARS = 64
INSTRUCTION_ROLES = ("system", "developer")  # "developer": the newer OpenAI name for system
# OpenAI's roles. Another ("SYSTEM", "bot", "") was accepted and its message silently left
# out of the history and the instructions: refused (400 naming it), as OpenAI refuses it.
# Tool and function results are accepted and skipped, like the tool calls they answer.
Role = Literal["system", "developer", "user", "assistant", "tool", "function"]
# Parts whose text is answered from; a refusal is an earlier assistant turn's, and skipped.
TEXT_PARTS = ("text",)
SKIPPED_PARTS = ("refusal",)

# Every text refuses NUL, other control characters (tab and line breaks aside) and lone
# surrogates, as every other request's does (``services.schemas.bounds``): the question and
# the history reach the audit record (PostgreSQL refuses a NUL, and a surrogate cannot be
# encoded), and a stream that failed there had already answered, and lost its record.
ShortText = Annotated[str, Field(max_length=64), AfterValidator(reject_control_characters)]
MessageText = Annotated[
    str, Field(max_length=MAX_MESSAGE_CHARS), AfterValidator(reject_control_characters)
]
StopSequence = Annotated[
    str,
    Field(min_length=1, max_length=MAX_STOP_CHARS),
    AfterValidator(reject_control_characters),
]


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: ShortText
    text: MessageText | None = None


def _text_or_list(value: object) -> str:
    """Which form a value that is text or a list takes. Validated as that form alone, so an
    error names what is wrong with it, not that it is not the other form."""
    return "list" if isinstance(value, list) else "text"


# A message's content: its text, or a list of parts.
Content = Annotated[
    Annotated[MessageText, Tag("text")]
    | Annotated[list[ContentPart], Field(max_length=MAX_CONTENT_PARTS), Tag("list")],
    Discriminator(_text_or_list),
]
# One stop sequence, or a few.
Stop = Annotated[
    Annotated[StopSequence, Tag("text")]
    | Annotated[list[StopSequence], Field(max_length=MAX_STOP_SEQUENCES), Tag("list")],
    Discriminator(_text_or_list),
]


class OpenAIMessage(BaseModel):
    # Extra OpenAI fields (name, tool_calls…) are accepted and dropped, not kept unbounded.
    model_config = ConfigDict(extra="ignore")
    role: Role
    content: Content | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(p.text or "" for p in self.content if p.type in TEXT_PARTS)
        return self.content or ""


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")
    include_usage: bool = False


class ResponseFormat(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: ShortText


@dataclass(frozen=True)
class Unsupported:
    """A parameter Zhiku cannot honour: ``param`` names it as OpenAI does."""

    param: str
    message: str


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    model: ShortText
    messages: list[OpenAIMessage] = Field(min_length=1, max_length=MAX_MESSAGES)
    stream: bool = False
    stream_options: StreamOptions | None = None
    # max_completion_tokens is OpenAI's current name and wins when both are sent; the
    # answering backend's own max_tokens caps either.
    max_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    # Default 0, not OpenAI's 1: answers from documents should not vary between asks.
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    stop: Stop | None = None
    seed: int | None = Field(default=None, ge=-(2**63), le=2**63 - 1)
    # Accepted, not used.
    user: (
        Annotated[str, Field(max_length=256), AfterValidator(reject_control_characters)] | None
    ) = None
    # Parsed only to be refused (or accepted at their no-op values).
    n: int | None = Field(default=None, ge=1, le=128)
    tools: list[Any] | None = Field(default=None, max_length=128)
    functions: list[Any] | None = Field(default=None, max_length=128)
    tool_choice: Any = None
    function_call: Any = None
    response_format: ResponseFormat | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    audio: Any = None
    modalities: list[ShortText] | None = Field(default=None, max_length=8)
    # Zhiku's extension: narrow the documents searched.
    filters: SearchFilters = Field(default_factory=SearchFilters)

    def unsupported(self) -> Unsupported | None:
        """The first parameter that cannot be honoured, or None."""
        if self.tools:
            return Unsupported("tools", "tools are not supported: Zhiku answers from documents")
        if self.functions:
            return Unsupported("functions", "functions are not supported")
        for param in ("tool_choice", "function_call"):
            if getattr(self, param) not in (None, "none"):
                return Unsupported(param, f"{param} is not supported (only 'none')")
        if self.n is not None and self.n > 1:
            return Unsupported("n", "only one choice per request is supported (n=1)")
        if self.response_format is not None and self.response_format.type != "text":
            return Unsupported(
                "response_format", f"response_format {self.response_format.type!r} is not supported"
            )
        if self.logprobs or self.top_logprobs:
            return Unsupported("logprobs", "log probabilities are not supported")
        if self.audio is not None or any(m != "text" for m in self.modalities or ()):
            return Unsupported("modalities", "only text output is supported")
        for i, message in enumerate(self.messages):
            for j, part in enumerate(message.content if isinstance(message.content, list) else []):
                if part.type not in TEXT_PARTS + SKIPPED_PARTS:
                    return Unsupported(
                        f"messages[{i}].content[{j}]",
                        f"content parts of type {part.type!r} are not supported: text only",
                    )
        if len(self.instructions()) > MAX_INSTRUCTIONS_CHARS:
            return Unsupported(
                "messages",
                f"the system messages hold {len(self.instructions()):,} characters "
                f"(limit {MAX_INSTRUCTIONS_CHARS:,})",
            )
        return None

    def instructions(self) -> str:
        """The client's system (and developer) messages, in order."""
        texts = (m.text().strip() for m in self.messages if m.role in INSTRUCTION_ROLES)
        return "\n\n".join(t for t in texts if t)

    def history(self) -> list[dict[str, str]]:
        """Earlier user and assistant turns with text (the last message is the question)."""
        return [
            {"role": m.role, "content": m.text()}
            for m in self.messages[:-1]
            if m.role in ("user", "assistant") and m.text().strip()
        ]

    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)

    def generation_options(self) -> GenerationOptions:
        stop = (self.stop,) if isinstance(self.stop, str) else tuple(self.stop or ())
        return GenerationOptions(
            max_tokens=self.max_completion_tokens or self.max_tokens,
            temperature=self.temperature if self.temperature is not None else 0.0,
            stop=stop,
            top_p=self.top_p,
            seed=self.seed,
            instructions=self.instructions(),
        )
