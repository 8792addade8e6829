"""Pure-Python WordPiece tokenization with the behaviour of Google's BERT release.

This module is the reference implementation of the project: it keeps the public names of
``tokenization.py`` from github.com/google-research/bert and reproduces its output token for
token (see ``tests/test_tokenization.py``). The in-graph tokenizer in ``bert_tf.text_graph``
derives its character tables from the predicates defined here, so both agree by construction.

The pipeline of :class:`FullTokenizer` is:

1. :class:`BasicTokenizer`: decode to ``str``; delete NUL, U+FFFD and control/format characters
   (categories Cc and Cf, except tab, newline and carriage return, which count as whitespace);
   turn whitespace into spaces; surround CJK ideographs with spaces; split on whitespace; when
   lower-casing, apply ``str.lower`` to every word, decompose it (NFD) and drop non-spacing marks
   (category Mn); make every punctuation character a word of its own.
2. :class:`WordpieceTokenizer`: greedy longest-match-first split of every word into vocabulary
   pieces, continuation pieces carrying a ``##`` prefix; a word that cannot be covered, or that
   has more than ``max_input_chars_per_word`` characters, becomes the unknown token.
"""

from __future__ import annotations

import collections
import itertools
import os
import re
import unicodedata
from typing import Dict, Hashable, Iterable, List, Mapping, Optional, TypeVar, Union

__all__ = [
    "BasicTokenizer",
    "FullTokenizer",
    "WordpieceTokenizer",
    "convert_by_vocab",
    "convert_ids_to_tokens",
    "convert_to_unicode",
    "convert_tokens_to_ids",
    "load_vocab",
    "printable_text",
    "validate_case_matches_checkpoint",
    "whitespace_tokenize",
]

TextLike = Union[str, bytes]
PathLike = Union[str, "os.PathLike[str]"]
_K = TypeVar("_K", bound=Hashable)
_V = TypeVar("_V")

# Google's released checkpoints and the casing each was pre-trained with. Only these names are
# checked; any other folder name is accepted as it is.
_UNCASED_CHECKPOINTS = frozenset(
    {
        "uncased_L-24_H-1024_A-16",
        "uncased_L-12_H-768_A-12",
        "multilingual_L-12_H-768_A-12",
        "chinese_L-12_H-768_A-12",
    }
)
_CASED_CHECKPOINTS = frozenset(
    {
        "cased_L-12_H-768_A-12",
        "cased_L-24_H-1024_A-16",
        "multi_cased_L-12_H-768_A-12",
    }
)
# Captures the folder that holds `bert_model.ckpt` (the released layout).
_CHECKPOINT_FOLDER = re.compile(r"^.*?([A-Za-z0-9_-]+)/bert_model.ckpt")

# Inclusive code point ranges that the original treats as CJK ideographs. Hangul, Hiragana and
# Katakana are written with spaces between words and are deliberately not listed.
CJK_RANGES = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B820, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)
# Inclusive ASCII ranges that count as punctuation although some of them (such as "$", "^" and
# "`") are symbols rather than punctuation in Unicode.
ASCII_PUNCTUATION_RANGES = ((33, 47), (58, 64), (91, 96), (123, 126))


def validate_case_matches_checkpoint(do_lower_case: bool, init_checkpoint: Optional[str]) -> None:
    """Checks that `do_lower_case` fits the casing of a released Google checkpoint.

    The casing of a checkpoint is not stored in its `bert_config.json`, so it is guessed from the
    name of the folder holding `bert_model.ckpt`, as the original release does. Unknown names,
    paths without `/bert_model.ckpt` and an empty checkpoint pass silently.

    Args:
        do_lower_case: Whether the caller lower-cases its input.
        init_checkpoint: Path of the checkpoint to start from, e.g.
            `gs://bucket/uncased_L-12_H-768_A-12/bert_model.ckpt`, or None/empty.

    Raises:
        ValueError: If the folder name is a known cased model and `do_lower_case` is true, or a
            known uncased model and `do_lower_case` is false.
    """
    found = _CHECKPOINT_FOLDER.match(init_checkpoint) if init_checkpoint else None
    if found is None:
        return
    model_name = found.group(1)
    if model_name in _UNCASED_CHECKPOINTS and not do_lower_case:
        given, kind, wanted = "False", "lowercased", "True"
    elif model_name in _CASED_CHECKPOINTS and do_lower_case:
        given, kind, wanted = "True", "cased", "False"
    else:
        return
    raise ValueError(
        f"You passed `--do_lower_case={given}` with `--init_checkpoint={init_checkpoint}`, but "
        f"`{model_name}` is a {kind} model: pass `--do_lower_case={wanted}` so that fine-tuning "
        "sees text cased the way the model saw it in pre-training. If the checkpoint was renamed "
        "and this guess is wrong, move it to a folder with another name."
    )


