"""A few training steps of each training script against an independent reference of the original.

The reference is Google's model_fn written here in plain TF ops, with its embedding lookups: the
token types' a one-hot matmul (dense gradient), the words' a `tf.gather` as the original off TPU
(one gradient row per occurrence, which is how the original's global norm sees the word table in
fine-tuning; in pretraining the tied output layer adds a dense gradient, and the sum is dense),
or a one-hot matmul as on TPU and under --use_dense_clip_norm; and its optimizer step in numpy:
global-norm clipping at 1.0, Adam without bias correction, decoupled weight decay 0.01 except for LayerNorm/layer_norm/
bias, linear warmup then linear decay. Each script trains on a one-record file (the original's
repeat-then-shuffle stream is then the same record every step) with dropout 0, from a checkpoint
that holds every weight, heads included; its checkpoint after the last step must hold the
reference's weights to float32 rounding and its Adam moments to a relative 1e-4 (the moments are
proportional to the clipping factor, which an id repeated in the batch used to change).
"""

import json
import math
import sys

import numpy as np
import numpy_bert
import pytest
import tensorflow as tf
from absl import flags
from absl.testing import flagsaver
from conftest import SPECIAL_TOKENS, fine_tuning_flags, write_tf1_checkpoint

import run_classifier
import run_pretraining
import run_squad
from bert_tf import cli, records

FLAGS = flags.FLAGS
VOCAB = [
    *SPECIAL_TOKENS,
    "the",
    "cat",
    "dog",
    "sat",
    "on",
    "mat",
    ".",
    "where",
    "did",
    "sit",
    "?",
]
ID = {token: i for i, token in enumerate(VOCAB)}
CONFIG = {
    "vocab_size": len(VOCAB),
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 37,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.0,
    "attention_probs_dropout_prob": 0.0,
    "max_position_embeddings": 32,
    "type_vocab_size": 2,
    "initializer_range": 0.02,
}
STEPS = 6
LEARNING_RATE = 1e-4
DECAY_EXCLUDED = ("LayerNorm", "layer_norm", "bias")
GATHER_WORDS = True  # the reference's word lookup: the original's off TPU (False: on TPU)


def _ids(text):
    return [ID[t] for t in text.split()]


# ---------------------------------------------------------------------------------------------
# The reference: Google's forward pass and heads in plain TF ops, dense embedding gradients.


def _layer_norm(x, w, scope):
    mean, variance = tf.nn.moments(x, axes=[-1], keepdims=True)
    return (x - mean) * tf.math.rsqrt(variance + 1e-12) * w[scope + "/gamma"] + w[scope + "/beta"]


