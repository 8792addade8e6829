"""Google's BERT optimizer as a Keras 3 optimizer, plus the fixes the original left out (behind flags).

The original step (``optimization.py`` in google-research/bert), reproduced by default:

* learning rate: linear warmup ``init_lr * step / num_warmup_steps`` while
  ``step < num_warmup_steps``, else linear decay ``init_lr * (1 - step / num_train_steps)``
  (reaching 0 at `num_train_steps`), where ``step`` counts updates already applied (0 first);
* gradients clipped to global norm 1.0, the norm of the true gradient (a sparse embedding
  gradient's rows summed per id first, as Google's dense embedding gradients were);
* Adam moments with beta1 0.9, beta2 0.999 and epsilon 1e-6 *without* bias correction;
* decoupled weight decay 0.01 added to the update, except for variables whose names contain
  ``LayerNorm``, ``layer_norm`` or ``bias``.

Optional: Adam bias correction, and LAMB's per-layer trust ratio (``||w|| / ||update||``), as
NVIDIA and TF Model Garden use for large batches. Slot variables are named after Google's
(``<variable>/adam_m``, ``<variable>/adam_v``) by `bert_tf.training` when it writes checkpoints.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import keras
import tensorflow as tf

DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY = ("LayerNorm", "layer_norm", "bias")


class WarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup from 0 to `init_lr`, then linear decay to 0 at `num_train_steps`.

    Args:
        init_lr: peak learning rate.
        num_train_steps: step at which the rate reaches 0 (and stays there).
        num_warmup_steps: steps of warmup; 0 disables it.
    """

    def __init__(self, init_lr: float, num_train_steps: int, num_warmup_steps: int = 0):
        if num_train_steps <= 0:
            raise ValueError(f"num_train_steps must be positive, got {num_train_steps}")
        if num_warmup_steps < 0:
            raise ValueError(f"num_warmup_steps must be >= 0, got {num_warmup_steps}")
        self.init_lr = float(init_lr)
        self.num_train_steps = int(num_train_steps)
        self.num_warmup_steps = int(num_warmup_steps)

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        done = tf.minimum(step, float(self.num_train_steps)) / float(self.num_train_steps)
        decayed = self.init_lr * (1.0 - done)
        if not self.num_warmup_steps:
            return decayed
        warmup = self.init_lr * step / float(self.num_warmup_steps)
        return tf.where(step < float(self.num_warmup_steps), warmup, decayed)

    def get_config(self):
        return {
            "init_lr": self.init_lr,
            "num_train_steps": self.num_train_steps,
            "num_warmup_steps": self.num_warmup_steps,
        }


@tf.function(jit_compile=True, reduce_retracing=True)
def _adam_step(grad, m, v, w, lr, betas, epsilon, decay_rate, m_denom, v_denom, trust_ratio=False):
    """One variable's Adam(W) step as a single XLA kernel; returns (next_m, next_v, next_w).

    The float32 arithmetic of the step written out op by op, in one pass over the gradient, slots
    and weights instead of about fifteen (op by op, the update of BERT's weights took several
    percent of a CPU training step). XLA contracts each multiply-add into one fused multiply-add,
    so a result can differ from the op-by-op one in its last bit, as under XLA on a TPU.
    ``betas`` holds beta_1, 1 - beta_1, beta_2, 1 - beta_2 (the differences taken in float64, as
    the original's Python did); ``m_denom``/``v_denom`` are 1 - beta**t for bias correction and 1
    without it; ``decay_rate`` is 0 for variables excluded from weight decay.
    """
    beta_1, one_minus_beta_1, beta_2, one_minus_beta_2 = tf.unstack(betas)
    next_m = beta_1 * m + one_minus_beta_1 * grad
    next_v = beta_2 * v + one_minus_beta_2 * tf.square(grad)
    update = (next_m / m_denom) / (tf.sqrt(next_v / v_denom) + epsilon) + decay_rate * w
    if trust_ratio:
        w_norm = tf.norm(w)
        u_norm = tf.norm(update)
        ratio = tf.where((w_norm > 0) & (u_norm > 0), w_norm / u_norm, tf.ones_like(w_norm))
        update *= ratio
    return next_m, next_v, w - lr * update


