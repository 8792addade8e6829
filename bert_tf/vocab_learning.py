"""Learning a WordPiece vocabulary from text, in the layout of Google's `vocab.txt`.

Google released BERT's vocabularies but not the program that made them. This module learns one
with tensorflow-text's WordPiece learner (`tensorflow_text.tools.wordpiece_vocab`), fed with the
words `bert_tf.tokenization.BasicTokenizer` makes of the text, so that the words the learner sees
are exactly those `FullTokenizer` will cut into pieces:

1. every line of the input is split into words by `BasicTokenizer` (cleaning, CJK characters as
   words of their own, optional lower-casing and accent stripping, punctuation split off);
2. characters seen at least `min_char_count` times form the alphabet (the learner's
   `max_unique_chars` is set to their number, so every frequent CJK character becomes a token,
   however many there are); words with other characters are left out of the learning;
3. the learner searches the count threshold that gives about `vocab_size` tokens;
4. the entries `FullTokenizer` can never produce are dropped: `##` + a CJK character or a
   punctuation character (those are always words of a single character);
5. the vocabulary is written in Google's order: `[PAD]`=0, `[unused0]`..`[unused98]`,
   `[UNK]`=100, `[CLS]`=101, `[SEP]`=102, `[MASK]`=103, then the learned tokens.

Example:
    vocab = learn_vocabulary(count_words(["BERT 学习中文。"], True), vocab_size=8000)
"""

from __future__ import annotations

import collections
import dataclasses
import time
from collections.abc import Iterable, Sequence

from absl import logging

from bert_tf import tokenization

UNUSED_TOKENS = 99
# Google's first 104 ids.
RESERVED_TOKENS: tuple[str, ...] = (
    ("[PAD]",)
    + tuple(f"[unused{i}]" for i in range(UNUSED_TOKENS))
    + ("[UNK]", "[CLS]", "[SEP]", "[MASK]")
)


@dataclasses.dataclass
class VocabularySummary:
    """What a learning run read and made.

    Attributes:
        lines: Lines read.
        words: Words `BasicTokenizer` made of them.
        distinct_words: Distinct words.
        characters: Distinct characters in the words.
        alphabet: Characters seen at least `min_char_count` times (all of them are tokens).
        cjk_alphabet: CJK characters among them.
        vocab_size: Tokens written, reserved ones included.
        learn_seconds: Run time of tensorflow-text's learner alone.
    """

    lines: int = 0
    words: int = 0
    distinct_words: int = 0
    characters: int = 0
    alphabet: int = 0
    cjk_alphabet: int = 0
    vocab_size: int = 0
    learn_seconds: float = 0.0


def read_lines(path: str) -> Iterable[str]:
    """Yields the lines of a UTF-8 text file.

    Raises:
        ValueError: Naming the file and line, if a line is not UTF-8.
    """
    import tensorflow as tf  # For gs:// and other remote paths, as every script reads.

    with tf.io.gfile.GFile(path, "rb") as reader:
        for number, raw in enumerate(reader, 1):
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise ValueError(
                    f"{path}:{number}: not UTF-8 text (byte {e.start}: {raw[e.start : e.start + 4]!r}); "
                    "convert the corpus to UTF-8 first"
                ) from None


def count_words(
    lines: Iterable[str], do_lower_case: bool, summary: VocabularySummary | None = None
) -> collections.Counter:
    """Counts the words `BasicTokenizer(do_lower_case)` makes of `lines`."""
    basic = tokenization.BasicTokenizer(do_lower_case=do_lower_case)
    counts: collections.Counter = collections.Counter()
    number = 0
    for number, line in enumerate(lines, 1):
        counts.update(basic.tokenize(line))
    if summary is not None:
        summary.lines += number
    return counts


def _single_character_word(char: str) -> bool:
    """Whether `BasicTokenizer` always makes `char` a word of its own (so never a `##` piece)."""
    return tokenization._is_cjk_code_point(ord(char)) or tokenization._is_punctuation(char)


