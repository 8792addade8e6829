"""Fine-tunes BERT for named entities on CoNLL-2003 (or the feature-based recipe of the paper).

Google released no NER code; this script follows run_classifier.py's flags and layout. The files
(``train.txt``, ``valid.txt``, ``test.txt``, or the original ``eng.train``, ``eng.testa``,
``eng.testb``; two-column BIO or four-column IOB1/BIO) are read by `bert_tf.tasks.conll`: each
word's label sits on its first WordPiece, the other pieces are ignored (label id -1) in the loss
and in scoring, and long sentences are split into windows so that no word is dropped. Records go
to ``train.tf_record`` / ``eval.tf_record`` / ``predict.tf_record`` in --output_dir and the
model is trained with the shared loop of `bert_tf.training`.

Models:

* default: `BertTokenClassifier`, the encoder plus ``output_weights`` / ``output_bias`` on every
  token, all fine-tuned.
* ``--feature_based``: `BertFeatureTagger`, the paper's feature-based recipe: the encoder frozen,
  its last four layers concatenated, a two-layer BiLSTM (``--lstm_size`` units each way) and a
  softmax layer trained on top. It wants a larger --learning_rate (e.g. 1e-3) than fine-tuning.

Outputs in --output_dir:

* ``eval_results.txt`` (--do_eval, on the dev file): conlleval's entity-level
  ``eval_precision``, ``eval_recall``, ``eval_f1`` and token ``eval_accuracy`` (percent, as
  conlleval prints them), the same per entity type (``eval_PER_f1``, ...), ``eval_loss`` (mean
  over scored words), ``global_step``; ``eval_predictions.txt`` (``word gold predicted``) and
  ``eval_conlleval.txt`` (conlleval's report).
* ``test_predictions.txt`` (--do_predict, on the test file) in the same CoNLL layout, plus
  ``test_results.txt`` and ``test_conlleval.txt`` scored against the test file's tags.

With --export_dir, the newest checkpoint is exported at the end as a SavedModel for TF Serving
(``--model_type=tagger`` of export_saved_model.py; see `bert_tf.export`): raw sentences in,
per-token and per-word labels out. Serving predicts a sentence's first window only.

Example:
    python run_ner.py --do_train=true --do_eval=true --do_predict=true \
      --data_dir=$CONLL_DIR --vocab_file=$BERT_BASE_DIR/vocab.txt \
      --bert_config_file=$BERT_BASE_DIR/bert_config.json \
      --init_checkpoint=$BERT_BASE_DIR/bert_model.ckpt --max_seq_length=128 \
      --train_batch_size=32 --learning_rate=5e-5 --num_train_epochs=3.0 \
      --output_dir=/tmp/ner_output/
"""

import bert_tf.startup  # first: imports TensorFlow without its start-up notices

# isort: split
import os
import random

import keras
import numpy as np
import tensorflow as tf
from absl import flags, logging

from bert_tf import cli, files, heads, metrics, records, tokenization
from bert_tf.configuration import BertConfig
from bert_tf.tasks import conll

FLAGS = flags.FLAGS

flags.DEFINE_string("data_dir", None, "Folder of train.txt, valid.txt, test.txt (CoNLL layout).")
cli.define_flags(
    cli.FINE_TUNING_FLAGS,
    helps={
        "max_seq_length": "Tokens per window after WordPiece; longer sentences are windowed.",
        "do_train": "Train on train.txt.",
        "do_eval": "Evaluate on valid.txt.",
        "do_predict": "Predict (and score) test.txt.",
        "export_dir": "If set, the trained tagger is exported there as a SavedModel for TF "
        "Serving (export_dir/<version>/, see export_saved_model.py --model_type=tagger).",
    },
)
flags.DEFINE_list(
    "entity_types", list(conll.CONLL2003_TYPES), "Entity types; labels are O, then B-/I- of each."
)
flags.DEFINE_bool(
    "feature_based",
    False,
    "The paper's feature-based recipe: freeze the encoder, concatenate its last four layers "
    "and train a two-layer BiLSTM and a softmax layer on them.",
)
flags.DEFINE_integer("lstm_size", 768, "--feature_based: LSTM units in each direction.")

# Variables a pretrained checkpoint lacks: the head starts them fresh.
_HEAD = ("output_weights", "output_bias", "lstm_")


def _validate() -> BertConfig:
    """Checks the flags and inputs before anything slow starts; returns the model config."""
    config = cli.check_fine_tuning_flags(["data_dir", "output_dir"])
    needed = [s for s, on in (("train", FLAGS.do_train), ("dev", FLAGS.do_eval)) if on]
    conll.check_data_dir(FLAGS.data_dir, needed + (["test"] if FLAGS.do_predict else []))
    cli.check_training_flags(["lstm_size"])
    if not FLAGS.entity_types:
        raise ValueError("--entity_types is empty: give the types, e.g. PER,ORG,LOC,MISC")
    if FLAGS.feature_based and config.num_hidden_layers < 4:
        raise ValueError(
            f"--feature_based concatenates the last four layers, but bert_config_file has "
            f"num_hidden_layers={config.num_hidden_layers}"
        )
    if FLAGS.export_dir and not FLAGS.do_train and not tf.train.latest_checkpoint(FLAGS.output_dir):
        raise ValueError(cli.NOT_FINE_TUNED.format(output_dir=FLAGS.output_dir))
    return config


