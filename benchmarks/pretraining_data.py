#!/usr/bin/env python
"""Speed of create_pretraining_data: bert_tf with 1 and 2 workers, on Beam, and Google's original.

Corpus: the 2067 paragraphs of SQuAD v1.1 dev (../shared/data/squad/dev-v1.1.json) as documents,
each context split into sentences after ".", "!" or "?" followed by whitespace; one sentence per
line, a blank line after each paragraph (12.7k lines, 1.6 MB), cut at paragraph ends into
--files files padded with blank lines to the same size (so that --num_workers=2 cuts exactly at
the two files, as each Beam worker takes one file). Settings: the script's defaults (uncased
vocabulary, max_seq_length 128, 20 predictions, seed 12345) with --dupe_factor 2, which makes
about 9,200 instances. --copies K writes the paragraphs K times (K times the work; Beam's fixed
cost, starting worker processes that import TensorFlow, weighs less on a larger corpus).

Beam rows (needs `pip install -r requirements-beam.txt`; skipped with a message without it):
create_pretraining_data_beam's pipeline on Beam's FnApiRunner, in the timed process (1 worker)
or with --direct_running_mode=multi_processing --direct_num_workers=2 (worker processes that
import TensorFlow and Beam, inside the timed span). With 2 files and 2 workers its records are
checked to be --num_workers=2's.

Dynamic masking (--masking_batches > 0): the cost of run_pretraining --dynamic_masking's input
pipeline, on the records bert_tf x1 wrote, batch 32: CPU time per batch of the reader with and
without dynamic masking (process CPU time while pulling batches, tf.data threads included), and
MiniLM (6 layers, hidden 384) training steps, as run_pretraining makes them (fp32, Trainer),
fed by either reader, timed round-robin. "step +%" is the slowdown of a step; "CPU/step" the
extra reader CPU time as a share of a step, what a synchronous (unprefetched) reader would add.

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
    .venv/bin/python benchmarks/pretraining_data.py                       # bert_tf (+ Beam)
    .venv/bin/python benchmarks/pretraining_data.py --original_dir /path/to/google/bert
    .venv/bin/python benchmarks/pretraining_data.py --repeats 1 --dupe_factor 1 \
        --masking_batches 3 --masking_rounds 2                           # a quick smoke run
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
summary = pretraining_data.create_pretraining_data(corpus.split(","), [output], config, int(workers))
seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu
print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "instances": summary.instances}))
"""

