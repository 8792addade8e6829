"""Turns plain text into masked-LM / next-sentence TFRecord files for BERT pre-training.

Input: one sentence per line, a blank line between documents. With the default
`--num_workers=1` the records are those of Google's script for the same input, flags and seed.

Example:
    python create_pretraining_data.py --input_file='corpus/*.txt' \
      --output_file=data/pretrain.tfrecord --vocab_file=$BERT_DIR/vocab.txt \
      --do_lower_case=True --max_seq_length=128 --max_predictions_per_seq=20 \
      --masked_lm_prob=0.15 --random_seed=12345 --dupe_factor=5

Chinese whole word masking: `--do_whole_word_mask=True --chinese_word_segmenter=jieba` (or
`spaces` for text already segmented with spaces) masks all characters of a Chinese word together.

`--num_workers=N` (N > 1) splits the input into N shards (cut after blank lines), makes each in
its own process seeded with `random_seed + shard` and interleaves their records: reproducible for
a given N and seed, but not the same records as N=1 (see bert_tf/pretraining_data.py).
"""

import bert_tf.startup  # first: imports TensorFlow without its start-up notices

# isort: split
from absl import flags

from bert_tf import cli, pretraining_data, records

FLAGS = flags.FLAGS

# Every script of this project defines flags such as --input_file and --vocab_file. They are
# defined with allow_override=True so that one process (a test run) can import several scripts:
# the last definition of a shared name wins, and all of them have the same type and default.
_SHARED = dict(allow_override=True)

flags.DEFINE_string(
    "input_file",
    None,
    "Text file(s) to read: comma-separated file names or glob patterns.",
    **_SHARED,
)
flags.DEFINE_string(
    "output_file",
    None,
    "TFRecord file(s) to write, comma-separated; records go round-robin.",
    **_SHARED,
)
flags.DEFINE_string("vocab_file", None, "The vocab.txt of the model to be trained.", **_SHARED)
flags.DEFINE_bool("do_lower_case", True, "Lower-case the text: True for uncased models.", **_SHARED)
flags.DEFINE_bool(
    "do_whole_word_mask",
    False,
    "Mask every WordPiece of a word together instead of one by one.",
    **_SHARED,
)
flags.DEFINE_enum(
    "chinese_word_segmenter",
    "none",
    ["none", "jieba", "spaces"],
    "With --do_whole_word_mask=True, where Chinese word boundaries come from: none (the "
    "original: every CJK character is masked alone), jieba (segment CJK text with jieba's "
    "precise mode) or spaces (the input is already segmented, words separated by spaces).",
)
flags.DEFINE_integer(
    "max_seq_length", 128, "Tokens per instance, [CLS] and [SEP]s included.", **_SHARED
)
flags.DEFINE_integer(
    "max_predictions_per_seq", 20, "Most masked-LM predictions per instance.", **_SHARED
)
flags.DEFINE_integer("random_seed", 12345, "Seed of the random stream.", **_SHARED)
flags.DEFINE_integer(
    "dupe_factor", 10, "Passes over the input, each cutting and masking it anew.", **_SHARED
)
flags.DEFINE_float(
    "masked_lm_prob", 0.15, "Share of each instance's tokens that is masked.", **_SHARED
)
flags.DEFINE_float(
    "short_seq_prob",
    0.1,
    "Probability of aiming at an instance shorter than max_seq_length.",
    **_SHARED,
)
flags.DEFINE_integer(
    "num_workers",
    1,
    "Processes. 1 gives exactly the original's records; N > 1 makes N input shards in "
    "parallel (reproducible for a given N and seed, but different records).",
    **_SHARED,
)
flags.DEFINE_float(
    "progress_seconds", 30.0, "Least time between two progress log lines.", **_SHARED
)

# Flags passed to PretrainingDataConfig under their own names.
_ALGORITHM_FLAGS = (
    "do_lower_case",
    "do_whole_word_mask",
    "max_seq_length",
    "max_predictions_per_seq",
    "random_seed",
    "dupe_factor",
    "masked_lm_prob",
    "short_seq_prob",
    "chinese_word_segmenter",
)


def main(argv: list[str]) -> None:
    """Reads the flags and makes the records (see the module docstring)."""
    del argv
    bert_tf.startup.default_verbosity()
    vocab_file = cli.require_file(FLAGS.vocab_file, "vocab_file")
    input_files = records.expand_file_patterns(FLAGS.input_file or "", "input_file")
    output_files = [path.strip() for path in (FLAGS.output_file or "").split(",") if path.strip()]
    if not output_files:
        raise ValueError("--output_file is empty: give one or more comma-separated files")
    settings = {name: FLAGS[name].value for name in _ALGORITHM_FLAGS}
    config = pretraining_data.PretrainingDataConfig(vocab_file=vocab_file, **settings)
    pretraining_data.create_pretraining_data(
        input_files,
        output_files,
        config,
        num_workers=FLAGS.num_workers,
        progress_seconds=FLAGS.progress_seconds,
    )


if __name__ == "__main__":
    flags.mark_flags_as_required(["input_file", "output_file", "vocab_file"])
    cli.run(main)
