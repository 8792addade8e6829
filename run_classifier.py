"""Fine-tunes BERT on a GLUE task or XNLI: sentence (pair) classification, STS-B regression.

Same flags and defaults as Google's script. The task's .tsv files are read by
`bert_tf.tasks.glue`, turned into ``train.tf_record`` / ``eval.tf_record`` / ``predict.tf_record``
in --output_dir, and the model (`BertClassifier`: the encoder plus ``output_weights`` and
``output_bias`` on the pooled output) is trained with the shared loop of `bert_tf.training`
(checkpoints in Google's names, resume, strategies, mixed precision, XLA).

Outputs in --output_dir:

* ``eval_results.txt``: ``eval_accuracy``, ``eval_loss``, ``global_step``, ``loss`` as the
  original, plus the task's official metric (``eval_mcc`` for CoLA, ``eval_f1`` for MRPC and
  QQP; STS-B has ``eval_pearson``, ``eval_spearman``, ``eval_corr`` and no accuracy). MNLI's
  mismatched dev set goes to ``eval_results_mm.txt``.
* ``test_results.tsv``: one line per test example, its class probabilities tab-separated (the
  predicted score for STS-B); ``test_results_mm.tsv`` for MNLI mismatched.
* the GLUE submission file (``MRPC.tsv``, ``SST-2.tsv``, ``MNLI-m.tsv``, ...):
  ``index<TAB>prediction`` with the label string (the score for STS-B).
* the records, as the original names them (MNLI's mismatched and diagnostic sets add
  ``eval_mm.tf_record``, ``predict_mm.tf_record``, ``predict_ax.tf_record``), and the
  ``model.ckpt-STEP`` checkpoints.

Evaluation and prediction sets are always padded to whole batches with examples whose
``is_real_example`` is 0 (the original did so on TPUs only): they weigh nothing in any metric and
their predictions are not written, and every batch has the same shape. ``eval_loss`` is the mean
loss over real examples; ``loss`` is the mean of the batches' losses (each over its real
examples). --random_seed (default 12345) makes reruns identical; the original was unseeded.

Example:
    python run_classifier.py --task_name=MRPC --do_train=true --do_eval=true \
      --data_dir=$GLUE_DIR/MRPC --vocab_file=$BERT_BASE_DIR/vocab.txt \
      --bert_config_file=$BERT_BASE_DIR/bert_config.json \
      --init_checkpoint=$BERT_BASE_DIR/bert_model.ckpt --max_seq_length=128 \
      --train_batch_size=32 --learning_rate=2e-5 --num_train_epochs=3.0 \
      --output_dir=/tmp/mrpc_output/
"""

import os

import keras
import numpy as np
import tensorflow as tf
from absl import flags, logging

from bert_tf import checkpoints, cli, export, heads, metrics, records, tokenization, training
from bert_tf.modeling import BertConfig
from bert_tf.tasks import glue

FLAGS = flags.FLAGS

flags.DEFINE_string("data_dir", None, "The task's .tsv folder, as GLUE's download writes it.")
flags.DEFINE_string("task_name", None, f"The task: one of {', '.join(glue.TASK_NAMES)}.")
cli.define_flags(
    cli.FINE_TUNING_FLAGS,
    helps={
        "do_train": "Fine-tune on the train set.",
        "do_eval": "Evaluate on the dev set(s).",
        "do_predict": "Predict the test set(s).",
        "export_dir": "If set, the fine-tuned classifier is exported there as a SavedModel for "
        "TF Serving (export_dir/<version>/, see export_saved_model.py).",
    },
)
# Beyond the original.
flags.DEFINE_string("xnli_language", "zh", "XNLI only: the language whose rows are read.")
flags.DEFINE_bool(
    "trim_padding",
    False,
    "Cut each batch to its longest example (rounded up to 8 tokens) instead of max_seq_length: "
    "the same results up to float rounding, faster when most examples are short. Off keeps "
    "the original's fixed shapes (what TPUs need).",
)

# Variables a pretrained checkpoint lacks: the classifier starts them fresh.
_CLASSIFIER_HEAD = ("output_weights", "output_bias")


