"""BERT's encoder as Keras 3 layers, built from a `bert_tf.configuration.BertConfig`.

The math is the original release's: word + token-type + position embeddings, LayerNorm with
epsilon 1e-12, post-LayerNorm transformer blocks, an additive attention mask of -10000 on padded
keys, and a tanh pooler on the first token. Layers are named after Google's variable scopes, so the
path of every Keras variable *is* its name in a Google checkpoint
(``bert/encoder/layer_0/attention/self/query/kernel``); `bert_tf.checkpoints` relies on that. They
run below in data-flow order: embeddings -> attention -> feed-forward -> encoder -> pooler.

Training has a faster path: with a Python ``training=True`` and dropout on, the GELU, dropout +
residual add + LayerNorm, and attention's softmax-and-dropout backward run as the XLA kernels of
`bert_tf.kernels`, which also holds every written-out gradient (GELU, LayerNorm) and the
counter-based dropout (`BertDropout`). Inference uses plain TF ops only, so an export holds no
XLA function.

Example:
    >>> config = BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2,
    ...                     num_attention_heads=4, intermediate_size=64)
    >>> model = BertModel(config)
    >>> out = model({"input_ids": tf.constant([[5, 6, 7]])})
    >>> out["pooled_output"].shape
    TensorShape([1, 32])
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf

# BertConfig, BertDropout, gelu and gelu_exact stay importable from here, as in Google's release.
from bert_tf import kernels
from bert_tf.activations import gelu, gelu_exact, get_activation  # noqa: F401
from bert_tf.configuration import BertConfig
from bert_tf.kernels import BertDropout

# LayerNorm epsilon used by the original (tf.contrib.layers.layer_norm's fixed value).
LAYER_NORM_EPSILON = 1e-12

# Additive bias for attention scores at padded key positions, as in the original.
MASK_ADDER = -10000.0


def _initializer(config: BertConfig):
    return keras.initializers.TruncatedNormal(stddev=config.initializer_range)


def _dense(config: BertConfig, units: int, name: str, activation=None, dtype=None):
    init = _initializer(config)
    return keras.layers.Dense(units, activation, kernel_initializer=init, name=name, dtype=dtype)


def _layer_norm(name: str = "LayerNorm", dtype=None):
    return keras.layers.LayerNormalization(
        axis=-1, epsilon=LAYER_NORM_EPSILON, name=name, dtype=dtype
    )


class _ConfiguredLayer(keras.layers.Layer):
    """A layer built from a `BertConfig`; `get_config` round-trips it through a plain dict."""

    def __init__(self, config: BertConfig, **kwargs):
        super().__init__(**kwargs)
        self.config = config

    def get_config(self):
        return {**super().get_config(), "config": self.config.to_dict()}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        return cls(BertConfig.from_dict(config.pop("config")), **config)


# ------------------------------------------------------------------------------------------------
# The layers keep their Keras sublayers (so every variable keeps its Google name) but compute on
# 2-D [tokens, width] tensors with the sublayers' variables: a 2-D MatMul followed by the bias (and
# activation, or residual add) is what oneDNN fuses into one kernel, which Keras' Dense on 3-D
# inputs (a tensordot with reshapes in between) prevents. A parent runs its sublayers' `call`
# directly, not through Keras' `__call__`, which would cast the float32 residual stream to the
# 16-bit compute dtype.


def _dims(x):
    """The leading (batch, seq) sizes of x, static where known."""
    shape = tf.shape(x)
    static = x.shape
    batch = static[0] if static[0] is not None else shape[0]
    seq = static[1] if static.rank > 1 and static[1] is not None else shape[1]
    return batch, seq


def _residual_dtype(compute_dtype) -> tf.DType:
    """float32 for 16-bit compute dtypes (the residual stream and LayerNorm stay float32), else the
    compute dtype itself."""
    dtype = tf.as_dtype(compute_dtype)
    return tf.float32 if dtype.size < 4 else dtype


def _dense_2d(x, dense, activation=None):
    """x @ kernel + bias (then `activation`) on a 2-D x, in x's dtype, with `dense`'s variables."""
    y = tf.matmul(x, tf.cast(dense.kernel.value, x.dtype))
    y = tf.nn.bias_add(y, tf.cast(dense.bias.value, x.dtype))
    return y if activation is None else activation(y)


def _layer_norm_2d(x, layer_norm):
    """(x - mean) / sqrt(var + epsilon) * gamma + beta over the last axis, in x's dtype (callers
    keep it at least float32), with a Keras LayerNormalization's gamma, beta and epsilon."""
    gamma = tf.cast(layer_norm.gamma.value, x.dtype)
    beta = tf.cast(layer_norm.beta.value, x.dtype)
    return kernels.layer_norm(x, gamma, beta, layer_norm.epsilon)


