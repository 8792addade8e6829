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

Long texts (beyond the original): with --doc_stride=N a text longer than --max_seq_length is
cut into overlapping windows as run_squad.py cuts documents (`bert_tf.tasks.windows`: the rule
for pairs is there). Training uses every window with the text's label (an epoch is a pass over
the windows); evaluation and prediction combine a text's window logits (--window_pooling) so
every metric and output file stays per text; ``eval_loss`` and ``loss`` are then computed on the
combined logits, in batches of --eval_batch_size texts. A text that fits gets the same single
feature as without --doc_stride, so runs where every text fits give identical results.

Example:
    python run_classifier.py --task_name=MRPC --do_train=true --do_eval=true \
      --data_dir=$GLUE_DIR/MRPC --vocab_file=$BERT_BASE_DIR/vocab.txt \
      --bert_config_file=$BERT_BASE_DIR/bert_config.json \
      --init_checkpoint=$BERT_BASE_DIR/bert_model.ckpt --max_seq_length=128 \
      --train_batch_size=32 --learning_rate=2e-5 --num_train_epochs=3.0 \
      --output_dir=/tmp/mrpc_output/

    # Long reviews: windows of 128 WordPieces every 64, window logits averaged per review.
    python run_classifier.py --task_name=SST-2 ... --max_seq_length=128 --doc_stride=64 \
      --window_pooling=mean
