"""The one training loop every script uses: strategy, precision, XLA, checkpoints, resume, progress.

A `Trainer` owns a model and an optimizer created under a `tf.distribute` strategy. `train` runs
steps until `num_train_steps`, writing ``model.ckpt-STEP`` checkpoints in Google's names every
`save_checkpoints_steps` (and at the end), TensorBoard scalars and a progress line with steps/s
and ETA. Starting again with the same `output_dir` resumes from the newest readable checkpoint:
weights, optimizer slots, the step, and (in ``train_state.ckpt-STEP``) the input pipeline's
position and the dropout generators' state, so a seeded run that was killed and run again ends
with the same weights as one that never stopped. Ctrl-C during `train` saves a checkpoint and
raises `TrainingInterrupted`; an input read error saves one and raises a `ValueError` naming the
data.

Loss functions get a ``total`` callable that sums a value over all replicas, so they normalise
by global quantities and a multi-device step equals the single-device step on the same batch.
"""

from __future__ import annotations

import json
import os
import re
import signal
import threading
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


class TrainingInterrupted(Exception):
    """Training stopped on Ctrl-C after saving a checkpoint; the message says which."""


# The training state that Google's checkpoint layout has no names for, saved beside each
# ``model.ckpt-STEP`` as ``train_state.ckpt-STEP`` (a name that globs for model.ckpt-* skip).
TRAIN_STATE_PREFIX = "train_state.ckpt"
_TRAIN_STATE_STEP = re.compile(r"train_state\.ckpt-(\d+)\.")
_CHECKPOINT_STEP = re.compile(r"model\.ckpt-(\d+)\.index$")


def training_checkpoints(output_dir: str) -> list[str]:
    """The ``model.ckpt-STEP`` prefixes in `output_dir`, newest (highest step) first.

    Found by their index files rather than the ``checkpoint`` state file, so a damaged state
    file does not hide them.
    """
    found = []
    for path in tf.io.gfile.glob(os.path.join(output_dir, "model.ckpt-*.index")):
        match = _CHECKPOINT_STEP.search(os.path.basename(path))
        if match:
            found.append((int(match.group(1)), path[: -len(".index")]))
    return [prefix for _, prefix in sorted(found, reverse=True)]


def _saveable(iterator) -> bool:
    """Whether a `tf.train.Checkpoint` can hold the iterator (not a multi-device one)."""
    return isinstance(iterator, tf.__internal__.tracking.Trackable)


def _op_error_reason(e: tf.errors.OpError) -> str:
    """The cause in a TF error message, without the graph trace that `tf.function` adds."""
    lines = [line.strip() for line in (e.message or "").splitlines()]
    causes = [
        line
        for line in lines
        if line
        and not line.startswith(("Graph execution error", "Detected at node", "File ", "[["))
    ]
    return causes[-1][:300] if causes else type(e).__name__


def _is_input_error(e: tf.errors.OpError) -> bool:
    """Whether an error raised by a training step came from reading or parsing records."""
    if isinstance(e, tf.errors.DataLossError):
        return True
    text = e.message
    return any(
        hint in text
        for hint in ("Could not parse example", "corrupted record", "Feature:", "TFRecord")
    )