def sum_repeated_rows(gradient):
    """A sparse gradient with the rows of each repeated index added together (others unchanged).

    A lookup's gradient (`tf.IndexedSlices`) holds one row per occurrence of an id in the batch.
    Anything computed from its rows rather than from the gradient they add up to, above all
    `tf.clip_by_global_norm`, which sums the rows' squares, is wrong whenever an id repeats (a
    segment id always does; ``[CLS]``, ``[SEP]`` and frequent words too). The reference is the
    dense gradient: Google's token-type lookup is a one-hot matmul, its word lookup is one on TPU,
    and in pretraining the tied output layer makes the word table's gradient dense. (Only where
    the original gathered words, i.e. fine-tuning on CPU or GPU, did its norm count a repeated
    word's rows separately: `AdamWeightDecay`'s ``norm_per_occurrence`` keeps that behaviour.)
    One row per id keeps the update sparse and its norm the true one.
    """
    if not isinstance(gradient, tf.IndexedSlices):
        return gradient
    # Static shapes throughout (no tf.unique), so that it compiles for TPUs and under XLA: as
    # many rows out as in, one per id in id order, then zero rows (indexed by the smallest id).
    count = tf.shape(gradient.indices)[0]
    order = tf.argsort(gradient.indices, stable=True)
    ids = tf.gather(gradient.indices, order)
    first = tf.concat([[True], ids[1:] != ids[:-1]], 0)[:count]
    segment = tf.cumsum(tf.cast(first, tf.int32)) - 1
    rows = tf.math.unsorted_segment_sum(tf.gather(gradient.values, order), segment, count)
    unique = tf.range(count) < tf.reduce_sum(tf.cast(first, tf.int32))
    ids = tf.where(unique, tf.math.unsorted_segment_max(ids, segment, count), tf.reduce_min(ids))
    return tf.IndexedSlices(rows, ids, gradient.dense_shape)


class AdamWeightDecay(keras.optimizers.Optimizer):
    """Adam with decoupled weight decay, as in Google's BERT (no bias correction by default).

    Args:
        learning_rate: a float or a `LearningRateSchedule`.
        weight_decay_rate: decay added to the update as ``rate * w`` (0 disables).
        beta_1, beta_2, epsilon: Adam constants (Google's: 0.9, 0.999, 1e-6).
        exclude_from_weight_decay: regexes; a variable whose path matches any is not decayed.
        bias_correction: divide the moments by ``1 - beta**t`` (what Adam's paper does; the
            original BERT omitted it).
        layer_adaptation: scale each variable's update by LAMB's trust ratio
            ``||w|| / ||update||`` (1 when either norm is 0), except for excluded variables.
        clip_norm: clip gradients to this global norm before the update (None disables).
        norm_per_occurrence: regexes; a sparse gradient of a variable whose path matches any
            enters the global norm with one row per occurrence of an id, as the original's
            ``tf.gather`` lookups did (its word embeddings off TPU). Every other sparse gradient
            enters it as the dense gradient would (rows summed per id). The update itself
            always uses the summed gradient.
        **kwargs: passed to `keras.optimizers.Optimizer` (e.g. ``name``).

    Example:
        >>> optimizer = create_optimizer(5e-5, num_train_steps=10000, num_warmup_steps=1000)
    """

    def __init__(
        self,
        learning_rate=0.001,
        weight_decay_rate: float = 0.0,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-6,
        exclude_from_weight_decay: Sequence[str] | None = DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY,
        bias_correction: bool = False,
        layer_adaptation: bool = False,
        clip_norm: float | None = 1.0,
        norm_per_occurrence: Sequence[str] = (),
        name: str = "AdamWeightDecay",
        **kwargs,
    ):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.weight_decay_rate = weight_decay_rate
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.exclude_from_weight_decay = list(exclude_from_weight_decay or [])
        self.bias_correction = bias_correction
        self.layer_adaptation = layer_adaptation
        self.clip_norm = clip_norm
        self.norm_per_occurrence = list(norm_per_occurrence)

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._m = [self.add_variable_from_reference(v, "adam_m") for v in var_list]
        self._v = [self.add_variable_from_reference(v, "adam_v") for v in var_list]

    def slots(self, variable) -> dict[str, keras.Variable]:
        """The optimizer's state for one model variable, by Google's slot names."""
        index = self._get_variable_index(variable)
        return {"adam_m": self._m[index], "adam_v": self._v[index]}

    def _decays(self, variable) -> bool:
        if not self.weight_decay_rate:
            return False
        path = getattr(variable, "path", variable.name)
        return not any(re.search(pattern, path) for pattern in self.exclude_from_weight_decay)

    def _excluded(self, variable) -> bool:
        path = getattr(variable, "path", variable.name)
        return any(re.search(pattern, path) for pattern in self.exclude_from_weight_decay)

    def _rows_for_norm(self, gradient, variable):
        path = getattr(variable, "path", variable.name)
        if any(re.search(pattern, path) for pattern in self.norm_per_occurrence):
            return gradient
        return sum_repeated_rows(gradient)

    def _all_reduce_sum_gradients(self, grads_and_vars):
        # Keras sums gradients across replicas here (TF backend); clip after that sum so that a
        # multi-device run clips the global batch's gradient exactly as one device would. Sparse
        # gradients (concatenated across replicas by the all-reduce) are summed per id first, so
        # that the norm below is the norm of the true gradient, except those the original's
        # norm saw per occurrence (`norm_per_occurrence`).
        grads_and_vars = super()._all_reduce_sum_gradients(grads_and_vars)
        grads_and_vars = [(self._rows_for_norm(g, v), v) for g, v in grads_and_vars]
        if self.clip_norm is None:
            return grads_and_vars
        present = [g for g, _ in grads_and_vars if g is not None]
        clipped = iter(tf.clip_by_global_norm(present, self.clip_norm)[0])
        return [(None if g is None else next(clipped), v) for g, v in grads_and_vars]

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        # Embedding gradients arrive as IndexedSlices (one row per id, see `sum_repeated_rows`);
        # the original updated densely too.
        grad = tf.cast(tf.convert_to_tensor(gradient), dtype)
        slots = self.slots(variable)
        m, v = slots["adam_m"], slots["adam_v"]
        const = lambda x: tf.constant(x, dtype)  # noqa: E731
        if self.bias_correction:
            t = tf.cast(self.iterations + 1, dtype)
            m_denom = 1.0 - tf.pow(const(self.beta_1), t)
            v_denom = 1.0 - tf.pow(const(self.beta_2), t)
        else:
            m_denom = v_denom = const(1.0)
        next_m, next_v, next_w = _adam_step(
            grad, tf.convert_to_tensor(m), tf.convert_to_tensor(v), tf.convert_to_tensor(variable),
            tf.cast(learning_rate, dtype),
            const([self.beta_1, 1.0 - self.beta_1, self.beta_2, 1.0 - self.beta_2]),
            const(self.epsilon), const(self.weight_decay_rate if self._decays(variable) else 0.0),
            m_denom, v_denom,
            trust_ratio=self.layer_adaptation and not self._excluded(variable),
        )
        self.assign(m, next_m)
        self.assign(v, next_v)
        self.assign(variable, next_w)

    def get_config(self):
        config = super().get_config()
        config.update(
            weight_decay_rate=self.weight_decay_rate,
            beta_1=self.beta_1,
            beta_2=self.beta_2,
            epsilon=self.epsilon,
            exclude_from_weight_decay=self.exclude_from_weight_decay,
            bias_correction=self.bias_correction,
            layer_adaptation=self.layer_adaptation,
            clip_norm=self.clip_norm,
            norm_per_occurrence=self.norm_per_occurrence,
        )
        return config


