"""Fine-tunes BERT for multiple choice on SWAG: four endings, one score each, softmax over them.

Google released no SWAG code; this script follows run_classifier.py's flags and layout. SWAG's
``train.csv``, ``val.csv`` and ``test.csv`` are read by `bert_tf.tasks.swag`; every candidate is
encoded as ``[CLS] context [SEP] start + ending [SEP]``, and `BertMultipleChoice` scores each
candidate's pooled [CLS] output with one vector (``output_weights`` [1, hidden],
``output_bias`` [1]); a softmax over the candidates is trained with cross entropy, with the
shared loop of `bert_tf.training`.

Outputs in --output_dir:

* ``eval_results.txt`` (--do_eval, on ``val.csv``): ``eval_accuracy``, ``eval_loss``,
  ``global_step``.
* ``predictions.csv`` (--do_predict, on ``test.csv``): ``id,label,probability0,...``, the
  predicted ending and each ending's probability per example. When the test file has labels,
  ``test_results.txt`` holds their accuracy too.
* ``train.tf_record`` / ``eval.tf_record`` / ``predict.tf_record`` and ``model.ckpt-STEP``.

With --export_dir, the newest checkpoint is exported at the end as a SavedModel for TF Serving
(``--model_type=multiple_choice`` of export_saved_model.py; see `bert_tf.export`): its
``serving_default`` takes ``context`` (``sent1``) and ``endings`` ``[batch, num_choices]``, each
ending being the whole text B (``sent2 + " " + ending``), and returns ``logits``,
``probabilities`` and ``predictions`` (the index of the best ending).

Example:
    python run_swag.py --do_train=true --do_eval=true --data_dir=$SWAG_DIR \
      --vocab_file=$BERT_BASE_DIR/vocab.txt --bert_config_file=$BERT_BASE_DIR/bert_config.json \
      --init_checkpoint=$BERT_BASE_DIR/bert_model.ckpt --max_seq_length=80 \
      --train_batch_size=16 --learning_rate=2e-5 --num_train_epochs=3.0 \
      --output_dir=/tmp/swag_output/
"""

import bert_tf.startup  # first: imports TensorFlow without its start-up notices

# isort: split
import os
import random

import numpy as np
import tensorflow as tf
from absl import flags, logging

from bert_tf import cli, heads, metrics, records, tokenization
from bert_tf.configuration import BertConfig
from bert_tf.tasks import swag

FLAGS = flags.FLAGS

flags.DEFINE_string("data_dir", None, "Folder of SWAG's train.csv, val.csv, test.csv.")
cli.define_flags(
    cli.FINE_TUNING_FLAGS,
    helps={
        "max_seq_length": "Tokens per candidate after WordPiece; longer is cut.",
        "do_train": "Train on train.csv.",
        "do_eval": "Evaluate on val.csv.",
        "do_predict": "Predict test.csv.",
        "export_dir": "If set, the trained model is exported there as a SavedModel for TF "
        "Serving (export_dir/<version>/, see export_saved_model.py "
        "--model_type=multiple_choice).",
    },
)

# Variables a pretrained checkpoint lacks: the scoring vector starts fresh.
_HEAD = ("output_weights", "output_bias")


def _validate() -> BertConfig:
    """Checks the flags and inputs before anything slow starts; returns the model config."""
    config = cli.check_fine_tuning_flags(["data_dir", "output_dir"])
    splits = [s for s, on in (("train", FLAGS.do_train), ("dev", FLAGS.do_eval)) if on]
    swag.check_data_dir(FLAGS.data_dir, splits + (["test"] if FLAGS.do_predict else []))
    cli.check_training_flags()
    if FLAGS.export_dir and not FLAGS.do_train and not tf.train.latest_checkpoint(FLAGS.output_dir):
        raise ValueError(cli.NOT_FINE_TUNED.format(output_dir=FLAGS.output_dir))
    return config


