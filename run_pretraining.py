"""Masked-LM and next-sentence pretraining on TFRecords from create_pretraining_data.py.

Same flags and defaults as Google's script; the training loop, checkpoints (Google's names, so
``--init_checkpoint`` and the original code read them), resume-after-kill, strategies, mixed
precision and XLA come from `bert_tf.training`.

Example:
    python run_pretraining.py --input_file=/tmp/tf_examples.tfrecord --output_dir=/tmp/pretraining_output \
      --do_train=True --do_eval=True --bert_config_file=$BERT_DIR/bert_config.json \
      --init_checkpoint=$BERT_DIR/bert_model.ckpt --train_batch_size=32 --max_seq_length=128 \
      --max_predictions_per_seq=20 --num_train_steps=20 --num_warmup_steps=10 --learning_rate=2e-5

`--dynamic_masking --vocab_file=$BERT_DIR/vocab.txt` draws new masks every epoch in the input
pipeline instead of reading the records' (bert_tf/dynamic_masking.py).
"""

import bert_tf.startup  # first: imports TensorFlow without its start-up notices

# isort: split
import os

import keras
from absl import flags, logging

from bert_tf import cli, dynamic_masking, metrics, records, training
from bert_tf.configuration import BertConfig
from bert_tf.heads import BertPretrainer, pretraining_loss

FLAGS = flags.FLAGS

cli.define_flags(
    (
        "bert_config_file",
        "output_dir",
        "init_checkpoint",
        "max_seq_length",
        "do_train",
        "do_eval",
        "train_batch_size",
        "eval_batch_size",
        "learning_rate",
        "vocab_file",
        "random_seed",
    )
    + cli.TRAINING_LOOP_FLAGS,
    helps={
        "output_dir": "Where checkpoints, summaries and eval_results.txt go.",
        "max_seq_length": "Sequence length the records were written with.",
        "do_train": "Run training.",
        "do_eval": "Run evaluation on the input files.",
        "vocab_file": "The vocab.txt of the model (needed by --dynamic_masking).",
        "random_seed": "Seeds the initialisation of weights not in --init_checkpoint, dropout, "
        "the order files and records are read in, and --dynamic_masking's masks, so reruns "
        "(and resumed runs) are identical. The original was unseeded.",
    },
)
flags.DEFINE_string("input_file", None, "TFRecord files: comma-separated names or globs.")
flags.DEFINE_integer("max_predictions_per_seq", 20, "Masked positions per sequence in the records.")
flags.DEFINE_integer("num_train_steps", 100000, "Optimizer updates in total.")
flags.DEFINE_integer("num_warmup_steps", 10000, "Steps of linear learning-rate warmup.")
flags.DEFINE_integer("max_eval_steps", 100, "Evaluation batches.")
# Beyond the original.
flags.DEFINE_bool(
    "dynamic_masking",
    False,
    "Draw new masked-LM positions in every epoch, in the input pipeline, instead of using the "
    "records' (which are unmasked first). Needs --vocab_file; masks are a function of "
    "--random_seed, the epoch, the file and the record (bert_tf/dynamic_masking.py).",
)
flags.DEFINE_float(
    "masked_lm_prob", 0.15, "With --dynamic_masking: share of each instance's tokens masked."
)
flags.DEFINE_bool(
    "do_whole_word_mask",
    False,
    "With --dynamic_masking: mask every WordPiece of a word together.",
)
flags.DEFINE_integer(
    "eval_every_steps",
    0,
    "While training, evaluate every this many steps (--max_eval_steps batches of "
    "--eval_input_file): masked-LM and next-sentence accuracy and loss in the log and as "
    "TensorBoard scalars under <output_dir>/eval. 0: only --do_eval's evaluation at the end.",
)
flags.DEFINE_string(
    "eval_input_file",
    None,
    "TFRecord files to evaluate on (comma-separated names or globs), e.g. records of held-out "
    "documents. Default: --input_file, as the original evaluated.",
)