def make_model(config: BertConfig, num_labels: int, dtype=None) -> keras.Model:
    """The model the flags ask for (fine-tuned tagger, or the feature-based BiLSTM)."""
    if FLAGS.feature_based:
        return heads.BertFeatureTagger(config, num_labels, lstm_size=FLAGS.lstm_size, dtype=dtype)
    return heads.BertTokenClassifier(config, num_labels, dtype=dtype)


def main(_):
    bert_tf.startup.default_verbosity()
    config = _validate()
    labels = conll.get_labels(FLAGS.entity_types)
    tokenizer = tokenization.FullTokenizer(FLAGS.vocab_file, do_lower_case=FLAGS.do_lower_case)
    cli.check_vocab(tokenizer)

    def train_set() -> cli.TrainSet:
        sentences = conll.read_conll(conll.find_file(FLAGS.data_dir, "train"), labels)
        features = conll.convert_sentences(sentences, labels, FLAGS.max_seq_length, tokenizer)
        # The files keep a document's sentences together, and the reader shuffles only within
        # 100 records; shuffle once here, as Google's run_squad.py shuffles its examples.
        random.Random(FLAGS.random_seed).shuffle(features)
        path = os.path.join(FLAGS.output_dir, records.NER_RECORD_FILES["train"])

        def write():
            records.write_ner_records(path, (f.values() for f in features))
            dataset = records.ner_dataset(
                path,
                FLAGS.train_batch_size,
                FLAGS.max_seq_length,
                is_training=True,
                seed=FLAGS.random_seed,
            )
            return dataset, [("  Num sentences = %d (%d windows)", len(sentences), len(features))]

        return cli.TrainSet(len(features), "train windows", path, write)

    trainer, step = cli.fine_tune(
        model_fn=lambda policy: make_model(config, len(labels), policy),
        loss_fn=lambda outputs, batch, total: (
            heads.token_classification_loss(outputs, batch, total),
            {},
        ),
        head=_HEAD,
        head_name="tagging layer",
        train_set=train_set,
    )

    if FLAGS.do_eval:
        _run_set(trainer, labels, tokenizer, "dev", "eval", FLAGS.eval_batch_size, step)
    if FLAGS.do_predict:
        _run_set(trainer, labels, tokenizer, "test", "test", FLAGS.predict_batch_size, step)
    if FLAGS.export_dir:
        cli.export_fine_tuned("tagger", config, step, trainer.checkpoint, labels=labels)


def _run_set(trainer, labels, tokenizer, split: str, name: str, batch_size: int, step: int):
    """Predicts one file, writes ``<name>_predictions.txt`` and its conlleval scores.

    ``name`` is "eval" (scores in ``eval_results.txt``) or "test" (``test_results.txt``).
    """
    path = conll.find_file(FLAGS.data_dir, split)
    sentences = conll.read_conll(path, labels)
    features = conll.convert_sentences(sentences, labels, FLAGS.max_seq_length, tokenizer, 0)
    kind = "eval" if name == "eval" else "predict"
    record_file = os.path.join(FLAGS.output_dir, records.NER_RECORD_FILES[kind])
    records.write_ner_records(record_file, (f.values() for f in features))
    logging.info(
        "***** Running %s on %s *****", "evaluation" if kind == "eval" else "prediction", path
    )
    logging.info("  Num sentences = %d (%d windows)", len(sentences), len(features))
    logging.info("  Batch size = %d", batch_size)
    dataset = records.ner_dataset(record_file, batch_size, FLAGS.max_seq_length, is_training=False)
    logits = cli.predict_all(trainer, dataset, len(features), record_file)["logits"]

    predicted = conll.word_predictions(sentences, features, logits, labels)
    conll.write_predictions(
        os.path.join(FLAGS.output_dir, f"{name}_predictions.txt"), sentences, predicted
    )
    counts = metrics.conlleval_sentences(
        list(zip(s.labels, tags)) for s, tags in zip(sentences, predicted)
    )
    report = counts.report()
    with files.atomic_open(os.path.join(FLAGS.output_dir, f"{name}_conlleval.txt")) as f:
        f.write(report)
    results = metrics.ner_eval_results(counts)
    results["eval_loss"] = _mean_loss(features, logits)
    results["global_step"] = step
    results_file = "eval_results.txt" if name == "eval" else "test_results.txt"
    metrics.write_eval_results(os.path.join(FLAGS.output_dir, results_file), results)
    logging.info("***** %s results (conlleval) *****\n%s", name, report)
    return results


def _mean_loss(features, logits) -> float:
    """Mean cross entropy over the scored words (the training loss on these windows)."""
    labels = np.array([f.label_ids for f in features])
    logits = logits.astype(np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    scored = labels >= 0
    picked = np.take_along_axis(log_probs, np.maximum(labels, 0)[..., None], axis=-1)[..., 0]
    return float(-picked[scored].mean()) if scored.any() else 0.0


if __name__ == "__main__":
    flags.mark_flags_as_required(["data_dir", "vocab_file", "bert_config_file", "output_dir"])
    cli.run(main)
