"""Fine-tunes BERT on SQuAD v1.1 / v2.0 and writes predictions, as Google's run_squad.py.

Same flags and defaults as the original. Training features go to ``output_dir/train.tf_record``
(examples shuffled with ``random.Random(12345)`` first); prediction features are kept in memory
and written to ``output_dir/eval.tf_record``; the answers go to ``predictions.json``,
``nbest_predictions.json`` and, with ``--version_2_with_negative``, ``null_odds.json``. The
training loop, checkpoints (Google's names), resume, strategies, mixed precision and XLA come
from `bert_tf.training`.

Beyond the original: when ``--predict_file`` holds the answers (a dev file), the predictions are
scored in the same run with the official v1.1 or v2.0 definitions and the scores written to
``output_dir/eval_results.txt``.

Example:
    python run_squad.py --vocab_file=$BERT_DIR/vocab.txt \
      --bert_config_file=$BERT_DIR/bert_config.json \
      --init_checkpoint=$BERT_DIR/bert_model.ckpt --do_train=True \
      --train_file=$SQUAD_DIR/train-v1.1.json --do_predict=True \
      --predict_file=$SQUAD_DIR/dev-v1.1.json --train_batch_size=12 --learning_rate=3e-5 \
      --num_train_epochs=2.0 --max_seq_length=384 --doc_stride=128 --output_dir=/tmp/squad_base/
"""

import bert_tf.startup  # first: imports TensorFlow without its start-up notices

# isort: split
import json
import os
import random

import tensorflow as tf
from absl import flags, logging

from bert_tf import cli, metrics, records, tokenization, training
from bert_tf.configuration import BertConfig
from bert_tf.heads import BertSpanLabeler, span_loss
from bert_tf.tasks import squad

FLAGS = flags.FLAGS

cli.define_flags(
    [n for n in cli.FINE_TUNING_FLAGS if n not in ("do_eval", "eval_batch_size")],
    defaults={"max_seq_length": 384},
    helps={
        "output_dir": "Where checkpoints, records and predictions go.",
        "max_seq_length": "WordPieces per feature, question and window included.",
        "do_train": "Fine-tune on --train_file.",
        "do_predict": "Predict answers for --predict_file.",
        "num_train_epochs": "Passes over the training questions.",
    },
)
flags.DEFINE_string("train_file", None, "SQuAD JSON to train on, e.g. train-v1.1.json.")
flags.DEFINE_string("predict_file", None, "SQuAD JSON to predict, e.g. dev-v1.1.json.")
flags.DEFINE_integer("doc_stride", 128, "WordPieces between the starts of context windows.")
flags.DEFINE_integer("max_query_length", 64, "Question WordPieces kept; longer ones are cut.")
flags.DEFINE_integer("n_best_size", 20, "Answers kept per question in nbest_predictions.json.")
flags.DEFINE_integer("max_answer_length", 30, "Longest answer, in WordPieces.")
flags.DEFINE_bool("verbose_logging", False, "Log every failed mapping of an answer to its text.")
flags.DEFINE_bool("version_2_with_negative", False, "SQuAD v2.0: questions may have no answer.")
flags.DEFINE_float(
    "null_score_diff_threshold",
    0.0,
    "v2.0: answer '' when null - best non-null score exceeds this.",
)
# Beyond the original.

# The original shuffles the training examples with this seed before writing them.
EXAMPLE_SHUFFLE_SEED = 12345


class SquadModel(BertSpanLabeler):
    """`BertSpanLabeler` that also hands back the ``unique_ids`` it was fed (for prediction).

    Its variables and checkpoint names are those of `BertSpanLabeler`.
    """

    def call(self, features, training=None):
        outputs = super().call(features, training=training)
        if isinstance(features, dict) and "unique_ids" in features:
            outputs["unique_ids"] = tf.identity(features["unique_ids"])
        return outputs


def validate_flags(config: BertConfig) -> None:
    """The original's checks, with messages that say which flag to change."""
    tokenization.validate_case_matches_checkpoint(FLAGS.do_lower_case, FLAGS.init_checkpoint)
    if not (FLAGS.do_train or FLAGS.do_predict):
        raise ValueError("At least one of --do_train or --do_predict must be True.")
    if FLAGS.do_train:
        cli.require_file(FLAGS.train_file, "train_file")
    if FLAGS.do_predict:
        cli.require_file(FLAGS.predict_file, "predict_file")
    cli.check_max_seq_length(config, FLAGS.max_seq_length)
    if FLAGS.max_seq_length - FLAGS.max_query_length <= 3:
        raise ValueError(
            f"--max_seq_length={FLAGS.max_seq_length} must be greater than --max_query_length "
            f"({FLAGS.max_query_length}) + 3, to leave room for the context"
        )
    if FLAGS.doc_stride < 1:
        raise ValueError(f"--doc_stride must be at least 1, got {FLAGS.doc_stride}")
    if FLAGS.n_best_size < 1 or FLAGS.max_answer_length < 1:
        raise ValueError("--n_best_size and --max_answer_length must be at least 1")


def _write_records(path, examples, tokenizer, is_training, keep=None) -> int:
    """Converts examples and streams their records to `path`; `keep` collects the features.

    Returns:
        The number of features (records) written.
    """

    def records_of():
        settings = (FLAGS.max_seq_length, FLAGS.doc_stride, FLAGS.max_query_length)
        for feature in squad.generate_features(examples, tokenizer, *settings, is_training):
            if keep is not None:
                keep.append(feature)
            yield squad.feature_record(feature, is_training)

    return records.write_squad_records(path, records_of())


