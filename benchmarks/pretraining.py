#!/usr/bin/env python
"""CPU training throughput of BERT pretraining: bert_tf's training loop against keras-hub.

One step = forward, backward and optimizer update on a batch of pretraining features (seq 128,
20 masked positions). Ours runs through `bert_tf.training.Trainer` exactly as run_pretraining.py
does (`BertPretrainer`: masked LM + next sentence, Google's AdamWeightDecay with global-norm
clipping), in float32 and under ``mixed_bfloat16``, with and without XLA. The reference is
keras-hub's ``BertMaskedLM`` (backbone + masked-LM head, tied embeddings) on the same
configuration, trained by a ``tf.function`` step with Keras' AdamW and global clipping, in the same
four modes (benchmark-only dependency ``keras-hub==0.32.0``; skipped with a message when absent).

FLOPs per step = 3 x forward FLOPs (backward costs about twice the forward), where forward =
the encoder FLOPs of benchmarks/encoder.py plus the masked-LM head on the masked positions
(2*B*P*(H*H + H*V)). ``%fp32mm`` is model GFLOP/s over the fp32 matmul rate measured at the start;
``%same`` over the fp32 matmul rate timed in the same round-robin rounds as the steps.

Every figure is the median of ``--runs`` timed steps after ``--warmup`` untimed ones, candidates
timed round-robin (see benchmarks/encoder.py).

Usage:
    .venv/bin/python benchmarks/pretraining.py                   # MiniLM b32 and BERT-base b8
    .venv/bin/python benchmarks/pretraining.py --configs minilm --runs 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from encoder import (  # noqa: E402
    CONFIGS,
    bench_matmul,
    encoder_flops,
    matmul_candidates,
    time_round_robin,
)

SEQ, PREDS = 128, 20


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--configs", default="minilm,bert_base")
    p.add_argument("--batch_sizes", default="minilm=32,bert_base=8")
    p.add_argument("--modes", default="fp32,fp32+xla,bf16,bf16+xla")
    p.add_argument("--impls", default="ours,keras_hub")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--output_json", default="benchmarks/results/pretraining.json")
    return p.parse_args(argv)


def training_flops(cfg: dict, batch: int) -> int:
    h, v = cfg["hidden_size"], cfg["vocab_size"]
    head = 2 * batch * PREDS * (h * h + h * v)
    return 3 * (encoder_flops(cfg, batch, SEQ) + head)


def make_batch(cfg: dict, batch: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    positions = np.sort(
        np.stack([rng.choice(np.arange(1, SEQ - 1), PREDS, replace=False) for _ in range(batch)]),
        axis=1,
    )
    return {
        "input_ids": rng.integers(1000, cfg["vocab_size"], (batch, SEQ)).astype(np.int32),
        "input_mask": np.ones((batch, SEQ), np.int32),
        "segment_ids": np.repeat([[0] * (SEQ // 2) + [1] * (SEQ // 2)], batch, 0).astype(np.int32),
        "masked_lm_positions": positions.astype(np.int32),
        "masked_lm_ids": rng.integers(1000, cfg["vocab_size"], (batch, PREDS)).astype(np.int32),
        "masked_lm_weights": np.ones((batch, PREDS), np.float32),
        "next_sentence_labels": rng.integers(0, 2, (batch, 1)).astype(np.int32),
    }


def build_ours(cfg: dict, mode: str, batch: dict, tmp: str):
    from bert_tf import training
    from bert_tf.heads import BertPretrainer, pretraining_loss
    from bert_tf.modeling import BertConfig
    from bert_tf.optimization import create_optimizer

    config = BertConfig.from_dict(cfg)
    trainer = training.Trainer(
        model_fn=lambda: BertPretrainer(config, dtype="mixed_bfloat16" if "bf16" in mode else None),
        loss_fn=lambda o, f, total: (pretraining_loss(o, f, total)[0], {}),
        optimizer_fn=lambda: create_optimizer(1e-5, 100000, 1000),
        strategy=tf.distribute.get_strategy(),
        output_dir=os.path.join(tmp, "ours_" + mode),
        use_xla="xla" in mode,
    )
    trainer.build()
    iterator = iter(tf.data.Dataset.from_tensors(batch).repeat())
    return lambda: trainer.run_steps(iterator, 1)[0]


def build_keras_hub(cfg: dict, mode: str, batch: dict, tmp: str):
    import keras
    import keras_hub

    dtype = "mixed_bfloat16" if "bf16" in mode else None
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=cfg["vocab_size"], num_layers=cfg["num_hidden_layers"],
        num_heads=cfg["num_attention_heads"], hidden_dim=cfg["hidden_size"],
        intermediate_dim=cfg["intermediate_size"], num_segments=cfg["type_vocab_size"],
        max_sequence_length=512, dtype=dtype,
    )
    model = keras_hub.models.BertMaskedLM(backbone=backbone, preprocessor=None)
    optimizer = keras.optimizers.AdamW(1e-5, weight_decay=0.01, epsilon=1e-6, global_clipnorm=1.0)
    feed = {
        "token_ids": tf.constant(batch["input_ids"]),
        "padding_mask": tf.constant(batch["input_mask"]),
        "segment_ids": tf.constant(batch["segment_ids"]),
        "mask_positions": tf.constant(batch["masked_lm_positions"]),
    }
    labels = tf.constant(batch["masked_lm_ids"])
    weights = tf.constant(batch["masked_lm_weights"])

    @tf.function(jit_compile="xla" in mode)
    def step():
        with tf.GradientTape() as tape:
            logits = tf.cast(model(feed, training=True), tf.float32)
            per = tf.keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
            loss = tf.reduce_sum(per * weights) / (tf.reduce_sum(weights) + 1e-5)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    return step


def main(argv=None):
    args = parse_args(argv)
    import tempfile

    log = lambda msg: print(msg, flush=True)  # noqa: E731
    tmp = tempfile.mkdtemp(prefix="bench_pretraining_")
    log("matmul yardstick")
    matmul = bench_matmul(args.runs, args.warmup, log)
    fp32_rate = matmul["float32"]["peak_gflops"]
    sizes = dict(item.split("=") for item in args.batch_sizes.split(","))
    impls = args.impls.split(",")
    try:
        import keras_hub  # noqa: F401
    except ImportError:
        if "keras_hub" in impls:
            log("keras-hub not installed (pip install keras-hub==0.32.0): its rows are skipped")
            impls.remove("keras_hub")
    rows, same_rounds = [], {}
    for name in args.configs.split(","):
        cfg = CONFIGS[name]
        batch_size = int(sizes[name])
        batch = make_batch(cfg, batch_size)
        flops = training_flops(cfg, batch_size)
        candidates = {}
        for impl in impls:
            for mode in args.modes.split(","):
                builder = build_ours if impl == "ours" else build_keras_hub
                candidates[f"{impl} {mode}"] = builder(cfg, mode, batch, tmp)
        # The fp32 matmul yardstick again, timed in the same rounds as the training steps, so that
        # both see the same machine: on a shared 2-core VM the rate measured at the start alone
        # has moved by up to 5% between runs.
        yardstick, shapes = matmul_candidates((tf.float32,))
        log(f"{name}: batch {batch_size}, seq {SEQ}, {flops / 1e9:.1f} GFLOP per step")
        timings = time_round_robin({**candidates, **yardstick}, args.runs, args.warmup, log)
        same_rounds_rate = max(
            2 * m * k * n / statistics.median(timings[key]["times_s"]) / 1e9
            for key, (_, _, m, k, n) in shapes.items()
        )
        same_rounds[name] = same_rounds_rate
        for key in candidates:
            t = timings[key]
            impl, mode = key.split(" ")
            median = statistics.median(t["times_s"])
            gflops = flops / median / 1e9
            rows.append({
                "config": name, "batch": batch_size, "impl": impl, "mode": mode,
                "steps_per_s": 1 / median, "examples_per_s": batch_size / median,
                "gflops": gflops, "pct_fp32_matmul": 100 * gflops / fp32_rate,
                "pct_fp32_matmul_same_rounds": 100 * gflops / same_rounds_rate,
                "median_s": median, "times_s": t["times_s"], "first_call_s": t["first_call_s"],
            })
    summary = {}
    for name in args.configs.split(","):
        mine = [r for r in rows if r["config"] == name and r["impl"] == "ours"]
        hub = [r for r in rows if r["config"] == name and r["impl"] == "keras_hub"]
        best = lambda rs, p: max((r["steps_per_s"] for r in rs if r["mode"].startswith(p)), default=None)  # noqa
        entry = {"ours_fp32": best(mine, "fp32"), "ours_bf16": best(mine, "bf16"),
                 "keras_hub_fp32": best(hub, "fp32"), "keras_hub_bf16": best(hub, "bf16")}
        reference = max(v for v in (entry["keras_hub_fp32"], entry["ours_fp32"]) if v)
        if entry["keras_hub_fp32"]:
            entry["ours_fp32_vs_keras_hub_fp32"] = entry["ours_fp32"] / entry["keras_hub_fp32"]
        entry["ours_bf16_vs_best_fp32"] = entry["ours_bf16"] / reference if entry["ours_bf16"] else None
        summary[name] = entry

    header = (f"{'config':<10}{'batch':>6} {'impl':<10}{'mode':<10}{'steps/s':>9}{'ex/s':>9}"
              f"{'GFLOP/s':>9}{'%fp32mm':>9}{'%same':>8}")
    log("\n" + header + "\n" + "-" * len(header))
    for r in rows:
        log(f"{r['config']:<10}{r['batch']:>6} {r['impl']:<10}{r['mode']:<10}{r['steps_per_s']:>9.3f}"
            f"{r['examples_per_s']:>9.2f}{r['gflops']:>9.1f}{r['pct_fp32_matmul']:>8.1f}%"
            f"{r['pct_fp32_matmul_same_rounds']:>7.1f}%")
    log(f"\nfp32 matmul rate {fp32_rate:.1f} GFLOP/s at the start, "
        + ", ".join(f"{v:.1f} in the {k} rounds" for k, v in same_rounds.items())
        + f"; bf16 {matmul['bfloat16']['peak_gflops']:.1f}")
    for name, entry in summary.items():
        log(f"{name}: " + ", ".join(f"{k}={v:.3f}" for k, v in entry.items() if v is not None))
    os.makedirs(os.path.dirname(args.output_json) or ".", exist_ok=True)
    with open(args.output_json, "w") as f:
        json.dump({"date": time.strftime("%Y-%m-%d %H:%M:%S"), "seq": SEQ, "predictions": PREDS,
                   "matmul": matmul, "fp32_matmul_same_rounds": same_rounds, "rows": rows,
                   "summary": summary}, f, indent=2)
    log(f"wrote {args.output_json}")


if __name__ == "__main__":
    main()
