"""Output heads on top of `BertModel`, named as in Google's checkpoints.

Pretraining (``cls/``): the masked-LM head ``cls/predictions/transform/{dense,LayerNorm}`` plus
``cls/predictions/output_bias`` with output weights tied to the word embeddings, and the
next-sentence head ``cls/seq_relationship/output_weights`` [2, hidden] and ``output_bias`` [2].
Google's pretrained checkpoints ship these, so they load; ours save back in the same layout.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from bert_tf.modeling import (
    BertConfig,
    BertModel,
    _ConfiguredLayer,
    _dense,
    _layer_norm,
    get_activation,
)


def gather_indexes(sequence: tf.Tensor, positions: tf.Tensor) -> tf.Tensor:
    """Picks the vectors at `positions` from each sequence.

    Args:
        sequence: float Tensor of shape [batch_size, seq_length, width].
        positions: int Tensor of shape [batch_size, num_positions].

    Returns:
        Tensor of shape [batch_size * num_positions, width], rows in batch-major order.
    """
    picked = tf.gather(sequence, tf.cast(positions, tf.int32), batch_dims=1)
    return tf.reshape(picked, [-1, tf.shape(sequence)[-1]])


def add_output_projection(layer: keras.layers.Layer, num_outputs: int, width: int, stddev: float):
    """Adds Google's ``output_weights`` [num_outputs, width] and ``output_bias`` to `layer`.

    The NSP, classifier and SQuAD heads all store their last layer this way (weights used
    transposed), so their checkpoint names and shapes are the original's.
    """
    layer.output_weights = layer.add_weight(
        name="output_weights",
        shape=(num_outputs, width),
        initializer=keras.initializers.TruncatedNormal(stddev=stddev),
    )
    layer.output_bias = layer.add_weight(name="output_bias", shape=(num_outputs,), initializer="zeros")


def project(layer: keras.layers.Layer, x: tf.Tensor) -> tf.Tensor:
    """float32 ``x @ output_weights^T + output_bias`` over the last axis of `x`."""
    weights = tf.cast(layer.output_weights, tf.float32)
    logits = tf.tensordot(tf.cast(x, tf.float32), weights, axes=[[-1], [1]])
    return logits + tf.cast(layer.output_bias, tf.float32)


class MaskedLMTransform(_ConfiguredLayer):
    """Dense + activation + LayerNorm before the tied output layer (scope ``transform``)."""

    def __init__(self, config: BertConfig, **kwargs):
        kwargs.setdefault("name", "transform")
        super().__init__(config, **kwargs)
        self.dense = _dense(
            config,
            config.hidden_size,
            "dense",
            activation=get_activation(config.hidden_act),
            dtype=kwargs.get("dtype"),
        )
        self.layer_norm = _layer_norm(dtype=kwargs.get("dtype"))

    def build(self, input_shape):
        self.dense.build(input_shape)
        self.layer_norm.build(input_shape)
        self.built = True

    def call(self, x):
        return self.layer_norm(self.dense(x))


class MaskedLMHead(_ConfiguredLayer):
    """Predicts the original token at masked positions (scope ``cls/predictions``)."""

    def __init__(self, config: BertConfig, **kwargs):
        kwargs.setdefault("name", "predictions")
        super().__init__(config, **kwargs)
        self.transform = MaskedLMTransform(config, name="transform", dtype=kwargs.get("dtype"))

    def build(self, input_shape=None):
        self.transform.build((None, self.config.hidden_size))
        self.output_bias = self.add_weight(
            name="output_bias", shape=(self.config.vocab_size,), initializer="zeros"
        )
        self.built = True

    def call(self, sequence_output, positions, embedding_table):
        """Returns float32 log-probabilities of shape [batch_size * num_positions, vocab_size]."""
        x = self.transform(gather_indexes(sequence_output, positions))
        logits = tf.matmul(tf.cast(x, tf.float32), embedding_table, transpose_b=True)
        logits = tf.nn.bias_add(logits, tf.cast(self.output_bias, tf.float32))
        return tf.nn.log_softmax(logits, axis=-1)


class NextSentenceHead(_ConfiguredLayer):
    """Is-next / random-next classifier on the pooled output (scope ``cls/seq_relationship``)."""

    def __init__(self, config: BertConfig, **kwargs):
        kwargs.setdefault("name", "seq_relationship")
        super().__init__(config, **kwargs)

    def build(self, input_shape=None):
        add_output_projection(self, 2, self.config.hidden_size, self.config.initializer_range)
        self.built = True

    def call(self, pooled_output):
        """Returns float32 log-probabilities of shape [batch_size, 2] (0 = is next)."""
        return tf.nn.log_softmax(project(self, pooled_output), axis=-1)


class PretrainingHeads(_ConfiguredLayer):
    """Both pretraining heads under Google's ``cls`` scope."""

    def __init__(self, config: BertConfig, **kwargs):
        kwargs.setdefault("name", "cls")
        super().__init__(config, **kwargs)
        self.predictions = MaskedLMHead(config, name="predictions", dtype=kwargs.get("dtype"))
        self.seq_relationship = NextSentenceHead(
            config, name="seq_relationship", dtype=kwargs.get("dtype")
        )

    def build(self, input_shape=None):
        self.predictions.build()
        self.seq_relationship.build()
        self.built = True


