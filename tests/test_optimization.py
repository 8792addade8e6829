"""Google's optimizer step and schedule, checked against hand computations in numpy."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from bert_tf.optimization import (
    AdamWeightDecay,
    WarmupLinearDecay,
    create_optimizer,
    sum_repeated_rows,
)


def test_schedule_warmup_then_linear_decay():
    schedule = WarmupLinearDecay(1e-4, num_train_steps=100, num_warmup_steps=10)
    # step counts updates already applied: the first update uses step 0, i.e. rate 0.
    expected = {0: 0.0, 1: 1e-5, 5: 5e-5, 9: 9e-5, 10: 1e-4 * 0.9, 50: 1e-4 * 0.5, 100: 0.0, 150: 0.0}
    for step, rate in expected.items():
        assert float(schedule(step)) == pytest.approx(rate, rel=1e-6, abs=1e-12)  # float32
    no_warmup = WarmupLinearDecay(2e-5, num_train_steps=4, num_warmup_steps=0)
    np.testing.assert_allclose([float(no_warmup(s)) for s in range(5)], [2e-5, 1.5e-5, 1e-5, 5e-6, 0], rtol=1e-6)


class _Vars(keras.layers.Layer):
    def build(self, _):
        self.kernel = self.add_weight(name="kernel", shape=(2, 3), initializer="ones")
        self.bias = self.add_weight(name="bias", shape=(3,), initializer="ones")
        self.gamma = self.add_weight(name="LayerNorm_gamma", shape=(3,), initializer="ones")


def _hand_step(w, m, v, g, lr, decay, step=None, b1=0.9, b2=0.999, eps=1e-6):
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    mh, vh = (m, v) if step is None else (m / (1 - b1 ** (step + 1)), v / (1 - b2 ** (step + 1)))
    update = mh / (np.sqrt(vh) + eps) + decay * w
    return w - lr * update, m, v


@pytest.mark.parametrize("bias_correction", [False, True])
def test_first_steps_match_hand_computation(bias_correction):
    layer = _Vars(name="layer")
    layer.build(None)
    variables = [layer.kernel, layer.bias, layer.gamma]
    opt = AdamWeightDecay(
        learning_rate=WarmupLinearDecay(0.1, num_train_steps=10, num_warmup_steps=2),
        weight_decay_rate=0.01,
        bias_correction=bias_correction,
    )
    rng = np.random.default_rng(0)
    state = {id(v): (v.numpy().astype(np.float64), 0.0, 0.0) for v in variables}
    for step in range(4):
        grads = [rng.standard_normal(v.shape).astype(np.float32) for v in variables]
        # Global-norm clipping at 1.0 first, as the original.
        norm = np.sqrt(sum((g.astype(np.float64) ** 2).sum() for g in grads))
        clipped = [g * min(1.0, 1.0 / norm) for g in grads]
        lr = 0.1 * step / 2 if step < 2 else 0.1 * (1 - step / 10)
        for var, g in zip(variables, clipped):
            w, m, v = state[id(var)]
            decay = 0.0 if var is not layer.kernel else 0.01  # bias / LayerNorm are excluded
            state[id(var)] = _hand_step(w, m, v, g, lr, decay, step if bias_correction else None)
        opt.apply_gradients(zip([tf.constant(g) for g in grads], variables))
        for var in variables:
            np.testing.assert_allclose(var.numpy(), state[id(var)][0], rtol=1e-5, atol=1e-6)
    assert int(opt.iterations) == 4
    slots = opt.slots(layer.kernel)
    np.testing.assert_allclose(slots["adam_m"].numpy(), state[id(layer.kernel)][1], atol=1e-6)
    np.testing.assert_allclose(slots["adam_v"].numpy(), state[id(layer.kernel)][2], atol=1e-7)


def test_lamb_scales_update_by_trust_ratio():
    layer = _Vars(name="layer")
    layer.build(None)
    opt = create_optimizer(0.01, num_train_steps=100, num_warmup_steps=0, optimizer_type="lamb")
    g = np.full((2, 3), 0.5, np.float32)
    w0 = layer.kernel.numpy().astype(np.float64)
    opt.apply_gradients([(tf.constant(g), layer.kernel)])
    # One bias-corrected Adam step gives m_hat/sqrt(v_hat) = sign(g) = 1 per entry.
    update = 1.0 / (1.0 + 1e-6) + 0.01 * w0
    ratio = np.linalg.norm(w0) / np.linalg.norm(update)
    # Clipping scales g but not the sign-like Adam step, so the expected step is lr*ratio*update.
    np.testing.assert_allclose(layer.kernel.numpy(), w0 - 0.01 * ratio * update, rtol=1e-5)


def test_create_optimizer_defaults_and_errors():
    opt = create_optimizer(5e-5, 1000, 100)
    assert (opt.beta_1, opt.beta_2, opt.epsilon, opt.weight_decay_rate) == (0.9, 0.999, 1e-6, 0.01)
    assert opt.exclude_from_weight_decay == ["LayerNorm", "layer_norm", "bias"]
    assert not opt.bias_correction and opt.clip_norm == 1.0
    with pytest.raises(ValueError, match="optimizer_type"):
        create_optimizer(1e-4, 10, 1, optimizer_type="sgd")
    with pytest.raises(ValueError, match="num_train_steps"):
        create_optimizer(1e-4, 0, 0)


class _Lookups(keras.layers.Layer):
    """A word table, a token-type table and a dense kernel, as in BERT's embeddings."""

    def build(self, _):
        init = keras.initializers.RandomNormal(stddev=0.5, seed=1)
        self.word = self.add_weight(name="word_embeddings", shape=(7, 4), initializer=init)
        self.types = self.add_weight(name="token_type_embeddings", shape=(2, 4), initializer=init)
        self.kernel = self.add_weight(name="kernel", shape=(4, 3), initializer=init)