# Whether a Python `training=True` uses the XLA kernels of `bert_tf.kernels` (see the module
# docstring). Tests switch this off to compare with TF's autodiff of the op-by-op forward.
FUSED_TRAINING_KERNELS = True


def _fused_training(training) -> bool:
    return FUSED_TRAINING_KERNELS and kernels.static_training(training)


class BertEmbeddings(_ConfiguredLayer):
    """Word + token-type + position embeddings, then LayerNorm and dropout (scope ``embeddings``).

    Computed in float32 whatever the compute dtype, so a bfloat16 policy neither casts the whole
    vocabulary table on every call nor rounds the residual stream the encoder starts from.
    """

    def __init__(self, config: BertConfig, **kwargs):
        kwargs.setdefault("name", "embeddings")
        super().__init__(config, autocast=False, **kwargs)
        self.layer_norm = _layer_norm(dtype="float32")
        self.dropout = BertDropout(config.hidden_dropout_prob, dtype="float32")

    def build(self, input_shape=None):
        c = self.config
        init = _initializer(c)

        def table(name, rows):
            # autocast=False: reads give float32 even inside a bfloat16 autocast scope.
            return self.add_weight(
                name=name, shape=(rows, c.hidden_size), initializer=init, dtype="float32",
                autocast=False,
            )

        self.word_embeddings = table("word_embeddings", c.vocab_size)
        self.token_type_embeddings = table("token_type_embeddings", c.type_vocab_size)
        self.position_embeddings = table("position_embeddings", c.max_position_embeddings)
        self.layer_norm.build((None, None, c.hidden_size))
        self.built = True

    def call(self, input_ids, segment_ids, training=None):
        """int32 [batch_size, seq_length] ids and segment ids -> float32 [batch, seq, hidden]."""
        seq_length = tf.shape(input_ids)[1]
        x = tf.gather(self.word_embeddings.value, input_ids)
        x += tf.gather(self.token_type_embeddings.value, segment_ids)
        x += self.position_embeddings.value[tf.newaxis, :seq_length, :]
        x = _layer_norm_2d(x, self.layer_norm)
        return self.dropout(x, training=training)


def attention_bias_from_mask(input_mask: tf.Tensor, dtype=tf.float32) -> tf.Tensor:
    """Turns a [batch_size, seq_length] 0/1 mask into an additive bias of shape [batch, 1, 1, seq].

    Keys with mask 0 get -10000, as in the original, so that after softmax they receive
    (almost) no weight; every query position uses the same key mask.
    """
    mask = tf.cast(input_mask, dtype)
    return ((1.0 - mask) * MASK_ADDER)[:, tf.newaxis, tf.newaxis, :]


