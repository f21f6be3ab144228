"""Which language a query is in, as far as routing needs to know: Chinese or not."""

from __future__ import annotations

from core.settings_retrieval import RetrievalSettings
from core.text_forms import HAN_CHAR, LATIN_WORD, fold_width
from index.models import dense_languages_of


def query_language(text: str) -> str:
    """``"zh"`` when Han characters are at least half as many as Latin words, else ``"en"``.

    Characters against words, because a Chinese character carries about as much as an
    English word: a Chinese question quoting an English product name is still a Chinese
    question, and an English-only dense model would still miss it. Traditional and
    Simplified characters are both Han; full-width letters (ｉＰｈｏｎｅ) count as the
    Latin words they are.
    """
    text = fold_width(text)
    han = len(HAN_CHAR.findall(text))
    if not han:
        return "en"
    return "zh" if han * 2 >= len(LATIN_WORD.findall(text)) else "en"


def dense_languages(settings: RetrievalSettings, model_name: str) -> list[str]:
    """The query languages searched on both sides: as configured, else what the dense model
    serves; a query in another language goes to the keyword side alone."""
    return settings.dense_languages or dense_languages_of(model_name)