def _validate() -> tuple[glue.GlueProcessor, BertConfig]:
    """Checks the flags and inputs before anything slow starts; returns the task and config."""
    if not (FLAGS.do_train or FLAGS.do_eval or FLAGS.do_predict):
        raise ValueError("At least one of --do_train, --do_eval or --do_predict must be True.")
    for name in ("task_name", "data_dir", "output_dir"):
        if not FLAGS[name].value:
            raise ValueError(f"--{name} is required")
    processor = glue.get_processor(FLAGS.task_name, FLAGS.xnli_language)
    tokenization.validate_case_matches_checkpoint(FLAGS.do_lower_case, FLAGS.init_checkpoint)
    config = BertConfig.from_json_file(cli.require_file(FLAGS.bert_config_file, "bert_config_file"))
    cli.check_max_seq_length(config, FLAGS.max_seq_length)
    cli.require_file(FLAGS.vocab_file, "vocab_file")
    processor.check_data_dir(FLAGS.data_dir, FLAGS.do_train, FLAGS.do_eval, FLAGS.do_predict)
    for name in ("train_batch_size", "eval_batch_size", "predict_batch_size"):
        if FLAGS[name].value < 1:
            raise ValueError(f"--{name} must be at least 1, got {FLAGS[name].value}")
    if FLAGS.do_train and FLAGS.num_train_epochs <= 0:
        raise ValueError(f"--num_train_epochs must be positive, got {FLAGS.num_train_epochs}")
    if not 0.0 <= FLAGS.warmup_proportion <= 1.0:
        raise ValueError(f"--warmup_proportion must be in [0, 1], got {FLAGS.warmup_proportion}")
    if FLAGS.init_checkpoint:
        checkpoints.list_checkpoint(FLAGS.init_checkpoint)  # Fails now, naming the path.
    return processor, config


def main(_):
    logging.set_verbosity(logging.INFO)
    processor, config = _validate()
    keras.utils.set_random_seed(FLAGS.random_seed)
    tokenizer = tokenization.FullTokenizer(FLAGS.vocab_file, do_lower_case=FLAGS.do_lower_case)
    cli.check_vocab(tokenizer)
    output_dir = FLAGS.output_dir
    tf.io.gfile.makedirs(output_dir)

    strategy = training.make_strategy(FLAGS.use_tpu, FLAGS.tpu_name)
    policy = training.precision_policy(FLAGS.use_mixed_precision)
    if FLAGS.do_train:
        cli.check_batch_split(strategy)

    num_train_steps = num_warmup_steps = 0
    if FLAGS.do_train:
        train_examples = processor.get_train_examples(FLAGS.data_dir)
        num_train_steps, num_warmup_steps = cli.fine_tuning_steps(len(train_examples))
        train_file = os.path.join(output_dir, records.CLASSIFIER_RECORD_FILES["train"])
        _write_records(train_examples, processor, tokenizer, train_file)

    trainer = cli.make_trainer(
        model_fn=lambda: heads.BertClassifier(config, processor.num_labels, dtype=policy),
        loss_fn=_loss,
        strategy=strategy,
        num_train_steps=num_train_steps,
        num_warmup_steps=num_warmup_steps,
        train=FLAGS.do_train,
    )
    step = trainer.restore_or_initialize(FLAGS.init_checkpoint, allow_missing=_CLASSIFIER_HEAD)
    cli.check_trained(step, "classifier layer")

    if FLAGS.do_train:
        logging.info("***** Running training *****")
        logging.info("  Num examples = %d", len(train_examples))
        logging.info("  Batch size = %d", FLAGS.train_batch_size)
        logging.info("  Num steps = %d", num_train_steps)
        dataset = records.classifier_dataset(
            train_file,
            FLAGS.train_batch_size,
            FLAGS.max_seq_length,
            is_training=True,
            regression=processor.is_regression,
            seed=FLAGS.random_seed,
            trim_padding=FLAGS.trim_padding,
        )
        trainer.train(dataset, num_train_steps, data_name=train_file)
        step = trainer.step

    if FLAGS.do_eval:
        for output_set in processor.eval_sets:
            _evaluate(trainer, processor, tokenizer, output_set, step)

    if FLAGS.do_predict:
        for output_set in processor.predict_sets:
            _predict(trainer, processor, tokenizer, output_set)

    if FLAGS.export_dir:
        labels, pair_input = export.glue_task_inputs(processor)
        cli.export_fine_tuned("classifier", config, step, labels=labels, pair_input=pair_input)