def create_optimizer(
    init_lr: float,
    num_train_steps: int,
    num_warmup_steps: int,
    use_bias_correction: bool = False,
    optimizer_type: str = "adamw",
    weight_decay_rate: float = 0.01,
    norm_per_occurrence: Sequence[str] = (),
) -> AdamWeightDecay:
    """Google's optimizer and schedule: AdamWeightDecay, warmup then linear decay, clip at 1.0.

    Args:
        init_lr: peak learning rate (Google's `--learning_rate`).
        num_train_steps: total optimizer updates; the rate decays to 0 there.
        num_warmup_steps: updates of linear warmup.
        use_bias_correction: add Adam's bias correction (off in the original).
        optimizer_type: "adamw" (the original) or "lamb" (bias correction and trust ratio on).
        weight_decay_rate: decoupled weight decay (0.01 in the original).
        norm_per_occurrence: see `AdamWeightDecay`; the scripts pass ``("word_embeddings",)``
            off TPU unless --use_dense_clip_norm, as the original's lookups behave.

    Returns:
        An `AdamWeightDecay` optimizer.
    """
    schedule = WarmupLinearDecay(init_lr, num_train_steps, num_warmup_steps)
    if optimizer_type == "adamw":
        return AdamWeightDecay(
            learning_rate=schedule,
            weight_decay_rate=weight_decay_rate,
            bias_correction=use_bias_correction,
            norm_per_occurrence=norm_per_occurrence,
        )
    if optimizer_type == "lamb":
        return AdamWeightDecay(
            learning_rate=schedule,
            weight_decay_rate=weight_decay_rate,
            bias_correction=True,
            layer_adaptation=True,
            norm_per_occurrence=norm_per_occurrence,
            name="LAMB",
        )
    raise ValueError(f"optimizer_type must be 'adamw' or 'lamb', got {optimizer_type!r}")