# Ids that repeat within and across rows ([CLS]=2, [SEP]=3, a frequent word 5), two segments.
_IDS = np.array([[2, 5, 5, 3, 6, 5, 3, 0], [2, 4, 5, 3, 5, 5, 3, 0]])
_SEGMENTS = np.array([[0, 0, 0, 0, 1, 1, 1, 0], [0, 0, 0, 0, 1, 1, 1, 1]])


def _lookup_loss(layer, ids, segments, upstream, kernel_upstream):
    rows = tf.gather(layer.word.value, ids) + tf.gather(layer.types.value, segments)
    return tf.reduce_sum(upstream * rows) + tf.reduce_sum(kernel_upstream * layer.kernel.value)


def _dense_reference(layer, upstream, kernel_upstream):
    """The clipped gradients in numpy: each table's dense gradient adds the rows of its ids."""
    word = np.zeros(layer.word.shape)
    types = np.zeros(layer.types.shape)
    np.add.at(word, _IDS.ravel(), upstream.reshape(-1, 4))
    np.add.at(types, _SEGMENTS.ravel(), upstream.reshape(-1, 4))
    grads = [word, types, kernel_upstream.astype(np.float64)]
    norm = np.sqrt(sum((g**2).sum() for g in grads))
    return [g * min(1.0, 1.0 / norm) for g in grads], norm


@pytest.mark.parametrize("optimizer_type", ["adamw", "lamb"])
def test_clipping_norm_adds_repeated_rows_of_sparse_gradients(optimizer_type):
    """Google's embedding gradients were dense: a repeated id's rows count once, summed."""
    layer = _Lookups(name="embeddings")
    layer.build(None)
    variables = [layer.word, layer.types, layer.kernel]
    w0 = [v.numpy().astype(np.float64) for v in variables]
    rng = np.random.default_rng(5)
    upstream = rng.standard_normal(_IDS.shape + (4,)).astype(np.float32)
    kernel_upstream = rng.standard_normal((4, 3)).astype(np.float32)
    with tf.GradientTape() as tape:
        loss = _lookup_loss(layer, _IDS, _SEGMENTS, upstream, kernel_upstream)
    grads = tape.gradient(loss, variables)
    assert isinstance(grads[0], tf.IndexedSlices) and isinstance(grads[1], tf.IndexedSlices)
    expected, norm = _dense_reference(layer, upstream, kernel_upstream)
    assert norm > 2.0  # clipping is active

    opt = create_optimizer(0.1, 10, num_warmup_steps=0, optimizer_type=optimizer_type)
    opt.apply_gradients(zip(grads, variables))
    for var, g in zip(variables, expected):
        slots = opt.slots(var)
        # The first step's moments are (1 - beta) times the clipped gradient (and its square).
        np.testing.assert_allclose(slots["adam_m"].numpy(), 0.1 * g, rtol=1e-5, atol=1e-8)
        np.testing.assert_allclose(slots["adam_v"].numpy(), 0.001 * g * g, rtol=1e-5, atol=1e-10)
    if optimizer_type == "adamw":
        for var, g, w in zip(variables, expected, w0):
            # No LayerNorm, layer_norm or bias in these names: all three decay.
            want = _hand_step(w, 0.0, 0.0, g, 0.1, 0.01)[0]
            np.testing.assert_allclose(var.numpy(), want, rtol=1e-5, atol=1e-6)


