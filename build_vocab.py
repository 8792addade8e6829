"""Learns a WordPiece vocab.txt from plain text, for pretraining a BERT from scratch.

The words are those `FullTokenizer` sees (`BasicTokenizer`: CJK characters one by one,
punctuation split off, optional lower-casing), the pieces come from tensorflow-text's WordPiece
learner, and the file has Google's layout: [PAD]=0, [unused0..98], [UNK]=100, [CLS]=101,
[SEP]=102, [MASK]=103, then the learned tokens. Every character seen at least --min_char_count
times is a token; no "##" + CJK (or punctuation) entry is written, since FullTokenizer never
makes one. See bert_tf/vocab_learning.py.

Example:
    python build_vocab.py --input_file=../shared/data/chinese/corpus/pretraining_corpus.txt \
      --vocab_file=/tmp/zh/vocab.txt --vocab_size=8000 --do_lower_case=True
"""

import bert_tf.startup  # first: imports TensorFlow without its start-up notices

# isort: split
from absl import flags

from bert_tf import cli, records, vocab_learning

FLAGS = flags.FLAGS

flags.DEFINE_string(
    "input_file",
    None,
    "Text file(s) to learn from (UTF-8): comma-separated file names or glob patterns.",
    allow_override=True,
)
flags.DEFINE_string("vocab_file", None, "The vocab.txt to write.", allow_override=True)
flags.DEFINE_integer(
    "vocab_size", 8000, "Tokens wanted, the 104 reserved ones included (an upper bound)."
)
flags.DEFINE_bool(
    "do_lower_case",
    True,
    "Lower-case and strip accents, as the model's tokenizer will (True for uncased models).",
    allow_override=True,
)
flags.DEFINE_integer(
    "min_char_count",
    2,
    "Least occurrences for a character to be a token; rarer ones become [UNK].",
)
flags.DEFINE_integer(
    "lower_thresh",
    10,
    "Lowest count the learner accepts for a piece of two or more characters.",
)
flags.DEFINE_integer("num_iterations", 4, "Refinement passes of the WordPiece learner.")
flags.DEFINE_integer("max_token_length", 50, "Words longer than this are left out of learning.")


def main(argv: list[str]) -> None:
    """Reads the flags, learns the vocabulary and writes it (see the module docstring)."""
    del argv
    bert_tf.startup.default_verbosity()
    input_files = records.expand_file_patterns(FLAGS.input_file or "", "input_file")
    for path in input_files:
        cli.require_file(path, "input_file")
    if FLAGS.min_char_count < 1:
        raise ValueError(f"--min_char_count={FLAGS.min_char_count}: must be at least 1")
    vocab_learning.build_vocab(
        input_files,
        FLAGS.vocab_file,
        FLAGS.vocab_size,
        FLAGS.do_lower_case,
        min_char_count=FLAGS.min_char_count,
        lower_thresh=FLAGS.lower_thresh,
        num_iterations=FLAGS.num_iterations,
        max_token_length=FLAGS.max_token_length,
    )


if __name__ == "__main__":
    flags.mark_flags_as_required(["input_file", "vocab_file"])
    cli.run(main)