def main(_):
    bert_tf.startup.default_verbosity()
    config = BertConfig.from_json_file(cli.require_file(FLAGS.bert_config_file, "bert_config_file"))
    validate_flags(config)
    tokenizer = tokenization.FullTokenizer(
        cli.require_file(FLAGS.vocab_file, "vocab_file"), do_lower_case=FLAGS.do_lower_case
    )
    cli.check_vocab(tokenizer)

    def train_set() -> cli.TrainSet:
        examples = squad.read_squad_examples(
            FLAGS.train_file,
            is_training=True,
            version_2_with_negative=FLAGS.version_2_with_negative,
        )
        # Shuffled here, once, so that the input pipeline needs only a small shuffle buffer.
        random.Random(EXAMPLE_SHUFFLE_SEED).shuffle(examples)
        path = os.path.join(FLAGS.output_dir, records.SQUAD_RECORD_FILES["train"])

        def write():
            num_features = _write_records(path, examples, tokenizer, is_training=True)
            lines = [
                ("  Num orig examples = %d", len(examples)),
                ("  Num split examples = %d", num_features),
            ]
            examples.clear()  # not needed while training
            dataset = records.squad_dataset(
                path,
                FLAGS.train_batch_size,
                FLAGS.max_seq_length,
                is_training=True,
                seed=FLAGS.random_seed,
            )
            return dataset, lines

        # As the original: the step count follows the number of questions, not of windows.
        return cli.TrainSet(len(examples), "training questions", path, write)

    trainer, step = cli.fine_tune(
        model_fn=lambda policy: SquadModel(config, dtype=policy),
        loss_fn=lambda outputs, features, total: (span_loss(outputs, features, total), {}),
        head=("cls/squad/",),
        head_name="span layer (cls/squad)",
        train_set=train_set,
        log_start_step=True,
    )

    if FLAGS.do_predict:
        predict(trainer, tokenizer)

    if FLAGS.export_dir:
        export_model(config, step, trainer.checkpoint)


def export_model(
    config: BertConfig, step: int | None = None, checkpoint: str | None = None
) -> str:
    """Exports `checkpoint` (default: the newest in --output_dir) to a new version in --export_dir."""
    return cli.export_fine_tuned(
        "squad", config, step, checkpoint, max_query_length=FLAGS.max_query_length
    )


def predict(trainer: training.Trainer, tokenizer) -> dict | None:
    """Predicts --predict_file, writes the answer files and, when it has answers, the scores."""
    dataset_json = squad.load_squad_json(FLAGS.predict_file)
    examples, _ = squad.parse_squad_examples(
        dataset_json["data"], is_training=False, version_2_with_negative=False
    )
    features: list[squad.SquadFeatures] = []
    predict_file = os.path.join(FLAGS.output_dir, records.SQUAD_RECORD_FILES["predict"])
    _write_records(predict_file, examples, tokenizer, is_training=False, keep=features)
    logging.info("***** Running predictions *****")
    logging.info("  Num orig examples = %d", len(examples))
    logging.info("  Num split examples = %d", len(features))
    logging.info("  Batch size = %d", FLAGS.predict_batch_size)

    dataset = records.squad_dataset(
        predict_file, FLAGS.predict_batch_size, FLAGS.max_seq_length, is_training=False
    )
    results = []
    for batch in trainer.predict(dataset):
        for unique_id, start_logits, end_logits in zip(
            batch["unique_ids"], batch["start_logits"], batch["end_logits"]
        ):
            if len(results) % 1000 == 0:
                logging.info("Processing example: %d", len(results))
            results.append(squad.RawResult(int(unique_id), start_logits, end_logits))
    if len(results) != len(features):
        raise RuntimeError(f"got {len(results)} predictions for {len(features)} features")

    outputs = squad.postprocess_predictions(
        examples,
        features,
        results,
        n_best_size=FLAGS.n_best_size,
        max_answer_length=FLAGS.max_answer_length,
        do_lower_case=FLAGS.do_lower_case,
        version_2_with_negative=FLAGS.version_2_with_negative,
        null_score_diff_threshold=FLAGS.null_score_diff_threshold,
        verbose_logging=FLAGS.verbose_logging,
    )
    with_null = FLAGS.version_2_with_negative
    null_odds_file = os.path.join(FLAGS.output_dir, "null_odds.json") if with_null else None
    squad.write_predictions(
        outputs,
        os.path.join(FLAGS.output_dir, "predictions.json"),
        os.path.join(FLAGS.output_dir, "nbest_predictions.json"),
        null_odds_file,
    )

    if not squad.has_gold_answers(dataset_json["data"]):
        logging.info("%s has no answers to score against: no eval_results.txt", FLAGS.predict_file)
        return None
    results = score(dataset_json, outputs)
    metrics.write_eval_results(os.path.join(FLAGS.output_dir, "eval_results.txt"), results)
    logging.info("***** Eval results *****")
    for key in sorted(results):
        logging.info("  %s = %s", key, results[key])
    logging.info("%s", json.dumps(results))
    return results


def score(dataset_json: dict, outputs: squad.SquadPredictions) -> dict:
    """The official metric for the file's version (as `bert_tf.squad_evaluate` picks it)."""
    if str(dataset_json.get("version", "1.1")).startswith("1"):
        return metrics.squad_v1_scores(dataset_json["data"], outputs.predictions)
    na_probs = dict(outputs.null_odds) if FLAGS.version_2_with_negative else None
    return dict(metrics.squad_v2_scores(dataset_json["data"], outputs.predictions, na_probs))


if __name__ == "__main__":
    flags.mark_flags_as_required(["vocab_file", "bert_config_file", "output_dir"])
    cli.run(main)