class BertPretrainer(keras.Model):
    """`BertModel` plus the masked-LM and next-sentence heads.

    Called with a dict of Google's pretraining features (``input_ids``, ``input_mask``,
    ``segment_ids``, ``masked_lm_positions``); returns ``masked_lm_log_probs``
    [batch * max_predictions_per_seq, vocab_size] and ``next_sentence_log_probs`` [batch, 2],
    both float32. Checkpoint names: ``bert/...`` and ``cls/...`` as in Google's.
    """

    def __init__(self, config: BertConfig, **kwargs):
        kwargs.setdefault("name", "bert_pretrainer")
        dtype = kwargs.pop("dtype", None)
        super().__init__(**kwargs)
        self.config = config
        self.bert = BertModel(config, name="bert", dtype=dtype)
        self.cls = PretrainingHeads(config, name="cls", dtype=dtype)

    def build(self, input_shape=None):
        self.bert.build()
        self.cls.build()
        self.built = True

    def call(self, features, training=None):
        outputs = self.bert(features, training=training)
        table = self.bert.get_embedding_table()
        return {
            "masked_lm_log_probs": self.cls.predictions(
                outputs["sequence_output"], features["masked_lm_positions"], table
            ),
            "next_sentence_log_probs": self.cls.seq_relationship(outputs["pooled_output"]),
        }

    def get_config(self):
        return {"config": self.config.to_dict(), "name": self.name}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        return cls(BertConfig.from_dict(config.pop("config")), **config)


def masked_lm_example_loss(log_probs, masked_lm_ids):
    """Per-position cross entropy, [batch * max_predictions_per_seq]."""
    ids = tf.reshape(tf.cast(masked_lm_ids, tf.int32), [-1])
    return -tf.gather(log_probs, ids, batch_dims=1)


def pretraining_loss(outputs, features, total=None):
    """The original's total loss and its parts.

    masked_lm_loss = sum(weight * loss) / (sum(weight) + 1e-5) over masked positions (padding
    positions have weight 0); next_sentence_loss = mean cross entropy over the batch.

    Args:
        outputs: `BertPretrainer` outputs.
        features: the batch (Google's pretraining feature names).
        total: sums a tensor over replicas; the denominators use it so that each replica's
            share adds up to the global batch's loss. Identity when None.

    Returns:
        (total_loss, masked_lm_loss, next_sentence_loss), float32 scalars (this replica's share).
    """
    total = total or (lambda x: x)
    weights = tf.reshape(tf.cast(features["masked_lm_weights"], tf.float32), [-1])
    per_position = masked_lm_example_loss(outputs["masked_lm_log_probs"], features["masked_lm_ids"])
    masked_lm_loss = tf.reduce_sum(weights * per_position) / (total(tf.reduce_sum(weights)) + 1e-5)
    labels = tf.reshape(tf.cast(features["next_sentence_labels"], tf.int32), [-1])
    per_example = -tf.gather(outputs["next_sentence_log_probs"], labels, batch_dims=1)
    count = total(tf.cast(tf.size(per_example), tf.float32))
    next_sentence_loss = tf.reduce_sum(per_example) / count
    return masked_lm_loss + next_sentence_loss, masked_lm_loss, next_sentence_loss


# ---------------------------------------------------------------------------------------------
# Fine-tuning heads.

# The original's fine-tuning heads use a fixed stddev, not the config's initializer_range.
_HEAD_INIT_STDDEV = 0.02