# Timed in a child process: the Beam pipeline on the FnApiRunner, as the script's main runs it.
BEAM = """
import json, os, sys, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf
from absl import logging
from bert_tf import beam_pipeline, pretraining_data
logging.set_verbosity(logging.WARNING)
corpus, output, vocab, dupe, workers = sys.argv[1:6]
config = pretraining_data.PretrainingDataConfig(vocab, dupe_factor=int(dupe))
beam_args = ["--runner=FnApiRunner"]
if int(workers) > 1:
    beam_args += ["--direct_running_mode=multi_processing", "--direct_num_workers=" + workers]
start, cpu = time.perf_counter(), cpu_seconds()
outputs, stats = beam_pipeline.run(corpus.split(","), output, config, beam_args)
seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu
print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "instances": stats.instances,
                  "outputs": outputs}))
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
    p.add_argument("--files", type=int, default=2, help="input files the corpus is cut into")
    p.add_argument(
        "--copies", type=int, default=1, help="the paragraphs written this many times (scale)"
    )
    p.add_argument(
        "--beam_workers", default="1,2", help="comma list of Beam worker counts ('' for none)"
    )
    p.add_argument("--masking_batches", type=int, default=20, help="0 skips dynamic masking")
    p.add_argument("--masking_rounds", type=int, default=5, help="round-robin rounds of steps")
    p.add_argument("--original_dir", default=None, help="folder with Google's original script")
    p.add_argument("--output_json", default=DEFAULT_OUTPUT)
    return p.parse_args(argv)


def write_corpus(squad_path: str, path: str, copies: int = 1) -> dict:
    with open(squad_path, encoding="utf-8") as f:
        data = json.load(f)
    paragraphs = 0
    with open(path, "w", encoding="utf-8") as out:
        for _ in range(copies):
            for article in data["data"]:
                for paragraph in article["paragraphs"]:
                    # Whitespace inside a sentence (some contexts hold line breaks) becomes spaces.
                    sentences = [
                        " ".join(s.split()) for s in SENTENCE_END.split(paragraph["context"])
                    ]
                    out.write("\n".join(s for s in sentences if s) + "\n\n")
                    paragraphs += 1
    with open(path, "rb") as f:
        lines = sum(1 for _ in f)
    return {"paragraphs": paragraphs, "lines": lines, "bytes": os.path.getsize(path)}


def split_corpus(path: str, parts: int) -> list[str]:
    """Cuts the corpus at paragraph ends into `parts` files padded to one size with blank lines."""
    with open(path, encoding="utf-8") as f:
        paragraphs = [p + "\n\n" for p in f.read().split("\n\n") if p.strip()]
    total = sum(len(p.encode("utf-8")) for p in paragraphs)
    chunks: list[list[str]] = [[] for _ in range(parts)]
    done = 0
    for paragraph in paragraphs:
        chunks[min(parts - 1, done * parts // total)].append(paragraph)
        done += len(paragraph.encode("utf-8"))
    texts = ["".join(chunk).encode("utf-8") for chunk in chunks]
    size = max(map(len, texts))
    paths = []
    for index, text in enumerate(texts):
        part = f"{path}.part-{index:02d}"
        with open(part, "wb") as out:
            out.write(text + b"\n" * (size - len(text)))
        paths.append(part)
    return paths


def alternate(streams: list[list[bytes]]) -> list[bytes]:
    """One record of each stream in turn (how --num_workers merges its shards)."""
    merged, live = [], [iter(stream) for stream in streams]
    while live:
        for stream in list(live):
            record = next(stream, None)
            if record is None:
                live.remove(stream)
            else:
                merged.append(record)
    return merged


def raw_records(path: str) -> list[bytes]:
    import tensorflow as tf

    return [record.numpy() for record in tf.data.TFRecordDataset([path])]


MINILM = dict(
    vocab_size=30522,
    hidden_size=384,
    num_hidden_layers=6,
    num_attention_heads=12,
    intermediate_size=1536,
    type_vocab_size=2,
    max_position_embeddings=512,
)


def masking_cost(records_file: str, vocab_file: str, batches: int, rounds: int) -> dict:
    """Reader CPU per batch and MiniLM step time, with and without dynamic masking."""
    import tensorflow as tf

    from bert_tf import records, training
    from bert_tf.dynamic_masking import DynamicMasker, MaskingVocab
    from bert_tf.heads import BertPretrainer, pretraining_loss
    from bert_tf.modeling import BertConfig
    from bert_tf.optimization import create_optimizer

    batch_size, seq, preds = 32, 128, 20
    masker = DynamicMasker(MaskingVocab.from_vocab_file(vocab_file), 0.15, preds, seed=12345)
    readers = {
        name: records.pretraining_dataset(
            [records_file], batch_size, seq, preds, is_training=True, seed=1, masker=m
        )
        for name, m in (("static", None), ("dynamic", masker))
    }
    # Reader alone: CPU seconds of the process (all tf.data threads) to pull `batches` batches
    # from a fresh iterator, which stops when the loop ends.
    reader_cpu: dict = {name: [] for name in readers}
    for name, dataset in readers.items():  # Warm-up: builds the functions once.
        for _ in dataset.take(2):
            pass
    for round_index in range(rounds):
        order = list(readers.items())
        for name, dataset in order if round_index % 2 == 0 else order[::-1]:
            start = time.process_time()
            for _ in dataset.take(batches):
                pass
            reader_cpu[name].append((time.process_time() - start) / batches)

    config = BertConfig.from_dict(MINILM)
    trainer = training.Trainer(
        model_fn=lambda: BertPretrainer(config),
        loss_fn=lambda outputs, features, total: (
            pretraining_loss(outputs, features, total)[0],
            {},
        ),
        optimizer_fn=lambda: create_optimizer(1e-4, 100000, 1000),
        strategy=tf.distribute.get_strategy(),
        output_dir=tempfile.mkdtemp(prefix="bench_masking_"),
    )
    trainer.build()
    iterators = {name: iter(dataset) for name, dataset in readers.items()}
    step_seconds: dict = {name: [] for name in readers}
    for iterator in iterators.values():  # Warm-up: traces the step.
        float(trainer.run_steps(iterator, 1)[0])
    steps = 3
    for round_index in range(rounds):
        # Alternate the order (ABBA) so that a drifting background load favours neither.
        order = list(iterators.items())
        for name, iterator in order if round_index % 2 == 0 else order[::-1]:
            start = time.perf_counter()
            for _ in range(steps):
                float(trainer.run_steps(iterator, 1)[0])
            step_seconds[name].append((time.perf_counter() - start) / steps)
        print(f"  masking round {round_index + 1}/{rounds} done", flush=True)
    result = {
        "batch_size": batch_size,
        "reader_cpu_ms_per_batch": {
            name: round(1000 * statistics.median(v), 2) for name, v in reader_cpu.items()
        },
        "step_ms": {
            name: round(1000 * statistics.median(v), 1) for name, v in step_seconds.items()
        },
        "reader_cpu_ms_all": {n: [round(1000 * t, 2) for t in v] for n, v in reader_cpu.items()},
        "step_ms_all": {n: [round(1000 * t, 1) for t in v] for n, v in step_seconds.items()},
    }
    extra_cpu = (
        result["reader_cpu_ms_per_batch"]["dynamic"] - result["reader_cpu_ms_per_batch"]["static"]
    )
    static_step = result["step_ms"]["static"]
    result["extra_reader_cpu_ms_per_batch"] = round(extra_cpu, 2)
    result["extra_cpu_share_of_step_pct"] = round(100 * extra_cpu / static_step, 2)
    result["step_slowdown_pct"] = round(100 * (result["step_ms"]["dynamic"] / static_step - 1), 2)
    return result


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
    corpus_info = write_corpus(args.squad, corpus, args.copies)
    print(
        f"corpus: {corpus_info['paragraphs']} SQuAD dev paragraphs ({args.copies}x), "
        f"{corpus_info['lines']} lines, {corpus_info['bytes'] / 1e6:.2f} MB in {args.files} "
        f"files; dupe_factor {args.dupe_factor}",
        flush=True,
    )
    corpus = ",".join(split_corpus(corpus, args.files))

    variants = [("bert_tf", int(w)) for w in args.workers.split(",")]
    if args.original_dir:
        variants.insert(0, ("original", 1))
    beam_workers = [int(w) for w in args.beam_workers.split(",") if w.strip()]
    if beam_workers:
        try:
            import apache_beam  # noqa: F401
        except ImportError:
            print("Apache Beam not installed (pip install -r requirements-beam.txt): no Beam rows")
            beam_workers = []
    variants += [("beam", w) for w in beam_workers]
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
                code = BEAM if name == "beam" else OURS
                measured = run_child(code, common + [str(workers)])
                if name == "beam":
                    beam_outputs = measured["outputs"]
            times[variant].append(measured["seconds"])
            cpu[variant].append(measured["cpu_seconds"])
            counts[variant] = measured["instances"]
            print(
                f"  run {repeat + 1}: {name} x{workers}: {measured['seconds']:.3f} s "
                f"({measured['cpu_seconds']:.3f} s CPU)",
                flush=True,
            )

    beam_check = None
    if ("beam", 2) in outputs and ("bert_tf", 2) in outputs and args.files == 2:
        merged = alternate([raw_records(path) for path in beam_outputs])
        beam_check = {
            "equal": merged == raw_records(outputs[("bert_tf", 2)]),
            "records_compared": len(merged),
        }

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
    for row in rows:  # Beam against --num_workers with as many workers.
        same = ("bert_tf", row["workers"])
        if row["implementation"] == "beam" and same in times:
            ours = counts[same] / statistics.median(times[same])
            row["vs_num_workers"] = round(row["instances_per_second"] / ours, 2)

    header = (
        f"{'implementation':<17}{'workers':>8}{'instances':>10}{'wall s':>9}{'CPU s':>8}"
        f"{'inst/s':>8}{'vs original':>13}{'CPU vs orig.':>14}"
    )
    print("\n" + header)
    print("-" * len(header))
    labels = {"original": "Google original", "bert_tf": "bert_tf", "beam": "Beam FnApiRunner"}
    for row in rows:
        label = labels[row["implementation"]]
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
    for row in rows:
        if "vs_num_workers" in row:
            print(
                f"Beam x{row['workers']} / --num_workers={row['workers']} (inst/s): "
                f"{row['vs_num_workers']:.2f}"
            )
    if beam_check is not None:
        verdict = "identical" if beam_check["equal"] else "DIFFERENT"
        print(f"Beam x2 vs --num_workers=2: {beam_check['records_compared']} records, {verdict}")

    masking = None
    if args.masking_batches > 0:
        print(
            "\ndynamic masking: reader CPU per batch of 32, MiniLM fp32 training steps", flush=True
        )
        masking = masking_cost(
            outputs[("bert_tf", 1)] if ("bert_tf", 1) in outputs else outputs[variants[0]],
            args.vocab_file,
            args.masking_batches,
            args.masking_rounds,
        )
        cpu_ms, step_ms = masking["reader_cpu_ms_per_batch"], masking["step_ms"]
        print(f"{'reader':<10}{'CPU ms/batch':>14}{'MiniLM step ms':>16}")
        for name in ("static", "dynamic"):
            print(f"{name:<10}{cpu_ms[name]:>14.2f}{step_ms[name]:>16.1f}")
        print(
            f"step {masking['step_slowdown_pct']:+.2f}% with dynamic masking; extra reader CPU "
            f"{masking['extra_reader_cpu_ms_per_batch']:.2f} ms/batch = "
            f"{masking['extra_cpu_share_of_step_pct']:.2f}% of a step (medians of "
            f"{args.masking_rounds} round-robin rounds)"
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
            "files": args.files,
            "copies": args.copies,
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
        "beam_vs_num_workers_check": beam_check,
        "dynamic_masking": masking,
    }
    folder = os.path.dirname(os.path.abspath(args.output_json))
    os.makedirs(folder, exist_ok=True)
    with open(args.output_json, "w") as f:
        json.dump(report, f, indent=2)
    print(f"wrote {args.output_json}")


if __name__ == "__main__":
    main()