class BertSelfAttention(_ConfiguredLayer):
    """Multi-head scaled dot-product attention (scope ``attention/self``).

    ``query``, ``key`` and ``value`` are plain [hidden, hidden] dense kernels, as in Google's
    checkpoints; heads are formed by reshaping their outputs.
    """

    def __init__(self, config: BertConfig, **kwargs):
        kwargs.setdefault("name", "self")
        super().__init__(config, **kwargs)
        dtype = kwargs.get("dtype")
        self.query = _dense(config, config.hidden_size, "query", dtype=dtype)
        self.key = _dense(config, config.hidden_size, "key", dtype=dtype)
        self.value = _dense(config, config.hidden_size, "value", dtype=dtype)
        self.dropout = BertDropout(config.attention_probs_dropout_prob, dtype=dtype)

    def build(self, input_shape):
        for layer in (self.query, self.key, self.value):
            layer.build(input_shape)
        self.built = True

    def _split_heads(self, x, batch, seq):
        c = self.config
        x = tf.reshape(x, [batch, seq, c.num_attention_heads, c.size_per_head])
        return tf.transpose(x, [0, 2, 1, 3])

    def _score_scale(self, dtype):
        return tf.cast(1.0 / math.sqrt(self.config.size_per_head), dtype)

    def _probs(self, q, k, attention_bias):
        """softmax(q.k^T / sqrt(head size) + bias) over the keys, in q's dtype."""
        # Scale and mask directly on the product: oneDNN fuses both into the batched matmul.
        scores = tf.matmul(q, k, transpose_b=True)
        scores *= self._score_scale(scores.dtype)
        scores += tf.cast(attention_bias, scores.dtype)
        return kernels.softmax(scores)

    def call(self, x, attention_bias, batch, seq, training=None):
        """Attends every position to every unmasked position.

        Args:
            x: float Tensor of shape [batch_size * seq_length, hidden_size], compute dtype.
            attention_bias: float Tensor broadcastable to
                [batch_size, num_heads, seq_length, seq_length]; 0 for keys to attend to,
                -10000 for padding.
            batch, seq: batch_size and seq_length.
            training: whether to apply dropout to the attention probabilities.

        Returns:
            Tensor of shape [batch_size * seq_length, hidden_size], the heads concatenated.
        """
        q = self._split_heads(_dense_2d(x, self.query), batch, seq)
        k = self._split_heads(_dense_2d(x, self.key), batch, seq)
        v = self._split_heads(_dense_2d(x, self.value), batch, seq)
        if self.dropout.active(training) and _fused_training(training):
            probs = kernels.dropped_attention_probs(
                q, k, lambda q, k: self._probs(q, k, attention_bias),
                self._score_scale(q.dtype), *self.dropout.draw_parameters(q.dtype),
            )
        else:
            probs = self.dropout(self._probs(q, k, attention_bias), training=training)
        context = tf.transpose(tf.matmul(probs, v), [0, 2, 1, 3])
        return tf.reshape(context, [-1, self.config.hidden_size])


class BertResidualOutput(_ConfiguredLayer):
    """Dense projection, dropout, residual add and LayerNorm.

    Google's code does this twice per block: under ``attention/output`` (projecting the attention
    context back to `hidden_size`) and under ``output`` (projecting the feed-forward activations).
    """

    def __init__(self, config: BertConfig, **kwargs):
        kwargs.setdefault("name", "output")
        super().__init__(config, **kwargs)
        dtype = kwargs.get("dtype")
        self.dense = _dense(config, config.hidden_size, "dense", dtype=dtype)
        self.dropout = BertDropout(config.hidden_dropout_prob, dtype=dtype)
        self.layer_norm = _layer_norm(dtype=dtype)

    def build(self, input_shape):
        self.dense.build(input_shape)
        self.layer_norm.build(tuple(input_shape[:-1]) + (self.config.hidden_size,))
        self.built = True

    def call(self, x, residual, training=None):
        """LayerNorm(dropout(x @ kernel + bias) + residual) on 2-D tensors.

        x is in the compute dtype; residual and the result are in `_residual_dtype` (float32 under
        a 16-bit policy, so the sum and the normalisation are not rounded to 16 bits).
        """
        h = _dense_2d(x, self.dense)
        if self.dropout.active(training) and _fused_training(training):
            norm = self.layer_norm
            return kernels.dropout_add_layer_norm(
                h, residual, norm.gamma.value, norm.beta.value, norm.epsilon,
                *self.dropout.draw_parameters(h.dtype),
            )
        y = tf.cast(self.dropout(h, training=training), residual.dtype) + residual
        return _layer_norm_2d(y, self.layer_norm)


class BertAttention(_ConfiguredLayer):
    """Self-attention plus its output projection (scope ``attention``)."""

    def __init__(self, config: BertConfig, **kwargs):
        kwargs.setdefault("name", "attention")
        super().__init__(config, **kwargs)
        dtype = kwargs.get("dtype")
        self.self_attention = BertSelfAttention(config, name="self", dtype=dtype)
        self.self_output = BertResidualOutput(config, name="output", dtype=dtype)

    def build(self, input_shape):
        self.self_attention.build(input_shape)
        self.self_output.build(input_shape)
        self.built = True

    def call(self, residual, attention_bias, batch, seq, training=None):
        """LayerNorm(residual + dropout(dense(self-attention(residual)))) on the 2-D stream."""
        x = tf.cast(residual, self.compute_dtype)
        context = self.self_attention.call(x, attention_bias, batch, seq, training=training)
        return self.self_output.call(context, residual, training=training)


