"""Masked-LM and next-sentence pretraining on TFRecords from create_pretraining_data.py.

Same flags and defaults as Google's script; the training loop, checkpoints (Google's names, so
``--init_checkpoint`` and the original code read them), resume-after-kill, strategies, mixed
precision and XLA come from `bert_tf.training`.

Example:
    python run_pretraining.py --input_file=/tmp/tf_examples.tfrecord --output_dir=/tmp/pretraining_output \
      --do_train=True --do_eval=True --bert_config_file=$BERT_DIR/bert_config.json \
      --init_checkpoint=$BERT_DIR/bert_model.ckpt --train_batch_size=32 --max_seq_length=128 \
      --max_predictions_per_seq=20 --num_train_steps=20 --num_warmup_steps=10 --learning_rate=2e-5
"""

import os

import keras
from absl import flags, logging

from bert_tf import cli, metrics, records, training
from bert_tf.heads import BertPretrainer, pretraining_loss
from bert_tf.modeling import BertConfig

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
    )
    + cli.TRAINING_LOOP_FLAGS
    + ("random_seed",),
    helps={
        "output_dir": "Where checkpoints, summaries and eval_results.txt go.",
        "max_seq_length": "Sequence length the records were written with.",
        "do_train": "Run training.",
        "do_eval": "Run evaluation on the input files.",
        "random_seed": "Seeds the initialisation of weights not in --init_checkpoint, dropout, "
        "and the order files and records are read in, so reruns (and resumed runs) are "
        "identical. The original was unseeded.",
    },
)
flags.DEFINE_string("input_file", None, "TFRecord files: comma-separated names or globs.")
flags.DEFINE_integer("max_predictions_per_seq", 20, "Masked positions per sequence in the records.")
flags.DEFINE_integer("num_train_steps", 100000, "Optimizer updates in total.")
flags.DEFINE_integer("num_warmup_steps", 10000, "Steps of linear learning-rate warmup.")
flags.DEFINE_integer("max_eval_steps", 100, "Evaluation batches.")


def main(_):
    logging.set_verbosity(logging.INFO)
    if not FLAGS.do_train and not FLAGS.do_eval:
        raise ValueError("At least one of --do_train or --do_eval must be True.")
    config = BertConfig.from_json_file(cli.require_file(FLAGS.bert_config_file, "bert_config_file"))
    cli.check_max_seq_length(config, FLAGS.max_seq_length)
    input_files = records.expand_file_patterns(FLAGS.input_file, "input_file")
    records.check_record_shapes(input_files[0], FLAGS.max_seq_length, FLAGS.max_predictions_per_seq)
    logging.info("*** Input files *** (%d)", len(input_files))
    for name in input_files[:20]:
        logging.info("  %s", name)
    for name in input_files:
        records.check_record_framing(name)  # a truncated file fails now, not hours in
    keras.utils.set_random_seed(FLAGS.random_seed)

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
        dataset = records.pretraining_dataset(
            input_files,
            FLAGS.train_batch_size,
            FLAGS.max_seq_length,
            FLAGS.max_predictions_per_seq,
            is_training=True,
            seed=FLAGS.random_seed,
            deterministic=True,
        )
        trainer.train(dataset, FLAGS.num_train_steps, data_name=", ".join(input_files[:5]))

    if FLAGS.do_eval:
        dataset = records.pretraining_dataset(
            input_files,
            FLAGS.eval_batch_size,
            FLAGS.max_seq_length,
            FLAGS.max_predictions_per_seq,
            is_training=False,
        )
        sums = trainer.evaluate(dataset, FLAGS.max_eval_steps, metrics.pretraining_metric_sums)
        results = metrics.finish_pretraining_metrics(sums)
        results["global_step"] = trainer.step
        path = os.path.join(FLAGS.output_dir, "eval_results.txt")
        metrics.write_eval_results(path, results)
        logging.info("***** Eval results *****")
        for key in sorted(results):
            logging.info("  %s = %s", key, results[key])


def _loss(outputs, features, total):
    loss, masked_lm_loss, next_sentence_loss = pretraining_loss(outputs, features, total)
    return loss, {"masked_lm_loss": masked_lm_loss, "next_sentence_loss": next_sentence_loss}


if __name__ == "__main__":
    flags.mark_flags_as_required(["input_file", "bert_config_file", "output_dir"])
    cli.run(main)