def convert_to_unicode(text: TextLike) -> str:
    """Returns `text` as `str`, decoding `bytes` as UTF-8 and dropping invalid bytes.

    Args:
        text: A `str` (returned unchanged) or UTF-8 `bytes`.

    Returns:
        The text as a Python `str`.

    Raises:
        ValueError: If `text` is neither `str` nor `bytes`.
    """
    if isinstance(text, bytes):
        return text.decode("utf-8", errors="ignore")
    if isinstance(text, str):
        return text
    raise ValueError(f"Expected text as str or UTF-8 bytes, got an object of type {type(text)}.")


def printable_text(text: TextLike) -> str:
    """Returns `text` as a `str` fit for printing or logging.

    Kept for compatibility with the original API; on Python 3 it is `convert_to_unicode`.

    Args:
        text: A `str` or UTF-8 `bytes`.

    Returns:
        The text as a Python `str`.

    Raises:
        ValueError: If `text` is neither `str` nor `bytes`.
    """
    return convert_to_unicode(text)


def _open_binary(path: str):
    """Opens a local path, or a `gs://`-style path through `tf.io.gfile`, for binary reading."""
    if "://" in path:
        import tensorflow as tf  # Only needed for remote file systems.

        return tf.io.gfile.GFile(path, "rb")
    return open(path, "rb")


def load_vocab(vocab_file: PathLike) -> "collections.OrderedDict[str, int]":
    """Reads a WordPiece vocabulary, one token per line, into an ordered token -> id map.

    Like the original, every line (blank ones included) takes the next id, the token is the line
    with surrounding whitespace stripped, and a token seen twice keeps the id of its last line.

    Args:
        vocab_file: Path of the vocabulary text file (UTF-8). Paths with a scheme such as
            `gs://` are read through `tf.io.gfile`.

    Returns:
        An `OrderedDict` from token to integer id, in file order.

    Raises:
        FileNotFoundError: If `vocab_file` does not exist.
        ValueError: If `vocab_file` is empty.
    """
    path = os.fspath(vocab_file)
    if "://" not in path and not os.path.isfile(path):
        raise FileNotFoundError(
            f"Vocabulary file {path!r} does not exist (or is not a file); pass the vocab.txt "
            "that was released with the checkpoint."
        )
    token_to_id: "collections.OrderedDict[str, int]" = collections.OrderedDict()
    line_number = 0
    with _open_binary(path) as reader:
        # `readline` on a binary file splits on b"\n" only, as TensorFlow's GFile does.
        for raw_line in iter(reader.readline, b""):
            token_to_id[convert_to_unicode(raw_line).strip()] = line_number
            line_number += 1
    if line_number == 0:
        raise ValueError(
            f"Vocabulary file {path!r} is empty; expected one WordPiece token per line."
        )
    return token_to_id


def convert_by_vocab(vocab: Mapping[_K, _V], items: Iterable[_K]) -> List[_V]:
    """Maps every item through `vocab` (tokens to ids, or ids to tokens).

    Args:
        vocab: The mapping to apply.
        items: The tokens or ids to convert.

    Returns:
        The converted items, in order.

    Raises:
        KeyError: If an item is missing from `vocab`; the message names the item and position.
    """
    converted = []
    for position, item in enumerate(items):
        try:
            converted.append(vocab[item])
        except KeyError:
            raise KeyError(
                f"Item {item!r} at position {position} is not in the vocabulary "
                f"({len(vocab)} entries)."
            ) from None
    return converted


def convert_tokens_to_ids(vocab: Mapping[str, int], tokens: Iterable[str]) -> List[int]:
    """Returns the ids of `tokens` under `vocab` (see `convert_by_vocab`)."""
    return convert_by_vocab(vocab=vocab, items=tokens)


def convert_ids_to_tokens(inv_vocab: Mapping[int, str], ids: Iterable[int]) -> List[str]:
    """Returns the tokens of `ids` under the inverse vocabulary (see `convert_by_vocab`)."""
    return convert_by_vocab(vocab=inv_vocab, items=ids)


def whitespace_tokenize(text: str) -> List[str]:
    """Splits `text` on runs of whitespace (Python's `str.split()`), dropping empty pieces.

    Args:
        text: The text to split.

    Returns:
        The non-empty pieces.
    """
    return text.split()