def test_two_replicas_clip_the_summed_sparse_gradient(tmp_path):
    """Under MirroredStrategy each replica's rows reach the optimizer concatenated: the rows
    of an id repeated within and across replicas are still added together before the norm."""
    import subprocess
    import sys
    import textwrap

    from conftest import REPO

    script = textwrap.dedent(
        f"""
        import sys, numpy as np, tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        two = [tf.config.LogicalDeviceConfiguration()] * 2
        tf.config.set_logical_device_configuration(cpu, two)
        sys.path.insert(0, {str(REPO / "tests")!r})
        from test_optimization import _IDS, _SEGMENTS, _Lookups, _dense_reference, _lookup_loss
        from bert_tf.optimization import create_optimizer
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        rng = np.random.default_rng(5)
        upstream = rng.standard_normal(_IDS.shape + (4,)).astype(np.float32)
        kernel_upstream = rng.standard_normal((4, 3)).astype(np.float32)
        with strategy.scope():
            layer = _Lookups(name="embeddings")
            layer.build(None)
            opt = create_optimizer(0.1, num_train_steps=10, num_warmup_steps=0)
            variables = [layer.word, layer.types, layer.kernel]
            opt.build(variables)

        @tf.function
        def step():
            def replica():
                i = tf.distribute.get_replica_context().replica_id_in_sync_group
                with tf.GradientTape() as tape:
                    # Replica i has row i of the batch and half of the kernel's gradient.
                    loss = _lookup_loss(layer, tf.gather(_IDS, [i]), tf.gather(_SEGMENTS, [i]),
                                        tf.gather(upstream, [i]), kernel_upstream / 2)
                grads = tape.gradient(loss, variables)
                opt.apply_gradients(zip(grads, variables))
            strategy.run(replica)

        step()
        expected, norm = _dense_reference(layer, upstream, kernel_upstream)
        assert norm > 2.0
        for var, g in zip(variables, expected):
            m = opt.slots(var)["adam_m"].numpy()
            np.testing.assert_allclose(m, 0.1 * g, rtol=1e-5, atol=1e-8)
        print("OK")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=600
    )
    assert "OK" in result.stdout, result.stdout[-3000:] + result.stderr[-5000:]


@pytest.mark.parametrize("jit_compile", [False, True])
def test_sum_repeated_rows(jit_compile):
    """One row per id, the same dense gradient; static shapes, so it compiles (TPU, XLA)."""
    rng = np.random.default_rng(2)
    indices = np.array([5, 2, 5, 5, 0, 2, 9], np.int32)
    values = rng.standard_normal((7, 3)).astype(np.float32)

    @tf.function(jit_compile=jit_compile)
    def summed(values, indices):
        g = sum_repeated_rows(tf.IndexedSlices(values, indices, tf.constant([10, 3])))
        return g.values, g.indices, tf.convert_to_tensor(g)

    rows, ids, dense = (t.numpy() for t in summed(values, indices))
    expected = np.zeros((10, 3), np.float32)
    np.add.at(expected, indices, values)
    np.testing.assert_allclose(dense, expected, rtol=1e-6)
    # The rows' norm (what tf.clip_by_global_norm reads) is the dense gradient's.
    np.testing.assert_allclose(np.linalg.norm(rows), np.linalg.norm(expected), rtol=1e-6)
    np.testing.assert_array_equal(ids[:4], [0, 2, 5, 9])
    assert not rows[4:].any()