def _loss(outputs, features, total):
    return heads.classifier_loss(outputs, features, total), {}


def _write_records(examples, processor, tokenizer, path: str) -> list:
    """Converts examples (padding included) and writes them; returns the features."""
    features = glue.convert_examples_to_features(
        examples, processor, FLAGS.max_seq_length, tokenizer
    )
    records.write_classifier_examples(
        path, (glue.feature_values(f) for f in features), regression=processor.is_regression
    )
    return features


def _run_set(trainer, processor, tokenizer, split: str, kind: str, suffix: str, batch_size: int):
    """Predicts one set, padded to whole batches, through its record file.

    Returns:
        (real examples, features with padding, {output name: array over all features}).
    """
    examples = processor.get_examples(FLAGS.data_dir, split)
    padded = glue.pad_to_batch(examples, batch_size)
    name = records.CLASSIFIER_RECORD_FILES[kind].replace(".tf_record", f"{suffix}.tf_record")
    path = os.path.join(FLAGS.output_dir, name)
    features = _write_records(padded, processor, tokenizer, path)
    phase = "evaluation" if kind == "eval" else "prediction"
    logging.info("***** Running %s on %s *****", phase, split)
    logging.info(
        "  Num examples = %d (%d actual, %d padding)",
        len(padded),
        len(examples),
        len(padded) - len(examples),
    )
    logging.info("  Batch size = %d", batch_size)
    dataset = records.classifier_dataset(
        path,
        batch_size,
        FLAGS.max_seq_length,
        is_training=False,
        regression=processor.is_regression,
        trim_padding=FLAGS.trim_padding,
    )
    batches = list(trainer.predict(dataset))
    outputs = {key: np.concatenate([b[key] for b in batches], axis=0) for key in batches[0]}
    if len(outputs["logits"]) != len(padded):
        raise RuntimeError(f"{path}: predicted {len(outputs['logits'])} of {len(padded)} records")
    return examples, features, outputs


def _evaluate(trainer, processor, tokenizer, output_set: glue.OutputSet, step: int) -> dict:
    _, features, outputs = _run_set(
        trainer,
        processor,
        tokenizer,
        output_set.split,
        "eval",
        output_set.suffix,
        FLAGS.eval_batch_size,
    )
    results = processor.compute_metrics(
        outputs["logits"],
        np.array([f.label_id for f in features]),
        np.array([int(f.is_real_example) for f in features]),
        FLAGS.eval_batch_size,
    )
    results["global_step"] = step
    path = os.path.join(FLAGS.output_dir, f"eval_results{output_set.suffix}.txt")
    metrics.write_eval_results(path, results)
    logging.info("***** Eval results (%s) *****", output_set.split)
    for key in sorted(results):
        logging.info("  %s = %s", key, results[key])
    return results


def _predict(trainer, processor, tokenizer, output_set: glue.OutputSet) -> None:
    if output_set.optional and processor.find_file(FLAGS.data_dir, output_set.split) is None:
        logging.info("No %s file found: skipping its predictions", output_set.split)
        return
    examples, _, outputs = _run_set(
        trainer,
        processor,
        tokenizer,
        output_set.split,
        "predict",
        output_set.suffix,
        FLAGS.predict_batch_size,
    )
    real = len(examples)  # Padding predictions are dropped, as in the original.
    logits = outputs["logits"][:real]
    if processor.is_regression:
        values = outputs["predictions"][:real, None]
    else:
        values = outputs["probabilities"][:real]
    path = os.path.join(FLAGS.output_dir, f"test_results{output_set.suffix}.tsv")
    glue.write_test_results(path, values)
    logging.info("Wrote %d predictions to %s", len(examples), path)
    if output_set.submission:
        submission = os.path.join(FLAGS.output_dir, output_set.submission)
        processor.write_submission(submission, examples, logits)
        logging.info("Wrote the GLUE submission file %s", submission)


if __name__ == "__main__":
    flags.mark_flags_as_required(
        ["data_dir", "task_name", "vocab_file", "bert_config_file", "output_dir"]
    )
    cli.run(main)