class BertClassifier(keras.Model):
    """Sentence (pair) classification on the pooled output, as Google's run_classifier.

    Weights ``output_weights`` [num_labels, hidden] (used transposed) and ``output_bias``
    [num_labels] sit at the checkpoint's root, beside ``bert/...``. Dropout with the config's
    `hidden_dropout_prob` (0.1 for Google's models) is applied to the pooled output in training.
    ``num_labels=1`` makes a regressor (STS-B).

    Returns a dict with ``logits`` [batch, num_labels] (float32) and, for classification,
    ``probabilities``.
    """

    def __init__(self, config: BertConfig, num_labels: int, **kwargs):
        kwargs.setdefault("name", "bert_classifier")
        dtype = kwargs.pop("dtype", None)
        super().__init__(**kwargs)
        if num_labels < 1:
            raise ValueError(f"num_labels must be >= 1, got {num_labels}")
        self.config = config
        self.num_labels = num_labels
        self.bert = BertModel(config, name="bert", dtype=dtype)
        self.dropout = keras.layers.Dropout(config.hidden_dropout_prob)

    def build(self, input_shape=None):
        self.bert.build()
        add_output_projection(self, self.num_labels, self.config.hidden_size, _HEAD_INIT_STDDEV)
        self.built = True

    def call(self, features, training=None):
        pooled = tf.cast(self.bert(features, training=training)["pooled_output"], tf.float32)
        pooled = self.dropout(pooled, training=training)
        logits = project(self, pooled)
        if self.num_labels == 1:
            return {"logits": logits, "predictions": logits[:, 0]}
        return {"logits": logits, "probabilities": tf.nn.softmax(logits, axis=-1)}

    def get_config(self):
        return {"config": self.config.to_dict(), "num_labels": self.num_labels, "name": self.name}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        return cls(BertConfig.from_dict(config.pop("config")), **config)


def classifier_loss(outputs, features, total=None):
    """Mean cross entropy (or squared error for one output) over the global batch.

    Examples with ``is_real_example`` 0 (padding added to fill a batch) count for nothing.
    """
    total = total or (lambda x: x)
    logits = outputs["logits"]
    weights = tf.reshape(
        tf.cast(features.get("is_real_example", tf.ones(tf.shape(logits)[:1])), tf.float32), [-1]
    )
    if logits.shape[-1] == 1:
        labels = tf.reshape(tf.cast(features["label_ids"], tf.float32), [-1])
        per_example = tf.square(logits[:, 0] - labels)
    else:
        labels = tf.reshape(tf.cast(features["label_ids"], tf.int32), [-1])
        per_example = -tf.gather(tf.nn.log_softmax(logits, axis=-1), labels, batch_dims=1)
    return tf.reduce_sum(weights * per_example) / tf.maximum(total(tf.reduce_sum(weights)), 1.0)


class SquadHead(_ConfiguredLayer):
    """Start/end logits for each token (scope ``cls/squad``: output_weights [2, hidden])."""

    def __init__(self, config: BertConfig, **kwargs):
        kwargs.setdefault("name", "squad")
        super().__init__(config, **kwargs)

    def build(self, input_shape=None):
        add_output_projection(self, 2, self.config.hidden_size, _HEAD_INIT_STDDEV)
        self.built = True

    def call(self, sequence_output):
        logits = project(self, sequence_output)
        return logits[..., 0], logits[..., 1]


class _SquadScope(keras.layers.Layer):
    """Holds `SquadHead` under ``cls`` so its variables are ``cls/squad/...``."""

    def __init__(self, config: BertConfig, **kwargs):
        kwargs.setdefault("name", "cls")
        super().__init__(**kwargs)
        self.squad = SquadHead(config, name="squad")

    def build(self, input_shape=None):
        self.squad.build()
        self.built = True


class BertSpanLabeler(keras.Model):
    """SQuAD span prediction: ``start_logits`` and ``end_logits`` [batch, seq_length] (float32)."""

    def __init__(self, config: BertConfig, **kwargs):
        kwargs.setdefault("name", "bert_squad")
        dtype = kwargs.pop("dtype", None)
        super().__init__(**kwargs)
        self.config = config
        self.bert = BertModel(config, name="bert", dtype=dtype)
        self.cls = _SquadScope(config, name="cls")

    def build(self, input_shape=None):
        self.bert.build()
        self.cls.build()
        self.built = True

    def call(self, features, training=None):
        sequence = self.bert(features, training=training)["sequence_output"]
        start, end = self.cls.squad(sequence)
        return {"start_logits": start, "end_logits": end}

    def get_config(self):
        return {"config": self.config.to_dict(), "name": self.name}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        return cls(BertConfig.from_dict(config.pop("config")), **config)


def span_loss(outputs, features, total=None):
    """The original's SQuAD loss: mean of start and end cross entropy over the batch."""
    total = total or (lambda x: x)
    count = total(tf.cast(tf.shape(outputs["start_logits"])[0], tf.float32))
    loss = 0.0
    for key, positions in (("start_logits", "start_positions"), ("end_logits", "end_positions")):
        labels = tf.reshape(tf.cast(features[positions], tf.int32), [-1])
        log_probs = tf.nn.log_softmax(outputs[key], axis=-1)
        loss += tf.reduce_sum(-tf.gather(log_probs, labels, batch_dims=1)) / count
    return loss / 2.0
