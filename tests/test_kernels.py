"""The training kernels of `bert_tf.kernels` against autodiff of their formulas, float64
references and TF's op-by-op path."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from bert_tf import kernels, modeling
from bert_tf.modeling import BertConfig, BertDropout, BertModel
from test_modeling import _inputs


def test_gelu_gradient_matches_its_formula():
    # The derivative is written out by hand; check it against a float64 central difference of
    # the tanh formula, and the float32 op against the float64 one.
    xs = np.linspace(-6, 6, 241)

    def f(x):
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))

    h = 1e-6
    numeric = (f(xs + h) - f(xs - h)) / (2 * h)
    for dtype, atol in ((tf.float64, 1e-8), (tf.float32, 1e-5)):
        x = tf.constant(xs, dtype)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = kernels.gelu_tanh(x)
        np.testing.assert_allclose(tape.gradient(y, x).numpy(), numeric, atol=atol)
        np.testing.assert_allclose(y.numpy(), f(xs), atol=atol)


def test_dropout_masks_of_nearby_seeds_are_independent():
    """The counter-based masks behave like independent draws: for seeds one step apart (what a
    layer's seed generator hands out call after call) and for neighbouring elements, a pair is
    dropped together with probability p^2, within 5 standard errors."""
    n, threshold = 1 << 20, 16384  # p = 0.25
    p = threshold / 65536
    mask = tf.function(lambda seed: kernels._keep_mask([n], seed, tf.constant(threshold, tf.uint16)))
    base = ~mask(tf.constant([1234, 7])).numpy()
    sigma = math.sqrt(p * p * (1 - p * p) / n)
    assert abs(base.mean() - p) < 5 * math.sqrt(p * (1 - p) / n)
    for other in ([1234, 8], [1235, 7], [1234 ^ (1 << 20), 7], [7, 1234]):
        dropped = ~mask(tf.constant(other)).numpy()
        assert abs((base & dropped).mean() - p * p) < 5 * sigma, other
    assert abs((base[:-1] & base[1:]).mean() - p * p) < 5 * sigma
    assert abs((base[:-2] & base[2:]).mean() - p * p) < 5 * sigma


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_bert_dropout_gradient_uses_the_forward_mask(dtype):
    layer = BertDropout(0.25, dtype=dtype)
    x = tf.cast(tf.random.stateless_normal([6, 33, 17], seed=[1, 2]), dtype)
    dy = tf.cast(tf.random.stateless_normal([6, 33, 17], seed=[3, 4]), dtype)

    @tf.function
    def forward_and_grad(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
        return y, tape.gradient(y, x, output_gradients=dy)

    y, dx = (t.numpy().astype(np.float32) for t in forward_and_grad(x))
    scale = float(tf.cast(65536 / (65536 - 16384), dtype))  # threshold round(0.25 * 65536)
    kept = y != 0
    assert 0.2 < 1 - kept.mean() < 0.3
    xs, dys = x.numpy().astype(np.float32), dy.numpy().astype(np.float32)
    # y = mask * scale * x, so dy/dx is the same mask and scale applied to dy.
    np.testing.assert_array_equal(y, np.where(kept, tf.cast(xs * scale, dtype).numpy().astype(np.float32), 0))
    np.testing.assert_array_equal(dx, np.where(kept, tf.cast(dys * scale, dtype).numpy().astype(np.float32), 0))


def test_layer_norm_gradients_match_autodiff_of_the_formula():
    rng = np.random.default_rng(0)
    x = tf.constant(rng.standard_normal((2, 5, 16)) * 3 + 1)
    layer = keras.layers.LayerNormalization(epsilon=1e-12, dtype="float64")
    layer.build((None, 16))
    layer.gamma.assign(rng.standard_normal(16))
    layer.beta.assign(rng.standard_normal(16))
    dy = tf.constant(rng.standard_normal((2, 5, 16)))

    def plain(x, gamma, beta):
        mean = tf.reduce_mean(x, axis=-1, keepdims=True)
        variance = tf.reduce_mean(tf.square(x - mean), axis=-1, keepdims=True)
        return (x - mean) / tf.sqrt(variance + 1e-12) * gamma + beta

    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        ours = kernels.layer_norm(x, layer.gamma.value, layer.beta.value, layer.epsilon)
        reference = plain(x, layer.gamma, layer.beta)
        loss_ours = tf.reduce_sum(ours * dy)
        loss_ref = tf.reduce_sum(reference * dy)
    np.testing.assert_allclose(ours.numpy(), reference.numpy(), atol=1e-12)
    sources = [x, layer.gamma, layer.beta]
    for a, b in zip(tape.gradient(loss_ours, sources), tape.gradient(loss_ref, sources)):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-10)


def test_log_softmax_matches_tf_values_and_gradient(rng):
    logits = tf.constant(rng.standard_normal((6, 50)) * 3, tf.float32)
    upstream = tf.constant(rng.standard_normal((6, 50)), tf.float32)
    grads = []
    for fn in (kernels.log_softmax, lambda x: tf.nn.log_softmax(x, axis=-1)):
        with tf.GradientTape() as tape:
            tape.watch(logits)
            out = fn(logits)
            loss = tf.reduce_sum(out * upstream)
        grads.append((out.numpy(), tape.gradient(loss, logits).numpy()))
    np.testing.assert_array_equal(grads[0][0], grads[1][0])
    # Independent: d/dx sum(u * log_softmax(x)) = u - softmax(x) * sum(u), in float64.
    x, u = logits.numpy().astype(np.float64), upstream.numpy().astype(np.float64)
    p = np.exp(x - x.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    np.testing.assert_allclose(grads[0][1], u - p * u.sum(-1, keepdims=True), atol=1e-5)
    np.testing.assert_allclose(grads[0][1], grads[1][1], atol=1e-5)


@pytest.mark.parametrize(
    "dtype, hidden_act, jit",
    [
        (None, "gelu", False),
        (None, "gelu_exact", False),
        ("mixed_bfloat16", "gelu", False),
        ("mixed_bfloat16", "gelu_exact", False),
        (None, "gelu", True),  # inside a whole-step XLA cluster, as under --use_xla
    ],
)
def test_fused_training_kernels_match_tf_autodiff(
    tiny_config_dict, rng, monkeypatch, dtype, hidden_act, jit
):
    """The XLA training kernels (GELU, dropout + add + LayerNorm, attention backward) give the
    op-by-op path's outputs with the same dropout draws, and its gradients: TF autodiff through
    the op-by-op forward, with the LayerNorm, GELU and dropout gradients that path writes out
    (each checked against references in its own test)."""
    tiny_config_dict = dict(tiny_config_dict, hidden_act=hidden_act)

    ids, mask, seg = _inputs(rng, 3, 16, 99, pad_from=[16, 11, 5])
    inputs = {"input_ids": ids, "input_mask": mask, "segment_ids": seg}
    cotangent = tf.constant(rng.standard_normal((3, 16, tiny_config_dict["hidden_size"])), tf.float32)
    weights = None

    def outputs_and_grads(fused):
        nonlocal weights
        monkeypatch.setattr(modeling, "FUSED_TRAINING_KERNELS", fused)
        keras.utils.set_random_seed(5)  # the same dropout draws in both models
        model = BertModel(BertConfig.from_dict(tiny_config_dict), dtype=dtype)
        model(model.dummy_inputs())
        weights = weights or model.get_weights()
        model.set_weights(weights)

        @tf.function(jit_compile=jit)
        def step():
            with tf.GradientTape() as tape:
                out = model(inputs, training=True)["sequence_output"]
                loss = tf.reduce_sum(tf.cast(out, tf.float32) * cotangent)
            return out, tape.gradient(loss, model.trainable_variables)

        out, grads = step()
        # The pooler is not on the path to sequence_output: its gradients are None on both sides.
        return out.numpy(), [None if g is None else tf.convert_to_tensor(g).numpy() for g in grads]

    out_fused, grads_fused = outputs_and_grads(True)
    out_tf, grads_tf = outputs_and_grads(False)
    # The same draws on both sides (a different mask would move many outputs by O(0.1..1)); XLA's
    # LayerNorm rounds a little differently, and under bfloat16 the XLA GELU works in float32 and
    # rounds once where TF's ops round to bfloat16 after each step.
    np.testing.assert_allclose(out_fused, out_tf, atol=1e-5 if dtype is None else 5e-3)
    assert [a is None for a in grads_fused] == [b is None for b in grads_tf]
    # Absolute tolerances scale with the largest gradient anywhere: the key bias's true gradient
    # is 0 (it shifts a query's scores uniformly), so both sides hold only rounding noise there.
    largest = max(np.abs(b).max() for b in grads_tf if b is not None)
    for a, b in zip(grads_fused, grads_tf):
        if b is None:
            continue
        if dtype is None:
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-7 * largest)
        else:
            # The fused kernels work in float32 where TF's ops round to bfloat16.
            np.testing.assert_allclose(a, b, atol=0.03 * np.abs(b).max() + 1e-5 * largest)
