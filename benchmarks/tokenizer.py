"""Tokenizer throughput on the SQuAD v1.1 dev contexts, and agreement with `FullTokenizer`.

Rows: the pure-Python reference (`bert_tf.tokenization.FullTokenizer`), the in-graph
`bert_tf.text_graph.GraphTokenizer` (one and two shards per batch), tensorflow-text's
`FastBertTokenizer` out of the box, and Hugging Face `tokenizers` (a benchmark-only dependency:
the row is skipped when it is not installed).

Every row tokenizes all contexts (uncased vocabulary, lower-casing on). A pass is one tokenizer
over all contexts. After the warm-up passes, timed passes go round-robin over the rows, so that
load from other processes on the machine weighs on every row alike. Reported: the median
wall-clock throughput in characters (code points) per second, its ratio to `FullTokenizer`'s,
the throughput per second of this process's CPU time (all threads), and the fraction of contexts
whose ids equal `FullTokenizer`'s.

Usage:
    python benchmarks/tokenizer.py [--batch_size 256] [--runs 5] [--warmup 2]
        [--output_json benchmarks/results/tokenizer.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import tensorflow as tf  # noqa: E402
import tensorflow_text as tf_text  # noqa: E402

from bert_tf import text_graph, tokenization  # noqa: E402

DATA_DIR = REPO_ROOT.parent / "shared" / "data"

Ids = List[List[int]]


class Row:
    """One tokenizer under test: a pass over the corpus and how to read its ids."""

    def __init__(
        self, name: str, run_pass: Callable[[], object], to_ids: Callable[[object], Ids]
    ) -> None:
        self.name = name
        self.run_pass = run_pass
        self.to_ids = to_ids
        self.wall_seconds: List[float] = []
        self.cpu_seconds: List[float] = []
        self.last_result: object = None

    def timed_pass(self) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        self.last_result = self.run_pass()
        self.wall_seconds.append(time.perf_counter() - wall)
        self.cpu_seconds.append(time.process_time() - cpu)


def _parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--vocab_file", default=str(DATA_DIR / "vocab" / "bert-base-uncased-vocab.txt")
    )
    parser.add_argument("--squad_file", default=str(DATA_DIR / "squad" / "dev-v1.1.json"))
    parser.add_argument("--batch_size", type=int, default=256, help="texts per in-graph call")
    parser.add_argument("--runs", type=int, default=5, help="timed passes per row")
    parser.add_argument("--warmup", type=int, default=2, help="untimed passes per row first")
    parser.add_argument(
        "--output_json", default=str(REPO_ROOT / "benchmarks" / "results" / "tokenizer.json")
    )
    args = parser.parse_args(argv)
    for name in ("vocab_file", "squad_file"):
        if not Path(getattr(args, name)).is_file():
            parser.error(f"--{name}: {getattr(args, name)} does not exist")
    if args.runs < 1 or args.warmup < 0 or args.batch_size < 1:
        parser.error("--runs and --batch_size must be positive and --warmup not negative")
    return args


def _squad_contexts(path: str) -> List[str]:
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)["data"]
    return [paragraph["context"] for article in data for paragraph in article["paragraphs"]]


def _ragged_lists(results: object) -> Ids:
    """Flattens a list of ragged batches into one list of id lists."""
    ids: Ids = []
    for ragged in results:  # type: ignore[attr-defined]
        ids.extend(ragged.to_list())
    return ids


def _identity(ids: object) -> Ids:
    return ids  # type: ignore[return-value]


def _build_rows(args: argparse.Namespace, contexts: List[str]) -> Tuple[List[Row], List[str]]:
    """Creates every row; returns them and a note per skipped row."""
    batches = [
        tf.constant(contexts[start : start + args.batch_size])
        for start in range(0, len(contexts), args.batch_size)
    ]
    rows = []
    reference = tokenization.FullTokenizer(args.vocab_file, do_lower_case=True)
    rows.append(
        Row(
            "bert_tf FullTokenizer (pure Python)",
            lambda: [reference.convert_tokens_to_ids(reference.tokenize(t)) for t in contexts],
            _identity,
        )
    )
    for shards in (1, 2):
        graph = text_graph.GraphTokenizer(args.vocab_file, do_lower_case=True, num_shards=shards)
        rows.append(
            Row(
                f"bert_tf GraphTokenizer ({args.batch_size}/call, {shards} shard"
                + ("s)" if shards > 1 else ")"),
                lambda graph=graph: [graph.tokenize(batch) for batch in batches],
                _ragged_lists,
            )
        )
    fast_bert = tf_text.FastBertTokenizer(
        vocab=list(tokenization.load_vocab(args.vocab_file)),
        lower_case_nfd_strip_accents=True,
        token_out_type=tf.int32,
    )
    fast_bert_fn = tf.function(
        fast_bert.tokenize, input_signature=[tf.TensorSpec([None], tf.string)]
    )
    rows.append(
        Row(
            f"tensorflow-text FastBertTokenizer ({args.batch_size}/call)",
            lambda: [fast_bert_fn(batch) for batch in batches],
            _ragged_lists,
        )
    )
    skipped = []
    try:
        from tokenizers import BertWordPieceTokenizer
    except ImportError:
        skipped.append(
            "Hugging Face tokenizers: not installed (pip install -r requirements-bench.txt)"
        )
    else:
        hf = BertWordPieceTokenizer(args.vocab_file, lowercase=True)
        rows.append(
            Row(
                "HF tokenizers BertWordPieceTokenizer (encode_batch)",
                lambda: [e.ids for e in hf.encode_batch(contexts, add_special_tokens=False)],
                _identity,
            )
        )
    return rows, skipped


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, object]:
    """Runs the benchmark, prints the table and writes the JSON report."""
    args = _parse_args(argv)
    contexts = _squad_contexts(args.squad_file)
    num_chars = sum(len(text) for text in contexts)
    rows, skipped = _build_rows(args, contexts)

    load_before = os.getloadavg()
    for row in rows:
        for _ in range(args.warmup):
            row.run_pass()
    for _ in range(args.runs):
        for row in rows:
            row.timed_pass()
    load_after = os.getloadavg()

    expected = rows[0].to_ids(rows[0].last_result)
    base_rate = num_chars / statistics.median(rows[0].wall_seconds)
    table = []
    for row in rows:
        rate = num_chars / statistics.median(row.wall_seconds)
        ids = row.to_ids(row.last_result)
        table.append(
            {
                "tokenizer": row.name,
                "chars_per_second": rate,
                "speedup_vs_full_tokenizer": rate / base_rate,
                "chars_per_cpu_second": num_chars / statistics.median(row.cpu_seconds),
                "identical_fraction": sum(a == b for a, b in zip(ids, expected)) / len(expected),
                "wall_seconds": row.wall_seconds,
                "cpu_seconds": row.cpu_seconds,
            }
        )

    print(
        f"SQuAD v1.1 dev: {len(contexts)} contexts, {num_chars:,} characters; median of "
        f"{args.runs} interleaved runs after {args.warmup} warm-up; {os.cpu_count()} CPUs; "
        f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after"
    )
    width = max(len(entry["tokenizer"]) for entry in table)
    header = (
        f"{'tokenizer':<{width}}  {'chars/s':>12}  {'speed-up':>8}  {'chars/CPU-s':>12}  "
        f"{'identical':>9}"
    )
    print(header)
    print("-" * len(header))
    for entry in table:
        print(
            f"{entry['tokenizer']:<{width}}  {entry['chars_per_second']:>12,.0f}  "
            f"{entry['speedup_vs_full_tokenizer']:>7.1f}x  {entry['chars_per_cpu_second']:>12,.0f}  "
            f"{entry['identical_fraction']:>9.2%}"
        )
    for note in skipped:
        print(f"skipped: {note}")

    result = {
        "corpus": {"file": args.squad_file, "texts": len(contexts), "characters": num_chars},
        "settings": {
            "batch_size": args.batch_size,
            "runs": args.runs,
            "warmup": args.warmup,
            "do_lower_case": True,
            "vocab_file": args.vocab_file,
        },
        "environment": {
            "python": platform.python_version(),
            "tensorflow": tf.__version__,
            "tensorflow_text": getattr(tf_text, "__version__", "unknown"),
            "cpus": os.cpu_count(),
            "load_average_before": load_before,
            "load_average_after": load_after,
        },
        "rows": table,
        "skipped": skipped,
    }
    output = Path(args.output_json)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {output}")
    return result


if __name__ == "__main__":
    main()