class _StopOnInterrupt:
    """Turns the first Ctrl-C into a request checked between steps; a second one stops at once."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def _handle(self, signum, frame):
        self.requested = True
        logging.warning(
            "Ctrl-C: saving a checkpoint after the current steps, then stopping (Ctrl-C again "
            "stops at once, without saving)"
        )
        signal.signal(signal.SIGINT, self._previous)

    def __enter__(self):
        # A process started with SIGINT ignored (`nohup ... &`) keeps ignoring it.
        previous = signal.getsignal(signal.SIGINT)
        if threading.current_thread() is threading.main_thread() and previous != signal.SIG_IGN:
            self._previous = previous or signal.default_int_handler
            signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc_info):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


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
        self._eval_steps: dict[Callable, Callable] = {}  # metric_fn -> its traced eval step
        self.restored: str | None = None  # the checkpoint restore_or_initialize resumed from
        self.checkpoint: str | None = None  # the checkpoint holding the current weights

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
        """Resumes from the newest readable checkpoint in `output_dir`, else `init_checkpoint`.

        A checkpoint that cannot be read (empty, truncated, a data file missing) is skipped with
        a warning naming it, and the one before it is used.

        Returns:
            The step training starts from.

        Raises:
            ValueError: `output_dir` holds checkpoints but none can be read, or one that does
                not fit the model.
        """
        self.build()
        self.restored = self.checkpoint = None
        unreadable = []
        for prefix in training_checkpoints(self.output_dir):
            try:
                if self.optimizer is not None:
                    step = checkpoints.restore_training_checkpoint(
                        self.model, self.optimizer, prefix
                    )
                else:
                    checkpoints.load_google_checkpoint(self.model, prefix)
                    step = int(tf.train.load_checkpoint(prefix).get_tensor("global_step"))
            except (checkpoints.UnreadableCheckpointError, tf.errors.OpError, OSError) as e:
                reason = " ".join((getattr(e, "message", None) or str(e)).split())
                logging.warning("%s; resuming from the checkpoint before it instead", reason)
                unreadable.append(prefix)
                continue
            logging.info("Resumed from %s at step %d", prefix, step)
            self.restored = self.checkpoint = prefix
            return step
        if unreadable:
            raise ValueError(
                f"--output_dir={self.output_dir}: no readable checkpoint ({', '.join(unreadable)} "
                "cannot be read); delete them to start again, or choose another --output_dir"
            )
        if init_checkpoint:
            checkpoints.load_google_checkpoint(self.model, init_checkpoint, allow_missing)
        return 0

    def _train_state(self, iterator) -> tf.train.Checkpoint:
        """What resuming needs beyond Google's names: the input position and the RNG states.

        The model's non-trainable variables are the dropout seed generators' states (BERT has
        no other); a loss-scaling optimizer adds its dynamic scale. The input position is the
        `tf.data` iterator's own state where the iterator can be saved (one device); under a
        multi-device strategy it cannot, and `train` skips the batches already used instead.
        """
        state = {"rng": list(self.model.non_trainable_variables)}
        if _saveable(iterator):
            state["iterator"] = iterator
        for name in ("dynamic_scale", "step_counter"):
            if hasattr(self.optimizer, name):
                state[f"loss_scale_{name}"] = getattr(self.optimizer, name)
        return tf.train.Checkpoint(**state)

    def _train_state_path(self, step: int) -> str:
        return os.path.join(self.output_dir, f"{TRAIN_STATE_PREFIX}-{step}")

    def save(self, train_state: tf.train.Checkpoint | None = None) -> str:
        """Writes ``model.ckpt-STEP`` (and ``train_state.ckpt-STEP``, when given) in `output_dir`.

        The train state goes first, so a checkpoint never exists without the state it needs;
        train states of checkpoints no longer kept are removed with them.
        """
        if train_state is not None:
            train_state.write(self._train_state_path(self.step))
        prefix = checkpoints.save_training_checkpoint(
            self.model, self.optimizer, self.output_dir, self.step, self.keep_checkpoint_max
        )
        kept = {os.path.basename(p) for p in training_checkpoints(self.output_dir)}
        for path in tf.io.gfile.glob(self._train_state_path(0)[:-1] + "*"):
            match = _TRAIN_STATE_STEP.match(os.path.basename(path))
            if match and f"{checkpoints.TRAINING_PREFIX}-{match.group(1)}" not in kept:
                tf.io.gfile.remove(path)
        logging.info("Saved checkpoint %s", prefix)
        self.checkpoint = prefix
        return prefix

    def _restore_train_state(self, train_state: tf.train.Checkpoint) -> bool:
        """Restores the train state saved with the checkpoint resumed from.

        Returns:
            Whether there was one to restore.
        """
        if self.restored is None:
            return False
        path = self._train_state_path(int(self.restored.rsplit("-", 1)[1]))
        if not tf.io.gfile.exists(path + ".index"):
            logging.warning(
                "%s has no train state (%s): dropout restarts from its seed, so this run will "
                "differ slightly from an uninterrupted one",
                self.restored,
                path,
            )
            return False
        try:
            train_state.read(path).assert_existing_objects_matched()
        except (tf.errors.OpError, AssertionError, ValueError, IndexError) as e:
            logging.warning(
                "%s cannot be restored (%s): skipping the batches used instead, and dropout "
                "restarts from its seed",
                path,
                " ".join(str(e).split())[:200],
            )
            return False
        logging.info("Restored the training state (RNG, input position) from %s", path)
        return True

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
        # A variable the loss does not reach (the pooler under a token or span loss) is left
        # alone, as the original's optimizer skipped a None gradient; Keras would skip it too,
        # but with a warning a user cannot act on.
        self.optimizer.apply_gradients(
            [(g, v) for g, v in zip(grads, variables) if g is not None]
        )
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

    def train(
        self,
        dataset: tf.data.Dataset,
        num_train_steps: int,
        data_name: str = "the input",
        eval_fn: Callable[[], dict[str, float]] | None = None,
        eval_every_steps: int = 0,
    ) -> dict:
        """Trains until the optimizer has applied `num_train_steps` updates.

        Args:
            dataset: the training batches, repeated as long as needed.
            num_train_steps: the step to stop at.
            data_name: what the dataset reads (file names), for error messages.
            eval_fn: ``eval_fn() -> {name: value}``, called every `eval_every_steps` steps
                (after that step's checkpoint is saved): its values are logged and written as
                TensorBoard scalars under ``<output_dir>/eval``. It must not train (it runs
                between steps; the training RNG and input position are untouched).
            eval_every_steps: the interval of `eval_fn`; 0 never calls it.

        Returns:
            The last logged values (loss and the loss function's parts).

        Raises:
            TrainingInterrupted: Ctrl-C; a checkpoint of the last finished step was saved.
            ValueError: reading `dataset` failed; a checkpoint of the last finished step was
                saved (without an input position).
        """
        iterator = iter(self.strategy.experimental_distribute_dataset(dataset))
        train_state = self._train_state(iterator)
        restored = self._restore_train_state(train_state)
        if self.step and not (restored and _saveable(iterator)):
            # One batch per step: with a seeded, deterministic pipeline, batch `step` is the
            # next one the interrupted run would have read.
            logging.info("Skipping the %d batches used before step %d", self.step, self.step)
            iterator = iter(self.strategy.experimental_distribute_dataset(dataset.skip(self.step)))
            train_state = self._train_state(iterator)
        writer = tf.summary.create_file_writer(self.output_dir)
        every_eval = eval_every_steps if eval_fn is not None and eval_every_steps > 0 else 0
        eval_writer = (
            tf.summary.create_file_writer(os.path.join(self.output_dir, "eval"))
            if every_eval
            else None
        )
        start_step = self.step
        if start_step >= num_train_steps:
            logging.info("Already at step %d of %d: nothing to train", start_step, num_train_steps)
            return {}
        logging.info("Training from step %d to %d", start_step, num_train_steps)
        started = time.perf_counter()
        eval_seconds = 0.0  # left out of the steps/s rate and the ETA
        last = {}
        with _StopOnInterrupt() as interrupt:
            while self.step < num_train_steps:
                if interrupt.requested:
                    prefix = self.save(train_state)
                    raise TrainingInterrupted(
                        f"saved {prefix} at step {self.step} of {num_train_steps}; run the same "
                        "command again to resume"
                    )
                step = self.step
                to_boundary = min(
                    self.iterations_per_loop,
                    num_train_steps - step,
                    self.save_checkpoints_steps - step % self.save_checkpoints_steps,
                    self.log_every_steps - step % self.log_every_steps,
                    (every_eval - step % every_eval) if every_eval else num_train_steps,
                )
                try:
                    loss, parts = self.run_steps(iterator, to_boundary)
                except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as e:
                    if not _is_input_error(e):
                        raise
                    prefix = self.save()
                    raise ValueError(
                        f"reading {data_name} failed after step {self.step}: "
                        f"{_op_error_reason(e)} (saved {prefix}; fix or remove the damaged "
                        "file and run again)"
                    ) from None
                step = self.step
                last = {"loss": float(loss), **{k: float(v) for k, v in parts.items()}}
                lr = self.optimizer.learning_rate
                lr_value = float(lr(step) if callable(lr) else lr)
                write_scalars(writer, step, {**last, "learning_rate": lr_value})
                if step % self.log_every_steps == 0 or step == num_train_steps:
                    elapsed = time.perf_counter() - started - eval_seconds
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
                    self.save(train_state)
                if every_eval and step % every_eval == 0:
                    eval_started = time.perf_counter()
                    values = eval_fn()
                    eval_seconds += time.perf_counter() - eval_started
                    write_scalars(eval_writer, step, values)
                    eval_writer.flush()
                    logging.info(
                        "eval at step %d (%.0f s): %s",
                        step,
                        time.perf_counter() - eval_started,
                        "  ".join(f"{k} {v:.4f}" for k, v in sorted(values.items())),
                    )
        writer.flush()
        return last

    def evaluate(self, dataset: tf.data.Dataset, steps: int, metric_fn: Callable) -> dict:
        """Sums ``metric_fn(outputs, features) -> {name: scalar sum}`` over `steps` batches.

        The traced step is kept per `metric_fn`, so periodic evals during training reuse it.

        Returns:
            {name: float} summed over batches and replicas, plus ``"num_batches"``.
        """
        eval_step = self._eval_steps.get(metric_fn)
        if eval_step is None:
            eval_step = self._eval_steps[metric_fn] = self._make_eval_step(metric_fn)
        totals: dict[str, float] = {}
        batches = 0
        for features in self.strategy.experimental_distribute_dataset(dataset.take(steps)):
            for name, value in eval_step(features).items():
                totals[name] = totals.get(name, 0.0) + float(value)
            batches += 1
        totals["num_batches"] = batches
        return totals

    def _make_eval_step(self, metric_fn: Callable):
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

        return eval_step

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
