"""Exports a BERT checkpoint as a SavedModel that TF Serving (or any TensorFlow) can serve.

Writes ``--export_dir/<version>/`` (TF Serving serves the highest integer version it finds)
with three signatures: ``serving_default`` (raw text ``text_a``, and ``text_b`` for pairs, or
the tagger's sentences ``text``, or the multiple-choice ``context`` and ``endings``
``[batch, num_choices]``, tokenized in the graph exactly as `FullTokenizer` does),
``serve_token_ids`` (``input_ids``, ``input_mask``, ``segment_ids``) and ``serve_examples``
(serialized ``tf.Example``s with Google's feature names). The SavedModel loads with ``tensorflow`` and ``tensorflow_text`` only.
The encoder adds a ``sentence_embedding`` output (--pooling, --normalize); a classifier trained
with run_classifier.py --doc_stride is exported with the same --doc_stride and --window_pooling
so that serving_default windows long texts as evaluation did.

Example:
    python export_saved_model.py --model_type=classifier --task_name=MRPC \
      --bert_config_file=$BERT_DIR/bert_config.json --vocab_file=$BERT_DIR/vocab.txt \
      --init_checkpoint=/tmp/mrpc_output/model.ckpt-343 --max_seq_length=128 \
      --export_dir=/tmp/mrpc_export
    python export_saved_model.py --model_type=tagger --entity_types=PER,ORG,LOC,MISC \
      --bert_config_file=$BERT_DIR/bert_config.json --vocab_file=$BERT_DIR/vocab.txt \
      --init_checkpoint=/tmp/ner_output/model.ckpt-1316 --max_seq_length=128 \
      --export_dir=/tmp/ner_export
    python export_saved_model.py --model_type=encoder --pooling=mean --normalize \
      --bert_config_file=$MINILM/bert_config.json --vocab_file=$MINILM/vocab.txt \
      --init_checkpoint=$MINILM/bert_model.ckpt --max_seq_length=256 --export_dir=/tmp/minilm
"""

import bert_tf.startup  # first: imports TensorFlow without its start-up notices

# isort: split
from absl import flags, logging

from bert_tf import checkpoints, cli, embeddings, export, tokenization
from bert_tf.configuration import BertConfig
from bert_tf.tasks import conll, glue, windows

FLAGS = flags.FLAGS

flags.DEFINE_string("bert_config_file", None, "The bert_config.json of the model.")
flags.DEFINE_string("vocab_file", None, "The vocab.txt the model was trained with.")
flags.DEFINE_bool("do_lower_case", True, "Lower-case input (True for uncased models).")
flags.DEFINE_string(
    "init_checkpoint",
    None,
    "Checkpoint prefix or folder: a fine-tuned model.ckpt-STEP (classifier, squad, tagger: "
    "run_ner.py's, fine-tuned or --feature_based; multiple_choice: run_swag.py's) or Google's "
    "bert_model.ckpt (encoder).",
)
flags.DEFINE_enum("model_type", "classifier", sorted(export.MODEL_TYPES), "What to export.")
flags.DEFINE_string(
    "task_name", None, f"Classifier only: the task, for its labels ({', '.join(glue.TASK_NAMES)})."
)
flags.DEFINE_list(
    "entity_types",
    list(conll.CONLL2003_TYPES),
    "Tagger only: run_ner.py's --entity_types; labels are O, then B-/I- of each.",
)
flags.DEFINE_integer("max_seq_length", 128, "Tokens raw text is packed to, as in training.")
flags.DEFINE_integer("max_query_length", 64, "SQuAD only: question tokens kept.")
flags.DEFINE_integer(
    "num_choices", 4, "Multiple choice only: endings per record serve_examples parses (SWAG: 4)."
)
flags.DEFINE_string("export_dir", None, "The folder TF Serving watches; a new version goes in it.")
flags.DEFINE_integer(
    "export_version", None, "Version folder name; default: one above the highest present."
)
flags.DEFINE_bool(
    "pair_input",
    None,
    "Whether serving_default takes text_b too. Default: from the task (classifier), False "
    "(encoder); SQuAD always takes text_a (question) and text_b (context).",
)
flags.DEFINE_enum(
    "pooling",
    "mean",
    ["none", *embeddings.POOLINGS],
    "Encoder only: how the sentence_embedding output pools the last layer over the input "
    "mask's positions (mean as sentence-transformers; max; cls: the [CLS] vector; none: no "
    "sentence_embedding output).",
)
flags.DEFINE_bool("normalize", False, "Encoder only: unit-length sentence_embedding.")
flags.DEFINE_integer(
    "doc_stride",
    0,
    "Classifier only: run_classifier.py's --doc_stride. N > 0: serving_default cuts a long text "
    "into windows whose starts are N WordPieces apart and combines their logits; 0 truncates.",
)
flags.DEFINE_enum(
    "window_pooling",
    "mean",
    list(windows.WINDOW_POOLINGS),
    "Classifier with --doc_stride: how a text's window logits combine (run_classifier.py's).",
)
flags.DEFINE_string("xnli_language", "zh", "XNLI only: accepted for run_classifier.py parity.")


