"""Output heads on top of `BertModel`, named as in Google's checkpoints.

Pretraining (``cls/``): the masked-LM head ``cls/predictions/transform/{dense,LayerNorm}`` plus
``cls/predictions/output_bias`` with output weights tied to the word embeddings, and the
next-sentence head ``cls/seq_relationship/output_weights`` [2, hidden] and ``output_bias`` [2].
Google's pretrained checkpoints ship these, so they load; ours save back in the same layout.

Fine-tuning heads keep the original's ``output_weights`` [n, width] / ``output_bias`` [n] layout
(used transposed): `BertClassifier` on the pooled output, `BertSpanLabeler` (``cls/squad``),
`BertTokenClassifier` on every token, `BertFeatureTagger` (the paper's feature-based NER: frozen
encoder, BiLSTM ``lstm_{i}/forward|backward``) and `BertMultipleChoice` (one scoring vector).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from bert_tf.activations import get_activation
from bert_tf.configuration import BertConfig
from bert_tf.kernels import log_softmax
from bert_tf.modeling import BertModel, _ConfiguredLayer, _dense, _layer_norm


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


def pick_labels(log_probs: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
    """``log_probs[..., labels]``: each row's entry at its label, for cross-entropy losses.

    The forward pass is a batched gather. Its gradient is written out: TF's own gradient of a
    ``batch_dims`` gather reshapes, transposes and segment-sums over rows x classes, which for the
    masked LM's [640, 30522] log-probabilities was about a tenth of a MiniLM training step; here
    it is one scatter of the upstream values into zeros.

    Args:
        log_probs: float Tensor of shape [..., num_classes].
        labels: int Tensor of the leading shape of `log_probs`, values in [0, num_classes).

    Returns:
        Tensor of the shape of `labels`, in the dtype of `log_probs`.
    """
    labels = tf.cast(labels, tf.int32)

    @tf.custom_gradient
    def pick(values):
        width = tf.shape(values)[-1]
        rows = tf.reshape(values, [-1, width])
        flat_labels = tf.reshape(labels, [-1])
        picked = tf.gather(rows, flat_labels, batch_dims=1)

        def grad(dy):
            index = tf.stack([tf.range(tf.size(flat_labels)), flat_labels], axis=1)
            d_rows = tf.scatter_nd(index, tf.reshape(dy, [-1]), tf.shape(rows))
            return tf.reshape(d_rows, tf.shape(values))

        return tf.reshape(picked, tf.shape(labels)), grad

    return pick(log_probs)


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
    layer.output_bias = layer.add_weight(
        name="output_bias", shape=(num_outputs,), initializer="zeros"
    )


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
        # Both operands in the compute dtype: under a bfloat16 policy Keras has already cast the
        # table argument, and a float32 x bfloat16 product would fall back to TF's slow
        # SparseMatMul kernel instead of oneDNN (measured: ~10% of a MiniLM training step).
        dtype = self.compute_dtype
        logits = tf.matmul(tf.cast(x, dtype), tf.cast(embedding_table, dtype), transpose_b=True)
        logits = tf.nn.bias_add(tf.cast(logits, tf.float32), tf.cast(self.output_bias, tf.float32))
        return log_softmax(logits)


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
    return -pick_labels(log_probs, ids)


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
    per_example = -pick_labels(outputs["next_sentence_log_probs"], labels)
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
        per_example = -pick_labels(tf.nn.log_softmax(logits, axis=-1), labels)
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
        loss += tf.reduce_sum(-pick_labels(log_probs, labels)) / count
    return loss / 2.0


# ---------------------------------------------------------------------------------------------
# Token tagging (CoNLL NER): fine-tuned, and the paper's feature-based recipe.


def _token_outputs(logits: tf.Tensor) -> dict[str, tf.Tensor]:
    return {"logits": logits, "probabilities": tf.nn.softmax(logits, axis=-1)}


class BertTokenClassifier(keras.Model):
    """A label for every token: ``output_weights`` [num_labels, hidden] on the sequence output.

    The weights sit at the checkpoint's root beside ``bert/...`` (Google's names for a
    fine-tuning head, as in `BertClassifier`); dropout with the config's `hidden_dropout_prob`
    is applied to the sequence output in training.

    Returns a dict with float32 ``logits`` and ``probabilities``
    [batch_size, seq_length, num_labels].

    Example:
        >>> model = BertTokenClassifier(config, num_labels=9)
        >>> model({"input_ids": ids, "input_mask": mask, "segment_ids": segments})["logits"]
    """

    def __init__(self, config: BertConfig, num_labels: int, **kwargs):
        kwargs.setdefault("name", "bert_token_classifier")
        dtype = kwargs.pop("dtype", None)
        super().__init__(**kwargs)
        if num_labels < 2:
            raise ValueError(f"num_labels must be >= 2, got {num_labels}")
        self.config = config
        self.num_labels = num_labels
        self.bert = BertModel(config, name="bert", dtype=dtype)
        self.dropout = keras.layers.Dropout(config.hidden_dropout_prob)

    def build(self, input_shape=None):
        self.bert.build()
        add_output_projection(self, self.num_labels, self.config.hidden_size, _HEAD_INIT_STDDEV)
        self.built = True

    def call(self, features, training=None):
        sequence = tf.cast(self.bert(features, training=training)["sequence_output"], tf.float32)
        return _token_outputs(project(self, self.dropout(sequence, training=training)))

    def get_config(self):
        return {"config": self.config.to_dict(), "num_labels": self.num_labels, "name": self.name}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        return cls(BertConfig.from_dict(config.pop("config")), **config)


class BidirectionalLstm(keras.layers.Layer):
    """Two LSTMs over a sequence, ``forward`` and ``backward``; their outputs concatenated.

    Like `keras.layers.Bidirectional`, but its variables are ``<name>/forward/lstm_cell/...``
    and ``<name>/backward/lstm_cell/...`` (the wrapper would name the first
    ``forward_<layer name>``).
    """

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.units = units
        self.forward = keras.layers.LSTM(
            units, return_sequences=True, name="forward", dtype=kwargs.get("dtype")
        )
        self.backward = keras.layers.LSTM(
            units,
            return_sequences=True,
            go_backwards=True,
            name="backward",
            dtype=kwargs.get("dtype"),
        )

    def build(self, input_shape):
        self.forward.build(input_shape)
        self.backward.build(input_shape)
        self.built = True

    def call(self, x, mask=None, training=None):
        ahead = self.forward(x, mask=mask, training=training)
        # The backward LSTM reads (and returns) the sequence reversed; padding at the end is
        # masked, so it starts from a zero state at each sequence's last real token.
        behind = tf.reverse(self.backward(x, mask=mask, training=training), axis=[1])
        return tf.concat([ahead, behind], axis=-1)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


class BertFeatureTagger(keras.Model):
    """The BERT paper's feature-based NER: a frozen encoder under a two-layer BiLSTM.

    The encoder runs in inference mode and gets no gradient; its last `num_feature_layers`
    layers are concatenated per token (4 x hidden in the paper), go through `num_lstm_layers`
    bidirectional LSTMs of `lstm_size` units each way (``lstm_{i}/forward``,
    ``lstm_{i}/backward``; padding masked), and a softmax layer ``output_weights``
    [num_labels, 2 * lstm_size], ``output_bias``. Only the LSTMs and the output layer train.

    Returns a dict with float32 ``logits`` and ``probabilities``
    [batch_size, seq_length, num_labels].
    """

    def __init__(
        self,
        config: BertConfig,
        num_labels: int,
        lstm_size: int = 768,
        num_lstm_layers: int = 2,
        num_feature_layers: int = 4,
        **kwargs,
    ):
        kwargs.setdefault("name", "bert_feature_tagger")
        dtype = kwargs.pop("dtype", None)
        super().__init__(**kwargs)
        if num_labels < 2:
            raise ValueError(f"num_labels must be >= 2, got {num_labels}")
        if not 1 <= num_feature_layers <= config.num_hidden_layers:
            raise ValueError(
                f"num_feature_layers={num_feature_layers}: the encoder has "
                f"{config.num_hidden_layers} layers"
            )
        self.config = config
        self.num_labels = num_labels
        self.lstm_size = lstm_size
        self.num_lstm_layers = num_lstm_layers
        self.num_feature_layers = num_feature_layers
        self.bert = BertModel(config, name="bert", dtype=dtype)
        self.bert.trainable = False
        self.lstms = [
            BidirectionalLstm(lstm_size, name=f"lstm_{i}", dtype=dtype)
            for i in range(num_lstm_layers)
        ]
        self.dropout = keras.layers.Dropout(config.hidden_dropout_prob)

    def build(self, input_shape=None):
        self.bert.build()
        width = self.num_feature_layers * self.config.hidden_size
        for lstm in self.lstms:
            lstm.build((None, None, width))
            width = 2 * self.lstm_size
        add_output_projection(self, self.num_labels, width, _HEAD_INIT_STDDEV)
        self.built = True

    def call(self, features, training=None):
        layers = self.bert(features, training=False)["all_encoder_layers"]
        x = tf.stop_gradient(tf.concat(layers[-self.num_feature_layers :], axis=-1))
        mask = features.get("input_mask") if isinstance(features, dict) else None
        mask = None if mask is None else tf.cast(mask, tf.bool)
        for lstm in self.lstms:
            x = lstm(x, mask=mask, training=training)
        x = self.dropout(tf.cast(x, tf.float32), training=training)
        return _token_outputs(project(self, x))

    def get_config(self):
        return {
            "config": self.config.to_dict(),
            "num_labels": self.num_labels,
            "lstm_size": self.lstm_size,
            "num_lstm_layers": self.num_lstm_layers,
            "num_feature_layers": self.num_feature_layers,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        return cls(BertConfig.from_dict(config.pop("config")), **config)


def token_classification_loss(outputs, features, total=None):
    """Mean cross entropy over the tokens that carry a label (``label_ids`` >= 0).

    Positions with a negative label id ([CLS], [SEP], a word's later pieces, padding) count
    for nothing; the mean is over the labelled tokens of the global batch.
    """
    total = total or (lambda x: x)
    logits = outputs["logits"]
    labels = tf.cast(features["label_ids"], tf.int32)
    weights = tf.cast(labels >= 0, tf.float32)
    log_probs = tf.nn.log_softmax(logits, axis=-1)
    per_token = -pick_labels(log_probs, tf.maximum(labels, 0))
    return tf.reduce_sum(weights * per_token) / tf.maximum(total(tf.reduce_sum(weights)), 1.0)


# ---------------------------------------------------------------------------------------------
# Multiple choice (SWAG).


class BertMultipleChoice(keras.Model):
    """Scores each candidate's pooled [CLS] output with one vector; softmax over candidates.

    Called with ``input_ids``, ``input_mask``, ``segment_ids`` of shape
    [batch_size, num_choices, seq_length]; every candidate runs through the encoder on its own.
    The scoring vector is ``output_weights`` [1, hidden] with ``output_bias`` [1] (Google's
    head names); dropout on the pooled output in training.

    Returns a dict with float32 ``logits`` and ``probabilities`` [batch_size, num_choices].
    """

    def __init__(self, config: BertConfig, **kwargs):
        kwargs.setdefault("name", "bert_multiple_choice")
        dtype = kwargs.pop("dtype", None)
        super().__init__(**kwargs)
        self.config = config
        self.bert = BertModel(config, name="bert", dtype=dtype)
        self.dropout = keras.layers.Dropout(config.hidden_dropout_prob)

    def build(self, input_shape=None):
        self.bert.build()
        add_output_projection(self, 1, self.config.hidden_size, _HEAD_INIT_STDDEV)
        self.built = True

    def call(self, features, training=None):
        input_ids = tf.convert_to_tensor(features["input_ids"])
        shape = tf.shape(input_ids)
        flat = {
            name: tf.reshape(features[name], [-1, shape[-1]])
            for name in ("input_ids", "input_mask", "segment_ids")
            if name in features
        }
        pooled = tf.cast(self.bert(flat, training=training)["pooled_output"], tf.float32)
        scores = project(self, self.dropout(pooled, training=training))
        logits = tf.reshape(scores, [shape[0], shape[1]])
        return {"logits": logits, "probabilities": tf.nn.softmax(logits, axis=-1)}

    def get_config(self):
        return {"config": self.config.to_dict(), "name": self.name}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        return cls(BertConfig.from_dict(config.pop("config")), **config)