def _gelu(x):
    return 0.5 * x * (1.0 + tf.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


def _encoder(w, f):
    """Returns (sequence_output [b, t, h], pooled_output [b, h])."""
    ids, segments, mask = f["input_ids"], f["segment_ids"], f["input_mask"]
    b, t = ids.shape
    h, n = CONFIG["hidden_size"], CONFIG["num_attention_heads"]
    d = h // n
    e = "bert/embeddings/"
    if GATHER_WORDS:
        x = tf.gather(w[e + "word_embeddings"], ids.ravel())
    else:
        x = tf.matmul(tf.one_hot(ids.ravel(), CONFIG["vocab_size"]), w[e + "word_embeddings"])
    x += tf.matmul(tf.one_hot(segments.ravel(), 2), w[e + "token_type_embeddings"])
    x = tf.reshape(x, [b, t, h]) + w[e + "position_embeddings"][:t]
    x = tf.reshape(_layer_norm(x, w, e + "LayerNorm"), [b * t, h])
    adder = (1.0 - tf.constant(mask[:, None, None, :], tf.float32)) * -10000.0

    def dense(v, name):
        return tf.matmul(v, w[name + "/kernel"]) + w[name + "/bias"]

    def split(v):
        return tf.transpose(tf.reshape(v, [b, t, n, d]), [0, 2, 1, 3])

    for i in range(CONFIG["num_hidden_layers"]):
        p = f"bert/encoder/layer_{i}/"
        q, k, v = (split(dense(x, f"{p}attention/self/{m}")) for m in ("query", "key", "value"))
        probs = tf.nn.softmax(tf.matmul(q, k, transpose_b=True) / math.sqrt(d) + adder)
        context = tf.reshape(tf.transpose(tf.matmul(probs, v), [0, 2, 1, 3]), [b * t, h])
        a = _layer_norm(
            dense(context, p + "attention/output/dense") + x, w, p + "attention/output/LayerNorm"
        )
        o = dense(_gelu(dense(a, p + "intermediate/dense")), p + "output/dense")
        x = _layer_norm(o + a, w, p + "output/LayerNorm")
    sequence = tf.reshape(x, [b, t, h])
    pooled = tf.tanh(
        tf.matmul(sequence[:, 0], w["bert/pooler/dense/kernel"]) + w["bert/pooler/dense/bias"]
    )
    return sequence, pooled


def _cross_entropy(logits, labels):
    return -tf.reduce_sum(tf.nn.log_softmax(logits) * tf.one_hot(labels, logits.shape[-1]), -1)


def _pretraining_losses(w, f):
    """(total, masked_lm_loss, next_sentence_loss, mean masked LM loss as eval reports it)."""
    sequence, pooled = _encoder(w, f)
    b, t, h = sequence.shape
    flat = np.asarray(f["masked_lm_positions"] + t * np.arange(b)[:, None]).ravel()
    x = tf.gather(tf.reshape(sequence, [b * t, h]), flat)
    c = "cls/predictions/transform/"
    x = _gelu(tf.matmul(x, w[c + "dense/kernel"]) + w[c + "dense/bias"])
    x = _layer_norm(x, w, c + "LayerNorm")
    logits = tf.matmul(x, w["bert/embeddings/word_embeddings"], transpose_b=True)
    per_position = _cross_entropy(
        logits + w["cls/predictions/output_bias"], f["masked_lm_ids"].ravel()
    )
    weights = f["masked_lm_weights"].ravel()
    masked_lm = tf.reduce_sum(weights * per_position) / (tf.reduce_sum(weights) + 1e-5)
    s = "cls/seq_relationship/"
    ns_logits = tf.matmul(pooled, w[s + "output_weights"], transpose_b=True) + w[s + "output_bias"]
    next_sentence = tf.reduce_mean(_cross_entropy(ns_logits, f["next_sentence_labels"].ravel()))
    eval_masked_lm = tf.reduce_sum(weights * per_position) / tf.reduce_sum(weights)
    return masked_lm + next_sentence, masked_lm, next_sentence, eval_masked_lm


def _classifier_loss(w, f):
    _, pooled = _encoder(w, f)
    logits = tf.matmul(pooled, w["output_weights"], transpose_b=True) + w["output_bias"]
    return tf.reduce_mean(_cross_entropy(logits, f["label_ids"]))


def _squad_loss(w, f):
    sequence, _ = _encoder(w, f)
    logits = (
        tf.einsum("bth,kh->btk", sequence, w["cls/squad/output_weights"])
        + w["cls/squad/output_bias"]
    )
    start = tf.reduce_mean(_cross_entropy(logits[..., 0], f["start_positions"]))
    end = tf.reduce_mean(_cross_entropy(logits[..., 1], f["end_positions"]))
    return (start + end) / 2.0


def _reference_training(weights, loss_fn, features, steps, warmup):
    """The original's `create_optimizer` + `AdamWeightDecayOptimizer`, step by step.

    Returns (weights, adam_m, adam_v, [global norm before clipping, per step]).
    """
    names = sorted(weights)
    w = {k: tf.Variable(np.asarray(v, np.float32)) for k, v in weights.items()}
    m = {k: np.zeros_like(weights[k], np.float32) for k in names}
    v = {k: np.zeros_like(weights[k], np.float32) for k in names}
    norms = []
    for step in range(steps):
        with tf.GradientTape() as tape:
            loss = loss_fn(w, features)
        grads = dict(zip(names, tape.gradient(loss, [w[k] for k in names])))
        # tf.clip_by_global_norm of the original: a gathered lookup's gradient (IndexedSlices)
        # counts its rows as they are, one per occurrence; the update uses their sum.
        rows = {k: g.values for k, g in grads.items() if isinstance(g, tf.IndexedSlices)}
        grads = {k: tf.convert_to_tensor(g).numpy() for k, g in grads.items() if g is not None}
        norm = math.sqrt(
            sum(
                float(np.sum(np.asarray(rows.get(k, g), np.float64) ** 2))
                for k, g in grads.items()
            )
        )
        norms.append(norm)
        scale = np.float32(1.0 / max(norm, 1.0))
        lr = LEARNING_RATE * (1.0 - step / steps)
        if step < warmup:
            lr = LEARNING_RATE * step / warmup
        lr = np.float32(lr)
        for k, g in grads.items():
            g = g * scale
            m[k] = np.float32(0.9) * m[k] + np.float32(0.1) * g
            v[k] = np.float32(0.999) * v[k] + np.float32(0.001) * g * g
            update = m[k] / (np.sqrt(v[k]) + np.float32(1e-6))
            if not any(name in k for name in DECAY_EXCLUDED):
                update += np.float32(0.01) * w[k].numpy()
            w[k].assign(w[k].numpy() - lr * update)
    return {k: w[k].numpy() for k in names}, m, v, norms


def _initial_weights(seed, heads):
    rng = np.random.default_rng(seed + 100)
    weights = numpy_bert.random_weights(CONFIG, seed=seed, scale=0.2)
    for name, shape in heads.items():
        weights[name] = (rng.standard_normal(shape) * 0.2 + name.endswith("gamma")).astype(
            np.float32
        )
    return weights


def _compare(output_dir, reference, weights):
    """Asserts the script's final checkpoint against the reference; returns the differences.

    Weights to 1e-6. Each Adam moment to 1e-4 of the largest moment of its kind in the model
    (a scale common to all variables: some gradients are 0 in exact arithmetic, e.g. an
    attention key bias's, as a softmax ignores a shift of all its inputs, and both sides'
    moments of those are float32 noise).
    """
    ref_w, ref_m, ref_v, norms = reference
    assert min(norms) > 1.0, f"clipping must be active at every step: norms {norms}"
    reader = tf.train.load_checkpoint(str(output_dir / f"model.ckpt-{STEPS}"))
    worst = {}
    for name in sorted(weights):
        got = reader.get_tensor(name)
        worst["weight"] = max(worst.get("weight", 0.0), float(np.abs(got - ref_w[name]).max()))
        np.testing.assert_allclose(got, ref_w[name], rtol=0, atol=1e-6, err_msg=name)
    for slot, ref in (("adam_m", ref_m), ("adam_v", ref_v)):
        scale = max(float(np.abs(want).max()) for want in ref.values())
        errors = {
            name: float(np.abs(reader.get_tensor(f"{name}/{slot}") - ref[name]).max()) / scale
            for name in sorted(weights)
        }
        worst[slot] = max(errors.values())
        assert worst[slot] < 1e-4, {k: f"{e:.1e}" for k, e in errors.items() if e >= 1e-4}
    print(f"max differences from the reference after {STEPS} steps: {worst}; norms {norms}")
    return worst


def _write_folder(folder, weights):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "bert_config.json").write_text(json.dumps(CONFIG))
    (folder / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    write_tf1_checkpoint(weights, str(folder / "bert_model.ckpt"))
    return folder


def _training_loop_flags(**values):
    flags_ = {name: cli.SHARED_FLAGS[name][1] for name in cli.TRAINING_LOOP_FLAGS}
    flags_.update(save_checkpoints_steps=STEPS, iterations_per_loop=2, log_every_steps=1)
    flags_.update(values)
    return flags_


def _run(main, values):
    if not FLAGS.is_parsed():
        FLAGS.mark_as_parsed()
    with flagsaver.flagsaver(**values):
        main([])


# ---------------------------------------------------------------------------------------------
# The scripts.

PRETRAINING_HEADS = {
    "cls/predictions/transform/dense/kernel": (32, 32),
    "cls/predictions/transform/dense/bias": (32,),
    "cls/predictions/transform/LayerNorm/gamma": (32,),
    "cls/predictions/transform/LayerNorm/beta": (32,),
    "cls/predictions/output_bias": (len(VOCAB),),
    "cls/seq_relationship/output_weights": (2, 32),
    "cls/seq_relationship/output_bias": (2,),
}


def test_run_pretraining_matches_the_original(tmp_path):
    # [CLS] the cat [MASK] on the mat . [SEP] the dog sat [MASK] the mat . [SEP] + padding
    tokens = "[CLS] the cat [MASK] on the mat . [SEP] the dog sat [MASK] the mat . [SEP]"
    ids = _ids(tokens) + [0] * 3
    seq = len(ids)
    features = {
        "input_ids": np.array([ids]),
        "input_mask": np.array([[1] * 17 + [0] * 3]),
        "segment_ids": np.array([[0] * 9 + [1] * 8 + [0] * 3]),
        "masked_lm_positions": np.array([[3, 12, 6, 0]]),
        "masked_lm_ids": np.array([[ID["sat"], ID["on"], ID["mat"], 0]]),
        "masked_lm_weights": np.array([[1.0, 1.0, 1.0, 0.0]], np.float32),
        "next_sentence_labels": np.array([[1]]),
    }
    records.write_examples(
        [str(tmp_path / "one.tfrecord")], [{k: v[0].tolist() for k, v in features.items()}]
    )
    weights = _initial_weights(11, PRETRAINING_HEADS)
    folder = _write_folder(tmp_path / "model", weights)
    values = _training_loop_flags(
        bert_config_file=str(folder / "bert_config.json"),
        init_checkpoint=str(folder / "bert_model.ckpt"),
        input_file=str(tmp_path / "one.tfrecord"),
        output_dir=str(tmp_path / "out"),
        do_train=True,
        do_eval=True,
        max_seq_length=seq,
        max_predictions_per_seq=4,
        train_batch_size=1,
        eval_batch_size=1,
        max_eval_steps=1,
        learning_rate=LEARNING_RATE,
        num_train_steps=STEPS,
        num_warmup_steps=3,
    )
    _run(run_pretraining.main, values)
    reference = _reference_training(
        weights, lambda w, f: _pretraining_losses(w, f)[0], features, STEPS, 3
    )
    _compare(tmp_path / "out", reference, weights)
    # Eval on the same record with the trained weights: the original's eval_results.txt losses.
    _, _, next_sentence, masked_lm = _pretraining_losses(reference[0], features)
    results = dict(
        line.split(" = ")
        for line in (tmp_path / "out" / "eval_results.txt").read_text().splitlines()
    )
    assert float(results["masked_lm_loss"]) == pytest.approx(float(masked_lm), abs=1e-5)
    assert float(results["next_sentence_loss"]) == pytest.approx(float(next_sentence), abs=1e-5)


@pytest.mark.parametrize("use_dense_clip_norm", [False, True], ids=["words_per_occurrence", "dense"])
def test_run_classifier_matches_the_original(tmp_path, monkeypatch, use_dense_clip_norm):
    """An MRPC pair: repeated words, [SEP] twice, two segments."""
    monkeypatch.setattr(sys.modules[__name__], "GATHER_WORDS", not use_dense_clip_norm)
    data = tmp_path / "MRPC"
    data.mkdir()
    (data / "train.tsv").write_text(
        "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
        "1\t1\t2\tThe cat sat on the mat.\tThe dog sat on the mat.\n"
    )
    ids = _ids("[CLS] the cat sat on the mat . [SEP] the dog sat on the mat . [SEP]")
    seq = 20
    features = {
        "input_ids": np.array([ids + [0] * (seq - len(ids))]),
        "input_mask": np.array([[1] * len(ids) + [0] * (seq - len(ids))]),
        "segment_ids": np.array([[0] * 9 + [1] * 8 + [0] * (seq - 17)]),
        "label_ids": np.array([1]),
    }
    weights = _initial_weights(12, {"output_weights": (2, 32), "output_bias": (2,)})
    folder = _write_folder(tmp_path / "model", weights)
    values = fine_tuning_flags(
        folder,
        tmp_path / "out",
        **_training_loop_flags(use_dense_clip_norm=use_dense_clip_norm),
        data_dir=str(data),
        task_name="mrpc",
        xnli_language="zh",
        trim_padding=False,
        do_train=True,
        max_seq_length=seq,
        train_batch_size=1,
        learning_rate=LEARNING_RATE,
        num_train_epochs=float(STEPS),
        warmup_proportion=0.34,  # int(6 * 0.34) = 2 warmup steps
    )
    _run(run_classifier.main, values)
    reference = _reference_training(weights, _classifier_loss, features, STEPS, 2)
    _compare(tmp_path / "out", reference, weights)


def test_run_squad_matches_the_original(tmp_path):
    context = "The cat sat on the mat. The dog sat on the mat."
    squad_json = {
        "version": "1.1",
        "data": [
            {
                "title": "t",
                "paragraphs": [
                    {
                        "context": context,
                        "qas": [
                            {
                                "id": "q1",
                                "question": "Where did the cat sit?",
                                "answers": [
                                    {"text": "the mat", "answer_start": context.index("the mat")}
                                ],
                            }
                        ],
                    }
                ],
            }
        ],
    }
    (tmp_path / "train.json").write_text(json.dumps(squad_json))
    ids = _ids(
        "[CLS] where did the cat sit ? [SEP] "
        "the cat sat on the mat . the dog sat on the mat . [SEP]"
    )
    seq = 24
    features = {
        "input_ids": np.array([ids + [0] * (seq - len(ids))]),
        "input_mask": np.array([[1] * len(ids) + [0] * (seq - len(ids))]),
        "segment_ids": np.array([[0] * 8 + [1] * 15 + [0] * (seq - 23)]),
        "start_positions": np.array([12]),  # "the mat": context tokens 4-5, after 8 query tokens
        "end_positions": np.array([13]),
    }
    weights = _initial_weights(
        13, {"cls/squad/output_weights": (2, 32), "cls/squad/output_bias": (2,)}
    )
    folder = _write_folder(tmp_path / "model", weights)
    values = fine_tuning_flags(
        folder,
        tmp_path / "out",
        **_training_loop_flags(),
        train_file=str(tmp_path / "train.json"),
        do_train=True,
        max_seq_length=seq,
        doc_stride=8,
        max_query_length=8,
        version_2_with_negative=False,
        train_batch_size=1,
        learning_rate=LEARNING_RATE,
        num_train_epochs=float(STEPS),
        warmup_proportion=0.34,
    )
    _run(run_squad.main, values)
    reference = _reference_training(weights, _squad_loss, features, STEPS, 2)
    _compare(tmp_path / "out", reference, weights)