def learn_vocabulary(
    word_counts: collections.Counter,
    vocab_size: int,
    min_char_count: int = 1,
    lower_thresh: int = 10,
    num_iterations: int = 4,
    max_token_length: int = 50,
    summary: VocabularySummary | None = None,
) -> list[str]:
    """Learns the vocabulary (see the module docstring).

    Args:
        word_counts: Word -> count, from `count_words`.
        vocab_size: Tokens wanted, the 104 reserved ones included; the result has at most about
            this many (tensorflow-text's learner aims within 5% below it).
        min_char_count: Least occurrences for a character to be in the alphabet.
        lower_thresh: The learner's lowest count threshold for a multi-character piece.
        num_iterations: The learner's refinement passes.
        max_token_length: Longest word the learner looks at (longer ones are left out).
        summary: Filled in when given.

    Returns:
        The tokens, in id order.

    Raises:
        ValueError: If there are no words, or the alphabet alone exceeds `vocab_size`.
    """
    from tensorflow_text.tools.wordpiece_vocab import wordpiece_tokenizer_learner_lib as learner

    summary = summary if summary is not None else VocabularySummary()
    if not word_counts:
        raise ValueError("the corpus has no words: nothing to learn a vocabulary from")
    char_counts: collections.Counter = collections.Counter()
    for word, count in word_counts.items():
        if len(word) <= max_token_length:
            for char in word:
                char_counts[char] += count
    alphabet = [char for char, count in char_counts.items() if count >= min_char_count]
    # The learner adds "##" + every character of the alphabet; those FullTokenizer cannot
    # produce are dropped afterwards, so the learner is asked for that many more tokens.
    unreachable = sum(map(_single_character_word, alphabet))
    summary.words = sum(word_counts.values())
    summary.distinct_words = len(word_counts)
    summary.characters = len(char_counts)
    summary.alphabet = len(alphabet)
    summary.cjk_alphabet = sum(tokenization._is_cjk_code_point(ord(c)) for c in alphabet)
    least = len(RESERVED_TOKENS) + 2 * len(alphabet) - unreachable
    if least > vocab_size:
        raise ValueError(
            f"--vocab_size={vocab_size} cannot hold the {len(alphabet)} characters seen at "
            f"least --min_char_count={min_char_count} times (with their ## forms and the "
            f"reserved tokens that is {least}): raise --vocab_size or --min_char_count"
        )
    start = time.monotonic()
    learned = learner.learn(
        word_counts,
        vocab_size + unreachable,
        list(RESERVED_TOKENS),
        lower_thresh=lower_thresh,
        num_iterations=num_iterations,
        max_input_tokens=-1,
        max_token_length=max_token_length,
        max_unique_chars=len(alphabet),
    )
    summary.learn_seconds = time.monotonic() - start
    reserved = set(RESERVED_TOKENS)
    tokens = [
        token
        for token in learned
        if token not in reserved
        and not (len(token) == 3 and token.startswith("##") and _single_character_word(token[2]))
    ]
    # The learner keeps only the characters of the words it learns from; one of the alphabet
    # seen only in words holding a rarer character is added here (with its ## form).
    known = set(tokens)
    for char in sorted(alphabet):
        forms = [char] if _single_character_word(char) else [char, "##" + char]
        tokens += [form for form in forms if form not in known]
    vocab = list(RESERVED_TOKENS) + tokens
    summary.vocab_size = len(vocab)
    return vocab


def build_vocab(
    input_files: Sequence[str],
    vocab_file: str,
    vocab_size: int,
    do_lower_case: bool,
    **learn_settings,
) -> VocabularySummary:
    """Reads the corpus, learns the vocabulary and writes it, one token a line.

    The file is written only once the vocabulary is complete (under a temporary name, renamed).

    Args:
        input_files: UTF-8 text files.
        vocab_file: The `vocab.txt` to write.
        vocab_size: Tokens wanted (see `learn_vocabulary`).
        do_lower_case: Lower-case and strip accents, as the model's tokenizer will.
        **learn_settings: Further `learn_vocabulary` arguments.

    Returns:
        What was read and made.

    Raises:
        ValueError: If a file is not UTF-8, the corpus has no words, or the settings cannot work.
    """
    from bert_tf.files import atomic_open

    summary = VocabularySummary()
    counts: collections.Counter = collections.Counter()
    start = time.monotonic()
    for path in input_files:
        counts.update(count_words(read_lines(path), do_lower_case, summary))
    if not counts:
        raise ValueError(
            f"no words in {', '.join(input_files)}: the corpus is empty or only whitespace"
        )
    logging.info(
        "Read %d lines in %.1f s: %d words, %d distinct",
        summary.lines,
        time.monotonic() - start,
        sum(counts.values()),
        len(counts),
    )
    vocab = learn_vocabulary(counts, vocab_size, summary=summary, **learn_settings)
    with atomic_open(vocab_file, "w") as writer:
        writer.write("".join(token + "\n" for token in vocab))
    logging.info(
        "Learned %d tokens in %.1f s (alphabet of %d characters, %d of them CJK, out of %d "
        "distinct); wrote %s",
        summary.vocab_size,
        summary.learn_seconds,
        summary.alphabet,
        summary.cjk_alphabet,
        summary.characters,
        vocab_file,
    )
    return summary
