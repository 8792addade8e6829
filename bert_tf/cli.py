"""What the top-level scripts share: their common flags, and a `main` whose bad input ends in a
message, not a trace."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
from collections.abc import Callable, Mapping, Sequence

import keras
import numpy as np
import tensorflow as tf
from absl import app, flags, logging

from bert_tf import checkpoints, files, tokenization, training
from bert_tf.configuration import BertConfig
from bert_tf.optimization import create_optimizer

# Flags defined by the functions below belong to the script that calls them: they are its key
# flags (listed by --helpshort, and by get_key_flags_for_module(script)).
flags.disclaim_key_flags()

# name -> (kind, default, help): the flags several scripts define, with Google's defaults.
# A script picks the ones it has and may give its own default or help for any of them.
SHARED_FLAGS: dict[str, tuple[str, object, str]] = {
    "bert_config_file": ("string", None, "The bert_config.json of the pretrained model."),
    "vocab_file": ("string", None, "The vocab.txt the model was trained with."),
    "output_dir": ("string", None, "Where records, checkpoints and results are written."),
    "init_checkpoint": ("string", None, "Checkpoint to start from, e.g. bert_model.ckpt."),
    "do_lower_case": ("bool", True, "Lower-case input (True for uncased models)."),
    "max_seq_length": ("integer", 128, "Tokens per example after WordPiece; longer is cut."),
    "do_train": ("bool", False, "Train on the train set."),
    "do_eval": ("bool", False, "Evaluate on the dev set."),
    "do_predict": ("bool", False, "Predict the test set."),
    "train_batch_size": ("integer", 32, "Global training batch size."),
    "eval_batch_size": ("integer", 8, "Global evaluation batch size."),
    "predict_batch_size": ("integer", 8, "Global prediction batch size."),
    "learning_rate": ("float", 5e-5, "Peak learning rate for Adam."),
    "num_train_epochs": ("float", 3.0, "Passes over the train set (fractions allowed)."),
    "warmup_proportion": ("float", 0.1, "Share of training spent in linear warmup."),
    "save_checkpoints_steps": ("integer", 1000, "Checkpoint interval in steps."),
    "iterations_per_loop": ("integer", 1000, "Steps per host loop (one tf.function call)."),
    "use_tpu": ("bool", False, "Train on a TPU through TPUStrategy."),
    "tpu_name": ("string", None, "The TPU to use with --use_tpu."),
    "tpu_zone": ("string", None, "Accepted for compatibility; the resolver finds the zone."),
    "gcp_project": ("string", None, "Accepted for compatibility; the resolver finds it."),
    "master": ("string", None, "Accepted for compatibility; unused."),
    "num_tpu_cores": ("integer", 8, "Accepted for compatibility; the strategy counts cores."),
    "use_mixed_precision": ("bool", False, "bfloat16 on CPU/TPU, float16 + loss scaling on GPU."),
    "use_xla": ("bool", False, "Compile the forward and backward pass with XLA."),
    "gradient_accumulation_steps": ("integer", 1, "Micro-batches per optimizer update."),
    "optimizer": ("enum:adamw,lamb", "adamw", "adamw is the original's optimizer."),
    "use_bias_correction": ("bool", False, "Add Adam bias correction (the original has none)."),
    "use_dense_clip_norm": (
        "bool",
        False,
        "Clip on the norm of the word embeddings' true (dense) gradient. By default, as the "
        "original off TPU (where it looks words up with tf.gather), a word that occurs n times "
        "in a batch enters the global norm as n rows; with --use_tpu the original's one-hot "
        "lookup gives the dense norm, as here.",
    ),
    "keep_checkpoint_max": ("integer", 5, "Newest checkpoints kept in output_dir."),
    "log_every_steps": ("integer", 100, "Progress-line interval in steps."),
    "random_seed": (
        "integer",
        12345,
        "Seeds the head's initialisation, dropout and the train shuffle, so reruns are "
        "identical (the original was unseeded).",
    ),
    "export_dir": (
        "string",
        None,
        "If set, the trained model is exported there as a SavedModel for TF Serving "
        "(export_dir/<version>/, see export_saved_model.py).",
    ),
}

# The shared flags of each kind of script, in the order --help lists them.
TRAINING_LOOP_FLAGS: tuple[str, ...] = (
    "save_checkpoints_steps",
    "iterations_per_loop",
    "use_tpu",
    "tpu_name",
    "tpu_zone",
    "gcp_project",
    "master",
    "num_tpu_cores",
    "use_mixed_precision",
    "use_xla",
    "gradient_accumulation_steps",
    "optimizer",
    "use_bias_correction",
    "use_dense_clip_norm",
    "keep_checkpoint_max",
    "log_every_steps",
)
FINE_TUNING_FLAGS: tuple[str, ...] = (
    "bert_config_file",
    "vocab_file",
    "output_dir",
    "init_checkpoint",
    "do_lower_case",
    "max_seq_length",
    "do_train",
    "do_eval",
    "do_predict",
    "train_batch_size",
    "eval_batch_size",
    "predict_batch_size",
    "learning_rate",
    "num_train_epochs",
    "warmup_proportion",
    *TRAINING_LOOP_FLAGS,
    "random_seed",
    "export_dir",
)


def define_flags(
    names: Sequence[str],
    defaults: Mapping[str, object] | None = None,
    helps: Mapping[str, str] | None = None,
) -> None:
    """Defines the named :data:`SHARED_FLAGS` for the calling script.

    Args:
        names: Flags to define, in order.
        defaults: Per-flag defaults that replace the table's (e.g. run_squad's max_seq_length).
        helps: Per-flag help texts that replace the table's.
    """
    defaults, helps = defaults or {}, helps or {}
    unknown = sorted((set(defaults) | set(helps)) - set(names))
    if unknown:
        raise ValueError(f"defaults or helps given for flags not defined: {unknown}")
    for name in names:
        kind, default, help_text = SHARED_FLAGS[name]
        default, help_text = defaults.get(name, default), helps.get(name, help_text)
        if kind.startswith("enum:"):
            flags.DEFINE_enum(name, default, kind[len("enum:") :].split(","), help_text)
        else:
            getattr(flags, f"DEFINE_{kind}")(name, default, help_text)


# Errors that mean "the input, the flags or the machine are not as needed": reported as one
# line, exit status 1. OSError covers unreadable, unwritable and missing files.
USER_ERRORS = (
    ValueError,
    OSError,
    tf.errors.NotFoundError,
    tf.errors.PermissionDeniedError,
    tf.errors.DataLossError,
    tf.errors.FailedPreconditionError,
    tf.errors.AlreadyExistsError,
    files.OutputDirInUseError,
)
# The exit status of a run stopped by Ctrl-C (128 + SIGINT, as shells report it).
INTERRUPTED_STATUS = 130


def fine_tuning_steps(num_examples: int, what: str = "train examples") -> tuple[int, int]:
    """Training and warmup steps as the original counts them from the flags.

    ``int(num_examples / train_batch_size * num_train_epochs)`` steps, of which
    ``int(steps * warmup_proportion)`` warm up; an error when that is no step at all.
    """
    f = flags.FLAGS
    steps = int(num_examples / f.train_batch_size * f.num_train_epochs)
    if steps < 1:
        raise ValueError(
            f"{num_examples} {what} x --num_train_epochs={f.num_train_epochs} / "
            f"--train_batch_size={f.train_batch_size} gives no training step; lower the batch "
            "size or raise the epochs"
        )
    return steps, int(steps * f.warmup_proportion)


def check_batch_split(strategy: tf.distribute.Strategy) -> None:
    """--train_batch_size must split evenly into replicas x accumulation micro-batches."""
    f = flags.FLAGS
    replicas = strategy.num_replicas_in_sync
    if f.train_batch_size % (replicas * f.gradient_accumulation_steps):
        raise ValueError(
            f"--train_batch_size={f.train_batch_size} must divide evenly over {replicas} "
            f"replicas x {f.gradient_accumulation_steps} accumulation steps"
        )


def make_trainer(
    model_fn: Callable,
    loss_fn: Callable,
    strategy: tf.distribute.Strategy,
    num_train_steps: int = 0,
    num_warmup_steps: int = 0,
    train: bool = True,
) -> training.Trainer:
    """The shared training loop, set up from the flags of :data:`TRAINING_LOOP_FLAGS`.

    Args:
        model_fn, loss_fn: As :class:`bert_tf.training.Trainer` takes them.
        strategy: From :func:`bert_tf.training.make_strategy`.
        num_train_steps, num_warmup_steps: The learning-rate schedule's length and warmup.
        train: Whether an optimizer is made (from --learning_rate, --optimizer and
            --use_bias_correction); eval- and predict-only runs need none.
    """
    f = flags.FLAGS

    def optimizer_fn():
        return create_optimizer(
            f.learning_rate,
            num_train_steps,
            num_warmup_steps,
            use_bias_correction=f.use_bias_correction,
            optimizer_type=f.optimizer,
            # The original's word lookup is tf.gather off TPU, a one-hot matmul on it.
            norm_per_occurrence=()
            if f.use_tpu or f.use_dense_clip_norm
            else ("word_embeddings",),
        )

    return training.Trainer(
        model_fn=model_fn,
        loss_fn=loss_fn,
        optimizer_fn=optimizer_fn if train else None,
        strategy=strategy,
        output_dir=f.output_dir,
        save_checkpoints_steps=f.save_checkpoints_steps,
        keep_checkpoint_max=f.keep_checkpoint_max,
        iterations_per_loop=f.iterations_per_loop,
        log_every_steps=f.log_every_steps,
        use_xla=f.use_xla,
        gradient_accumulation_steps=f.gradient_accumulation_steps,
    )


def check_trained(step: int, head: str) -> None:
    """Refuses to evaluate or predict with weights that were never trained.

    With no fine-tuned checkpoint in --output_dir and no --init_checkpoint every weight is
    random; with --init_checkpoint alone, `head` is, and the results are chance level (a
    warning).

    Args:
        step: The step `Trainer.restore_or_initialize` returned.
        head: The task layer's name, for the message.
    """
    f = flags.FLAGS
    if f.do_train or step:
        return
    if not f.init_checkpoint:
        raise ValueError(
            f"no trained model: --output_dir={f.output_dir} holds no model.ckpt-* and no "
            "--init_checkpoint is given, so every weight would be random; run with --do_train "
            "first, or point --output_dir at a trained run"
        )
    logging.warning(
        "No fine-tuned checkpoint in %s: the %s is untrained, so the results are chance level "
        "(run with --do_train first, or point --output_dir at a trained run)",
        f.output_dir,
        head,
    )


def check_fine_tuning_flags(required: Sequence[str]) -> BertConfig:
    """A fine-tuning script's first checks, before anything slow starts; returns its config.

    At least one of --do_train, --do_eval, --do_predict; each of `required` given; --do_lower_case
    as --init_checkpoint's name implies; a readable --bert_config_file whose positions cover
    --max_seq_length; a readable --vocab_file.
    """
    f = flags.FLAGS
    if not (f.do_train or f.do_eval or f.do_predict):
        raise ValueError("At least one of --do_train, --do_eval or --do_predict must be True.")
    for name in required:
        if not f[name].value:
            raise ValueError(f"--{name} is required")
    tokenization.validate_case_matches_checkpoint(f.do_lower_case, f.init_checkpoint)
    config = BertConfig.from_json_file(require_file(f.bert_config_file, "bert_config_file"))
    check_max_seq_length(config, f.max_seq_length)
    require_file(f.vocab_file, "vocab_file")
    return config


def check_training_flags(at_least_one: Sequence[str] = ()) -> None:
    """The batch sizes (and the `at_least_one` flags) at least 1, positive epochs when training,
    --warmup_proportion in [0, 1], and an --init_checkpoint that can be listed."""
    f = flags.FLAGS
    for name in ("train_batch_size", "eval_batch_size", "predict_batch_size", *at_least_one):
        if f[name].value < 1:
            raise ValueError(f"--{name} must be at least 1, got {f[name].value}")
    if f.do_train and f.num_train_epochs <= 0:
        raise ValueError(f"--num_train_epochs must be positive, got {f.num_train_epochs}")
    if not 0.0 <= f.warmup_proportion <= 1.0:
        raise ValueError(f"--warmup_proportion must be in [0, 1], got {f.warmup_proportion}")
    if f.init_checkpoint:
        checkpoints.list_checkpoint(f.init_checkpoint)  # Fails now, naming the path.


@dataclasses.dataclass
class TrainSet:
    """A fine-tuning script's train set, as `fine_tune` trains on it.

    Attributes:
        num_examples: What the step count is computed from, counted as the original counts it
            (examples, windows or questions).
        what: Their name, for the error when that gives no step (e.g. "train windows").
        path: The record file the training reads (named in a read error).
        write: Writes the records to `path`; returns the training dataset on them (batches of
            --train_batch_size) and the lines to log under "***** Running training *****",
            each as logging's (format, *args).
    """

    num_examples: int
    what: str
    path: str
    write: Callable[[], tuple[tf.data.Dataset, Sequence[tuple]]]


def fine_tune(
    model_fn: Callable[[keras.DTypePolicy | str | None], keras.Model],
    loss_fn: Callable,
    head: tuple[str, ...],
    head_name: str,
    train_set: Callable[[], TrainSet],
    log_start_step: bool = False,
) -> tuple[training.Trainer, int]:
    """What every fine-tuning script does before it evaluates or predicts, from the flags.

    Seeds with --random_seed (unless None), makes the strategy and precision policy, and with
    --do_train checks the batch split, counts the steps the original's way and writes the train
    records. Then it restores the newest checkpoint in --output_dir, else --init_checkpoint
    (whose missing `head` variables start fresh), refuses an eval- or predict-only run with no
    trained weights (`check_trained`), and trains with --do_train.

    Args:
        model_fn: Builds the model under the precision policy it is given.
        loss_fn: As `bert_tf.training.Trainer` takes it.
        head: Prefixes of the variables a pretrained checkpoint lacks.
        head_name: The task layer's name, for `check_trained`'s warning.
        train_set: Reads the train set (called with --do_train only, before the model is made).
        log_start_step: Adds the step training resumes from to the "Num steps" line.

    Returns:
        The trainer and the model's step: the one trained to, else the one restored (0 for an
        --init_checkpoint alone).
    """
    f = flags.FLAGS
    if f.random_seed is not None:
        keras.utils.set_random_seed(f.random_seed)
    tf.io.gfile.makedirs(f.output_dir)
    strategy = training.make_strategy(f.use_tpu, f.tpu_name)
    policy = training.precision_policy(f.use_mixed_precision)
    data, num_train_steps, num_warmup_steps = None, 0, 0
    if f.do_train:
        check_batch_split(strategy)
        data = train_set()
        num_train_steps, num_warmup_steps = fine_tuning_steps(data.num_examples, data.what)
    trainer = make_trainer(
        model_fn=lambda: model_fn(policy),
        loss_fn=loss_fn,
        strategy=strategy,
        num_train_steps=num_train_steps,
        num_warmup_steps=num_warmup_steps,
        train=f.do_train,
    )
    step = trainer.restore_or_initialize(f.init_checkpoint, allow_missing=head)
    check_trained(step, head_name)
    if data is None:
        return trainer, step
    dataset, lines = data.write()
    logging.info("***** Running training *****")
    for line in lines:
        logging.info(*line)
    logging.info("  Batch size = %d", f.train_batch_size)
    if log_start_step:
        logging.info("  Num steps = %d (from step %d)", num_train_steps, step)
    else:
        logging.info("  Num steps = %d", num_train_steps)
    trainer.train(dataset, num_train_steps, data_name=data.path)
    return trainer, trainer.step


def predict_all(
    trainer: training.Trainer, dataset: tf.data.Dataset, num_records: int, path: str
) -> dict[str, np.ndarray]:
    """Every output of `trainer.predict(dataset)`, the batches concatenated.

    Raises:
        RuntimeError: The rows are not one per record of `path` (`num_records`).
    """
    batches = list(trainer.predict(dataset))
    outputs = {key: np.concatenate([b[key] for b in batches], axis=0) for key in batches[0]}
    rows = len(next(iter(outputs.values())))
    if rows != num_records:
        raise RuntimeError(f"{path}: predicted {rows} of {num_records} records")
    return outputs


# The error for --export_dir without a fine-tuned checkpoint in --output_dir.
NOT_FINE_TUNED = (
    "--export_dir needs a fine-tuned checkpoint in --output_dir={output_dir}; run with "
    "--do_train first"
)


def export_fine_tuned(
    model_type: str,
    config: BertConfig,
    step: int | None = None,
    checkpoint: str | None = None,
    **model_args,
) -> str:
    """Exports a fine-tuned checkpoint as a new version in --export_dir.

    Args:
        model_type: One of `bert_tf.export.MODEL_TYPES`.
        config: The model's config.
        step: The run's global step, if known: 0 (nothing trained) is an error too.
        checkpoint: The checkpoint to export, normally the trainer's (`Trainer.checkpoint`:
            the one it saved last or resumed from, which skips an unreadable newest one).
            Default: the newest in --output_dir.
        **model_args: The model type's own arguments (labels, num_choices, ...).

    Returns:
        The path of the new version.
    """
    from bert_tf import export  # tensorflow-text is loaded only by the scripts that export

    f = flags.FLAGS
    checkpoint = checkpoint or tf.train.latest_checkpoint(f.output_dir)
    if step == 0 or checkpoint is None:
        raise ValueError(NOT_FINE_TUNED.format(output_dir=f.output_dir))
    path = export.export_saved_model(
        model_type=model_type,
        bert_config=config,
        init_checkpoint=checkpoint,
        vocab_file=f.vocab_file,
        do_lower_case=f.do_lower_case,
        max_seq_length=f.max_seq_length,
        export_dir=f.export_dir,
        **model_args,
    )
    logging.info("Exported %s (step %s) as a SavedModel to %s", checkpoint, step, path)
    return path


def _error_line(e: BaseException) -> str:
    message = getattr(e, "message", None) or str(e) or type(e).__name__
    return " ".join(message.split())  # one line, whatever the message held


def _writable_folder(flag: str) -> str | None:
    """The folder named by `--flag`, if the script has the flag and it was given: created now,
    so a file in its place or a folder that cannot be written fails before any work."""
    f = flags.FLAGS
    folder = f[flag].value if flag in f else None
    if not folder:
        return None
    if tf.io.gfile.exists(folder) and not tf.io.gfile.isdir(folder):
        raise ValueError(f"--{flag}={folder} is a file, not a folder")
    try:
        tf.io.gfile.makedirs(folder)
    except (OSError, tf.errors.OpError) as e:
        raise ValueError(f"--{flag}={folder} cannot be created: {_error_line(e)}") from None
    if "://" not in folder and not os.access(folder, os.W_OK):
        raise ValueError(f"--{flag}={folder} is not writable")
    return folder


def _output_dir_lock():
    """Checks --output_dir and --export_dir; the lock on --output_dir when given."""
    _writable_folder("export_dir")
    output_dir = _writable_folder("output_dir")
    return files.output_dir_lock(output_dir) if output_dir else contextlib.nullcontext()


def run(
    main: Callable[[list[str]], None],
    flags_parser: Callable[[list[str]], list[str]] | None = None,
) -> None:
    """`absl.app.run(main)` with the promises every script keeps.

    * Bad input ends in one line on stderr (``error: ...``, printed once) and exit status 1.
    * Ctrl-C ends with one line and exit status 130; training saves a checkpoint first.
    * A script with ``--output_dir`` holds that folder's lock while it runs, so a second run on
      the same folder refuses to start instead of overwriting the first one's outputs.

    Args:
        main: The script's main; it gets what `flags_parser` returns.
        flags_parser: Parses the command line and returns the arguments left for `main` (for
            a script that hands some flags on, e.g. to Beam); absl's own parser when None.
    """

    def guarded(argv):
        try:
            with _output_dir_lock():
                main(argv)
        except training.TrainingInterrupted as e:
            print(f"interrupted: {_error_line(e)}", file=sys.stderr)
            sys.exit(INTERRUPTED_STATUS)
        except KeyboardInterrupt:
            print("interrupted (Ctrl-C): no incomplete output was written", file=sys.stderr)
            sys.exit(INTERRUPTED_STATUS)
        except USER_ERRORS as e:
            print(f"error: {_error_line(e)}", file=sys.stderr)
            sys.exit(1)

    if flags_parser is None:
        app.run(guarded)
    else:
        app.run(guarded, flags_parser=flags_parser)


def require_file(path: str | None, flag: str) -> str:
    """Checks that the file named by `--flag` exists, is a file, is readable and is not empty."""
    if not path:
        raise ValueError(f"--{flag} is required")
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(f"--{flag}: no such file: {path}")
    if tf.io.gfile.isdir(path):
        raise ValueError(f"--{flag}={path} is a folder, not a file")
    if tf.io.gfile.stat(path).length == 0:
        raise ValueError(f"--{flag}: file is empty: {path}")
    try:
        with tf.io.gfile.GFile(path, "rb") as f:
            f.read(1)
    except (OSError, tf.errors.OpError) as e:
        raise ValueError(f"--{flag}={path} cannot be read: {_error_line(e)}") from None
    return path


# Tokens every fine-tuning script writes into its features.
SPECIAL_TOKENS = ("[CLS]", "[SEP]", "[UNK]")


def check_vocab(tokenizer, flag: str = "vocab_file") -> None:
    """The vocabulary has the tokens the scripts pack every example with."""
    missing = [token for token in SPECIAL_TOKENS if token not in tokenizer.vocab]
    if missing:
        raise ValueError(
            f"--{flag}={flags.FLAGS[flag].value} lacks {', '.join(missing)}: it is not a BERT "
            "vocabulary (or not the one the model was trained with)"
        )


def check_max_seq_length(config: BertConfig, max_seq_length: int) -> None:
    """The original's check: positions beyond the embedding table cannot be encoded."""
    if max_seq_length > config.max_position_embeddings:
        raise ValueError(
            f"--max_seq_length={max_seq_length} is longer than the model's "
            f"max_position_embeddings={config.max_position_embeddings} (bert_config_file)"
        )
    if max_seq_length < 3:
        raise ValueError(f"--max_seq_length={max_seq_length} leaves no room for [CLS] and [SEP]")