class FullTokenizer:
    """Basic tokenization followed by WordPiece, end to end.

    Attributes:
        vocab: Ordered map from token to id.
        inv_vocab: Map from id back to token.
        basic_tokenizer: The `BasicTokenizer` used.
        wordpiece_tokenizer: The `WordpieceTokenizer` used.
    """

    def __init__(self, vocab_file: PathLike, do_lower_case: bool = True) -> None:
        """Loads the vocabulary and builds both stages.

        Args:
            vocab_file: Path of the WordPiece vocabulary (one token per line).
            do_lower_case: Whether to lower-case and strip accents (uncased models).

        Raises:
            FileNotFoundError: If `vocab_file` does not exist.
            ValueError: If `vocab_file` is empty.
        """
        vocab = load_vocab(vocab_file)
        self.vocab: "collections.OrderedDict[str, int]" = vocab
        self.inv_vocab: Dict[int, str] = {index: token for token, index in vocab.items()}
        self.basic_tokenizer = BasicTokenizer(do_lower_case)
        self.wordpiece_tokenizer = WordpieceTokenizer(vocab)

    def tokenize(self, text: TextLike) -> List[str]:
        """Splits `text` into WordPiece tokens.

        Args:
            text: A `str` or UTF-8 `bytes` (invalid bytes are dropped).

        Returns:
            The WordPiece tokens, e.g. `["un", "##want", "##ed", ",", "running"]`.
        """
        pieces: List[str] = []
        for word in self.basic_tokenizer.tokenize(text):
            pieces.extend(self.wordpiece_tokenizer.tokenize(word))
        return pieces

    def convert_tokens_to_ids(self, tokens: Iterable[str]) -> List[int]:
        """Returns the vocabulary ids of `tokens`.

        Raises:
            KeyError: If a token is not in the vocabulary.
        """
        return convert_by_vocab(vocab=self.vocab, items=tokens)

    def convert_ids_to_tokens(self, ids: Iterable[int]) -> List[str]:
        """Returns the tokens of vocabulary ids `ids`.

        Raises:
            KeyError: If an id is not in the vocabulary.
        """
        return convert_by_vocab(vocab=self.inv_vocab, items=ids)


class BasicTokenizer:
    """Cleans text and splits it into words and punctuation, optionally lower-casing it."""

    def __init__(self, do_lower_case: bool = True) -> None:
        """Builds the tokenizer.

        Args:
            do_lower_case: Whether to lower-case words and strip their accents.
        """
        self.do_lower_case = bool(do_lower_case)

    def tokenize(self, text: TextLike) -> List[str]:
        """Splits `text` into words and single punctuation characters.

        Args:
            text: A `str` or UTF-8 `bytes`.

        Returns:
            The words, lower-cased and without accents when `do_lower_case` is true.
        """
        cleaned = self._tokenize_chinese_chars(self._clean_text(convert_to_unicode(text)))
        pieces: List[str] = []
        for word in whitespace_tokenize(cleaned):
            # Lower-casing a whole word lets `str.lower` apply the Greek final-sigma rule.
            normalized = self._run_strip_accents(word.lower()) if self.do_lower_case else word
            pieces.extend(self._run_split_on_punc(normalized))
        # Splitting again drops the empty strings and any whitespace the steps above produced.
        return whitespace_tokenize(" ".join(pieces))

    def _run_strip_accents(self, text: str) -> str:
        """Decomposes `text` (NFD) and removes its non-spacing marks (category Mn)."""
        decomposed = unicodedata.normalize("NFD", text)
        return "".join(char for char in decomposed if unicodedata.category(char) != "Mn")

    def _run_split_on_punc(self, text: str) -> List[str]:
        """Splits `text` so that every punctuation character is a piece of its own."""
        pieces: List[str] = []
        for punctuation, run in itertools.groupby(text, key=_is_punctuation):
            if punctuation:
                pieces.extend(run)  # one piece per punctuation character
            else:
                pieces.append("".join(run))
        return pieces

    def _tokenize_chinese_chars(self, text: str) -> str:
        """Puts a space on both sides of every CJK ideograph in `text`."""
        return "".join(f" {char} " if self._is_chinese_char(ord(char)) else char for char in text)

    def _is_chinese_char(self, cp: int) -> bool:
        """Returns whether code point `cp` is in one of the CJK ideograph blocks."""
        return _is_cjk_code_point(cp)

    def _clean_text(self, text: str) -> str:
        """Deletes invalid and control characters and turns whitespace into plain spaces."""
        return "".join(map(_clean_char, text))


