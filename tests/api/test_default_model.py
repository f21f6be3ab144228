"""The product's default embedding model, end to end over HTTP: uploads in Simplified and
Traditional Chinese, English and mixed text, found by questions in another script or another
language — which only a multilingual dense model fused with the keyword side can do (the keyword
side alone shares no word between 长城 and "Great Wall")."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.settings import EmbeddingSettings
from tests.api.world import World, seeded_world
from tests.live import ThreadServer
from tests.support import make_settings

DOCS = {
    "长城.txt": "长城是中国古代的军事防御工程，东起山海关，西至嘉峪关，全长两万多公里。",
    "故宮.txt": "臺北故宮博物院收藏了大量的中國古代文物，包括書畫、陶瓷和青銅器。",
    "plants.md": "Photosynthesis turns light energy into chemical energy stored in glucose.",
    "合同.txt": "本合同的 Force Majeure（不可抗力）条款规定，因地震或战争导致的违约可以免责。",
    "router.md": "To reset the router, hold the reset button for ten seconds (按住复位键十秒钟).",
    "央行.txt": "中国人民银行宣布下调存款准备金率，以释放长期流动性支持实体经济。",
    "vaccines.md": "Vaccines train the immune system to recognise a virus before any infection.",
    # Two languages in one chunk: indexed with a vector per language (the per_script layout).
    "pump-manual.md": (
        "Mount the centrifugal pump on a level concrete base and tighten the four anchor bolts "
        "evenly before connecting the suction and discharge pipes. "
        "注意：首次启动前必须向泵壳内灌满液体并排出空气，否则机械密封会因干运转而烧毁。"
    ),
}

# question -> the file that answers it; most cross a language or a script.
QUESTIONS = {
    "How long is the Great Wall of China?": "长城.txt",  # English -> Chinese
    "植物如何把光能转化为化学能": "plants.md",  # Chinese -> English
    "故宫博物院收藏哪些文物": "故宮.txt",  # Simplified -> Traditional
    "故宮博物院收藏哪些文物": "故宮.txt",  # Traditional -> Traditional
    "force majeure clause earthquake": "合同.txt",  # English -> a Chinese contract
    "路由器怎么重置": "router.md",  # Chinese -> an English manual with a Chinese note
    "央行降准释放流动性": "央行.txt",
    "疫苗如何训练免疫系统": "vaccines.md",  # Chinese -> English
    "ｈｏｗ ｄｏ ｖａｃｃｉｎｅｓ ｗｏｒｋ": "vaccines.md",  # full-width letters
    "首次启动前为什么要给泵灌满液体": "pump-manual.md",  # the Chinese note of an English manual
    "how to mount a centrifugal pump on its base": "pump-manual.md",
}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    default = EmbeddingSettings().model  # what a fresh install embeds with
    settings = make_settings(tmp_path_factory.mktemp("default-model"), embedding={"model": default})
    with ThreadServer(settings) as server:
        world = seeded_world(server, DOCS)
        world.server = server  # type: ignore[attr-defined]
        yield world


def test_the_default_model_is_multilingual() -> None:
    assert "multilingual" in EmbeddingSettings().model


@pytest.mark.parametrize("question", list(QUESTIONS))
def test_a_question_finds_its_document_across_languages_and_scripts(
    world: World, question: str
) -> None:
    with world.client("bob") as bob:
        r = bob.post("/v1/search", json={"query": question, "limit": 3})
    assert r.status_code == 200, r.text
    found = [hit["filename"] for hit in r.json()["results"]]
    assert found and found[0] == QUESTIONS[question], (question, found)


def test_a_mixed_chunk_gets_a_vector_per_language(world: World) -> None:
    from index.types import PER_SCRIPT
    from tests.api.world import chunks_of

    server = world.server  # type: ignore[attr-defined]
    assert server.container.store.vector_layout() == PER_SCRIPT
    ids = world.doc_ids  # type: ignore[attr-defined]
    (mixed,) = chunks_of(server, world.tenant_a.id, ids["pump-manual.md"], vectors=True)
    assert len(mixed.parts) == 2 and len(mixed.dense) == len(mixed.parts[0])
    (plain,) = chunks_of(server, world.tenant_a.id, ids["plants.md"], vectors=True)
    assert plain.parts == []
