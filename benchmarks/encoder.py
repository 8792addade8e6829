#!/usr/bin/env python
"""CPU throughput of the BERT encoder: `bert_tf.modeling.BertModel` against keras-hub's BertBackbone.

What it measures (defaults: batch 32, sequence length 128, inference, no padding):

* the machine's dense matmul rate, float32 and bfloat16 (a square 2048^3 product and BERT-base's
  three projection shapes on 4096 tokens), as a yardstick for the models' GFLOP/s;
* `BertModel` with the BERT-base and MiniLM (L6-H384-A12) configurations and random
  truncated-normal(0.02) weights, in float32 and under the ``mixed_bfloat16`` policy, each called
  inside ``tf.function`` with and without XLA (``jit_compile=True``);
* keras-hub's ``BertBackbone`` on the same configurations with the same weights (copied over), in
  the same four modes, as the reference; skipped with a message when keras-hub is not installed
  (it is a benchmark-only dependency: ``pip install keras-hub==0.32.0``).

Every figure is the median of ``--runs`` timed calls made after ``--warmup`` untimed calls. The
candidates of one configuration are timed round-robin (one call of each per round), so a
background load slows all of them alike instead of whichever happened to be running; before each
timed call the script also waits (``--quiet_wait_s``, within ``--max_total_wait_s``) for other
processes to go quiet, and reports the cores they used during the calls (``bg cores``).

FLOP count of one batch (multiply-adds count 2; embeddings, softmax, LayerNorm, GELU and biases are
not counted), with T = batch*seq tokens, H hidden, I intermediate, L layers, S = seq:

    L * [ 2*T*(4*H^2 + 2*H*I)       q, k, v and attention-output projections, FFN in and out
        + batch * 2*2*S^2*H ]       scores Q.K^T and context P.V over all heads
    + 2*batch*H^2                   pooler

BERT-base at 32x128: 716.0 GFLOP per batch; MiniLM: 91.8 GFLOP.

``%fp32mm`` / ``%bf16mm``: the model's GFLOP/s over the best fp32 / bf16 rate of the matmul table
(plain tf.matmul, 2048^3 and BERT-base's projection shapes, timed round-robin).

Accuracy columns: ``max|d|`` and ``mean|d|`` are |sequence_output - reference| on the same weights
and inputs; the reference is the same implementation's float32 tf.function output for XLA and
bfloat16 rows, and ours for the keras-hub float32 row (checking that both compute the same
function). ``floor`` (shown only for a model whose output tensor is 16-bit, as keras-hub's is
under ``mixed_bfloat16``) is max|bf16(reference) - reference|: the error of merely storing the
output in bfloat16 (half an ulp is 0.0156 for values in [4, 8), which LayerNorm outputs reach).
Ours returns float32 outputs under the mixed policy, so it has no such floor. ``max rel`` is
max |d| / max(1, |reference|).

The summary also gives the bfloat16 *operand* floor: our float32 model run with only the dense
matmuls' inputs (activations and kernels) rounded to bfloat16, accumulating in float32, everything
else float32. That is the rounding every bfloat16 matmul makes before it multiplies, so a mixed
model cannot expect to land closer to float32 than this.

Usage:
    .venv/bin/python benchmarks/encoder.py          # everything: ~5 min on an idle 2-core machine
    .venv/bin/python benchmarks/encoder.py --configs minilm --runs 5 --output_json /tmp/e.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

CONFIGS = {
    "bert_base": dict(
        vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
        intermediate_size=3072, type_vocab_size=2,
    ),
    "minilm": dict(
        vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
        intermediate_size=1536, type_vocab_size=2,
    ),
}
ALIASES = {"base": "bert_base", "bert-base": "bert_base", "mini": "minilm"}
MODES = ("fp32", "fp32_xla", "bf16", "bf16_xla")
IMPLS = ("ours", "keras_hub")
SKIPPED: list[str] = []  # notes about rows that could not be measured, printed with the table
DEFAULT_OUTPUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "encoder.json")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--seq_length", type=int, default=128)
    p.add_argument("--runs", type=int, default=5, help="timed calls per figure (median; >= 5)")
    p.add_argument("--warmup", type=int, default=2, help="untimed calls first (>= 2)")
    p.add_argument("--configs", default="bert_base,minilm", help="comma list: bert_base, minilm")
    p.add_argument("--impls", default="ours,keras_hub", help="comma list: ours, keras_hub")
    p.add_argument("--modes", default=",".join(MODES), help="comma list of " + ", ".join(MODES))
    p.add_argument("--matmul_runs", type=int, default=7, help="timed calls per matmul shape")
    p.add_argument("--skip_matmul", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet_wait_s", type=float, default=15.0,
                   help="before each timed call, wait up to this long for other processes to "
                        "use < 0.2 cores (0: never wait)")
    p.add_argument("--max_total_wait_s", type=float, default=150.0,
                   help="budget for all those waits together")
    p.add_argument("--output_json", default=DEFAULT_OUTPUT)
    args = p.parse_args(argv)
    args.configs = [ALIASES.get(c.strip(), c.strip()) for c in args.configs.split(",") if c.strip()]
    args.impls = [i.strip().replace("-", "_") for i in args.impls.split(",") if i.strip()]
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    for name, values, allowed in (("config", args.configs, CONFIGS), ("impl", args.impls, IMPLS),
                                  ("mode", args.modes, MODES)):
        bad = [v for v in values if v not in allowed]
        if bad:
            p.error(f"unknown {name} {bad}; expected {sorted(allowed)}")
    if args.runs < 5 or args.warmup < 2:
        print("note: fewer than 5 runs / 2 warm-ups is below the benchmark's own standard",
              file=sys.stderr)
    return args


# ----------------------------------------------------------------------------------------------
# FLOPs and timing helpers.


def encoder_flops(cfg: dict, batch: int, seq: int) -> int:
    """FLOPs of one forward pass, as documented in the module docstring."""
    h, i, n = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]
    tokens = batch * seq
    dense = 2 * tokens * (4 * h * h + 2 * h * i)
    attention = batch * 2 * 2 * seq * seq * h
    pooler = 2 * batch * h * h
    return n * (dense + attention) + pooler


def _block(result):
    """Waits for a result by reading one element of its first tensor back to the host."""
    first = tf.nest.flatten(result)[0]
    return first.numpy().flat[0]


class BackgroundLoad:
    """CPU time used by *other* processes, from /proc (Linux); a no-op elsewhere.

    Other jobs on a small machine skew timings badly (one busy core halves a 2-core matmul). The
    timer waits, within a budget, for the other processes to go quiet before each timed call, and
    records how many cores they used during it.
    """

    def __init__(self, quiet_wait_s: float, total_wait_s: float, threshold_cores: float = 0.2):
        self.quiet_wait_s = quiet_wait_s
        self.wait_budget_s = total_wait_s
        self.threshold = threshold_cores
        self.waited_s = 0.0
        try:
            self.hz = os.sysconf("SC_CLK_TCK")
            self._sample()
            self.available = True
        except (OSError, ValueError, IndexError):
            self.available = False

    @staticmethod
    def _sample():
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:9]]
        busy = sum(values) - values[3] - values[4]  # all but idle and iowait
        with open("/proc/self/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        own = int(fields[11]) + int(fields[12])  # utime + stime
        return time.perf_counter(), busy, own

    def others_cores(self, start, end) -> float:
        """Average number of cores other processes kept busy between two samples."""
        dt = end[0] - start[0]
        if dt <= 0:
            return 0.0
        return max(0.0, ((end[1] - start[1]) - (end[2] - start[2])) / self.hz / dt)

    def start(self):
        return self._sample() if self.available else None

    def stop(self, start) -> float | None:
        return self.others_cores(start, self._sample()) if self.available else None

    def wait_until_quiet(self):
        if not self.available or self.quiet_wait_s <= 0:
            return
        deadline = time.perf_counter() + min(self.quiet_wait_s, self.wait_budget_s - self.waited_s)
        began = time.perf_counter()
        while True:
            s = self._sample()
            time.sleep(0.1)
            if self.others_cores(s, self._sample()) < self.threshold:
                break
            if time.perf_counter() >= deadline:
                break
        self.waited_s += time.perf_counter() - began


_LOAD = BackgroundLoad(0, 0)


def time_once(fn, load: BackgroundLoad | None = None):
    """Seconds for one call of fn (and the other processes' cores during it, or None)."""
    load = load or _LOAD
    load.wait_until_quiet()
    mark = load.start()
    start = time.perf_counter()
    _block(fn())
    elapsed = time.perf_counter() - start
    return elapsed, load.stop(mark)


def time_round_robin(candidates: dict, runs: int, warmup: int, log, load=None) -> dict:
    """Warm-up calls of each candidate, then `runs` rounds timing each candidate once per round.

    Returns {name: {"first_call_s", "times_s", "background_cores"}}; the first warm-up call
    includes tracing and compilation.
    """
    out = {}
    for name, fn in candidates.items():
        start = time.perf_counter()
        _block(fn())
        first = time.perf_counter() - start
        for _ in range(warmup - 1):
            _block(fn())
        out[name] = {"first_call_s": first, "times_s": [], "background_cores": []}
        log(f"  warmed up {name:<24s} first call {first:7.2f} s")
    for r in range(runs):
        for name, fn in candidates.items():
            elapsed, others = time_once(fn, load)
            out[name]["times_s"].append(elapsed)
            out[name]["background_cores"].append(others)
        log(f"  round {r + 1}/{runs} done")
    return out


# ----------------------------------------------------------------------------------------------
# Matmul yardstick.

MATMUL_SHAPES = [
    ("2048x2048 @ 2048x2048", 2048, 2048, 2048),
    ("[4096,768] @ [768,3072] (FFN in)", 4096, 768, 3072),
    ("[4096,3072] @ [3072,768] (FFN out)", 4096, 3072, 768),
    ("[4096,768] @ [768,768] (q/k/v/out)", 4096, 768, 768),
]


def matmul_candidates(dtypes=(tf.float32, tf.bfloat16)) -> tuple[dict, dict]:
    """({name: fn}, {name: (dtype name, label, m, k, n)}) for plain tf.matmul on MATMUL_SHAPES."""
    rng = np.random.default_rng(0)
    candidates, shapes = {}, {}
    for dtype in dtypes:
        for label, m, k, n in MATMUL_SHAPES:
            a = tf.cast(tf.constant(rng.standard_normal((m, k), np.float32)), dtype)
            b = tf.cast(tf.constant(rng.standard_normal((k, n), np.float32)), dtype)
            name = f"{dtype.name} {label}"
            candidates[name] = tf.function(lambda a=a, b=b: tf.matmul(a, b))
            shapes[name] = (dtype.name, label, m, k, n)
    return candidates, shapes


def bench_matmul(runs: int, warmup: int, log) -> dict:
    """Median GFLOP/s of plain tf.matmul on MATMUL_SHAPES, fp32 and bf16, timed round-robin."""
    candidates, shapes = matmul_candidates()
    timings = time_round_robin(candidates, runs, warmup, lambda *_: None)
    results = {"float32": {"shapes": []}, "bfloat16": {"shapes": []}}
    for name, (dtype, label, m, k, n) in shapes.items():
        med = statistics.median(timings[name]["times_s"])
        row = {"shape": label, "m": m, "k": k, "n": n, "median_s": med,
               "gflops": 2 * m * k * n / med / 1e9}
        results[dtype]["shapes"].append(row)
        log(f"  matmul {dtype:<8s} {label:<36s} {row['gflops']:7.1f} GFLOP/s")
    for r in results.values():
        r["peak_gflops"] = max(x["gflops"] for x in r["shapes"])
    return results


# ----------------------------------------------------------------------------------------------
# Models.


def make_inputs(cfg: dict, batch: int, seq: int, seed: int):
    rng = np.random.default_rng(seed)
    ids = rng.integers(1000, cfg["vocab_size"], size=(batch, seq)).astype(np.int32)
    ids[:, 0] = 101  # [CLS]
    segments = np.zeros_like(ids)
    segments[:, seq // 2 :] = 1
    mask = np.ones_like(ids)
    return tf.constant(ids), tf.constant(mask), tf.constant(segments)


def build_ours(cfg: dict, dtype: str | None, inputs):
    from bert_tf.modeling import BertConfig, BertModel

    model = BertModel(BertConfig(**cfg), dtype=dtype)
    ids, mask, seg = inputs
    model({"input_ids": ids[:1, :2], "input_mask": mask[:1, :2], "segment_ids": seg[:1, :2]})
    feed = {"input_ids": ids, "input_mask": mask, "segment_ids": seg}

    def call(jit: bool):
        fn = tf.function(
            lambda x: _pick(model(x, training=False)), jit_compile=jit, autograph=False
        )
        return lambda: fn(feed)

    return model, call


def _pick(outputs: dict):
    return {"sequence_output": outputs["sequence_output"], "pooled_output": outputs["pooled_output"]}


def build_keras_hub(cfg: dict, dtype: str | None, inputs):
    import keras_hub

    model = keras_hub.models.BertBackbone(
        vocabulary_size=cfg["vocab_size"],
        num_layers=cfg["num_hidden_layers"],
        num_heads=cfg["num_attention_heads"],
        hidden_dim=cfg["hidden_size"],
        intermediate_dim=cfg["intermediate_size"],
        num_segments=cfg["type_vocab_size"],
        max_sequence_length=512,
        dtype=dtype,
    )
    ids, mask, seg = inputs
    feed = {"token_ids": ids, "padding_mask": mask, "segment_ids": seg}

    def call(jit: bool):
        fn = tf.function(
            lambda x: _pick(model(x, training=False)), jit_compile=jit, autograph=False
        )
        return lambda: fn(feed)

    return model, call


def copy_ours_to_keras_hub(ours, hub, cfg: dict) -> None:
    """Assigns our (Google-named) weights to a keras-hub BertBackbone of the same shape."""
    from bert_tf import checkpoints

    src = {k: v.numpy() for k, v in checkpoints.google_variable_map(ours).items()}
    heads = cfg["num_attention_heads"]
    h = cfg["hidden_size"]
    d = h // heads
    table = {
        "token_embedding/embeddings": src["bert/embeddings/word_embeddings"],
        "position_embedding/embeddings": src["bert/embeddings/position_embeddings"],
        "segment_embedding/embeddings": src["bert/embeddings/token_type_embeddings"],
        "embeddings_layer_norm/gamma": src["bert/embeddings/LayerNorm/gamma"],
        "embeddings_layer_norm/beta": src["bert/embeddings/LayerNorm/beta"],
        "pooled_dense/kernel": src["bert/pooler/dense/kernel"],
        "pooled_dense/bias": src["bert/pooler/dense/bias"],
    }
    for i in range(cfg["num_hidden_layers"]):
        g, k = f"bert/encoder/layer_{i}/", f"transformer_layer_{i}/"
        for name in ("query", "key", "value"):
            table[k + f"self_attention_layer/{name}/kernel"] = src[
                g + f"attention/self/{name}/kernel"].reshape(h, heads, d)
            table[k + f"self_attention_layer/{name}/bias"] = src[
                g + f"attention/self/{name}/bias"].reshape(heads, d)
        table[k + "self_attention_layer/attention_output/kernel"] = src[
            g + "attention/output/dense/kernel"].reshape(heads, d, h)
        table[k + "self_attention_layer/attention_output/bias"] = src[
            g + "attention/output/dense/bias"]
        for ours_ln, hub_ln in (("attention/output/LayerNorm", "self_attention_layer_norm"),
                                ("output/LayerNorm", "feedforward_layer_norm")):
            for p in ("gamma", "beta"):
                table[k + f"{hub_ln}/{p}"] = src[g + f"{ours_ln}/{p}"]
        for ours_d, hub_d in (("intermediate/dense", "feedforward_intermediate_dense"),
                              ("output/dense", "feedforward_output_dense")):
            for p in ("kernel", "bias"):
                table[k + f"{hub_d}/{p}"] = src[g + f"{ours_d}/{p}"]
    paths = [w.path for w in hub.weights]
    missing = sorted(set(paths) ^ set(table))
    if missing:
        raise RuntimeError(f"keras-hub weight layout differs from the expected one: {missing[:6]}")
    for w in hub.weights:
        w.assign(table[w.path])


def keras_hub_version():
    try:
        import keras_hub
    except ImportError as e:  # pragma: no cover - depends on the environment
        return None, str(e)
    return keras_hub.__version__, None


# ----------------------------------------------------------------------------------------------
# Main.


def _accuracy(out, ref) -> dict:
    """max/mean |out - ref|, plus for a 16-bit `out` the floor that rounding ref alone gives."""
    o = tf.cast(out, tf.float32).numpy()
    r = tf.cast(ref, tf.float32).numpy()
    d = np.abs(o - r)
    acc = {
        "max_abs_diff": float(d.max()),
        "mean_abs_diff": float(d.mean()),
        "max_rel_diff": float((d / np.maximum(1.0, np.abs(r))).max()),
    }
    if out.dtype != tf.float32:
        rounded = tf.cast(tf.cast(r, out.dtype), tf.float32).numpy()
        acc["output_rounding_floor"] = float(np.abs(rounded - r).max())
    return acc


def _round_bf16(t):
    return tf.cast(tf.cast(t, tf.bfloat16), tf.float32)


def bf16_operand_floor(model, feed, ref) -> dict:
    """|d| of our float32 model with only its dense matmuls' operands rounded to bfloat16.

    Activations and kernels are rounded to bfloat16 before each dense-layer matmul; the products
    accumulate in float32 and everything else (bias, GELU, attention, residual adds, LayerNorm)
    stays float32. Any implementation whose dense matmuls read bfloat16 operands carries at least
    this rounding, so its max|d| is the error bfloat16 itself brings, not the implementation's.
    """
    from bert_tf import modeling

    def rounded_dense(x, dense, activation=None):
        y = tf.matmul(_round_bf16(x), _round_bf16(dense.kernel.value))
        y = tf.nn.bias_add(y, dense.bias.value)
        return y if activation is None else activation(y)

    original = modeling._dense_2d
    modeling._dense_2d = rounded_dense
    try:
        out = tf.function(lambda x: model(x, training=False)["sequence_output"])(feed)
    finally:
        modeling._dense_2d = original
    d = np.abs(out.numpy() - tf.cast(ref, tf.float32).numpy())
    return {"operand_floor_max_abs_diff": float(d.max()),
            "operand_floor_mean_abs_diff": float(d.mean())}


def run_config(cfg_name: str, args, fp32_peak, bf16_peak, log) -> list[dict]:
    import keras

    cfg = CONFIGS[cfg_name]
    flops = encoder_flops(cfg, args.batch_size, args.seq_length)
    inputs = make_inputs(cfg, args.batch_size, args.seq_length, args.seed)
    log(f"\n== {cfg_name}: {cfg} -- {flops / 1e9:.1f} GFLOP per batch of "
        f"{args.batch_size}x{args.seq_length}")

    keras.utils.set_random_seed(args.seed)
    models, candidates, meta = {}, {}, {}
    impls = list(args.impls)
    if "keras_hub" in impls:
        version, err = keras_hub_version()
        if version is None:
            note = (f"{cfg_name}: keras-hub rows skipped: keras-hub is not installed ({err}); "
                    "pip install keras-hub==0.32.0")
            log("  " + note)
            SKIPPED.append(note)
            impls.remove("keras_hub")
    builders = {"ours": build_ours, "keras_hub": build_keras_hub}
    ref_fns = {}
    for impl in impls:
        for precision, dtype in (("fp32", None), ("bf16", "mixed_bfloat16")):
            modes = [m for m in args.modes if m.split("_")[0] == precision]
            if precision == "bf16" and not modes:
                continue  # the float32 model is always built: weight source and reference
            model, call = builders[impl](cfg, dtype, inputs)
            models[(impl, precision)] = model
            for mode in modes:
                candidates[f"{impl}/{mode}"] = call(jit=mode.endswith("_xla"))
                meta[f"{impl}/{mode}"] = (impl, mode)
            if precision == "fp32":
                ref_fns[impl] = candidates.get(f"{impl}/fp32") or call(jit=False)
    # Same weights everywhere: our float32 model's truncated-normal(0.02) initialisation.
    ours32 = models.get(("ours", "fp32"))
    for (impl, precision), model in models.items():
        if ours32 is None or model is ours32:
            continue
        if impl == "ours":
            model.set_weights(ours32.get_weights())
        else:
            copy_ours_to_keras_hub(ours32, model, cfg)

    # Reference outputs (float32, tf.function without XLA) for the accuracy columns.
    ref = {impl: fn()["sequence_output"] for impl, fn in ref_fns.items()}

    floor = {}
    if ours32 is not None and any(m.startswith("bf16") for m in args.modes):
        ids, mask, seg = inputs
        feed = {"input_ids": ids, "input_mask": mask, "segment_ids": seg}
        floor = bf16_operand_floor(ours32, feed, ref["ours"])
        log(f"  bf16 operand-rounding floor: max|d| {floor['operand_floor_max_abs_diff']:.2e}, "
            f"mean|d| {floor['operand_floor_mean_abs_diff']:.2e}")

    timings = time_round_robin(candidates, args.runs, args.warmup, log)
    rows = []
    for name in candidates:
        t = timings[name]
        impl, mode = meta[name]
        out = candidates[name]()["sequence_output"]
        cores = [c for c in t["background_cores"] if c is not None]
        row = {
            "config": cfg_name, "impl": impl, "mode": mode,
            "median_s": statistics.median(t["times_s"]), "min_s": min(t["times_s"]),
            "times_s": t["times_s"], "first_call_s": t["first_call_s"],
            "background_cores_median": statistics.median(cores) if cores else None,
            "gflop_per_batch": flops / 1e9, "output_dtype": out.dtype.name,
        }
        row["seq_per_s"] = args.batch_size / row["median_s"]
        row["gflops"] = flops / row["median_s"] / 1e9
        row["frac_fp32_matmul"] = row["gflops"] / fp32_peak if fp32_peak else None
        row["frac_bf16_matmul"] = row["gflops"] / bf16_peak if bf16_peak else None
        if mode == "fp32" and impl == "keras_hub" and "ours" in ref:
            row.update(_accuracy(out, ref["ours"]), diff_vs="ours fp32")
        elif mode != "fp32":
            row.update(_accuracy(out, ref[impl]), diff_vs=f"{impl} fp32")
            if impl == "ours" and mode.startswith("bf16"):
                row.update(floor)
        rows.append(row)
    del models, candidates, ref_fns
    return rows


def best(rows, cfg, impl, precision):
    pick = [r for r in rows if r["config"] == cfg and r["impl"] == impl
            and r["mode"].startswith(precision)]
    return max(pick, key=lambda r: r["seq_per_s"]) if pick else None


def summarize(rows, configs) -> list[dict]:
    out = []
    for cfg in configs:
        o32, o16 = best(rows, cfg, "ours", "fp32"), best(rows, cfg, "ours", "bf16")
        k32, k16 = best(rows, cfg, "keras_hub", "fp32"), best(rows, cfg, "keras_hub", "bf16")
        s = {"config": cfg}
        for key, r in (("ours_fp32_best", o32), ("ours_bf16_best", o16),
                       ("keras_hub_fp32_best", k32), ("keras_hub_bf16_best", k16)):
            s[key] = {"mode": r["mode"], "seq_per_s": r["seq_per_s"]} if r else None
        if o32 and k32:
            s["ours_fp32_over_keras_hub_fp32"] = o32["seq_per_s"] / k32["seq_per_s"]
            s["target_fp32_ratio_met"] = s["ours_fp32_over_keras_hub_fp32"] >= 0.95
        if o16 and (o32 or k32):
            denom = max(r["seq_per_s"] for r in (o32, k32) if r)
            s["ours_bf16_over_best_fp32"] = o16["seq_per_s"] / denom
            s["target_bf16_ratio_met"] = s["ours_bf16_over_best_fp32"] >= 1.6
        if o16:
            s["bf16_max_abs_diff"] = o16.get("max_abs_diff")
            s["bf16_mean_abs_diff"] = o16.get("mean_abs_diff")
            s["bf16_output_rounding_floor"] = o16.get("output_rounding_floor")
            s["target_bf16_accuracy_met"] = (o16.get("max_abs_diff") or 0.0) <= 1e-2
            s["bf16_operand_floor_max_abs_diff"] = o16.get("operand_floor_max_abs_diff")
            s["bf16_operand_floor_mean_abs_diff"] = o16.get("operand_floor_mean_abs_diff")
        if o16 and k16:
            s["ours_bf16_over_keras_hub_bf16"] = o16["seq_per_s"] / k16["seq_per_s"]
        out.append(s)
    return out


def format_table(matmul, rows, summary, args) -> str:
    lines = []
    if matmul:
        lines.append("Matmul rate (tf.function, median):")
        lines.append(f"  {'shape':<38s} {'fp32 GFLOP/s':>13s} {'bf16 GFLOP/s':>13s}")
        for a, b in zip(matmul["float32"]["shapes"], matmul["bfloat16"]["shapes"]):
            lines.append(f"  {a['shape']:<38s} {a['gflops']:13.1f} {b['gflops']:13.1f}")
        lines.append(f"  {'peak (best shape)':<38s} {matmul['float32']['peak_gflops']:13.1f} "
                     f"{matmul['bfloat16']['peak_gflops']:13.1f}")
        lines.append("")
    head = (f"{'config':<10s} {'impl':<10s} {'mode':<9s} {'ms/batch':>9s} {'min ms':>8s} "
            f"{'seq/s':>7s} {'GFLOP/s':>8s} {'%fp32mm':>8s} {'%bf16mm':>8s} {'1st s':>6s} "
            f"{'bg cores':>8s} {'max|d|':>9s} {'mean|d|':>9s} {'floor':>9s} {'max rel':>9s}"
            f"  diff vs")
    lines.append(f"Encoder, batch {args.batch_size} x seq {args.seq_length}, median of "
                 f"{args.runs} runs after {args.warmup} warm-ups (round-robin):")
    lines.append(head)
    lines.append("-" * len(head))

    def pct(v):
        return f"{100 * v:7.1f}%" if v is not None else f"{'-':>8s}"

    def num(v, fmt):
        return format(v, fmt) if v is not None else "-"

    for r in rows:
        lines.append(
            f"{r['config']:<10s} {r['impl']:<10s} {r['mode']:<9s} {1000 * r['median_s']:9.1f} "
            f"{1000 * r['min_s']:8.1f} {r['seq_per_s']:7.2f} {r['gflops']:8.1f} "
            f"{pct(r['frac_fp32_matmul'])} {pct(r['frac_bf16_matmul'])} {r['first_call_s']:6.1f} "
            f"{num(r.get('background_cores_median'), '8.2f'):>8s} "
            f"{num(r.get('max_abs_diff'), '9.2e'):>9s} {num(r.get('mean_abs_diff'), '9.2e'):>9s} "
            f"{num(r.get('output_rounding_floor'), '9.2e'):>9s} "
            f"{num(r.get('max_rel_diff'), '9.2e'):>9s}  {r.get('diff_vs', '')}"
        )
    lines.extend(SKIPPED)
    lines.append("")
    for s in summary:
        parts = [f"{s['config']}:"]
        for key in ("ours_fp32_best", "keras_hub_fp32_best", "ours_bf16_best",
                    "keras_hub_bf16_best"):
            if s.get(key):
                parts.append(f"{key.replace('_best', '')} best = {s[key]['seq_per_s']:.2f} seq/s "
                             f"({s[key]['mode']});")
        lines.append(" ".join(parts))
        if "ours_fp32_over_keras_hub_fp32" in s:
            ok = "met" if s["target_fp32_ratio_met"] else "NOT met"
            lines.append(f"  ours fp32 / keras-hub fp32 = {s['ours_fp32_over_keras_hub_fp32']:.3f}x "
                         f"(target >= 0.95x: {ok})")
        if "ours_bf16_over_best_fp32" in s:
            ok = "met" if s["target_bf16_ratio_met"] else "NOT met"
            lines.append(f"  ours bf16 / max(ours fp32, keras-hub fp32 where measured) = "
                         f"{s['ours_bf16_over_best_fp32']:.3f}x (target >= 1.6x: {ok})")
        if "ours_bf16_over_keras_hub_bf16" in s:
            lines.append(f"  ours bf16 / keras-hub bf16 = {s['ours_bf16_over_keras_hub_bf16']:.3f}x")
        if s.get("bf16_max_abs_diff") is not None:
            ok = "met" if s["target_bf16_accuracy_met"] else "NOT met"
            line = (f"  ours bf16 max|sequence_output - fp32| = {s['bf16_max_abs_diff']:.2e} "
                    f"(target <= 1e-2: {ok})")
            if s.get("bf16_output_rounding_floor") is not None:
                line += (f"; rounding the fp32 output itself to bfloat16 already gives "
                         f"{s['bf16_output_rounding_floor']:.2e}")
            lines.append(line)
        if s.get("bf16_operand_floor_max_abs_diff") is not None:
            lines.append(
                f"  float32 model with only its dense matmul operands rounded to bfloat16: "
                f"max|d| {s['bf16_operand_floor_max_abs_diff']:.2e}, "
                f"mean|d| {s['bf16_operand_floor_mean_abs_diff']:.2e} (no bfloat16 matmul gets "
                f"below this; ours: mean|d| {s['bf16_mean_abs_diff']:.2e})")
    return "\n".join(lines)


def environment() -> dict:
    import keras

    env = {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "keras_hub": keras_hub_version()[0],
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "(unset: on)"),
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
    }
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    env["cpu"] = line.split(":", 1)[1].strip()
                if line.startswith("flags"):
                    flags = line.split()
                    env["avx512_bf16"] = "avx512_bf16" in flags
                    env["amx_bf16"] = "amx_bf16" in flags
                    break
    except OSError:
        pass
    return env


def main(argv=None):
    args = parse_args(argv)

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    global _LOAD
    _LOAD = BackgroundLoad(args.quiet_wait_s, args.max_total_wait_s)
    started = time.perf_counter()
    load_before = os.getloadavg()
    tf.config.set_visible_devices([], "GPU")
    matmul = None
    if not args.skip_matmul:
        log("== matmul yardstick")
        matmul = bench_matmul(args.matmul_runs, args.warmup, log)
    fp32_peak = matmul["float32"]["peak_gflops"] if matmul else None
    bf16_peak = matmul["bfloat16"]["peak_gflops"] if matmul else None
    rows = []
    for cfg_name in args.configs:
        rows += run_config(cfg_name, args, fp32_peak, bf16_peak, log)
    summary = summarize(rows, args.configs)
    table = format_table(matmul, rows, summary, args)
    elapsed = time.perf_counter() - started
    print(table)
    print(f"\n(total {elapsed:.0f} s; load average before {load_before[0]:.2f}, "
          f"after {os.getloadavg()[0]:.2f})")
    result = {
        "settings": {k: v for k, v in vars(args).items() if k != "output_json"},
        "environment": environment(),
        "flop_count": "per layer 2*T*(4H^2 + 2*H*I) + batch*2*2*S^2*H, times layers, plus pooler "
                      "2*batch*H^2; T = batch*S tokens",
        "matmul": matmul,
        "rows": rows,
        "summary": summary,
        "skipped": SKIPPED,
        "load_average_before_after": [load_before[0], os.getloadavg()[0]],
        "waited_for_quiet_s": _LOAD.waited_s,
        "total_seconds": elapsed,
        "table": table,
    }
    if args.output_json:
        os.makedirs(os.path.dirname(os.path.abspath(args.output_json)), exist_ok=True)
        with open(args.output_json, "w") as f:
            json.dump(result, f, indent=2)
        print(f"wrote {args.output_json}")
    return result


if __name__ == "__main__":
    main()
