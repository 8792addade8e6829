"""Writes the activations of chosen BERT layers for every input line, as Google's script does.

Example:
    python extract_features.py --input_file=input.txt --output_file=output.jsonl \
      --vocab_file=$BERT_DIR/vocab.txt --bert_config_file=$BERT_DIR/bert_config.json \
      --init_checkpoint=$BERT_DIR/bert_model.ckpt --layers=-1,-2,-3,-4 \
      --max_seq_length=128 --batch_size=8

    # One sentence embedding per line (mean over the last layer, unit length):
    python extract_features.py --input_file=input.txt --output_file=embeddings.jsonl \
      --vocab_file=$BERT_DIR/vocab.txt --bert_config_file=$BERT_DIR/bert_config.json \
      --init_checkpoint=$BERT_DIR/bert_model.ckpt --pooling=mean --normalize
"""

import bert_tf.startup  # first: imports TensorFlow without its start-up notices

# isort: split
from absl import flags, logging

from bert_tf import checkpoints, cli, embeddings, extract, tokenization
from bert_tf.configuration import BertConfig
from bert_tf.modeling import BertModel

FLAGS = flags.FLAGS

flags.DEFINE_string("input_file", None, "Text file: one example per line, 'text_a ||| text_b' for pairs.")
flags.DEFINE_string("output_file", None, "JSON-lines output file.")
flags.DEFINE_string("layers", "-1,-2,-3,-4", "Encoder layers to write (negative counts from the top).")
flags.DEFINE_string("bert_config_file", None, "The bert_config.json of the pretrained model.")
flags.DEFINE_integer("max_seq_length", 128, "Tokens per sequence after WordPiece; longer is truncated.")
flags.DEFINE_string("init_checkpoint", None, "Checkpoint prefix, e.g. $BERT_DIR/bert_model.ckpt.")
flags.DEFINE_string("vocab_file", None, "The vocab.txt the model was trained with.")
flags.DEFINE_bool("do_lower_case", True, "Lower-case input (True for uncased models).")
flags.DEFINE_integer("batch_size", 32, "Sequences per prediction batch.")
# Beyond the original.
flags.DEFINE_enum(
    "pooling",
    "none",
    ["none", *embeddings.POOLINGS],
    "none: the original's per-token features. mean/max/cls: one vector per input line, pooled "
    "over the tokens the input mask keeps ([CLS] and [SEP] included) of the last layer, or of "
    "the one layer --layers names when given (see bert_tf/embeddings.py).",
)
flags.DEFINE_bool("normalize", False, "With --pooling: scale each vector to unit L2 norm.")
flags.DEFINE_bool("use_tpu", False, "Accepted for compatibility; TPUs are reached via tf.distribute.")
flags.DEFINE_string("master", None, "Accepted for compatibility; unused.")
flags.DEFINE_integer("num_tpu_cores", 8, "Accepted for compatibility; unused.")
flags.DEFINE_bool("use_one_hot_embeddings", False, "Accepted for compatibility; lookups are gathers.")


def main(_):
    bert_tf.startup.default_verbosity()
    config = BertConfig.from_json_file(cli.require_file(FLAGS.bert_config_file, "bert_config_file"))
    cli.check_max_seq_length(config, FLAGS.max_seq_length)
    pooling = None if FLAGS.pooling == "none" else FLAGS.pooling
    if FLAGS.normalize and not pooling:
        raise ValueError("--normalize needs --pooling=mean, max or cls")
    layers = FLAGS.layers if FLAGS["layers"].present or not pooling else "-1"
    layer_indexes = extract.parse_layers(layers, config.num_hidden_layers)
    if pooling and len(layer_indexes) != 1:
        raise ValueError(
            f"--pooling={pooling} pools one layer; --layers={FLAGS.layers} names "
            f"{len(layer_indexes)} (leave --layers out for the last layer)"
        )
    tokenization.validate_case_matches_checkpoint(FLAGS.do_lower_case, FLAGS.init_checkpoint)
    tokenizer = tokenization.FullTokenizer(
        cli.require_file(FLAGS.vocab_file, "vocab_file"), do_lower_case=FLAGS.do_lower_case
    )
    cli.check_vocab(tokenizer)
    examples = extract.read_examples(cli.require_file(FLAGS.input_file, "input_file"))
    features = extract.convert_examples(examples, tokenizer, FLAGS.max_seq_length)

    model = BertModel(config)
    if FLAGS.init_checkpoint:
        checkpoints.load_google_checkpoint(model, FLAGS.init_checkpoint)
    else:
        logging.warning("No --init_checkpoint: writing features of a randomly initialised model")
    outputs = extract.run_layers(
        model, features, layer_indexes, FLAGS.batch_size, pooling, FLAGS.normalize
    )
    count = extract.write_features(
        FLAGS.output_file, examples, features, layer_indexes, outputs, pooled=bool(pooling)
    )
    logging.info("Wrote %d lines to %s", count, FLAGS.output_file)


if __name__ == "__main__":
    flags.mark_flags_as_required(
        ["input_file", "output_file", "vocab_file", "bert_config_file"]
    )
    cli.run(main)