def main(_):
    bert_tf.startup.default_verbosity()
    config = _validate()
    tokenizer = tokenization.FullTokenizer(FLAGS.vocab_file, do_lower_case=FLAGS.do_lower_case)
    cli.check_vocab(tokenizer)
    output_dir = FLAGS.output_dir
    num_choices = 4  # SWAG's; read from train.csv when training

    def train_set() -> cli.TrainSet:
        nonlocal num_choices
        examples = swag.read_swag(swag.find_file(FLAGS.data_dir, "train"), require_label=True)
        # SWAG's rows from one video sit together and the reader shuffles only within 100
        # records; shuffle once here, as Google's run_squad.py shuffles its examples.
        random.Random(FLAGS.random_seed).shuffle(examples)
        num_choices = len(examples[0].endings)
        path = os.path.join(output_dir, records.MULTIPLE_CHOICE_RECORD_FILES["train"])

        def write():
            features = swag.convert_examples(examples, tokenizer, FLAGS.max_seq_length)
            records.write_multiple_choice_records(path, (f.values() for f in features))
            dataset = records.multiple_choice_dataset(
                path,
                FLAGS.train_batch_size,
                FLAGS.max_seq_length,
                num_choices,
                is_training=True,
                seed=FLAGS.random_seed,
            )
            return dataset, [("  Num examples = %d (%d choices each)", len(examples), num_choices)]

        return cli.TrainSet(len(examples), "train examples", path, write)

    trainer, step = cli.fine_tune(
        model_fn=lambda policy: heads.BertMultipleChoice(config, dtype=policy),
        loss_fn=lambda outputs, batch, total: (heads.classifier_loss(outputs, batch, total), {}),
        head=_HEAD,
        head_name="scoring vector",
        train_set=train_set,
    )

    if FLAGS.do_eval:
        examples, logits = _run_set(trainer, tokenizer, "dev", "eval", FLAGS.eval_batch_size)
        results = _scores(examples, logits, step)
        metrics.write_eval_results(os.path.join(output_dir, "eval_results.txt"), results)
        logging.info("***** Eval results *****")
        for key in sorted(results):
            logging.info("  %s = %s", key, results[key])

    if FLAGS.do_predict:
        examples, logits = _run_set(trainer, tokenizer, "test", "predict", FLAGS.predict_batch_size)
        path = os.path.join(output_dir, "predictions.csv")
        swag.write_predictions(path, examples, _softmax(logits.astype(np.float64)))
        logging.info("Wrote %d predictions to %s", len(examples), path)
        if all(e.label is not None for e in examples):
            results = _scores(examples, logits, step)
            metrics.write_eval_results(os.path.join(output_dir, "test_results.txt"), results)
    if FLAGS.export_dir:
        cli.export_fine_tuned(
            "multiple_choice", config, step, trainer.checkpoint, num_choices=num_choices
        )


def _run_set(trainer, tokenizer, split: str, kind: str, batch_size: int):
    """Predicts one file through its record file; returns (examples, logits [n, choices])."""
    path = swag.find_file(FLAGS.data_dir, split)
    examples = swag.read_swag(path, require_label=kind == "eval")
    features = swag.convert_examples(examples, tokenizer, FLAGS.max_seq_length, log_first=0)
    record_file = os.path.join(FLAGS.output_dir, records.MULTIPLE_CHOICE_RECORD_FILES[kind])
    records.write_multiple_choice_records(record_file, (f.values() for f in features))
    logging.info(
        "***** Running %s on %s *****", "evaluation" if kind == "eval" else "prediction", path
    )
    logging.info("  Num examples = %d", len(examples))
    dataset = records.multiple_choice_dataset(
        record_file,
        batch_size,
        FLAGS.max_seq_length,
        len(examples[0].endings),
        is_training=False,
    )
    logits = cli.predict_all(trainer, dataset, len(examples), record_file)["logits"]
    return examples, logits


def _scores(examples, logits, step: int) -> dict:
    """Accuracy and mean cross entropy of the right endings."""
    labels = np.array([e.label for e in examples])
    logits = logits.astype(np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return {
        "eval_accuracy": metrics.accuracy(logits.argmax(axis=1), labels),
        "eval_loss": float(-log_probs[np.arange(len(labels)), labels].mean()),
        "global_step": step,
    }


def _softmax(logits):
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


if __name__ == "__main__":
    flags.mark_flags_as_required(["data_dir", "vocab_file", "bert_config_file", "output_dir"])
    cli.run(main)
