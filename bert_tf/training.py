"""The one training loop every script uses: strategy, precision, XLA, checkpoints, resume, progress.

A `Trainer` owns a model and an optimizer created under a `tf.distribute` strategy. `train` runs
steps until `num_train_steps`, writing ``model.ckpt-STEP`` checkpoints in Google's names every
`save_checkpoints_steps` (and at the end), TensorBoard scalars and a progress line with steps/s
and ETA. Starting again with the same `output_dir` resumes from the newest checkpoint: weights,
optimizer slots and the step, so a killed run ends at the same step with the same checkpoints.

Loss functions get a ``total`` callable that sums a value over all replicas, so they normalise
by global quantities and a multi-device step equals the single-device step on the same batch.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable

import keras
import tensorflow as tf
from absl import logging
from tensorflow.core.framework import summary_pb2

from bert_tf import checkpoints


def make_strategy(use_tpu: bool = False, tpu_name: str | None = None) -> tf.distribute.Strategy:
    """Picks the distribution strategy the way users expect from the flags and environment.

    * ``--use_tpu --tpu_name=NAME``: `TPUStrategy` on that TPU.
    * ``TF_CONFIG`` naming more than one worker: `MultiWorkerMirroredStrategy`.
    * more than one local GPU: `MirroredStrategy` over them.
    * otherwise the default (single-device) strategy.
    """
    if use_tpu:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu_name)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    tf_config = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
    workers = tf_config.get("cluster", {}).get("worker", [])
    if len(workers) > 1:
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def precision_policy(use_mixed_precision: bool) -> str | None:
    """The Keras dtype policy for `--use_mixed_precision`: bfloat16 on CPU/TPU, float16 on GPU."""
    if not use_mixed_precision:
        return None
    return "mixed_float16" if tf.config.list_logical_devices("GPU") else "mixed_bfloat16"


def _scalar_metadata() -> bytes:
    # What TensorBoard's scalar plugin tags its summaries with; writing it through the core
    # `tf.summary.write` keeps the tensorboard package out of the runtime dependencies.
    metadata = summary_pb2.SummaryMetadata()
    metadata.plugin_data.plugin_name = "scalars"
    metadata.data_class = summary_pb2.DATA_CLASS_SCALAR
    return metadata.SerializeToString()


def write_scalars(writer, step: int, values: dict[str, float]) -> None:
    """Writes float scalars TensorBoard shows, without needing the tensorboard package."""
    metadata = _scalar_metadata()
    with writer.as_default(step=step):
        for name, value in values.items():
            tf.summary.write(name, tf.constant(value, tf.float32), metadata=metadata)


def _format_eta(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _add_gradients(a, b):
    """The sum of two micro-batches' gradients of one variable.

    Unused variables (e.g. the pooler under a span loss) have None. Embedding gradients come as
    `tf.IndexedSlices`; they stay sparse (rows concatenated; the optimizer adds the rows of a
    repeated id together before anything reads them).
    """
    if a is None:
        return None
    if isinstance(a, tf.IndexedSlices) and isinstance(b, tf.IndexedSlices):
        return tf.IndexedSlices(
            tf.concat([a.values, b.values], 0), tf.concat([a.indices, b.indices], 0), a.dense_shape
        )
    return tf.convert_to_tensor(a) + tf.convert_to_tensor(b)


def _mean_gradient(gradient, count: int):
    if gradient is None:
        return None
    if isinstance(gradient, tf.IndexedSlices):
        return tf.IndexedSlices(gradient.values / count, gradient.indices, gradient.dense_shape)
    return gradient / count


class Trainer:
    """Runs training and evaluation for one model.

    Args:
        model_fn: builds the Keras model (called under the strategy's scope).
        loss_fn: ``loss_fn(outputs, features, total) -> (loss, {name: scalar})``; `total` sums a
            tensor over replicas (identity on one device) and should be used for denominators.
        optimizer_fn: builds the optimizer (under the scope); None for evaluation only.
        strategy: a `tf.distribute.Strategy`.
        output_dir: where checkpoints and summaries go.
        save_checkpoints_steps: checkpoint interval in steps.
        keep_checkpoint_max: newest checkpoints kept.
        iterations_per_loop: steps run inside one `tf.function` call (fewer host round trips).
        log_every_steps: progress-line interval.
        use_xla: compile the step with XLA.
        gradient_accumulation_steps: split each batch into this many micro-batches and apply
            their mean gradient once (same step count, less memory).
    """

    def __init__(
        self,
        model_fn: Callable[[], keras.Model],
        loss_fn: Callable,
        optimizer_fn: Callable[[], keras.optimizers.Optimizer] | None,
        strategy: tf.distribute.Strategy,
        output_dir: str,
        save_checkpoints_steps: int = 1000,
        keep_checkpoint_max: int = 5,
        iterations_per_loop: int = 100,
        log_every_steps: int = 100,
        use_xla: bool = False,
        gradient_accumulation_steps: int = 1,
    ):
        if gradient_accumulation_steps < 1:
            raise ValueError("--gradient_accumulation_steps must be >= 1")
        self.strategy = strategy
        self.output_dir = output_dir
        self.loss_fn = loss_fn
        self.save_checkpoints_steps = max(1, save_checkpoints_steps)
        self.keep_checkpoint_max = keep_checkpoint_max
        self.iterations_per_loop = max(1, iterations_per_loop)
        self.log_every_steps = max(1, log_every_steps)
        self.use_xla = use_xla
        self.accumulation = gradient_accumulation_steps
        tf.io.gfile.makedirs(output_dir)
        with strategy.scope():
            self.model = model_fn()
            self.optimizer = optimizer_fn() if optimizer_fn else None
        self._train_fn = None

    # -- state ---------------------------------------------------------------------------

    def build(self) -> None:
        """Creates the model's and the optimizer's variables under the strategy's scope."""
        with self.strategy.scope():
            if not self.model.weights:
                self.model.build()
            if self.optimizer is not None:
                inner = getattr(self.optimizer, "inner_optimizer", self.optimizer)
                if not inner.built:
                    inner.build(self.model.trainable_variables)

    @property
    def step(self) -> int:
        if self.optimizer is None:
            return 0
        return int(tf.convert_to_tensor(self.optimizer.iterations).numpy())

    def restore_or_initialize(
        self, init_checkpoint: str | None, allow_missing: tuple[str, ...] = ()
    ) -> int:
        """Resumes from the newest checkpoint in `output_dir`, else loads `init_checkpoint`.

        Returns:
            The step training starts from.
        """
        self.build()
        latest = tf.train.latest_checkpoint(self.output_dir)
        if latest and self.optimizer is not None:
            step = checkpoints.restore_training_checkpoint(self.model, self.optimizer, latest)
            logging.info("Resumed from %s at step %d", latest, step)
            return step
        if latest and self.optimizer is None:
            checkpoints.load_google_checkpoint(self.model, latest)
            return int(tf.train.load_checkpoint(latest).get_tensor("global_step"))
        if init_checkpoint:
            checkpoints.load_google_checkpoint(self.model, init_checkpoint, allow_missing)
        return 0

    def save(self) -> str:
        prefix = checkpoints.save_training_checkpoint(
            self.model, self.optimizer, self.output_dir, self.step, self.keep_checkpoint_max
        )
        logging.info("Saved checkpoint %s", prefix)
        return prefix

    # -- steps -----------------------------------------------------------------------------

    def _replica_total(self):
        ctx = tf.distribute.get_replica_context()
        if ctx is None or self.strategy.num_replicas_in_sync == 1:
            return lambda x: x
        return lambda x: ctx.all_reduce(tf.distribute.ReduceOp.SUM, x)

    def _gradients(self, features, total):
        variables = self.model.trainable_variables
        with tf.GradientTape() as tape:
            outputs = self.model(features, training=True)
            loss, parts = self.loss_fn(outputs, features, total)
            scaled = (
                self.optimizer.scale_loss(loss) if hasattr(self.optimizer, "scale_loss") else loss
            )
        return tape.gradient(scaled, variables), loss, parts

    def _replica_step(self, features):
        total = self._replica_total()
        variables = self.model.trainable_variables
        if self.accumulation == 1:
            grads, loss, parts = self._gradients(features, total)
        else:
            micro = [
                {k: v for k, v in zip(features, values)}
                for values in zip(*[tf.split(t, self.accumulation) for t in features.values()])
            ]
            grads, losses, all_parts = None, [], []
            for batch in micro:
                g, loss, parts = self._gradients(batch, total)
                grads = g if grads is None else [_add_gradients(a, b) for a, b in zip(grads, g)]
                losses.append(loss)
                all_parts.append(parts)
            grads = [_mean_gradient(g, self.accumulation) for g in grads]
            loss = tf.add_n(losses) / self.accumulation
            parts = {
                k: tf.add_n([p[k] for p in all_parts]) / self.accumulation for k in all_parts[0]
            }
        self.optimizer.apply_gradients(zip(grads, variables))
        return loss, parts

    def _make_train_fn(self):
        strategy = self.strategy

        def one_step(features):
            loss, parts = strategy.run(self._replica_step, args=(features,))
            reduce = lambda x: strategy.reduce(tf.distribute.ReduceOp.SUM, x, axis=None)  # noqa
            return reduce(loss), {k: reduce(v) for k, v in parts.items()}

        @tf.function(jit_compile=None)
        def loop(iterator, steps):
            loss, parts = one_step(next(iterator))
            for _ in tf.range(steps - 1):
                loss, parts = one_step(next(iterator))
            return loss, parts

        if self.use_xla:
            # XLA compiles the forward and backward pass; the optimizer update (which talks to
            # the other replicas) stays outside the cluster.
            self._gradients = tf.function(self._gradients, jit_compile=True)
        return loop

    def run_steps(self, iterator, steps: int):
        """Runs `steps` training steps from a distributed iterator in one `tf.function` call.

        Returns:
            (loss, {name: value}) of the last step, summed over replicas.
        """
        self._train_fn = self._train_fn or self._make_train_fn()
        return self._train_fn(iterator, tf.constant(steps))

    def train(self, dataset: tf.data.Dataset, num_train_steps: int) -> dict:
        """Trains until the optimizer has applied `num_train_steps` updates.

        Returns:
            The last logged values (loss and the loss function's parts).
        """
        iterator = iter(self.strategy.experimental_distribute_dataset(dataset))
        writer = tf.summary.create_file_writer(self.output_dir)
        start_step = self.step
        if start_step >= num_train_steps:
            logging.info("Already at step %d of %d: nothing to train", start_step, num_train_steps)
            return {}
        logging.info("Training from step %d to %d", start_step, num_train_steps)
        started = time.perf_counter()
        last = {}
        while self.step < num_train_steps:
            step = self.step
            to_boundary = min(
                self.iterations_per_loop,
                num_train_steps - step,
                self.save_checkpoints_steps - step % self.save_checkpoints_steps,
                self.log_every_steps - step % self.log_every_steps,
            )
            loss, parts = self.run_steps(iterator, to_boundary)
            step = self.step
            last = {"loss": float(loss), **{k: float(v) for k, v in parts.items()}}
            lr = self.optimizer.learning_rate
            lr_value = float(lr(step) if callable(lr) else lr)
            write_scalars(writer, step, {**last, "learning_rate": lr_value})
            if step % self.log_every_steps == 0 or step == num_train_steps:
                elapsed = time.perf_counter() - started
                rate = (step - start_step) / max(elapsed, 1e-9)
                logging.info(
                    "step %d/%d  loss %.4f  lr %.3g  %.2f steps/s  ETA %s",
                    step,
                    num_train_steps,
                    last["loss"],
                    lr_value,
                    rate,
                    _format_eta((num_train_steps - step) / max(rate, 1e-9)),
                )
            if step % self.save_checkpoints_steps == 0 or step == num_train_steps:
                self.save()
        writer.flush()
        return last

    def evaluate(self, dataset: tf.data.Dataset, steps: int, metric_fn: Callable) -> dict:
        """Sums ``metric_fn(outputs, features) -> {name: scalar sum}`` over `steps` batches.

        Returns:
            {name: float} summed over batches and replicas, plus ``"num_batches"``.
        """
        strategy = self.strategy

        @tf.function
        def eval_step(features):
            def replica(features):
                return metric_fn(self.model(features, training=False), features)

            sums = strategy.run(replica, args=(features,))
            return {
                k: strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None)
                for k, v in sums.items()
            }

        totals: dict[str, float] = {}
        batches = 0
        for features in strategy.experimental_distribute_dataset(dataset.take(steps)):
            for name, value in eval_step(features).items():
                totals[name] = totals.get(name, 0.0) + float(value)
            batches += 1
        totals["num_batches"] = batches
        return totals

    def predict(self, dataset: tf.data.Dataset):
        """Yields each batch's model outputs as numpy arrays (replicas concatenated in order)."""
        strategy = self.strategy

        @tf.function
        def predict_step(features):
            return strategy.run(lambda f: self.model(f, training=False), args=(features,))

        for features in strategy.experimental_distribute_dataset(dataset):
            outputs = predict_step(features)
            yield {
                name: tf.concat(strategy.experimental_local_results(value), axis=0).numpy()
                for name, value in outputs.items()
            }
