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

from absl import flags, logging

from bert_tf import cli, metrics, records, training
from bert_tf.heads import BertPretrainer, pretraining_loss
from bert_tf.modeling import BertConfig
from bert_tf.optimization import create_optimizer

FLAGS = flags.FLAGS

flags.DEFINE_string("bert_config_file", None, "The bert_config.json of the model.")
flags.DEFINE_string("input_file", None, "TFRecord files: comma-separated names or globs.")
flags.DEFINE_string("output_dir", None, "Where checkpoints, summaries and eval_results.txt go.")
flags.DEFINE_string("init_checkpoint", None, "Checkpoint to start from (heads may be absent).")
flags.DEFINE_integer("max_seq_length", 128, "Sequence length the records were written with.")
flags.DEFINE_integer("max_predictions_per_seq", 20, "Masked positions per sequence in the records.")
flags.DEFINE_bool("do_train", False, "Run training.")
flags.DEFINE_bool("do_eval", False, "Run evaluation on the input files.")
flags.DEFINE_integer("train_batch_size", 32, "Global training batch size.")
flags.DEFINE_integer("eval_batch_size", 8, "Global evaluation batch size.")
flags.DEFINE_float("learning_rate", 5e-5, "Peak learning rate for Adam.")
flags.DEFINE_integer("num_train_steps", 100000, "Optimizer updates in total.")
flags.DEFINE_integer("num_warmup_steps", 10000, "Steps of linear learning-rate warmup.")
flags.DEFINE_integer("save_checkpoints_steps", 1000, "Checkpoint interval in steps.")
flags.DEFINE_integer("iterations_per_loop", 1000, "Steps per host loop (one tf.function call).")
flags.DEFINE_integer("max_eval_steps", 100, "Evaluation batches.")
flags.DEFINE_bool("use_tpu", False, "Train on a TPU through TPUStrategy.")
flags.DEFINE_string("tpu_name", None, "The TPU to use with --use_tpu.")
flags.DEFINE_string("tpu_zone", None, "Accepted for compatibility; the resolver finds the zone.")
flags.DEFINE_string("gcp_project", None, "Accepted for compatibility; the resolver finds it.")
flags.DEFINE_string("master", None, "Accepted for compatibility; unused.")
flags.DEFINE_integer("num_tpu_cores", 8, "Accepted for compatibility; the strategy counts cores.")
# Beyond the original.
flags.DEFINE_bool("use_mixed_precision", False, "bfloat16 on CPU/TPU, float16 + loss scaling on GPU.")
flags.DEFINE_bool("use_xla", False, "Compile the forward and backward pass with XLA.")
flags.DEFINE_integer("gradient_accumulation_steps", 1, "Micro-batches per optimizer update.")
flags.DEFINE_enum("optimizer", "adamw", ["adamw", "lamb"], "adamw is the original's optimizer.")
flags.DEFINE_bool("use_bias_correction", False, "Add Adam bias correction (the original has none).")
flags.DEFINE_integer("keep_checkpoint_max", 5, "Newest checkpoints kept in output_dir.")
flags.DEFINE_integer("log_every_steps", 100, "Progress-line interval in steps.")


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

    strategy = training.make_strategy(FLAGS.use_tpu, FLAGS.tpu_name)
    policy = training.precision_policy(FLAGS.use_mixed_precision)
    replicas = strategy.num_replicas_in_sync
    if FLAGS.train_batch_size % (replicas * FLAGS.gradient_accumulation_steps):
        raise ValueError(
            f"--train_batch_size={FLAGS.train_batch_size} must divide evenly over {replicas} "
            f"replicas x {FLAGS.gradient_accumulation_steps} accumulation steps"
        )
    trainer = training.Trainer(
        model_fn=lambda: BertPretrainer(config, dtype=policy),
        loss_fn=lambda outputs, features, total: _loss(outputs, features, total),
        optimizer_fn=lambda: create_optimizer(
            FLAGS.learning_rate, FLAGS.num_train_steps, FLAGS.num_warmup_steps,
            use_bias_correction=FLAGS.use_bias_correction, optimizer_type=FLAGS.optimizer,
        ),
        strategy=strategy,
        output_dir=FLAGS.output_dir,
        save_checkpoints_steps=FLAGS.save_checkpoints_steps,
        keep_checkpoint_max=FLAGS.keep_checkpoint_max,
        iterations_per_loop=FLAGS.iterations_per_loop,
        log_every_steps=FLAGS.log_every_steps,
        use_xla=FLAGS.use_xla,
        gradient_accumulation_steps=FLAGS.gradient_accumulation_steps,
    )
    trainer.restore_or_initialize(FLAGS.init_checkpoint, allow_missing=("cls/",))

    if FLAGS.do_train:
        dataset = records.pretraining_dataset(
            input_files, FLAGS.train_batch_size, FLAGS.max_seq_length,
            FLAGS.max_predictions_per_seq, is_training=True,
        )
        trainer.train(dataset, FLAGS.num_train_steps)

    if FLAGS.do_eval:
        dataset = records.pretraining_dataset(
            input_files, FLAGS.eval_batch_size, FLAGS.max_seq_length,
            FLAGS.max_predictions_per_seq, is_training=False,
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