def main(_):
    bert_tf.startup.default_verbosity()
    if not FLAGS.do_train and not FLAGS.do_eval:
        raise ValueError("At least one of --do_train or --do_eval must be True.")
    config = BertConfig.from_json_file(cli.require_file(FLAGS.bert_config_file, "bert_config_file"))
    cli.check_max_seq_length(config, FLAGS.max_seq_length)
    if FLAGS.eval_every_steps < 0:
        raise ValueError(f"--eval_every_steps={FLAGS.eval_every_steps}: must be >= 0")
    input_files = _checked_files(FLAGS.input_file, "input_file")
    eval_files = input_files
    if FLAGS.eval_input_file and (FLAGS.do_eval or FLAGS.eval_every_steps):
        eval_files = _checked_files(FLAGS.eval_input_file, "eval_input_file")
    keras.utils.set_random_seed(FLAGS.random_seed)

    masker = _dynamic_masker(config) if FLAGS.dynamic_masking else None

    strategy = training.make_strategy(FLAGS.use_tpu, FLAGS.tpu_name)
    policy = training.precision_policy(FLAGS.use_mixed_precision)
    cli.check_batch_split(strategy)
    trainer = cli.make_trainer(
        model_fn=lambda: BertPretrainer(config, dtype=policy),
        loss_fn=_loss,
        strategy=strategy,
        num_train_steps=FLAGS.num_train_steps,
        num_warmup_steps=FLAGS.num_warmup_steps,
    )
    trainer.restore_or_initialize(FLAGS.init_checkpoint, allow_missing=("cls/",))

    if FLAGS.do_train:
        trainer.train(
            _dataset(input_files, FLAGS.train_batch_size, masker, is_training=True),
            FLAGS.num_train_steps,
            data_name=", ".join(input_files[:5]),
            eval_fn=lambda: _evaluate(trainer, eval_files, masker),
            eval_every_steps=FLAGS.eval_every_steps,
        )

    if FLAGS.do_eval:
        results = _evaluate(trainer, eval_files, masker)
        results["global_step"] = trainer.step
        path = os.path.join(FLAGS.output_dir, "eval_results.txt")
        metrics.write_eval_results(path, results)
        logging.info("***** Eval results *****")
        for key in sorted(results):
            logging.info("  %s = %s", key, results[key])


def _checked_files(patterns: str, flag: str) -> list[str]:
    """The files of a records flag, their shapes and framing checked before any training."""
    names = records.expand_file_patterns(patterns, flag)
    records.check_record_shapes(names[0], FLAGS.max_seq_length, FLAGS.max_predictions_per_seq)
    logging.info("*** --%s files *** (%d)", flag, len(names))
    for name in names[:20]:
        logging.info("  %s", name)
    for name in names:
        records.check_record_framing(name)  # a truncated file fails now, not hours in
    return names


def _evaluate(trainer, eval_files, masker) -> dict[str, float]:
    """The original's pretraining metrics over --max_eval_steps batches of `eval_files`."""
    dataset = _dataset(eval_files, FLAGS.eval_batch_size, masker, is_training=False)
    sums = trainer.evaluate(dataset, FLAGS.max_eval_steps, metrics.pretraining_metric_sums)
    return metrics.finish_pretraining_metrics(sums)


def _dataset(files, batch_size: int, masker, is_training: bool):
    """Batches of `files`: shuffled and repeated, in a seeded order, when training."""
    return records.pretraining_dataset(
        files,
        batch_size,
        FLAGS.max_seq_length,
        FLAGS.max_predictions_per_seq,
        is_training=is_training,
        masker=masker,
        seed=FLAGS.random_seed,
        deterministic=True,
    )


def _dynamic_masker(config: BertConfig) -> dynamic_masking.DynamicMasker:
    """The masker of --dynamic_masking, from --vocab_file and the masking flags."""
    if not 0.0 <= FLAGS.masked_lm_prob <= 1.0:
        raise ValueError(f"--masked_lm_prob={FLAGS.masked_lm_prob}: must be in [0, 1]")
    vocab_file = cli.require_file(FLAGS.vocab_file, "vocab_file")
    vocab = dynamic_masking.MaskingVocab.from_vocab_file(vocab_file)
    if vocab.vocab_size > config.vocab_size:
        raise ValueError(
            f"--vocab_file={vocab_file} has {vocab.vocab_size} tokens, more than the model's "
            f"vocab_size={config.vocab_size} (bert_config_file): random replacements would "
            "fall outside the embedding table"
        )
    logging.info(
        "Dynamic masking: masked_lm_prob %s, whole words %s, seed %d",
        FLAGS.masked_lm_prob,
        FLAGS.do_whole_word_mask,
        FLAGS.random_seed,
    )
    return dynamic_masking.DynamicMasker(
        vocab,
        masked_lm_prob=FLAGS.masked_lm_prob,
        max_predictions_per_seq=FLAGS.max_predictions_per_seq,
        seed=FLAGS.random_seed,
        do_whole_word_mask=FLAGS.do_whole_word_mask,
    )


def _loss(outputs, features, total):
    loss, masked_lm_loss, next_sentence_loss = pretraining_loss(outputs, features, total)
    return loss, {"masked_lm_loss": masked_lm_loss, "next_sentence_loss": next_sentence_loss}


if __name__ == "__main__":
    flags.mark_flags_as_required(["input_file", "bert_config_file", "output_dir"])
    cli.run(main)
