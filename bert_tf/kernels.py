"""Fused training kernels with written-out gradients, for `bert_tf.modeling` and `bert_tf.heads`.

`bert_tf.modeling` holds BERT's math layer by layer; this module holds the faster ways of computing
parts of it in a training step. Each public function computes what its docstring's formula says,
with a hand-written gradient that runs as one XLA kernel (or a few) instead of TF's op-by-op
autodiff, and names the test in ``tests/test_kernels.py`` that checks it against autodiff of the
plain formula or a float64 reference:

- `gelu_tanh`: Google's GELU with its derivative written out (every path, inference too).
- `layer_norm`: LayerNorm over the last axis with a fused backward (every path).
- `softmax`: softmax over the last axis that keeps 16-bit inputs accurate (every path).
- `training_activation`: the GELUs as XLA kernels forward and backward (training only).
- `dropout`: counter-based dropout whose mask is recomputed, not stored (training only), and
  `BertDropout`, the Keras layer that draws its parameters (every dropout of the encoder).
- `static_training`: whether a call's ``training`` is a Python True, which picks these kernels.
- `dropout_add_layer_norm`: LayerNorm(dropout(h) + residual), one kernel each way (training only).
- `dropped_attention_probs`: dropout(softmax(scores)) with its backward fused (training only).
- `log_softmax`: the masked-LM head's log-softmax with an XLA backward (training).

The training-only kernels are compiled with XLA; `bert_tf.modeling` calls them only for a Python
``training=True`` with dropout on, so an exported SavedModel (inference) never holds an
XLA-compiled function (TF Serving runs those only with XLA:CPU JIT switched on). Speed figures in
the comments were measured on a 2-core CPU.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import keras
import tensorflow as tf

# ------------------------------------------------------------------------------------------------
# GELU


_GELU_C = math.sqrt(2.0 / math.pi)


def _gelu_tanh_inner(x):
    """t = tanh(sqrt(2/pi) * (x + 0.044715 x^3)); the GELU is 0.5x(1 + t)."""
    return tf.tanh(_GELU_C * (x + 0.044715 * x * x * x))


def _gelu_tanh_derivative(dy, x, t):
    """d/dx 0.5x(1 + t) = 0.5(1 + t) + 0.5x(1 - t^2) * c(1 + 3 * 0.044715 x^2), times dy."""
    inner_slope = _GELU_C * (1.0 + 3.0 * 0.044715 * x * x)
    return dy * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * inner_slope)


# Compiled with XLA, which fuses the dozen elementwise ops into one pass over dy, x and t
# (measured 41 ms -> 8 ms on a [4096, 1536] float32 tensor, 2 cores): without it the GELU
# backward was the largest elementwise cost of a training step.
_gelu_tanh_grad = tf.function(_gelu_tanh_derivative, jit_compile=True, reduce_retracing=True)


@tf.custom_gradient
def _gelu_tanh(x):
    t = _gelu_tanh_inner(x)

    def grad(dy):
        return _gelu_tanh_grad(dy, x, t)

    return 0.5 * x * (1.0 + t), grad


def gelu_tanh(x: tf.Tensor) -> tf.Tensor:
    """0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3))), the derivative written out.

    The forward pass is TF's ops; the backward is one XLA kernel computing
    0.5(1 + t) + 0.5x(1 - t^2) * sqrt(2/pi)(1 + 3 * 0.044715 x^2) with t the forward's tanh.
    Checked by ``test_gelu_gradient_matches_its_formula`` (float64 central differences).
    """
    return _gelu_tanh(tf.convert_to_tensor(x))


# Training versions of the two GELUs: the forward pass as one XLA kernel (op by op it is about
# eight full-size passes over the [batch*seq, intermediate_size] activations) and a backward
# that recomputes the inner tanh/erf from x instead of keeping it, so each direction reads and
# writes each element once.


def _widened(*tensors):
    """The tensors, 16-bit ones cast to float32. Our XLA kernels compute in float32 and round once
    at the end: XLA's CPU code for bfloat16 arithmetic is several times slower than for float32
    (GELU backward on [4096, 1536]: 14.5 ms -> 4.9 ms)."""
    return [tf.cast(t, tf.float32) if t.dtype.size < 4 else t for t in tensors]


@tf.function(jit_compile=True, reduce_retracing=True)
def _gelu_tanh_forward_xla(x):
    (y,) = _widened(x)
    return tf.cast(0.5 * y * (1.0 + _gelu_tanh_inner(y)), x.dtype)


@tf.function(jit_compile=True, reduce_retracing=True)
def _gelu_tanh_backward_xla(dy, x):
    d, y = _widened(dy, x)
    return tf.cast(_gelu_tanh_derivative(d, y, _gelu_tanh_inner(y)), dy.dtype)


@tf.function(jit_compile=True, reduce_retracing=True)
def _gelu_exact_forward_xla(x):
    (y,) = _widened(x)
    return tf.cast(0.5 * y * (1.0 + tf.math.erf(y * (1.0 / math.sqrt(2.0)))), x.dtype)


@tf.function(jit_compile=True, reduce_retracing=True)
def _gelu_exact_backward_xla(dy, x):
    """d/dx 0.5x(1 + erf(x/sqrt 2)) = 0.5(1 + erf(x/sqrt 2)) + x * exp(-x^2/2) / sqrt(2 pi)."""
    d, y = _widened(dy, x)
    cdf = 0.5 * (1.0 + tf.math.erf(y * (1.0 / math.sqrt(2.0))))
    pdf = tf.exp(-0.5 * y * y) * (1.0 / math.sqrt(2.0 * math.pi))
    return tf.cast(d * (cdf + y * pdf), dy.dtype)


def _xla_activation(forward, backward):
    @tf.custom_gradient
    def activation(x):
        return forward(x), lambda dy: backward(dy, x)

    return activation


_TRAINING_ACTIVATIONS = {
    "gelu": _xla_activation(_gelu_tanh_forward_xla, _gelu_tanh_backward_xla),
    "gelu_exact": _xla_activation(_gelu_exact_forward_xla, _gelu_exact_backward_xla),
}


def training_activation(hidden_act: str) -> Callable[[tf.Tensor], tf.Tensor] | None:
    """The XLA training kernel for a ``hidden_act``, or None where there is none (relu, ...).

    "gelu" is 0.5x(1 + tanh(sqrt(2/pi)(x + 0.044715x^3))) and "gelu_exact" 0.5x(1 + erf(x/sqrt 2)),
    each computed in float32 and rounded once to the input's dtype, with derivatives
    0.5(1 + t) + 0.5x(1 - t^2) sqrt(2/pi)(1 + 3 * 0.044715x^2) and
    0.5(1 + erf(x/sqrt 2)) + x exp(-x^2/2) / sqrt(2 pi). Checked by
    ``test_fused_training_kernels_match_tf_autodiff`` (against TF autodiff of the op-by-op model).
    """
    return _TRAINING_ACTIVATIONS.get((hidden_act or "").lower())


# ------------------------------------------------------------------------------------------------
# Row sums, LayerNorm


def _row_sums(x, matvec: bool = False):
    """Sums over the last axis, keeping it (size 1); with `matvec`, as a product with ones.

    Inside one of our own XLA kernels on CPU, XLA compiles a row reduction fused with its
    elementwise producers into a loop several times slower than a matrix-vector product
    (attention's softmax backward over [32, 12, 128, 128]: 9.9 ms -> 5.1 ms on 2 cores). Inside a
    whole-step XLA cluster (``--use_xla``) it is the other way round: the product is fused into
    naive loops (BERT-base training 2.5x slower), so there `matvec` is False (`_matvec_sums`).
    """
    if not matvec:
        return tf.reduce_sum(x, axis=-1, keepdims=True)
    width = tf.shape(x)[-1]
    sums = tf.matmul(tf.reshape(x, [-1, width]), tf.ones([width, 1], x.dtype))
    return tf.reshape(sums, tf.concat([tf.shape(x)[:-1], [1]], axis=0))


def _row_means(x, matvec: bool = False):
    return _row_sums(x, matvec) * (1.0 / tf.cast(tf.shape(x)[-1], x.dtype))


def _column_sums(x, matvec: bool = False):
    """Sums of a 2-D x over its rows, shape [columns] (with `matvec`, a product with ones)."""
    if not matvec:
        return tf.reduce_sum(x, axis=0)
    return tf.reshape(tf.matmul(tf.ones([1, tf.shape(x)[0]], x.dtype), x), [-1])


def _matvec_sums() -> bool:
    """Whether kernels built now should use `_row_sums`' matrix-vector form: True unless an
    enclosing ``tf.function(jit_compile=True)`` (the Trainer's ``--use_xla``) compiles them into
    its own cluster. Read at trace time and passed to the kernels as a static argument."""
    try:
        from tensorflow.python.ops import control_flow_util

        graph = tf.compat.v1.get_default_graph()
        return not control_flow_util.GraphOrParentsInXlaContext(graph)
    except Exception:  # pragma: no cover - private API moved: the form that is safe in both
        return False


def _layer_norm_backward(dy, centered, inv_std, gamma, matvec: bool = False):
    """Gradients of ``centered * inv_std * gamma + beta`` for x, gamma and beta (2-D inputs).

    With xhat = centered * inv_std and g = dy * gamma:
    dx = inv_std * (g - mean(g) - xhat * mean(g * xhat)) (means over the last axis),
    dgamma = sum over rows of dy * xhat, dbeta = sum over rows of dy. XLA fuses it into a few
    passes; TF's autodiff of the forward ran about a dozen full-size ops per LayerNorm.
    """
    xhat = centered * inv_std
    g = dy * gamma
    dx = inv_std * (g - _row_means(g, matvec) - xhat * _row_means(g * xhat, matvec))
    return dx, _column_sums(dy * xhat, matvec), _column_sums(dy, matvec)


_layer_norm_grad = tf.function(_layer_norm_backward, jit_compile=True, reduce_retracing=True)


def layer_norm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, epsilon: float) -> tf.Tensor:
    """(x - mean) * (rsqrt(var + epsilon) * gamma) + beta, mean and variance over the last axis.

    The forward pass is TF's ops (written with fewer full-size passes than Keras' formulation); the
    backward is one XLA kernel, dx = inv_std * (g - mean(g) - xhat * mean(g * xhat)) with
    g = dy * gamma and xhat the normalised x, dgamma = sum(dy * xhat), dbeta = sum(dy) over rows.
    Checked by ``test_layer_norm_gradients_match_autodiff_of_the_formula`` (float64 autodiff).

    Args:
        x: float Tensor [..., width]; gamma, beta: [width] in x's dtype.
    """

    @tf.custom_gradient
    def forward(x, gamma, beta):
        mean = tf.reduce_mean(x, axis=-1, keepdims=True)
        centered = x - mean
        variance = tf.reduce_mean(tf.square(centered), axis=-1, keepdims=True)
        inv_std = tf.math.rsqrt(variance + epsilon)

        def grad(dy):
            width = tf.shape(x)[-1]
            flat = lambda t: tf.reshape(t, [-1, width])  # noqa: E731
            dx, dgamma, dbeta = _layer_norm_grad(
                flat(dy), flat(centered), tf.reshape(inv_std, [-1, 1]), gamma, _matvec_sums()
            )
            return tf.reshape(dx, tf.shape(x)), dgamma, dbeta

        return centered * (inv_std * gamma) + beta, grad

    return forward(x, gamma, beta)


# ------------------------------------------------------------------------------------------------
# Dropout
#
# Dropout masks come from a counter-based generator: element i of a tensor keeps its value when
# the top 16 bits of mix(mix(i ^ k1) + k2) reach the threshold, where mix is a 32-bit integer
# finaliser (xor-shift / multiply rounds, a bijection with full avalanche) and k1, k2 are derived
# from the layer's 64-bit seed through the same finaliser, so that nearby seeds give unrelated
# masks. The mask is a pure function of (seed, index): the backward pass recomputes it instead of
# storing it, and it fuses into whatever kernel applies it (a handful of integer operations per
# element, against a separate threefry kernel plus the stored draws: dropout of
# [32, 12, 128, 128] went from 5.8 ms to 2.7 ms on 2 cores). Tensors must hold fewer than 2**31
# elements (the flat index is an int32).
_MIX_MULTIPLIERS = (0x21F0AAAD, 0xD35A2D97)
_KEY_SALTS = (0x9E3779B9, 0x85EBCA6B)


def _mix32(x):
    """A 32-bit integer finaliser on uint32 x: xor-shift, multiply, xor-shift, multiply, ..."""
    u32 = lambda v: tf.constant(v, tf.uint32)  # noqa: E731
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, u32(16)))
    x *= u32(_MIX_MULTIPLIERS[0])
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, u32(15)))
    x *= u32(_MIX_MULTIPLIERS[1])
    return tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, u32(15)))


def _keep_mask(shape, seed, threshold):
    """Boolean [shape]: True where the element's 16 random bits are >= threshold (uint16)."""
    s = tf.bitcast(tf.cast(seed, tf.int32), tf.uint32)
    salt = lambda v: tf.constant(v, tf.uint32)  # noqa: E731
    k1 = _mix32(tf.bitwise.bitwise_xor(s[0], _mix32(s[1] + salt(_KEY_SALTS[0]))))
    k2 = _mix32(tf.bitwise.bitwise_xor(s[1], _mix32(s[0] + salt(_KEY_SALTS[1]))))
    index = tf.bitcast(tf.reshape(tf.range(tf.reduce_prod(shape)), shape), tf.uint32)
    bits = _mix32(_mix32(tf.bitwise.bitwise_xor(index, k1)) + k2)
    return tf.bitwise.right_shift(bits, tf.constant(16, tf.uint32)) >= tf.cast(threshold, tf.uint32)


def _apply_dropout(x, seed, threshold, scale):
    """where(keep, x * scale, 0) with `_keep_mask`'s mask for x's shape, in x's dtype.

    A 16-bit x is scaled in float32 and rounded once, which is what a 16-bit multiply does, in
    code that XLA on CPU vectorises (its bfloat16 arithmetic ran about twice as slow).
    """
    (wide,) = _widened(x)
    kept = wide * tf.cast(scale, wide.dtype)
    dropped = tf.where(_keep_mask(tf.shape(x), seed, threshold), kept, tf.zeros([], wide.dtype))
    return tf.cast(dropped, x.dtype)


# One XLA kernel: the mask, the comparison and the scaling in one pass (forward, and with the
# same seed backward, since dropout is linear in x).
_dropout_xla = tf.function(_apply_dropout, jit_compile=True, reduce_retracing=True)


def dropout(x: tf.Tensor, seed: tf.Tensor, threshold: tf.Tensor, scale: tf.Tensor) -> tf.Tensor:
    """where(keep, x * scale, 0), keep = (16 hash bits of (seed, element index)) >= threshold.

    One XLA kernel forward; the backward is the same kernel on dy (dropout is linear in x), so
    the mask is recomputed, never stored. Checked by
    ``test_bert_dropout_gradient_uses_the_forward_mask`` and, for the independence of the masks
    of nearby seeds and elements, ``test_dropout_masks_of_nearby_seeds_are_independent``.

    Args:
        x: float Tensor of any shape, fewer than 2**31 elements.
        seed: int32 Tensor [2]; threshold: uint16 scalar; scale: scalar in x's dtype
            (`BertDropout.draw_parameters` makes all three).
    """

    @tf.custom_gradient
    def drop(x):
        return _dropout_xla(x, seed, threshold, scale), lambda dy: _dropout_xla(
            dy, seed, threshold, scale
        )

    return drop(x)


def static_training(training) -> bool:
    """`training` is a Python truth value (not None, not a tensor decided at run time): the
    training-only kernels are chosen when a graph is traced."""
    return training is not None and not tf.is_tensor(training) and bool(training)


class BertDropout(keras.layers.Dropout):
    """Dropout (in training only) on 16 random bits per element instead of a float32 uniform.

    An element is dropped when its 16 bits are below ``round(rate * 65536)`` and the kept ones
    are scaled by ``65536 / (65536 - threshold)``, so the drop probability is the rate to within
    1/131072 (0.1 becomes 0.100006) and the expectation is kept exactly. The bits are a hash of
    each element's index under the layer's seed, recomputed backward instead of stored
    (`dropout`): on a 2-core CPU, Keras' float32 draws were the largest cost after the
    matmuls in a training step. Seeded by the layer's Keras seed generator like
    `keras.layers.Dropout`, so ``keras.utils.set_random_seed`` makes runs repeatable.
    """

    def draw_parameters(self, dtype):
        """(seed, threshold, scale) of the next draw, advancing the layer's seed generator."""
        threshold = min(65535, max(1, round(self.rate * 65536)))
        scale = tf.cast(65536.0 / (65536 - threshold), dtype)
        seed = tf.cast(self.seed_generator.next(), tf.int32)
        return seed, tf.constant(threshold, tf.uint16), scale

    def active(self, training) -> bool:
        """Whether a call with `training` draws a mask (0 < rate < 1 and training)."""
        return static_training(training) and 0 < self.rate < 1

    def call(self, inputs, training=False):
        if not training or self.rate <= 0:
            return inputs
        if self.rate >= 1:
            return tf.zeros_like(inputs)
        return dropout(inputs, *self.draw_parameters(inputs.dtype))


@tf.function(jit_compile=True, reduce_retracing=True)
def _dropout_add_norm_forward(h, residual, gamma, beta, seed, threshold, scale, epsilon, matvec):
    """LayerNorm(dropout(h) + residual) as one XLA kernel.

    The sum and the normalisation are in the residual's dtype. Returns (output, centered, inv_std),
    the last two for `_dropout_add_norm_backward`.
    """
    y = tf.cast(_apply_dropout(h, seed, threshold, scale), residual.dtype) + residual
    centered = y - _row_means(y, matvec)
    inv_std = tf.math.rsqrt(_row_means(tf.square(centered), matvec) + epsilon)
    return centered * (inv_std * gamma) + beta, centered, inv_std


@tf.function(jit_compile=True, reduce_retracing=True)
def _dropout_add_norm_backward(dy, centered, inv_std, gamma, seed, threshold, scale, matvec):
    """Gradients of `_dropout_add_norm_forward` for h (`scale`'s dtype), residual, gamma, beta."""
    d_sum, d_gamma, d_beta = _layer_norm_backward(dy, centered, inv_std, gamma, matvec)
    d_h = _apply_dropout(tf.cast(d_sum, scale.dtype), seed, threshold, scale)
    return d_h, d_sum, d_gamma, d_beta


def dropout_add_layer_norm(h, residual, gamma, beta, epsilon: float, seed, threshold, scale):
    """LayerNorm(dropout(h) + residual), forward and backward one XLA kernel each (training).

    Op by op this is a dropout kernel, a cast and an add, about seven full-size LayerNorm ops, then
    a LayerNorm-gradient kernel and a dropout-gradient kernel backward. The gradient is
    `layer_norm`'s for the sum (which is also the residual's), then `dropout`'s for h. Checked by
    ``test_fused_training_kernels_match_tf_autodiff`` (against TF autodiff of the op-by-op model).

    Args:
        h: [rows, hidden] projection output in the compute dtype.
        residual: [rows, hidden] in the residual dtype (float32 under a 16-bit policy); the sum
            and the normalisation are in this dtype.
        gamma, beta: LayerNorm's [hidden] variables (cast to the residual dtype here).
        epsilon: LayerNorm's epsilon.
        seed, threshold, scale: the dropout draw, as for `dropout` (scale in h's dtype).
    """
    gamma = tf.cast(gamma, residual.dtype)
    beta = tf.cast(beta, residual.dtype)

    @tf.custom_gradient
    def forward(h, residual, gamma, beta):
        out, centered, inv_std = _dropout_add_norm_forward(
            h, residual, gamma, beta, seed, threshold, scale, epsilon, _matvec_sums()
        )

        def grad(dy):
            return _dropout_add_norm_backward(
                dy, centered, inv_std, gamma, seed, threshold, scale, _matvec_sums()
            )

        return out, grad

    return forward(h, residual, gamma, beta)


# ------------------------------------------------------------------------------------------------
# Attention softmax


def _onednn_enabled() -> bool:
    try:
        from tensorflow.python.util import _pywrap_util_port

        return bool(_pywrap_util_port.IsMklEnabled())
    except Exception:  # pragma: no cover - private API moved: take the always-exact path
        return False


# oneDNN's softmax on bfloat16 input accumulates in float32 and rounds once (bit-identical to a
# float32 softmax followed by a cast, without the two casts); elsewhere, and for float16, a
# 16-bit softmax goes through float32 explicitly.
_ONEDNN_BF16_SOFTMAX = _onednn_enabled()


def softmax(scores: tf.Tensor) -> tf.Tensor:
    """exp(s - max s) / sum(exp(s - max s)) over the last axis, in `scores`' dtype.

    16-bit scores are exponentiated and summed in float32 and rounded once (the exponentials and
    the sum need the range): through oneDNN's own bfloat16 softmax where TF was built with it,
    else by casting to float32 and back. Checked in float32 by
    ``test_forward_matches_float64_reference`` and under bfloat16 by
    ``test_bfloat16_policy_close_to_float32`` (tests/test_modeling.py).
    """
    if scores.dtype.size >= 4 or (scores.dtype == tf.bfloat16 and _ONEDNN_BF16_SOFTMAX):
        return tf.nn.softmax(scores, axis=-1)
    return tf.cast(tf.nn.softmax(tf.cast(scores, tf.float32), axis=-1), scores.dtype)


@tf.function(jit_compile=True, reduce_retracing=True)
def _attention_scores_grad(d_dropped, probs, seed, threshold, scale, score_scale, matvec):
    """Gradient of dropout(softmax(raw * score_scale + bias)) with respect to raw, one XLA kernel.

    With g the gradient reaching the softmax output (dropout's mask and scale applied to
    `d_dropped`), softmax's backward is probs * (g - sum(g * probs)) over the keys; times
    `score_scale` for the 1/sqrt(head size) factor. Computed in float32 (`_widened`).
    Separately, TF runs six full-size ops here (mask, scale, multiply, sum, subtract, multiply).
    """
    g, y, s = _widened(_apply_dropout(d_dropped, seed, threshold, scale), probs, score_scale)
    d_raw = y * (g - _row_sums(g * y, matvec)) * s
    return tf.cast(d_raw, d_dropped.dtype)


def dropped_attention_probs(q, k, probs_fn, score_scale, seed, threshold, scale) -> tf.Tensor:
    """dropout(probs_fn(q, k)) for probs = softmax(q k^T * score_scale + bias), backward fused.

    The forward is `probs_fn` then `dropout`'s kernel. Backward, one XLA kernel gives the
    gradient of the raw scores q k^T: d_raw = probs * (g - sum(g * probs)) * score_scale over the
    keys, g being dropout's mask and scale applied to the incoming gradient; then
    dq = d_raw k and dk = d_raw^T q. Checked by ``test_fused_training_kernels_match_tf_autodiff``.

    Args:
        q, k: [batch, heads, seq, head_size] in the compute dtype.
        probs_fn: (q, k) -> softmax(q k^T * score_scale + bias), the attention probabilities
            [batch, heads, seq, seq] (the layer's own op-by-op forward).
        score_scale: 1/sqrt(head_size) in q's dtype.
        seed, threshold, scale: the dropout draw, as for `dropout`.
    """

    @tf.custom_gradient
    def attend(q, k):
        probs = probs_fn(q, k)
        dropped = _dropout_xla(probs, seed, threshold, scale)

        def grad(d_dropped):
            d_raw = _attention_scores_grad(
                d_dropped, probs, seed, threshold, scale, score_scale, _matvec_sums()
            )
            return tf.matmul(d_raw, k), tf.matmul(d_raw, q, transpose_a=True)

        return dropped, grad

    return attend(q, k)


# ------------------------------------------------------------------------------------------------
# The masked-LM head's log-softmax


@tf.function(jit_compile=True, reduce_retracing=True)
def _log_softmax_backward(dy, log_probs, matvec):
    """dy - softmax * sum(dy) over the last axis, one XLA kernel."""
    return dy - tf.exp(log_probs) * _row_sums(dy, matvec)


@tf.custom_gradient
def log_softmax(logits: tf.Tensor) -> tf.Tensor:
    """log(softmax(logits)) over the last axis (`tf.nn.log_softmax`), backward one XLA kernel.

    The gradient dy - softmax(logits) * sum(dy) replaces TF's own Exp, Sum, Mul and Sub over the
    whole tensor: for the masked LM's [640, 30522] log-probabilities about 50 ms of a 2 s MiniLM
    training step on 2 cores, against about 9 ms here. The forward pass is TF's op (no XLA in
    inference graphs). Checked by ``test_log_softmax_matches_tf_values_and_gradient`` (float64).
    """
    log_probs = tf.nn.log_softmax(logits, axis=-1)
    return log_probs, lambda dy: _log_softmax_backward(dy, log_probs, _matvec_sums())