class BertIntermediate(_ConfiguredLayer):
    """The feed-forward expansion with the config's activation (scope ``intermediate``)."""

    def __init__(self, config: BertConfig, **kwargs):
        kwargs.setdefault("name", "intermediate")
        super().__init__(config, **kwargs)
        self.dense = _dense(
            config,
            config.intermediate_size,
            "dense",
            activation=get_activation(config.hidden_act),
            dtype=kwargs.get("dtype"),
        )

    def build(self, input_shape):
        self.dense.build(input_shape)
        self.built = True

    def call(self, x, training=None):
        """activation(x @ kernel + bias) on a 2-D x in the compute dtype."""
        activation = self.dense.activation
        if _fused_training(training):
            activation = kernels.training_activation(self.config.hidden_act) or activation
        return _dense_2d(x, self.dense, activation)


class BertLayer(_ConfiguredLayer):
    """One post-LayerNorm transformer block (scope ``encoder/layer_{i}``): attention, then the
    feed-forward expansion and its projection back (``output``)."""

    def __init__(self, config: BertConfig, **kwargs):
        super().__init__(config, **kwargs)
        dtype = kwargs.get("dtype")
        self.attention = BertAttention(config, name="attention", dtype=dtype)
        self.intermediate = BertIntermediate(config, name="intermediate", dtype=dtype)
        self.output_block = BertResidualOutput(config, name="output", dtype=dtype)

    def build(self, input_shape):
        self.attention.build(input_shape)
        self.intermediate.build(input_shape)
        self.output_block.build(tuple(input_shape[:-1]) + (self.config.intermediate_size,))
        self.built = True

    def call(self, residual, attention_bias, batch, seq, training=None):
        """One block on the 2-D residual stream [batch*seq, hidden] in `_residual_dtype`.

        Matmuls run in the compute dtype; residual adds and LayerNorms in the residual dtype.
        Returns the block output in the residual dtype.
        """
        attended = self.attention.call(residual, attention_bias, batch, seq, training=training)
        expanded = self.intermediate.call(
            tf.cast(attended, self.compute_dtype), training=training
        )
        return self.output_block.call(expanded, attended, training=training)


class BertEncoder(_ConfiguredLayer):
    """The stack of transformer blocks (scope ``encoder``); returns every block's output."""

    def __init__(self, config: BertConfig, **kwargs):
        kwargs.setdefault("name", "encoder")
        super().__init__(config, **kwargs)
        self.blocks = [
            BertLayer(config, name=f"layer_{i}", dtype=kwargs.get("dtype"))
            for i in range(config.num_hidden_layers)
        ]

    def build(self, input_shape):
        for block in self.blocks:
            block.build(input_shape)
        self.built = True

    def call(self, hidden, attention_bias, training=None):
        """Runs the blocks on hidden [batch, seq, hidden] of any float dtype.

        The residual stream stays 2-D and in `_residual_dtype` between blocks; each block's output
        is returned reshaped to [batch, seq, hidden] in that dtype (float32 under a 16-bit
        policy: rounding the LayerNorm outputs to bfloat16 alone would cost up to 1.6e-2 on
        values near 4, and every consumer casts to its own compute dtype anyway).
        """
        batch, seq = _dims(hidden)
        width = self.config.hidden_size
        dtype = self.compute_dtype
        residual = tf.reshape(tf.cast(hidden, _residual_dtype(dtype)), [-1, width])
        attention_bias = tf.cast(attention_bias, dtype)
        outputs = []
        for block in self.blocks:
            residual = block.call(residual, attention_bias, batch, seq, training=training)
            outputs.append(tf.reshape(residual, [batch, seq, width]))
        return outputs


class BertPooler(_ConfiguredLayer):
    """tanh(dense(first token's vector)) (scope ``pooler``): the [CLS] summary for classifiers."""

    def __init__(self, config: BertConfig, **kwargs):
        kwargs.setdefault("name", "pooler")
        super().__init__(config, **kwargs)
        self.dense = _dense(
            config, config.hidden_size, "dense", activation="tanh", dtype=kwargs.get("dtype")
        )

    def build(self, input_shape):
        self.dense.build((input_shape[0], input_shape[-1]))
        self.built = True

    def call(self, sequence_output):
        return self.dense(sequence_output[:, 0, :])


