#!/usr/bin/env python
"""Speed of create_pretraining_data: bert_tf with 1 and 2 workers, and Google's original.

Corpus: the 2067 paragraphs of SQuAD v1.1 dev (../shared/data/squad/dev-v1.1.json) as documents,
each context split into sentences after ".", "!" or "?" followed by whitespace; one sentence per
line, a blank line after each paragraph (12.7k lines, 1.6 MB). Settings: the script's defaults
(uncased vocabulary, max_seq_length 128, 20 predictions, seed 12345) with --dupe_factor 2, which
makes about 9,200 instances.

Each measurement runs in a fresh process and records wall-clock time and CPU time (user + system,
worker processes included). On a machine shared with other jobs the wall-clock figures swing;
the CPU figures much less, so they compare the single-process implementations more fairly, while
only wall-clock time shows what extra workers gain. TensorFlow and the code are imported first (start-up,
not timed); the timer covers the whole job as the script's `main` does it: loading the
vocabulary, reading and tokenizing, making the instances, serializing and writing the records
(and, for 2 workers, starting the worker processes and merging their shards). Every figure is
the median of --repeats runs; the variants are run round-robin, so that a background load slows
all of them alike.

Google's original (optional, --original_dir): a folder holding Google's
`create_pretraining_data.py` and `tokenization.py` (github.com/google-research/bert, not shipped
here). They run under TensorFlow 2 through `tf.compat.v1` (which still has `tf.flags`,
`tf.logging`, `tf.gfile`, `tf.python_io` and `tf.app`), timed around their `main`. The benchmark
also checks that bert_tf with 1 worker wrote the same records (compared parsed, since protobuf
orders a record's features differently in every process).

Usage:
    .venv/bin/python benchmarks/pretraining_data.py                       # bert_tf only
    .venv/bin/python benchmarks/pretraining_data.py --original_dir /path/to/google/bert
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(os.path.dirname(REPO), "shared", "data")
DEFAULT_OUTPUT = os.path.join(REPO, "benchmarks", "results", "pretraining_data.json")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")

# CPU seconds of a child and of the worker processes it has waited for (user + system).
CPU_SECONDS = """
import resource

def cpu_seconds():
    own = resource.getrusage(resource.RUSAGE_SELF)
    workers = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + workers.ru_utime + workers.ru_stime
"""

# Timed in a child process: bert_tf's library call, as the script's main makes it.
OURS = """
import json, os, sys, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf
from absl import logging
from bert_tf import pretraining_data
logging.set_verbosity(logging.INFO)
corpus, output, vocab, dupe, workers = sys.argv[1:6]
config = pretraining_data.PretrainingDataConfig(vocab, dupe_factor=int(dupe))
start, cpu = time.perf_counter(), cpu_seconds()
summary = pretraining_data.create_pretraining_data([corpus], [output], config, int(workers))
seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu
print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "instances": summary.instances}))
"""

# Timed in a child process: Google's script under tf.compat.v1, around its main.
ORIGINAL = """
import json, os, sys, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf
sys.modules["tensorflow"] = tf.compat.v1
corpus, output, vocab, dupe, folder = sys.argv[1:6]
sys.path.insert(0, folder)
import create_pretraining_data as original
original.FLAGS(["create_pretraining_data.py", "--input_file=" + corpus, "--output_file=" + output,
                "--vocab_file=" + vocab, "--dupe_factor=" + dupe])
