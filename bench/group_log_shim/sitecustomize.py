"""A measurement shim, not part of the product: with ``GROUP_LOG=<file>`` and this folder first
on ``PYTHONPATH``, every process started (``zhiku serve`` included) appends one line a model call
(``call <pid> <texts> <batches>``) and one a group given to the embed stage (``group <pid>
<documents>``) to the file, to see what groups and batches a run forms (docs/benchmarks.md,
issue 12, session 21):

    GROUP_LOG=/tmp/groups.log PYTHONPATH=bench/group_log_shim:$PWD python -m bench.ingest_models \
        --models e5 --corpora xquad-r-zh --rounds 2
"""

import os

if os.environ.get("GROUP_LOG"):
    _path = os.environ["GROUP_LOG"]

    def _log(line: str) -> None:
        with open(_path, "a") as out:
            out.write(f"{line}\n")

    from index import embedding_onnx
    from workers import runner

    _cut = embedding_onnx.cut_batches

    def _logged_cut(order, sizes, batch_size, max_tokens=embedding_onnx.BATCH_TOKENS):  # type: ignore[no-untyped-def]
        batches = _cut(order, sizes, batch_size, max_tokens)
        _log(f"call {os.getpid()} {len(order)} {len(batches)}")
        return batches

    embedding_onnx.cut_batches = _logged_cut
    _embed = runner.IngestionRunner.embed

    def _logged_embed(self, jobs, max_chunks=None):  # type: ignore[no-untyped-def]
        _log(f"group {os.getpid()} {len(jobs)}")
        return _embed(self, jobs, max_chunks)

    runner.IngestionRunner.embed = _logged_embed
