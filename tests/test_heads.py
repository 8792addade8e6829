"""Pretraining heads: Google's names, the original's loss, loading Google's pretrained heads."""

import numpy as np
import pytest
import tensorflow as tf

import numpy_bert
from conftest import write_tf1_checkpoint
from bert_tf import checkpoints
from bert_tf.heads import BertPretrainer, gather_indexes, pick_labels, pretraining_loss
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


@pytest.mark.parametrize("shape", [(5, 7), (2, 3, 4)])
def test_pick_labels_values_and_gradient(rng, shape):
    values = tf.constant(rng.standard_normal(shape), tf.float32)
    labels = rng.integers(0, shape[-1], size=shape[:-1])
    labels.flat[0] = labels.flat[1]  # a repeated label in different rows
    upstream = tf.constant(rng.standard_normal(shape[:-1]), tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(values)
        picked = pick_labels(values, tf.constant(labels))
        loss = tf.reduce_sum(picked * upstream)
    grad = tape.gradient(loss, values).numpy()
    # Independent reference: numpy indexing, and the gradient of sum(upstream * v[label]) is
    # upstream at each row's label and 0 elsewhere.
    v = values.numpy()
    expected = np.take_along_axis(v, labels[..., None], axis=-1)[..., 0]
    np.testing.assert_array_equal(picked.numpy(), expected)
    expected_grad = np.zeros(shape, np.float32)
    np.put_along_axis(expected_grad, labels[..., None], upstream.numpy()[..., None], axis=-1)
    np.testing.assert_array_equal(grad, expected_grad)


# ---------------------------------------------------------------------------------------------
# Token tagging and multiple choice.


def _tagging_batch(rng, batch=2, seq=7, vocab=99):
    ids = rng.integers(5, vocab, size=(batch, seq)).astype(np.int32)
    mask = np.ones_like(ids)
    mask[1, 4:] = 0
    ids[1, 4:] = 0
    labels = rng.integers(0, 5, size=(batch, seq)).astype(np.int32)
    labels[:, 0] = -1  # [CLS]
    labels[0, 3] = -1  # a later word piece
    labels[1, 3:] = -1  # [SEP] and padding
    return {"input_ids": ids, "input_mask": mask, "segment_ids": np.zeros_like(ids)}, labels


def test_token_classifier_names_outputs_and_loss(tiny_config, rng):
    from bert_tf.heads import BertTokenClassifier, token_classification_loss

    model = BertTokenClassifier(tiny_config, num_labels=5)
    model.build()
    names = checkpoints.google_variable_map(model)
    assert tuple(names["output_weights"].shape) == (5, 32)
    assert tuple(names["output_bias"].shape) == (5,)
    assert not [n for n in names if not n.startswith("bert/") and not n.startswith("output_")]
    features, labels = _tagging_batch(rng)
    outputs = model(features, training=False)
    logits = outputs["logits"].numpy()
    assert logits.shape == (2, 7, 5)
    np.testing.assert_allclose(outputs["probabilities"].numpy().sum(-1), 1.0, rtol=1e-5)
    # The head is output_weights^T on the encoder's sequence output.
    sequence = model.bert(features, training=False)["sequence_output"].numpy()
    expected = sequence @ names["output_weights"].numpy().T + names["output_bias"].numpy()
    np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-5)
    # The loss: mean cross entropy over positions with a label id >= 0 only.
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    scored = labels >= 0
    picked = np.take_along_axis(log_probs, np.maximum(labels, 0)[..., None], -1)[..., 0]
    loss = token_classification_loss(outputs, dict(features, label_ids=labels))
    assert float(loss) == pytest.approx(-picked[scored].mean(), rel=1e-5)
    clone = BertTokenClassifier.from_config(model.get_config())
    assert clone.num_labels == 5 and clone.config == tiny_config


def test_feature_tagger_freezes_the_encoder_and_masks_padding(tiny_config, rng):
    from bert_tf.heads import BertFeatureTagger

    model = BertFeatureTagger(tiny_config, 5, lstm_size=6, num_feature_layers=2)
    model.build()
    assert all(v.path.split("/")[1] != "bert" for v in model.trainable_variables)
    trainable = {checkpoints.google_variable_map(model)[n].path for n in ("output_weights",)}
    assert trainable <= {v.path for v in model.trainable_variables}
    features, _ = _tagging_batch(rng)
    logits = model(features, training=False)["logits"].numpy()
    assert logits.shape == (2, 7, 5)
    # Different padding after the real tokens changes nothing at the real positions (the
    # backward LSTM starts at each sequence's last real token).
    other = dict(features, input_ids=features["input_ids"].copy())
    other["input_ids"][1, 4:] = 7
    again = model(other, training=False)["logits"].numpy()
    np.testing.assert_allclose(again[1, :4], logits[1, :4], rtol=1e-5, atol=1e-6)
    # And the second sequence alone, unpadded, gives the same real-position outputs.
    alone = {k: v[1:2, :4] for k, v in features.items()}
    np.testing.assert_allclose(
        model(alone, training=False)["logits"].numpy()[0], logits[1, :4], rtol=1e-4, atol=1e-5
    )
    # The encoder gets no gradient.
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model(features, training=True)["logits"])
    grads = tape.gradient(loss, model.bert.weights)
    assert all(g is None for g in grads)
    with pytest.raises(ValueError, match="num_feature_layers=3: the encoder has 2 layers"):
        BertFeatureTagger(tiny_config, 5, num_feature_layers=3)


def test_multiple_choice_scores_each_candidate_with_one_vector(tiny_config, rng):
    from bert_tf.heads import BertMultipleChoice

    model = BertMultipleChoice(tiny_config)
    model.build()
    names = checkpoints.google_variable_map(model)
    assert tuple(names["output_weights"].shape) == (1, 32)
    ids = rng.integers(5, 99, size=(2, 4, 6)).astype(np.int32)
    features = {"input_ids": ids, "input_mask": np.ones_like(ids), "segment_ids": 0 * ids}
    outputs = model(features, training=False)
    assert outputs["logits"].shape == (2, 4)
    # Each candidate on its own: pooled output . output_weights + output_bias.
    for choice in range(4):
        pooled = model.bert({k: v[:, choice] for k, v in features.items()})["pooled_output"]
        expected = pooled.numpy() @ names["output_weights"].numpy()[0] + names["output_bias"][0]
        np.testing.assert_allclose(outputs["logits"][:, choice], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(outputs["probabilities"].numpy().sum(1), 1.0, rtol=1e-6)