class WordpieceTokenizer:
    """Greedy longest-match-first WordPiece tokenization against a fixed vocabulary."""

    def __init__(
        self,
        vocab: Mapping[str, int],
        unk_token: str = "[UNK]",
        max_input_chars_per_word: int = 200,
    ) -> None:
        """Builds the tokenizer.

        Args:
            vocab: The vocabulary; only membership of tokens is used.
            unk_token: Token emitted for a word that cannot be split into vocabulary pieces.
            max_input_chars_per_word: Words with more characters than this become `unk_token`.
        """
        self.vocab: Mapping[str, int] = vocab
        self.unk_token: str = unk_token
        self.max_input_chars_per_word: int = max_input_chars_per_word

    def tokenize(self, text: TextLike) -> List[str]:
        """Splits already basic-tokenized text into WordPiece tokens.

        Every whitespace-separated word is covered from the left by the longest vocabulary piece
        that fits; pieces after the first carry the `##` prefix. For example, with a vocabulary
        holding `un`, `##aff` and `##able`, `"unaffable"` gives `["un", "##aff", "##able"]`.

        Args:
            text: One word, or words separated by whitespace, as produced by `BasicTokenizer`.

        Returns:
            The WordPiece tokens.
        """
        tokens: List[str] = []
        for word in whitespace_tokenize(convert_to_unicode(text)):
            tokens.extend(self._split_word(word))
        return tokens

    def _split_word(self, word: str) -> List[str]:
        """Returns the pieces of one word, or `[unk_token]` when it cannot be covered."""
        if len(word) > self.max_input_chars_per_word:
            return [self.unk_token]
        pieces: List[str] = []
        covered = 0
        while covered < len(word):
            piece = self._longest_piece(word, covered)
            if piece is None:
                return [self.unk_token]
            pieces.append(piece)
            covered += len(piece) - (2 if covered else 0)  # continuation pieces carry "##"
        return pieces

    def _longest_piece(self, word: str, begin: int) -> Optional[str]:
        """Returns the longest vocabulary piece for `word[begin:end]` over all ends, if any."""
        prefix = "##" if begin else ""
        for end in range(len(word), begin, -1):
            piece = prefix + word[begin:end]
            if piece in self.vocab:
                return piece
        return None


def _is_cjk_code_point(cp: int) -> bool:
    """Returns whether `cp` lies in one of `CJK_RANGES`."""
    # Everything below U+3400 (the common case) is answered without scanning the ranges.
    return cp >= 0x3400 and any(first <= cp <= last for first, last in CJK_RANGES)


_ASCII_PUNCTUATION = frozenset(
    chr(cp) for first, last in ASCII_PUNCTUATION_RANGES for cp in range(first, last + 1)
)
_SPACE_CHARS = frozenset(" \t\n\r")
_ALWAYS_REMOVED = frozenset("\x00\ufffd")


def _clean_char(char: str) -> str:
    """Returns what text cleaning makes of one character.

    Returns:
        `""` when the character is deleted (NUL, U+FFFD, or a control/format character other than
        tab, newline and carriage return), `" "` when it is whitespace, else the character.
    """
    if "!" <= char <= "~":  # Printable ASCII, by far the most frequent case.
        return char
    if char in _SPACE_CHARS:
        return " "
    category = unicodedata.category(char)
    if category == "Zs":
        return " "
    if category in ("Cc", "Cf") or char in _ALWAYS_REMOVED:
        return ""
    return char


def _is_removed_when_cleaning(char: str) -> bool:
    """Returns whether text cleaning deletes `char` (NUL, U+FFFD or a control character)."""
    return _clean_char(char) == ""


def _is_whitespace(char: str) -> bool:
    """Returns whether `char` is whitespace: space, tab, newline, return or category Zs."""
    return char in _SPACE_CHARS or unicodedata.category(char) == "Zs"


def _is_control(char: str) -> bool:
    """Returns whether `char` is a control or format character (Cc, Cf) other than tab/CR/LF."""
    return char not in _SPACE_CHARS and unicodedata.category(char) in ("Cc", "Cf")


def _is_punctuation(char: str) -> bool:
    """Returns whether `char` is punctuation: non-alphanumeric ASCII or a Unicode P* category."""
    if char < "\x80":
        return char in _ASCII_PUNCTUATION
    return unicodedata.category(char).startswith("P")
