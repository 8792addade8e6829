#!/usr/bin/env python
"""What the reliability features cost a MiniLM pretraining run: lock, atomic writes, train state.

Measured, each as the median of ``--runs`` timings:

* ``step``: one training step of `bert_tf.training.Trainer` on MiniLM (6 layers, hidden 384)
  pretraining batches read from TFRecords through `records.pretraining_dataset`, as
  run_pretraining.py trains (shuffle buffer 100, prefetch).
* ``train_state``: writing ``train_state.ckpt-STEP`` (the input iterator with its shuffle and
  prefetch buffers, plus the dropout RNG states), once per checkpoint.
* ``google_checkpoint``: writing ``model.ckpt-STEP`` itself (weights + Adam slots), for scale.
* ``lock``: taking and releasing the --output_dir lock, once per run.
* ``atomic_write`` / ``plain_write``: writing the same TFRecord file through `bert_tf.files`
  (temporary name, rename) and directly, interleaved round-robin; the difference is the cost.
* ``framing_check`` / ``full_read``: walking the record headers (done before training) against
  reading every record with `tf.data`.

Per-step cost: the train state is written every ``--save_checkpoints_steps`` steps (Google's
default 1000), the lock and the output files once per run of ``--num_train_steps``; the table
gives each as a share of one step. The claim checked: all three together under 1% of a step.

Usage:
    .venv/bin/python benchmarks/reliability.py                       # MiniLM, batch 32, seq 128
    .venv/bin/python benchmarks/reliability.py --config tiny --runs 3 # a check that it runs
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from bert_tf import checkpoints, files, records, training  # noqa: E402
from bert_tf.heads import BertPretrainer, pretraining_loss  # noqa: E402
from bert_tf.modeling import BertConfig  # noqa: E402
from bert_tf.optimization import create_optimizer  # noqa: E402

CONFIGS = {
    "minilm": dict(
        vocab_size=30522,
        hidden_size=384,
        num_hidden_layers=6,
        num_attention_heads=12,
        intermediate_size=1536,
        type_vocab_size=2,
    ),
    "tiny": dict(
        vocab_size=99,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
        type_vocab_size=2,
        max_position_embeddings=64,
    ),
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", default="minilm", choices=sorted(CONFIGS))
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--seq", type=int, default=128)
    p.add_argument("--preds", type=int, default=20)
    p.add_argument("--records", type=int, default=4096, help="records in the training file")
    p.add_argument("--runs", type=int, default=7)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--save_checkpoints_steps", type=int, default=1000)
    p.add_argument("--num_train_steps", type=int, default=100000)
    p.add_argument("--output_json", default="benchmarks/results/reliability.json")
    return p.parse_args(argv)


def _examples(n, seq, preds, vocab, seed=0):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        positions = np.sort(rng.choice(np.arange(1, seq - 1), size=preds, replace=False))
        yield {
            "input_ids": rng.integers(5, vocab, size=seq).tolist(),
            "input_mask": [1] * seq,
            "segment_ids": [0] * (seq // 2) + [1] * (seq - seq // 2),
            "masked_lm_positions": positions.tolist(),
            "masked_lm_ids": rng.integers(5, vocab, size=preds).tolist(),
            "masked_lm_weights": [1.0] * preds,
            "next_sentence_labels": [int(rng.integers(0, 2))],
        }


def _median_ms(fn, runs, warmup=1):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def _write_plain(path, serialized):
    with tf.io.TFRecordWriter(path) as writer:
        for record in serialized:
            writer.write(record)


def _write_atomic(path, serialized):
    with files.atomic_path(path) as tmp:
        _write_plain(tmp, serialized)


def main(argv=None):
    args = parse_args(argv)
    config = BertConfig.from_dict(
        dict(CONFIGS[args.config], max_position_embeddings=max(args.seq, 64))
    )
    work = tempfile.mkdtemp(prefix="bert_reliability_")
    data = os.path.join(work, "data.tfrecord")
    examples = list(_examples(args.records, args.seq, args.preds, config.vocab_size))
    serialized = [records.serialize_example(e) for e in examples]

    # Atomic against plain writes of the same file, interleaved round-robin.
    plain, atomic = [], []
    for i in range(args.runs + 1):
        for name, writer, out in (
            ("plain", _write_plain, plain),
            ("atomic", _write_atomic, atomic),
        ):
            start = time.perf_counter()
            writer(os.path.join(work, f"{name}.tfrecord"), serialized)
            if i:  # the first round warms the file system up
                out.append(time.perf_counter() - start)
    _write_atomic(data, serialized)
    results = {
        "plain_write": 1000 * statistics.median(plain),
        "atomic_write": 1000 * statistics.median(atomic),
    }
    results["atomic_overhead"] = results["atomic_write"] - results["plain_write"]
    results["framing_check"] = _median_ms(lambda: records.check_record_framing(data), args.runs)
    results["full_read"] = _median_ms(
        lambda: tf.data.TFRecordDataset([data]).reduce(0, lambda n, _: n + 1), args.runs
    )

    output_dir = os.path.join(work, "out")

    def lock_once():
        with files.output_dir_lock(output_dir):
            pass

    results["lock"] = _median_ms(lock_once, args.runs)

    tf.keras.utils.set_random_seed(1)
    trainer = training.Trainer(
        model_fn=lambda: BertPretrainer(config),
        loss_fn=lambda o, f, total: (pretraining_loss(o, f, total)[0], {}),
        optimizer_fn=lambda: create_optimizer(1e-4, args.num_train_steps, 100),
        strategy=tf.distribute.get_strategy(),
        output_dir=output_dir,
        save_checkpoints_steps=args.save_checkpoints_steps,
        iterations_per_loop=1,
    )
    trainer.build()
    dataset = records.pretraining_dataset(
        [data],
        args.batch_size,
        args.seq,
        args.preds,
        is_training=True,
        seed=1,
        deterministic=True,
    )
    iterator = iter(trainer.strategy.experimental_distribute_dataset(dataset))
    state = trainer._train_state(iterator)
    results["step"] = _median_ms(
        lambda: trainer.run_steps(iterator, 1)[0].numpy(), args.runs, warmup=args.warmup
    )
    state_path = os.path.join(output_dir, "state_probe")
    results["train_state"] = _median_ms(lambda: state.write(state_path), args.runs)
    results["train_state_bytes"] = sum(
        tf.io.gfile.stat(p).length for p in tf.io.gfile.glob(state_path + "*")
    )
    results["google_checkpoint"] = _median_ms(
        lambda: checkpoints.save_training_checkpoint(
            trainer.model, trainer.optimizer, output_dir, 1, keep=1
        ),
        args.runs,
    )

    step = results["step"]
    per_step = {
        "train_state": results["train_state"] / args.save_checkpoints_steps,
        "lock": results["lock"] / args.num_train_steps,
        # The run's outputs (records, eval results, ...) are written once per run; the file
        # here stands for all of them.
        "atomic_write": max(results["atomic_overhead"], 0.0) / args.num_train_steps,
    }
    total = sum(per_step.values())
    print(
        f"\n{args.config}, batch {args.batch_size} x seq {args.seq}, "
        f"checkpoint every {args.save_checkpoints_steps} steps, {args.num_train_steps} steps/run"
    )
    print(f"{'item':<20}{'ms':>12}{'ms/step':>12}{'% of step':>12}")
    print(f"{'step':<20}{step:>12.2f}{step:>12.2f}{100.0:>12.2f}")
    for name, value in per_step.items():
        raw = results["atomic_overhead"] if name == "atomic_write" else results[name]
        print(f"{name:<20}{raw:>12.3f}{value:>12.5f}{100 * value / step:>12.5f}")
    print(f"{'all three':<20}{'':>12}{total:>12.5f}{100 * total / step:>12.5f}")
    print(
        f"{'train_state/step':<20}{results['train_state']:>12.3f}{'':>12}"
        f"{100 * results['train_state'] / step:>12.3f}  (one checkpoint vs one step)"
    )
    print(f"{'google_checkpoint':<20}{results['google_checkpoint']:>12.3f}")
    print(
        f"{'framing_check':<20}{results['framing_check']:>12.3f}   full read "
        f"{results['full_read']:.3f} ms, {args.records} records"
    )
    print(f"{'train_state bytes':<20}{results['train_state_bytes']:>12d}")
    record = {
        "args": vars(args),
        "ms": results,
        "per_step_ms": per_step,
        "percent_of_step": {k: 100 * v / step for k, v in per_step.items()},
        "total_percent_of_step": 100 * total / step,
        "cpu_count": os.cpu_count(),
        "load_average": os.getloadavg(),
    }
    os.makedirs(os.path.dirname(args.output_json) or ".", exist_ok=True)
    with files.atomic_open(args.output_json) as f:
        f.write(json.dumps(record, indent=2) + "\n")
    print(f"\nwrote {args.output_json}")


if __name__ == "__main__":
    main()