"""

import bert_tf.startup  # first: imports TensorFlow without its start-up notices

# isort: split
import os

import numpy as np
from absl import flags, logging

from bert_tf import cli, export, heads, metrics, records, tokenization
from bert_tf.configuration import BertConfig
from bert_tf.tasks import glue, windows

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
flags.DEFINE_integer(
    "doc_stride",
    0,
    "0 (default): truncate long texts as the original. N > 0: cut a text longer than "
    "max_seq_length into windows whose starts are N WordPieces apart, as run_squad.py "
    "(see bert_tf/tasks/windows.py; for pairs the longer text is windowed).",
)
flags.DEFINE_enum(
    "window_pooling",
    "mean",
    list(windows.WINDOW_POOLINGS),
    "With --doc_stride: how a text's window logits combine for evaluation and prediction.",
)

# Variables a pretrained checkpoint lacks: the classifier starts them fresh.
_CLASSIFIER_HEAD = ("output_weights", "output_bias")


def _validate() -> tuple[glue.GlueProcessor, BertConfig]:
    """Checks the flags and inputs before anything slow starts; returns the task and config."""
    config = cli.check_fine_tuning_flags(["task_name", "data_dir", "output_dir"])
    processor = glue.get_processor(FLAGS.task_name, FLAGS.xnli_language)
    processor.check_data_dir(FLAGS.data_dir, FLAGS.do_train, FLAGS.do_eval, FLAGS.do_predict)
    cli.check_training_flags()
    if FLAGS.doc_stride < 0:
        raise ValueError(f"--doc_stride must be 0 (off) or positive, got {FLAGS.doc_stride}")
    return processor, config


def main(_):
    bert_tf.startup.default_verbosity()
    processor, config = _validate()
    tokenizer = tokenization.FullTokenizer(FLAGS.vocab_file, do_lower_case=FLAGS.do_lower_case)
    cli.check_vocab(tokenizer)

    def train_set() -> cli.TrainSet:
        examples = processor.get_train_examples(FLAGS.data_dir)
        path = os.path.join(FLAGS.output_dir, records.CLASSIFIER_RECORD_FILES["train"])
        windowed = _convert_windows(examples, processor, tokenizer) if FLAGS.doc_stride else None

        def write():
            if windowed is None:
                _write_records(examples, processor, tokenizer, path)
            else:
                _write_features(windowed.features, processor, path)
            dataset = records.classifier_dataset(
                path,
                FLAGS.train_batch_size,
                FLAGS.max_seq_length,
                is_training=True,
                regression=processor.is_regression,
                seed=FLAGS.random_seed,
                trim_padding=FLAGS.trim_padding,
            )
            return dataset, [("  Num examples = %d", len(examples))]

        if windowed is None:
            return cli.TrainSet(len(examples), "train examples", path, write)
        return cli.TrainSet(len(windowed.features), "train windows", path, write)

    trainer, step = cli.fine_tune(
        model_fn=lambda policy: heads.BertClassifier(config, processor.num_labels, dtype=policy),
        loss_fn=_loss,
        head=_CLASSIFIER_HEAD,
        head_name="classifier layer",
        train_set=train_set,
    )

    if FLAGS.do_eval:
        for output_set in processor.eval_sets:
            _evaluate(trainer, processor, tokenizer, output_set, step)

    if FLAGS.do_predict:
        for output_set in processor.predict_sets:
            _predict(trainer, processor, tokenizer, output_set)

    if FLAGS.export_dir:
        labels, pair_input = export.glue_task_inputs(processor)
        cli.export_fine_tuned(
            "classifier",
            config,
            step,
            trainer.checkpoint,
            labels=labels,
            pair_input=pair_input,
            doc_stride=FLAGS.doc_stride,
            window_pooling=FLAGS.window_pooling,
        )


def _loss(outputs, features, total):
    return heads.classifier_loss(outputs, features, total), {}


def _write_records(examples, processor, tokenizer, path: str) -> list:
    """Converts examples (padding included) and writes them; returns the features."""
    features = glue.convert_examples_to_features(
        examples, processor, FLAGS.max_seq_length, tokenizer
    )
    _write_features(features, processor, path)
    return features


def _write_features(features, processor, path: str) -> None:
    records.write_classifier_examples(
        path, (glue.feature_values(f) for f in features), regression=processor.is_regression
    )


def _convert_windows(examples, processor, tokenizer) -> windows.Windows:
    return windows.convert_examples_to_windows(
        examples, processor, FLAGS.max_seq_length, tokenizer, FLAGS.doc_stride
    )


def _window_features(examples, processor, tokenizer, batch_size: int):
    """--doc_stride: the windows of `examples`, padded to whole batches of windows."""
    doc_windows = _convert_windows(examples, processor, tokenizer)
    padding = [glue.PaddingInputExample()] * (-len(doc_windows.features) % batch_size)
    features = doc_windows.features + glue.convert_examples_to_features(
        padding, processor, FLAGS.max_seq_length, tokenizer
    )
    return doc_windows, features


def _run_set(trainer, processor, tokenizer, split: str, kind: str, suffix: str, batch_size: int):
    """Predicts one set, padded to whole batches, through its record file.

    With --doc_stride the outputs are per example (its windows combined), without padding.

    Returns:
        (real examples, label ids, is_real (1 or 0 per row), {output name: array}), the last
        three over the same rows: every feature (padding included) or every example.
    """
    examples = processor.get_examples(FLAGS.data_dir, split)
    name = records.CLASSIFIER_RECORD_FILES[kind].replace(".tf_record", f"{suffix}.tf_record")
    path = os.path.join(FLAGS.output_dir, name)
    doc_windows = None
    if FLAGS.doc_stride:
        doc_windows, features = _window_features(examples, processor, tokenizer, batch_size)
        _write_features(features, processor, path)
        real = len(doc_windows.features)
    else:
        features = _write_records(
            glue.pad_to_batch(examples, batch_size), processor, tokenizer, path
        )
        real = len(examples)
    phase = "evaluation" if kind == "eval" else "prediction"
    logging.info("***** Running %s on %s *****", phase, split)
    if doc_windows is None:
        logging.info(
            "  Num examples = %d (%d actual, %d padding)", len(features), real, len(features) - real
        )
    else:
        logging.info(
            "  Num examples = %d, in %d windows (+%d padding)",
            len(examples),
            real,
            len(features) - real,
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
    outputs = cli.predict_all(trainer, dataset, len(features), path)
    if doc_windows is None:
        label_ids = np.array([f.label_id for f in features])
        return examples, label_ids, np.array([int(f.is_real_example) for f in features]), outputs
    outputs = windows.document_outputs(
        {key: value[:real] for key, value in outputs.items()},
        doc_windows,
        FLAGS.window_pooling,
        processor.is_regression,
    )
    label_ids = np.array([processor.label_id(example) for example in examples])
    return examples, label_ids, np.ones(len(examples), np.int64), outputs


def _evaluate(trainer, processor, tokenizer, output_set: glue.OutputSet, step: int) -> dict:
    _, label_ids, is_real, outputs = _run_set(
        trainer,
        processor,
        tokenizer,
        output_set.split,
        "eval",
        output_set.suffix,
        FLAGS.eval_batch_size,
    )
    results = processor.compute_metrics(
        outputs["logits"], label_ids, is_real, FLAGS.eval_batch_size
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
    examples, _, _, outputs = _run_set(
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