class BertModel(keras.Model):
    """BERT encoder: embeddings, `num_hidden_layers` transformer blocks and the pooler.

    Called with a dict holding ``input_ids`` and optionally ``input_mask`` (1 for real tokens,
    0 for padding; all ones when absent) and ``segment_ids`` (zeros when absent), each an int32
    Tensor of shape [batch_size, seq_length]; a bare ``input_ids`` tensor also works.

    Returns a dict:
        sequence_output: float Tensor [batch_size, seq_length, hidden_size], the last layer.
        pooled_output: float Tensor [batch_size, hidden_size], tanh(dense(first token)).
        all_encoder_layers: list of `num_hidden_layers` Tensors like `sequence_output`.
        embedding_output: float Tensor [batch_size, seq_length, hidden_size].

    Outputs are float32 under a mixed (bfloat16/float16) policy too: the residual stream and
    LayerNorms are kept in float32 and only matmuls, attention and the activation run in 16 bits.
    Dropout is applied only with ``training=True``. With the default name ``bert`` every
    variable's path is its name in Google's checkpoints.

    Example:
        >>> config = BertConfig.from_json_file("uncased_L-12_H-768_A-12/bert_config.json")
        >>> model = BertModel(config)
        >>> checkpoints.load_google_checkpoint(model, "uncased_L-12_H-768_A-12/bert_model.ckpt")
        >>> outputs = model({"input_ids": ids, "input_mask": mask, "segment_ids": segments})
    """

    def __init__(self, config: BertConfig | dict, **kwargs):
        kwargs.setdefault("name", "bert")
        super().__init__(**kwargs)
        if isinstance(config, dict):
            config = BertConfig.from_dict(config)
        self.config = config
        dtype = kwargs.get("dtype")
        self.embeddings = BertEmbeddings(config, name="embeddings", dtype=dtype)
        self.encoder = BertEncoder(config, name="encoder", dtype=dtype)
        self.pooler = BertPooler(config, name="pooler", dtype=dtype)

    def build(self, input_shape=None):
        hidden_shape = (None, None, self.config.hidden_size)
        self.embeddings.build()
        self.encoder.build(hidden_shape)
        self.pooler.build(hidden_shape)
        self.built = True

    @staticmethod
    def _unpack(inputs):
        if isinstance(inputs, dict):
            input_ids = inputs["input_ids"]
            input_mask = inputs.get("input_mask")
            segment_ids = inputs.get("segment_ids")
        else:
            input_ids, input_mask, segment_ids = inputs, None, None
        input_ids = tf.convert_to_tensor(input_ids)
        if input_mask is None:
            input_mask = tf.ones_like(input_ids)
        if segment_ids is None:
            segment_ids = tf.zeros_like(input_ids)
        return input_ids, input_mask, segment_ids

    def call(self, inputs, training=None):
        input_ids, input_mask, segment_ids = self._unpack(inputs)
        # The encoder starts from the float32 embeddings (not their 16-bit cast) and keeps its
        # residual stream in float32; under a 16-bit policy only the matmuls, attention and GELU
        # run in 16 bits, and every returned tensor is float32.
        embeddings = self.embeddings.call(input_ids, segment_ids, training=training)
        output_dtype = _residual_dtype(self.compute_dtype)
        bias = attention_bias_from_mask(input_mask, tf.float32)
        all_layers = self.encoder.call(embeddings, bias, training=training)
        sequence_output = all_layers[-1]
        return {
            "sequence_output": sequence_output,
            "pooled_output": tf.cast(self.pooler(sequence_output), output_dtype),
            "all_encoder_layers": all_layers,
            "embedding_output": tf.cast(embeddings, output_dtype),
        }

    def get_embedding_table(self) -> keras.Variable:
        """The [vocab_size, hidden_size] word embedding variable (tied to the masked-LM output)."""
        if not self.built:
            self.build()
        return self.embeddings.word_embeddings

    def dummy_inputs(self, batch_size: int = 1, seq_length: int = 2) -> dict[str, tf.Tensor]:
        """Small all-zero inputs, handy to create the variables by calling the model once."""
        ids = tf.zeros([batch_size, seq_length], tf.int32)
        return {"input_ids": ids, "input_mask": tf.ones_like(ids), "segment_ids": ids}

    def get_config(self):
        # Keras' default from_config, cls(**config), rebuilds it: __init__ takes the dict.
        return {"config": self.config.to_dict(), "name": self.name}