start, cpu = time.perf_counter(), cpu_seconds()
original.main([])
seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu
count = sum(1 for _ in tf.compat.v1.io.tf_record_iterator(output))
print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "instances": count}))
"""


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--squad", default=os.path.join(DATA, "squad", "dev-v1.1.json"))
    p.add_argument(
        "--vocab_file", default=os.path.join(DATA, "vocab", "bert-base-uncased-vocab.txt")
    )
    p.add_argument("--dupe_factor", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3, help="timed runs per variant (median)")
    p.add_argument("--workers", default="1,2", help="comma list of bert_tf worker counts")
    p.add_argument("--original_dir", default=None, help="folder with Google's original script")
    p.add_argument("--output_json", default=DEFAULT_OUTPUT)
    return p.parse_args(argv)


def write_corpus(squad_path: str, path: str) -> dict:
    with open(squad_path, encoding="utf-8") as f:
        data = json.load(f)
    paragraphs = 0
    with open(path, "w", encoding="utf-8") as out:
        for article in data["data"]:
            for paragraph in article["paragraphs"]:
                # Whitespace inside a sentence (some contexts hold line breaks) becomes spaces.
                sentences = [" ".join(s.split()) for s in SENTENCE_END.split(paragraph["context"])]
                out.write("\n".join(s for s in sentences if s) + "\n\n")
                paragraphs += 1
    with open(path, "rb") as f:
        lines = sum(1 for _ in f)
    return {"paragraphs": paragraphs, "lines": lines, "bytes": os.path.getsize(path)}


def run_child(code: str, args: list[str]) -> dict:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run(
        [sys.executable, "-c", CPU_SECONDS + code, *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
    )
    if result.returncode != 0:
        raise RuntimeError(f"benchmark child failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def same_records(path_a: str, path_b: str) -> tuple[bool, int]:
    """Whether two TFRecord files hold the same examples in the same order (parsed)."""
    import tensorflow as tf

    a = [tf.train.Example.FromString(r.numpy()) for r in tf.data.TFRecordDataset([path_a])]
    b = [tf.train.Example.FromString(r.numpy()) for r in tf.data.TFRecordDataset([path_b])]
    return a == b, len(a)


def main(argv=None):
    args = parse_args(argv)
    for path, what in ((args.squad, "--squad"), (args.vocab_file, "--vocab_file")):
        if not os.path.isfile(path):
            sys.exit(f"error: {what}: no such file: {path}")
    if args.original_dir and not os.path.isfile(
        os.path.join(args.original_dir, "create_pretraining_data.py")
    ):
        sys.exit(f"error: --original_dir: no create_pretraining_data.py in {args.original_dir}")

    work = tempfile.mkdtemp(prefix="bench_pretraining_")
    corpus = os.path.join(work, "squad_dev_paragraphs.txt")
    corpus_info = write_corpus(args.squad, corpus)
    print(
        f"corpus: {corpus_info['paragraphs']} SQuAD dev paragraphs, {corpus_info['lines']} lines, "
        f"{corpus_info['bytes'] / 1e6:.2f} MB; dupe_factor {args.dupe_factor}",
        flush=True,
    )

    variants = [("bert_tf", int(w)) for w in args.workers.split(",")]
    if args.original_dir:
        variants.insert(0, ("original", 1))
    times: dict = {variant: [] for variant in variants}
    cpu: dict = {variant: [] for variant in variants}
    counts: dict = {}
    outputs = {v: os.path.join(work, f"{v[0]}-{v[1]}.tfrecord") for v in variants}
    for repeat in range(args.repeats):
        for variant in variants:
            name, workers = variant
            common = [corpus, outputs[variant], args.vocab_file, str(args.dupe_factor)]
            if name == "original":
                measured = run_child(ORIGINAL, common + [os.path.abspath(args.original_dir)])
            else:
                measured = run_child(OURS, common + [str(workers)])
            times[variant].append(measured["seconds"])
            cpu[variant].append(measured["cpu_seconds"])
            counts[variant] = measured["instances"]
            print(
                f"  run {repeat + 1}: {name} x{workers}: {measured['seconds']:.3f} s "
                f"({measured['cpu_seconds']:.3f} s CPU)",
                flush=True,
            )

    identical = None
    if args.original_dir and ("bert_tf", 1) in outputs:
        equal, compared = same_records(outputs[("original", 1)], outputs[("bert_tf", 1)])
        identical = {"equal": equal, "records_compared": compared}

    original = ("original", 1)
    base_wall = statistics.median(times[original]) if args.original_dir else None
    base_cpu = statistics.median(cpu[original]) if args.original_dir else None
    rows = []
    for variant in variants:
        name, workers = variant
        wall, busy = statistics.median(times[variant]), statistics.median(cpu[variant])
        rows.append(
            {
                "implementation": name,
                "workers": workers,
                "instances": counts[variant],
                "seconds_median": round(wall, 3),
                "seconds_all": [round(t, 3) for t in times[variant]],
                "cpu_seconds_median": round(busy, 3),
                "cpu_seconds_all": [round(t, 3) for t in cpu[variant]],
                "instances_per_second": round(counts[variant] / wall, 1),
                "speedup_vs_original": round(base_wall / wall, 2) if base_wall else None,
                "cpu_speedup_vs_original": round(base_cpu / busy, 2) if base_cpu else None,
            }
        )

    header = (
        f"{'implementation':<17}{'workers':>8}{'instances':>10}{'wall s':>9}{'CPU s':>8}"
        f"{'inst/s':>8}{'vs original':>13}{'CPU vs orig.':>14}"
    )
    print("\n" + header)
    print("-" * len(header))
    for row in rows:
        label = "Google original" if row["implementation"] == "original" else "bert_tf"
        ratios = [
            f"{row[key]:.2f}x" if row[key] else "-"
            for key in ("speedup_vs_original", "cpu_speedup_vs_original")
        ]
        print(
            f"{label:<17}{row['workers']:>8}{row['instances']:>10}{row['seconds_median']:>9.3f}"
            f"{row['cpu_seconds_median']:>8.3f}{row['instances_per_second']:>8.0f}"
            f"{ratios[0]:>13}{ratios[1]:>14}"
        )
    print(
        f"(median of {args.repeats} runs each; interpreter and TensorFlow start-up excluded; "
        "CPU s includes worker processes; inst/s is per wall-clock second)"
    )
    if identical is not None:
        verdict = "identical" if identical["equal"] else "DIFFERENT"
        print(
            f"bert_tf with 1 worker vs original: {identical['records_compared']} records, {verdict}"
        )

    import tensorflow as tf

    report = {
        "benchmark": "create_pretraining_data on SQuAD v1.1 dev paragraphs",
        "corpus": corpus_info,
        "settings": {
            "dupe_factor": args.dupe_factor,
            "max_seq_length": 128,
            "max_predictions_per_seq": 20,
            "random_seed": 12345,
            "do_lower_case": True,
            "vocab_file": os.path.basename(args.vocab_file),
            "repeats": args.repeats,
        },
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "tensorflow": tf.__version__,
        },
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "results": rows,
        "original_identity_check": identical,
    }
    folder = os.path.dirname(os.path.abspath(args.output_json))
    os.makedirs(folder, exist_ok=True)
    with open(args.output_json, "w") as f:
        json.dump(report, f, indent=2)
    print(f"wrote {args.output_json}")


if __name__ == "__main__":
    main()
