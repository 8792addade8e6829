"""Pretraining heads: Google's names, the original's loss, loading Google's pretrained heads."""

import numpy as np
import tensorflow as tf

import numpy_bert
from conftest import write_tf1_checkpoint
from bert_tf import checkpoints
from bert_tf.heads import BertPretrainer, gather_indexes, pretraining_loss
from bert_tf.modeling import BertConfig

HEAD_SHAPES = {
    "cls/predictions/transform/dense/kernel": (32, 32),
    "cls/predictions/transform/dense/bias": (32,),
    "cls/predictions/transform/LayerNorm/gamma": (32,),
    "cls/predictions/transform/LayerNorm/beta": (32,),
    "cls/predictions/output_bias": (99,),
    "cls/seq_relationship/output_weights": (2, 32),
    "cls/seq_relationship/output_bias": (2,),
}


def _features(rng, batch=3, seq=10, preds=4, vocab=99):
    ids = rng.integers(5, vocab, size=(batch, seq)).astype(np.int32)
    mask = np.ones_like(ids)
    mask[2, 7:] = 0
    seg = np.zeros_like(ids)
    seg[:, 5:] = 1
    positions = np.sort(rng.choice(np.arange(1, 7), size=(batch, preds)), axis=1).astype(np.int32)
    weights = np.ones((batch, preds), np.float32)
    weights[1, 3:] = 0  # a padded prediction slot
    positions[1, 3:] = 0
    return {
        "input_ids": ids,
        "input_mask": mask,
        "segment_ids": seg,
        "masked_lm_positions": positions,
        "masked_lm_ids": rng.integers(0, vocab, size=(batch, preds)).astype(np.int32),
        "masked_lm_weights": weights,
        "next_sentence_labels": np.array([[0], [1], [0]], np.int32),
    }


def _head_weights(rng):
    return {name: (rng.standard_normal(shape) * 0.3).astype(np.float32) for name, shape in HEAD_SHAPES.items()}


def _numpy_loss(w, cfg, f):
    emb, layers, pooled = numpy_bert.forward(w, cfg, f["input_ids"], f["input_mask"], f["segment_ids"])
    seq = layers[-1]
    x = np.stack([seq[b, p] for b in range(seq.shape[0]) for p in f["masked_lm_positions"][b]])
    gelu = lambda v: 0.5 * v * (1 + np.tanh(np.sqrt(2 / np.pi) * (v + 0.044715 * v**3)))  # noqa
    x = gelu(x @ w["cls/predictions/transform/dense/kernel"] + w["cls/predictions/transform/dense/bias"])
    mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    x = (x - mean) / np.sqrt(var + 1e-12) * w["cls/predictions/transform/LayerNorm/gamma"] + w[
        "cls/predictions/transform/LayerNorm/beta"]
    logits = x @ w["bert/embeddings/word_embeddings"].T + w["cls/predictions/output_bias"]
    logp = logits - np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1, keepdims=True)) - logits.max(-1, keepdims=True)
    ids = f["masked_lm_ids"].reshape(-1)
    weights = f["masked_lm_weights"].reshape(-1)
    per = -logp[np.arange(len(ids)), ids]
    mlm = (weights * per).sum() / (weights.sum() + 1e-5)
    ns_logits = pooled @ w["cls/seq_relationship/output_weights"].T + w["cls/seq_relationship/output_bias"]
    ns_logp = ns_logits - np.log(np.exp(ns_logits).sum(-1, keepdims=True))
    labels = f["next_sentence_labels"].reshape(-1)
    nsp = -ns_logp[np.arange(len(labels)), labels].mean()
    return mlm, nsp


def test_google_head_names(tiny_config):
    model = BertPretrainer(tiny_config)
    model.build()
    table = checkpoints.google_variable_map(model)
    heads = {k: tuple(v.shape) for k, v in table.items() if k.startswith("cls/")}
    assert heads == HEAD_SHAPES
    assert "bert/encoder/layer_1/output/LayerNorm/gamma" in table


def test_loss_matches_numpy_and_google_checkpoint_loads(tiny_config_dict, tmp_path, rng):
    w = numpy_bert.random_weights(tiny_config_dict, seed=2)
    w.update(_head_weights(rng))
    prefix = write_tf1_checkpoint(w, str(tmp_path / "bert_model.ckpt"))
    model = BertPretrainer(BertConfig.from_dict(tiny_config_dict))
    model.build()
    report = checkpoints.load_google_checkpoint(model, prefix)
    assert not report.skipped and len(report.loaded) == len(w)
    f = _features(rng)
    total, mlm, nsp = pretraining_loss(model(f, training=False), f)
    ref_mlm, ref_nsp = _numpy_loss(w, tiny_config_dict, f)
    np.testing.assert_allclose(float(mlm), ref_mlm, rtol=1e-5)
    np.testing.assert_allclose(float(nsp), ref_nsp, rtol=1e-5)
    np.testing.assert_allclose(float(total), ref_mlm + ref_nsp, rtol=1e-5)


def test_encoder_only_checkpoint_leaves_heads_fresh(tiny_config_dict, tmp_path):
    w = numpy_bert.random_weights(tiny_config_dict)
    prefix = write_tf1_checkpoint(w, str(tmp_path / "bert_model.ckpt"))
    model = BertPretrainer(BertConfig.from_dict(tiny_config_dict))
    model.build()
    report = checkpoints.load_google_checkpoint(model, prefix, allow_missing=("cls/",))
    assert sorted(report.not_in_checkpoint) == sorted(HEAD_SHAPES)


def test_gather_indexes():
    seq = tf.reshape(tf.range(2 * 4 * 3, dtype=tf.float32), [2, 4, 3])
    out = gather_indexes(seq, tf.constant([[0, 3], [1, 1]])).numpy()
    np.testing.assert_array_equal(out, [[0, 1, 2], [9, 10, 11], [15, 16, 17], [15, 16, 17]])