def main(_):
    bert_tf.startup.default_verbosity()
    config = BertConfig.from_json_file(cli.require_file(FLAGS.bert_config_file, "bert_config_file"))
    cli.check_max_seq_length(config, FLAGS.max_seq_length)
    cli.require_file(FLAGS.vocab_file, "vocab_file")
    if not FLAGS.init_checkpoint:
        raise ValueError("--init_checkpoint is required")
    checkpoints.list_checkpoint(FLAGS.init_checkpoint)  # Fails now, naming the path.
    tokenization.validate_case_matches_checkpoint(FLAGS.do_lower_case, FLAGS.init_checkpoint)
    if not FLAGS.export_dir:
        raise ValueError("--export_dir is required")

    labels, pair_input = [], bool(FLAGS.pair_input)
    if FLAGS.model_type == "classifier":
        if not FLAGS.task_name:
            raise ValueError("--task_name is required with --model_type=classifier (its labels)")
        labels, task_pairs = export.glue_task_inputs(
            glue.get_processor(FLAGS.task_name, FLAGS.xnli_language)
        )
        pair_input = task_pairs if FLAGS.pair_input is None else FLAGS.pair_input
    elif FLAGS.task_name:
        logging.warning("--task_name is ignored with --model_type=%s", FLAGS.model_type)
    if FLAGS.model_type == "tagger":
        if not FLAGS.entity_types:
            raise ValueError("--entity_types is empty: give run_ner.py's, e.g. PER,ORG,LOC,MISC")
        if pair_input:
            raise ValueError("--pair_input: --model_type=tagger takes single sentences")
        labels = conll.get_labels(FLAGS.entity_types)
    if FLAGS.model_type == "multiple_choice":
        if FLAGS.num_choices < 1:
            raise ValueError(f"--num_choices must be at least 1, got {FLAGS.num_choices}")
        pair_input = True  # always context and endings

    path = export.export_saved_model(
        model_type=FLAGS.model_type,
        bert_config=config,
        init_checkpoint=FLAGS.init_checkpoint,
        vocab_file=FLAGS.vocab_file,
        do_lower_case=FLAGS.do_lower_case,
        max_seq_length=FLAGS.max_seq_length,
        export_dir=FLAGS.export_dir,
        labels=labels,
        pair_input=pair_input,
        max_query_length=FLAGS.max_query_length,
        version=FLAGS.export_version,
        num_choices=FLAGS.num_choices,
        pooling=FLAGS.pooling,
        normalize=FLAGS.normalize,
        doc_stride=FLAGS.doc_stride,
        window_pooling=FLAGS.window_pooling,
    )
    logging.info("Exported %s (%s) to %s", FLAGS.init_checkpoint, FLAGS.model_type, path)
    print(path)


if __name__ == "__main__":
    flags.mark_flags_as_required(
        ["bert_config_file", "vocab_file", "init_checkpoint", "export_dir"]
    )
    cli.run(main)
