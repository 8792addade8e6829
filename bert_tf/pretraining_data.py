"""Masked-LM and next-sentence training records, made as Google's `create_pretraining_data.py`.

Input format (Google's): plain text, one sentence per line, a blank line between documents.
Sentence boundaries decide where the two segments of an instance are cut, and document
boundaries keep the "actual next" segment inside one document.

With one worker (the default) the output is record for record the original program's for the
same input, flags and seed: the same `random.Random(seed)` stream is drawn in the same order —

1. read every file as one stream of lines (a document may run on from one file into the next),
   tokenize each stripped line, drop empty documents, shuffle the documents;
2. `dupe_factor` times, for every document in turn, cut it into instances
   (:func:`document_to_instances`) and mask each (:func:`create_masked_lm_predictions`);
3. shuffle all instances and write them round-robin over the output files.

What is faster than the original (the records stay the same): tokenization memoizes the
WordPieces of every distinct word (:class:`CachedTokenizer`), the whole-word-mask flag is a
plain argument instead of a flag lookup per token, shuffles draw the same random numbers with
less interpreter overhead, pair truncation removes tokens in one slice, and records are encoded
without building protocol-buffer objects (:class:`InstanceEncoder`). Records are written with
their features in sorted order, so that reruns give identical files (protocol buffers order them
differently in every process, so the original's files differ from run to run in byte order,
never in content).

Worker processes are started with the "spawn" method and do not import TensorFlow (only the
parent writes the TFRecord files); they do not re-run the caller's main script either, so a
script calling :func:`create_pretraining_data` needs no `if __name__ == "__main__"` guard for
them.

With `num_workers=N > 1` the input is cut into N shards of about equal size, only after a
blank line (or at a file's end), and each shard is turned into instances by its own process with
`random.Random(random_seed + shard_index)`. A shard only sees its own documents: random next
segments come from the same shard, and its instances are shuffled among themselves. The parent
then interleaves the shards' instances (one from shard 0, one from shard 1, ...) and writes them
round-robin over the output files. The output is reproducible for a given N and seed but differs
from N=1's; each process holds one shard, not the whole corpus.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import datetime
import itertools
import multiprocessing
import os
import random
import re
import shutil
import struct
import sys
import tempfile
import time
import types
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import NamedTuple, Optional, Union

from absl import logging

from bert_tf import tokenization
from bert_tf import records
from bert_tf import word_segmentation
from bert_tf.records import PRETRAINING_FEATURES

CLS = "[CLS]"
SEP = "[SEP]"
MASK = "[MASK]"
UNK = "[UNK]"
SPECIAL_TOKENS = (CLS, SEP, MASK, UNK)

# A document is a list of sentences; a sentence is a list of WordPiece tokens.
Document = list[list[str]]
# Either tokenizer gives the same tokens; the cached one is faster.
TokenizerLike = Union["tokenization.FullTokenizer", "CachedTokenizer"]


# ----------------------------------------------------------------------------------------------
# Settings and statistics
# ----------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PretrainingDataConfig:
    """Settings of a run; the defaults are those of Google's script.

    Attributes:
        vocab_file: WordPiece vocabulary the model is trained with.
        do_lower_case: Lower-case the text (uncased models).
        do_whole_word_mask: Mask all WordPieces of a word together.
        max_seq_length: Tokens per instance, [CLS] and both [SEP] included.
        max_predictions_per_seq: Most masked positions per instance.
        random_seed: Seed of the random stream (of shard 0 when sharded).
        dupe_factor: Passes over the corpus, each with new cuts and masks.
        masked_lm_prob: Share of an instance's tokens that is masked.
        short_seq_prob: Probability of aiming at a shorter instance.
        chinese_word_segmenter: Where Chinese word boundaries come from for whole word
            masking: "none" (the original: every CJK character alone), "jieba" or "spaces"
            (see `bert_tf.word_segmentation`).
    """

    vocab_file: str
    do_lower_case: bool = True
    do_whole_word_mask: bool = False
    max_seq_length: int = 128
    max_predictions_per_seq: int = 20
    random_seed: int = 12345
    dupe_factor: int = 10
    masked_lm_prob: float = 0.15
    short_seq_prob: float = 0.1
    chinese_word_segmenter: str = "none"

    def validate(self) -> None:
        """Raises ValueError naming the flag when a setting cannot work."""
        if self.max_seq_length < 5:
            raise ValueError(
                f"--max_seq_length={self.max_seq_length} is too small: an instance needs [CLS], "
                "two [SEP] and at least one token in each segment (use 5 or more)"
            )
        if self.max_predictions_per_seq < 1:
            raise ValueError(
                f"--max_predictions_per_seq={self.max_predictions_per_seq}: must be at least 1"
            )
        if self.dupe_factor < 1:
            raise ValueError(f"--dupe_factor={self.dupe_factor}: must be at least 1")
        for name in ("masked_lm_prob", "short_seq_prob"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"--{name}={value}: must be a probability in [0, 1]")
        if self.chinese_word_segmenter not in word_segmentation.SEGMENTERS:
            raise ValueError(
                f"--chinese_word_segmenter={self.chinese_word_segmenter}: expected one of "
                f"{', '.join(word_segmentation.SEGMENTERS)}"
            )
        if self.chinese_word_segmenter != "none" and not self.do_whole_word_mask:
            raise ValueError(
                f"--chinese_word_segmenter={self.chinese_word_segmenter} only serves whole word "
                "masking: add --do_whole_word_mask=True (or leave the segmenter at none)"
            )


@dataclasses.dataclass
class CorpusStats:
    """What was read, what was skipped and what was made (summed over shards).

    Attributes:
        lines: Lines read.
        bytes: Bytes read.
        sentences: Lines that gave at least one token.
        tokens: WordPiece tokens in those sentences.
        documents: Non-empty documents kept.
        one_sentence_documents: Kept documents of a single sentence (their instances always take
            a random next segment).
        empty_documents: Documents with text lines but no token at all (dropped).
        lines_without_tokens: Non-blank lines that gave no token, e.g. only control characters.
        invalid_utf8_lines: Lines with bytes that are not UTF-8 (those bytes were dropped).
        invalid_utf8_where: Where the first few such lines are.
        long_sentences: Sentences longer than `max_seq_length - 3` tokens (truncated when used).
        instances: Training instances made.
        cjk_characters: CJK characters seen by a Chinese word segmenter.
        chinese_words: Words of two or more CJK characters it found (masked as one).
    """

    lines: int = 0
    bytes: int = 0
    sentences: int = 0
    tokens: int = 0
    documents: int = 0
    one_sentence_documents: int = 0
    empty_documents: int = 0
    lines_without_tokens: int = 0
    invalid_utf8_lines: int = 0
    invalid_utf8_where: list[str] = dataclasses.field(default_factory=list)
    long_sentences: int = 0
    instances: int = 0
    cjk_characters: int = 0
    chinese_words: int = 0

    MAX_WHERE = 5

    def add(self, other: "CorpusStats") -> None:
        """Adds the counts of `other` (another shard) to these."""
        for field in dataclasses.fields(self):
            if field.name == "invalid_utf8_where":
                room = self.MAX_WHERE - len(self.invalid_utf8_where)
                self.invalid_utf8_where.extend(other.invalid_utf8_where[:room])
            else:
                setattr(self, field.name, getattr(self, field.name) + getattr(other, field.name))

    def log_summary(self, max_seq_length: int) -> None:
        """Logs what was read and everything that was skipped or altered."""
        logging.info(
            "Read %d lines (%.1f MB): %d sentences, %d tokens, %d documents "
            "(%d of a single sentence)",
            self.lines,
            self.bytes / 1e6,
            self.sentences,
            self.tokens,
            self.documents,
            self.one_sentence_documents,
        )
        if self.empty_documents:
            logging.warning("Skipped %d documents that gave no token", self.empty_documents)
        if self.lines_without_tokens:
            logging.warning(
                "Skipped %d non-blank lines that gave no token (e.g. only control characters)",
                self.lines_without_tokens,
            )
        if self.invalid_utf8_lines:
            logging.warning(
                "%d lines held bytes that are not UTF-8; those bytes were dropped (first at: %s)",
                self.invalid_utf8_lines,
                "; ".join(self.invalid_utf8_where),
            )
        if self.chinese_words:
            logging.info(
                "Chinese word segmentation: %d CJK characters, %d words of two or more "
                "characters (each masked as a whole)",
                self.cjk_characters,
                self.chinese_words,
            )
        if self.long_sentences:
            logging.warning(
                "%d sentences are longer than max_seq_length - 3 = %d tokens; instances that "
                "use them are truncated",
                self.long_sentences,
                max_seq_length - 3,
            )


@dataclasses.dataclass
class RunSummary:
    """Result of :func:`create_pretraining_data`.

    Attributes:
        stats: Corpus statistics summed over shards.
        output_files: Files written.
        counts: Records written to each output file.
        num_workers: Processes used.
        seconds: Wall time of the whole run.
    """

    stats: CorpusStats
    output_files: list[str]
    counts: list[int]
    num_workers: int
    seconds: float

    @property
    def instances(self) -> int:
        """Records written in all."""
        return sum(self.counts)


class _Progress:
    """Logs at most one progress line per `interval` seconds: done, rate and time left."""

    def __init__(self, prefix: str = "", interval: float = 30.0) -> None:
        self.prefix = prefix
        self.interval = interval
        self._stage_start = time.monotonic()
        self._last = self._stage_start

    def begin(self) -> None:
        self._stage_start = self._last = time.monotonic()

    def due(self) -> bool:
        return time.monotonic() - self._last >= self.interval

    def finish(self, what: str) -> None:
        """Logs that a stage is over and how long it took."""
        logging.info("%s%s in %.1f s", self.prefix, what, time.monotonic() - self._stage_start)

    def report(self, what: str, done: float, total: float, rate_of: float, unit: str) -> None:
        """Logs `what` with the share done, `rate_of` per second and an ETA from `done/total`."""
        now = time.monotonic()
        self._last = now
        elapsed = max(now - self._stage_start, 1e-9)
        share = done / total if total else 1.0
        left = elapsed * (1.0 - share) / share if share > 0 else float("nan")
        eta = str(datetime.timedelta(seconds=round(left))) if left == left else "?"
        logging.info(
            "%s%s: %.0f%%, %.0f %s/s, ETA %s",
            self.prefix,
            what,
            100.0 * share,
            rate_of / elapsed,
            unit,
            eta,
        )


# ----------------------------------------------------------------------------------------------
# Tokenization
# ----------------------------------------------------------------------------------------------


class _CharacterMap(dict):
    """`str.translate` table doing BasicTokenizer's per-character work, filled in lazily.

    Each character maps to what cleaning and CJK spacing make of it: nothing (NUL, U+FFFD,
    control and format characters), a space (whitespace), the ideograph between spaces, or
    itself.
    """

    def __init__(self, basic: tokenization.BasicTokenizer) -> None:
        super().__init__()
        self._basic = basic

    def __missing__(self, code_point: int) -> str:
        character = chr(code_point)
        value = self._basic._tokenize_chinese_chars(self._basic._clean_text(character))
        self[code_point] = value
        return value


def _ascii_punctuation_splitter() -> "re.Pattern[str]":
    """Regex splitting ASCII text as `BasicTokenizer._run_split_on_punc` does."""
    ranges = "".join(
        re.escape(chr(first)) + "-" + re.escape(chr(last))
        for first, last in tokenization.ASCII_PUNCTUATION_RANGES
    )
    return re.compile(f"[{ranges}]|[^{ranges}]+")


class CachedTokenizer:
    """A `FullTokenizer` that memoizes the WordPieces of every distinct word.

    `tokenize` gives exactly `FullTokenizer.tokenize`'s output. The line-level steps of the
    basic tokenizer (deleting control characters, turning whitespace into spaces, spacing CJK
    ideographs, splitting on whitespace) act on each character alone, so they run as one
    `str.translate`. Every resulting word always gives the same pieces (lower-casing, accent
    stripping, punctuation splitting and WordPiece only look inside the word), so those are
    computed once per distinct word, and WordPiece once per distinct piece. ASCII words skip
    accent stripping (a no-op for them) and split on punctuation with a regular expression built
    from `tokenization.ASCII_PUNCTUATION_RANGES`.

    Attributes:
        tokenizer: The wrapped `FullTokenizer`.
        vocab: Its token -> id map.
        inv_vocab: Its id -> token map.
    """

    def __init__(self, tokenizer: tokenization.FullTokenizer, max_cached_words: int = 1 << 20):
        """Wraps `tokenizer`.

        Args:
            tokenizer: The tokenizer to reproduce.
            max_cached_words: Distinct words (and pieces) remembered at most, to bound memory;
                further ones are tokenized every time they occur.
        """
        self.tokenizer = tokenizer
        self.vocab = tokenizer.vocab
        self.inv_vocab = tokenizer.inv_vocab
        self._basic = tokenizer.basic_tokenizer
        self._wordpiece = tokenizer.wordpiece_tokenizer
        self._characters = _CharacterMap(tokenizer.basic_tokenizer)
        self._split_ascii = _ascii_punctuation_splitter().findall
        self._words: dict[str, list[str]] = {}
        self._pieces: dict[str, list[str]] = {}
        self._max_cached = max_cached_words

    def tokenize(self, text: Union[str, bytes]) -> list[str]:
        """Splits `text` into WordPiece tokens, as `FullTokenizer.tokenize`."""
        words = tokenization.convert_to_unicode(text).translate(self._characters).split()
        known = self._words
        try:  # Fast path: every word seen before.
            return list(itertools.chain.from_iterable(map(known.__getitem__, words)))
        except KeyError:
            pass
        line_pieces: list[str] = []
        for word in words:
            pieces = known.get(word)
            if pieces is None:
                pieces = self._tokenize_word(word)
                if len(known) < self._max_cached:
                    known[word] = pieces
            line_pieces += pieces
        return line_pieces

    def _tokenize_word(self, word: str) -> list[str]:
        """WordPieces of one cleaned, whitespace-free word."""
        if self._basic.do_lower_case:
            word = word.lower()
            if not word.isascii():
                word = self._basic._run_strip_accents(word)
        if word.isascii():
            parts = self._split_ascii(word)
        else:
            parts = self._basic._run_split_on_punc(word)
        known = self._pieces
        word_pieces: list[str] = []
        for part in " ".join(parts).split():
            pieces = known.get(part)
            if pieces is None:
                pieces = self._wordpiece.tokenize(part)
                if len(known) < self._max_cached:
                    known[part] = pieces
            word_pieces += pieces
        return word_pieces

    def convert_tokens_to_ids(self, tokens: Iterable[str]) -> list[int]:
        """Returns the vocabulary ids of `tokens`."""
        return self.tokenizer.convert_tokens_to_ids(tokens)


def _continues_chinese_word(token: str) -> bool:
    """Whether `token` is a CJK character (or [UNK]) marked by `ChineseWordTokenizer`."""
    rest = token[2:]
    return token.startswith("##") and (
        rest == UNK or (len(rest) == 1 and tokenization._is_cjk_code_point(ord(rest)))
    )


class ChineseWordTokenizer(CachedTokenizer):
    """A `CachedTokenizer` that marks where Chinese words continue, for whole word masking.

    The tokens are `FullTokenizer`'s, except that every CJK character after the first of a word
    of two or more CJK characters (as the segmenter finds them in the line) carries a `##`
    prefix, so that whole word masking joins it to the character before, as it joins WordPieces.
    `FullTokenizer` never makes `##` + a CJK character (every CJK character is a word of its
    own), so the mark is unambiguous; `create_masked_lm_predictions` removes it again, and the
    records hold the plain character ids. Each line is segmented once, when it is read.

    Attributes:
        cjk_characters: CJK characters tokenized so far.
        chinese_words: Multi-character CJK words found so far.
    """

    def __init__(self, tokenizer: tokenization.FullTokenizer, segmenter: str) -> None:
        """Wraps `tokenizer`.

        Args:
            tokenizer: The tokenizer to reproduce.
            segmenter: "jieba" or "spaces" (see `bert_tf.word_segmentation`).

        Raises:
            ValueError: If the segmenter is unknown or jieba is not installed.
        """
        super().__init__(tokenizer)
        self._segment = word_segmentation.load_segmenter(segmenter)
        self.cjk_characters = 0
        self.chinese_words = 0

    def tokenize(self, text: Union[str, bytes]) -> list[str]:
        """`FullTokenizer.tokenize(text)` with word continuations marked (see the class)."""
        text = tokenization.convert_to_unicode(text)
        if not word_segmentation.CJK_CHARACTER.search(text):
            return super().tokenize(text)
        continues = word_segmentation.continuation_flags(self._segment(text))
        tokens: list[str] = []
        character = 0
        # CachedTokenizer spaces every CJK character off, so tokenizing the line piecewise at
        # CJK characters gives the same tokens as tokenizing it whole.
        for chunk in word_segmentation.CJK_OR_OTHER.findall(text):
            pieces = super().tokenize(chunk)
            if len(chunk) == 1 and word_segmentation.is_cjk_word(chunk):
                if character < len(continues) and continues[character]:
                    pieces = ["##" + piece for piece in pieces]
                character += 1
            tokens += pieces
        if character != len(continues):
            raise ValueError(
                f"the word segmenter changed the CJK characters of this line: {text[:80]!r}"
            )
        self.cjk_characters += character
        self.chinese_words += sum(1 for a, b in itertools.pairwise(continues) if b and not a)
        return tokens


def _as_cached(tokenizer: TokenizerLike) -> CachedTokenizer:
    return tokenizer if isinstance(tokenizer, CachedTokenizer) else CachedTokenizer(tokenizer)


def load_tokenizer(
    vocab_file: str, do_lower_case: bool, chinese_word_segmenter: str = "none"
) -> CachedTokenizer:
    """Loads the vocabulary and checks that it holds the special tokens instances use.

    Args:
        vocab_file: The WordPiece vocabulary.
        do_lower_case: Lower-case the text.
        chinese_word_segmenter: "none", or a segmenter whose Chinese words the tokens mark for
            whole word masking (a `ChineseWordTokenizer`).

    Raises:
        FileNotFoundError: If `vocab_file` does not exist.
        ValueError: If it is empty or lacks [CLS], [SEP], [MASK] or [UNK], or the segmenter
            cannot be loaded.
    """
    tokenizer = tokenization.FullTokenizer(vocab_file, do_lower_case=do_lower_case)
    missing = [token for token in SPECIAL_TOKENS if token not in tokenizer.vocab]
    if missing:
        raise ValueError(
            f"--vocab_file={vocab_file} lacks {', '.join(missing)}: is it a BERT WordPiece "
            "vocabulary (one token per line, with the special tokens)?"
        )
    if chinese_word_segmenter != "none":
        return ChineseWordTokenizer(tokenizer, chinese_word_segmenter)
    return CachedTokenizer(tokenizer)


# ----------------------------------------------------------------------------------------------
# Reading documents
# ----------------------------------------------------------------------------------------------


class Segment(NamedTuple):
    """Bytes `[start, end)` of a file (`end=None`: to the end); starts and ends at a line start."""

    path: str
    start: int = 0
    end: Optional[int] = None


def _open_binary(path: str):
    if "://" in path:
        from bert_tf.records import _tensorflow  # Remote file systems only.

        return _tensorflow().io.gfile.GFile(path, "rb")
    return open(path, "rb")


def _file_size(path: str) -> int:
    if "://" in path:
        from bert_tf.records import _tensorflow

        return _tensorflow().io.gfile.stat(path).length
    return os.path.getsize(path)


def _segment_lines(segment: Segment) -> Iterator[bytes]:
    """Yields the raw lines (split after b"\\n" only) of a segment."""
    with _open_binary(segment.path) as reader:
        if segment.start:
            reader.seek(segment.start)
        if segment.end is None:
            yield from reader
            return
        # The position, not the lengths of the lines read: GFile's lines lack their "\r" bytes.
        while reader.tell() < segment.end:
            raw = reader.readline()
            if not raw:
                return
            yield raw


def read_documents(
    sources: Sequence[Union[str, Segment]],
    tokenizer: TokenizerLike,
    stats: Optional[CorpusStats] = None,
    progress: Optional[_Progress] = None,
) -> list[Document]:
    """Reads documents: one sentence per line, blank lines between documents.

    As in the original, the files form one stream (a document may run on into the next file),
    every carriage return is deleted (TensorFlow's `GFile.readline` drops them), each line is
    stripped and tokenized, blank lines start a new document, lines without tokens are skipped
    and documents without any sentence are dropped. Bytes that are not UTF-8 are dropped (and
    counted) instead of stopping the run.

    Args:
        sources: Files or file segments, read in order.
        tokenizer: A `FullTokenizer` or `CachedTokenizer`.
        stats: Counts to add to.
        progress: Logs reading progress when given.

    Returns:
        The documents, in input order.
    """
    stats = stats if stats is not None else CorpusStats()
    cached = _as_cached(tokenizer)
    tokenize = cached.tokenize
    segments = [Segment(s) if isinstance(s, str) else s for s in sources]
    total_bytes = (
        sum((_file_size(s.path) if s.end is None else s.end) - s.start for s in segments) or 1
    )
    if progress is not None:
        progress.begin()

    documents: list[Document] = [[]]
    current_has_text = False
    done_bytes = 0
    for segment in segments:
        line_number = 0
        for raw in _segment_lines(segment):
            line_number += 1
            done_bytes += len(raw)
            if b"\r" in raw:
                raw = raw.replace(b"\r", b"")
            try:
                decoded = raw.decode("utf-8")
            except UnicodeDecodeError:
                decoded = raw.decode("utf-8", "ignore")
                _note_invalid_utf8(stats, segment, line_number)
            text = decoded.strip()
            if not text:
                if current_has_text and not documents[-1]:
                    stats.empty_documents += 1
                documents.append([])
                current_has_text = False
                continue
            current_has_text = True
            sentence = tokenize(text)
            if sentence:
                documents[-1].append(sentence)
            else:
                stats.lines_without_tokens += 1
            if progress is not None and not line_number % 1024 and progress.due():
                progress.report(
                    f"reading ({len(documents)} documents so far)",
                    done_bytes,
                    total_bytes,
                    stats.lines + line_number,
                    "lines",
                )
        stats.lines += line_number
    if current_has_text and not documents[-1]:
        stats.empty_documents += 1
    stats.bytes += done_bytes
    if isinstance(cached, ChineseWordTokenizer):
        stats.cjk_characters += cached.cjk_characters
        stats.chinese_words += cached.chinese_words
        cached.cjk_characters = cached.chinese_words = 0

    kept = [document for document in documents if document]
    stats.documents += len(kept)
    stats.one_sentence_documents += sum(1 for document in kept if len(document) == 1)
    stats.sentences += sum(len(document) for document in kept)
    stats.tokens += sum(len(sentence) for document in kept for sentence in document)
    if progress is not None:
        progress.finish(f"read {len(kept)} documents ({stats.lines} lines)")
    return kept


def _note_invalid_utf8(stats: CorpusStats, segment: Segment, line_number: int) -> None:
    stats.invalid_utf8_lines += 1
    if len(stats.invalid_utf8_where) < CorpusStats.MAX_WHERE:
        if segment.start == 0:
            where = f"{segment.path}:{line_number}"
        else:
            where = f"{segment.path}, line {line_number} after byte {segment.start}"
        stats.invalid_utf8_where.append(where)


# ----------------------------------------------------------------------------------------------
# Random draws
# ----------------------------------------------------------------------------------------------


def _shuffle_by_bits(items: list, getrandbits: Callable[[int], int]) -> None:
    """Fisher-Yates shuffle drawing exactly what CPython's `Random.shuffle` draws."""
    for last in range(len(items) - 1, 0, -1):
        bound = last + 1
        width = bound.bit_length()
        pick = getrandbits(width)
        while pick >= bound:
            pick = getrandbits(width)
        items[last], items[pick] = items[pick], items[last]


def _check_shuffle_by_bits() -> bool:
    """Whether `_shuffle_by_bits` reproduces this Python's `Random.shuffle` (checked once)."""
    reference, candidate = random.Random(2024), random.Random(2024)
    expected, got = list(range(257)), list(range(257))
    reference.shuffle(expected)
    _shuffle_by_bits(got, candidate.getrandbits)
    return expected == got and reference.random() == candidate.random()


_FAST_SHUFFLE_OK: Optional[bool] = None


def _shuffle(rng: random.Random, items: list) -> None:
    """`rng.shuffle(items)`, faster for plain `random.Random` objects; same permutation."""
    global _FAST_SHUFFLE_OK
    if type(rng) is random.Random:
        if _FAST_SHUFFLE_OK is None:
            _FAST_SHUFFLE_OK = _check_shuffle_by_bits()
        if _FAST_SHUFFLE_OK:
            _shuffle_by_bits(items, rng.getrandbits)
            return
    rng.shuffle(items)


# ----------------------------------------------------------------------------------------------
# Instances
# ----------------------------------------------------------------------------------------------


@dataclasses.dataclass(slots=True)
class TrainingInstance:
    """One sentence pair, masked.

    Attributes:
        tokens: `[CLS] A [SEP] B [SEP]` after masking.
        segment_ids: 0 for [CLS], A and the first [SEP]; 1 for B and the last [SEP].
        masked_lm_positions: Masked positions, ascending.
        masked_lm_labels: The original token at each masked position.
        is_random_next: Whether B was taken from another place (label 1) rather than following A.
    """

    tokens: list[str]
    segment_ids: list[int]
    masked_lm_positions: list[int]
    masked_lm_labels: list[str]
    is_random_next: bool

    def __str__(self) -> str:
        return (
            f"tokens: {' '.join(self.tokens)}\n"
            f"segment_ids: {' '.join(map(str, self.segment_ids))}\n"
            f"is_random_next: {self.is_random_next}\n"
            f"masked_lm_positions: {' '.join(map(str, self.masked_lm_positions))}\n"
            f"masked_lm_labels: {' '.join(self.masked_lm_labels)}\n\n"
        )


def truncate_seq_pair(
    tokens_a: list[str], tokens_b: list[str], max_num_tokens: int, rng: random.Random
) -> None:
    """Shortens the pair in place until it has at most `max_num_tokens` tokens.

    One token at a time is taken from the longer list (B when both are as long), from its front
    or its back with equal probability (one `rng.random()` per token, as in the original).
    """
    length_a, length_b = len(tokens_a), len(tokens_b)
    cut = {"a": [0, 0], "b": [0, 0]}  # tokens to drop: [from the front, from the back]
    draw = rng.random
    while length_a + length_b > max_num_tokens:
        if length_a > length_b:
            side = cut["a"]
            length_a -= 1
        else:
            side = cut["b"]
            length_b -= 1
        side[0 if draw() < 0.5 else 1] += 1
    for tokens, (front, back) in ((tokens_a, cut["a"]), (tokens_b, cut["b"])):
        if back:
            del tokens[len(tokens) - back :]
        if front:
            del tokens[:front]


def _non_special_positions(tokens: list[str]) -> list[int]:
    """Positions of every token but [CLS] and [SEP], found with C-level `list.index`."""
    specials = []
    for marker in (CLS, SEP):
        found = -1
        while True:
            try:
                found = tokens.index(marker, found + 1)
            except ValueError:
                break
            specials.append(found)
    specials.sort()
    positions: list[int] = []
    begin = 0
    for special in specials:
        positions += range(begin, special)
        begin = special + 1
    positions += range(begin, len(tokens))
    return positions


def create_masked_lm_predictions(
    tokens: list[str],
    masked_lm_prob: float,
    max_predictions_per_seq: int,
    vocab_words: Sequence[str],
    rng: random.Random,
    do_whole_word_mask: bool = False,
) -> tuple[list[str], list[int], list[str]]:
    """Chooses and masks positions for the masked-LM objective.

    Every token but [CLS] and [SEP] is a candidate (with whole-word masking, a `##` piece joins
    the candidate before it; so does a CJK character marked by `ChineseWordTokenizer` as
    continuing a word, unless it follows [CLS] or [SEP]: its mark is removed from the output
    tokens and labels, and each character is replaced or kept on its own draw). Candidates are
    shuffled and taken in that order until
    `min(max_predictions_per_seq, max(1, round(len(tokens) * masked_lm_prob)))` positions are
    masked; a whole word that would exceed the budget is skipped. Each chosen position becomes
    [MASK] with probability 0.8, stays unchanged with probability 0.1, and becomes a random
    vocabulary word otherwise.

    Args:
        tokens: `[CLS] A [SEP] B [SEP]`.
        masked_lm_prob: Share of tokens to mask.
        max_predictions_per_seq: Most positions to mask.
        vocab_words: Vocabulary tokens, for random replacements.
        rng: The random stream.
        do_whole_word_mask: Mask all pieces of a word together.

    Returns:
        `(masked tokens, masked positions ascending, original tokens at those positions)`.
    """
    plain = tokens
    if do_whole_word_mask:
        groups: list[list[int]] = []
        chinese: list[int] = []  # Marked continuations of Chinese words.
        for position, token in enumerate(tokens):
            if token == CLS or token == SEP:
                continue
            joins = token.startswith("##")
            if joins and _continues_chinese_word(token):
                chinese.append(position)
                joins = tokens[position - 1] not in (CLS, SEP)  # Its start may be cut off.
            if groups and joins:
                groups[-1].append(position)
            else:
                groups.append([position])
        if chinese:
            plain = list(tokens)
            for position in chinese:
                plain[position] = tokens[position][2:]
    else:
        singles = _non_special_positions(tokens)
    _shuffle(rng, groups if do_whole_word_mask else singles)

    budget = min(max_predictions_per_seq, max(1, int(round(len(tokens) * masked_lm_prob))))
    if do_whole_word_mask:
        chosen: list[int] = []
        covered: set[int] = set()
        for group in groups:
            if len(chosen) >= budget:
                break
            if len(chosen) + len(group) > budget or not covered.isdisjoint(group):
                continue
            covered.update(group)
            chosen.extend(group)
    else:
        chosen = singles[:budget]

    masked = list(plain)
    draw = rng.random
    vocab_size = len(vocab_words)
    for position in chosen:  # Draws in the order positions were chosen, as the original.
        if draw() < 0.8:
            masked[position] = MASK
        elif draw() >= 0.5:
            masked[position] = vocab_words[rng.randint(0, vocab_size - 1)]
        # else: the token stays as it is.
    chosen.sort()
    return masked, chosen, [plain[p] for p in chosen]


def document_to_instances(
    all_documents: Sequence[Document],
    document_index: int,
    max_seq_length: int,
    short_seq_prob: float,
    masked_lm_prob: float,
    max_predictions_per_seq: int,
    vocab_words: Sequence[str],
    rng: random.Random,
    do_whole_word_mask: bool = False,
) -> list[TrainingInstance]:
    """Cuts one document into masked sentence-pair instances.

    Sentences are gathered into a chunk until it reaches the target length (the full
    `max_seq_length - 3`, or with probability `short_seq_prob` a random length of at least 2) or
    the document ends. A random number of the chunk's sentences forms segment A. Segment B is
    the rest of the chunk with probability 0.5; otherwise, and always when the chunk is a single
    sentence, B is taken from a random place of another document (up to 10 draws to avoid this
    one) and the chunk's unused sentences go back to be read again. The pair is then truncated
    to fit and masked.

    Args:
        all_documents: Every document (random next segments come from them).
        document_index: The document to cut.
        max_seq_length: Tokens per instance, special tokens included.
        short_seq_prob: Probability of a shorter target length.
        masked_lm_prob: Share of tokens to mask.
        max_predictions_per_seq: Most masked positions.
        vocab_words: Vocabulary tokens, for random replacements.
        rng: The random stream.
        do_whole_word_mask: Mask whole words.

    Returns:
        The document's instances, in order.
    """
    sentences = all_documents[document_index]
    room = max_seq_length - 3  # [CLS], [SEP], [SEP]
    # Usually aim at a full instance; now and then at a shorter one, like fine-tuning inputs.
    target = rng.randint(2, room) if rng.random() < short_seq_prob else room

    made: list[TrainingInstance] = []
    chunk: list[list[str]] = []
    chunk_length = 0
    cursor = 0
    while cursor < len(sentences):
        chunk.append(sentences[cursor])
        chunk_length += len(sentences[cursor])
        if cursor == len(sentences) - 1 or chunk_length >= target:
            split = rng.randint(1, len(chunk) - 1) if len(chunk) > 1 else 1
            first = list(itertools.chain.from_iterable(chunk[:split]))
            if len(chunk) == 1 or rng.random() < 0.5:
                random_next = True
                wanted = target - len(first)
                for _attempt in range(10):  # Another document, if 10 draws can find one.
                    other_index = rng.randint(0, len(all_documents) - 1)
                    if other_index != document_index:
                        break
                other = all_documents[other_index]
                second: list[str] = []
                for sentence in other[rng.randint(0, len(other) - 1) :]:
                    second += sentence
                    if len(second) >= wanted:
                        break
                cursor -= len(chunk) - split  # Sentences not used in A are read again.
            else:
                random_next = False
                second = list(itertools.chain.from_iterable(chunk[split:]))
            truncate_seq_pair(first, second, room, rng)
            if not first or not second:
                raise AssertionError("an instance segment became empty; max_seq_length too small")

            tokens = [CLS, *first, SEP, *second, SEP]
            segment_ids = [0] * (len(first) + 2) + [1] * (len(second) + 1)
            masking = (masked_lm_prob, max_predictions_per_seq, vocab_words, rng)
            tokens, positions, labels = create_masked_lm_predictions(
                tokens, *masking, do_whole_word_mask
            )
            made.append(TrainingInstance(tokens, segment_ids, positions, labels, random_next))
            chunk = []
            chunk_length = 0
        cursor += 1
    return made


# The original's name.
create_instances_from_document = document_to_instances


def instances_from_documents(
    documents: list[Document],
    tokenizer: TokenizerLike,
    config: PretrainingDataConfig,
    rng: random.Random,
    progress: Optional[_Progress] = None,
) -> list[TrainingInstance]:
    """Shuffles `documents` in place, makes `dupe_factor` passes, shuffles the instances.

    Args:
        documents: Tokenized documents (shuffled in place, as the original does).
        tokenizer: Gives the vocabulary for random replacements.
        config: Lengths, probabilities and `dupe_factor`.
        rng: The random stream, right after reading.
        progress: Logs progress when given.

    Returns:
        All instances, shuffled.
    """
    rng.shuffle(documents)
    vocab_words = list(tokenizer.vocab)  # Keys, in vocabulary order.
    made: list[TrainingInstance] = []
    total = config.dupe_factor * len(documents)
    if progress is not None:
        progress.begin()
    for pass_index in range(config.dupe_factor):
        for index in range(len(documents)):
            made += document_to_instances(
                documents,
                index,
                config.max_seq_length,
                config.short_seq_prob,
                config.masked_lm_prob,
                config.max_predictions_per_seq,
                vocab_words,
                rng,
                config.do_whole_word_mask,
            )
            if progress is not None and not index % 64 and progress.due():
                progress.report(
                    f"creating instances, pass {pass_index + 1}/{config.dupe_factor}, "
                    f"{len(made)} so far",
                    pass_index * len(documents) + index + 1,
                    total,
                    len(made),
                    "instances",
                )
    rng.shuffle(made)
    if progress is not None:
        progress.finish(f"made {len(made)} instances from {len(documents)} documents")
    return made


def create_training_instances(
    input_files: Sequence[Union[str, Segment]],
    tokenizer: TokenizerLike,
    max_seq_length: int,
    dupe_factor: int,
    short_seq_prob: float,
    masked_lm_prob: float,
    max_predictions_per_seq: int,
    rng: random.Random,
    do_whole_word_mask: bool = False,
) -> list[TrainingInstance]:
    """Reads the files and makes all instances: the original function of the same name.

    Args:
        input_files: Text files (one sentence per line, blank lines between documents).
        tokenizer: A `FullTokenizer` or `CachedTokenizer`.
        max_seq_length: Tokens per instance.
        dupe_factor: Passes over the documents.
        short_seq_prob: Probability of a shorter target length.
        masked_lm_prob: Share of tokens to mask.
        max_predictions_per_seq: Most masked positions per instance.
        rng: The random stream (`random.Random(seed)`).
        do_whole_word_mask: Mask whole words.

    Returns:
        The instances, shuffled.
    """
    cached = _as_cached(tokenizer)
    documents = read_documents(input_files, cached)
    config = PretrainingDataConfig(
        vocab_file="",
        do_whole_word_mask=do_whole_word_mask,
        max_seq_length=max_seq_length,
        max_predictions_per_seq=max_predictions_per_seq,
        dupe_factor=dupe_factor,
        masked_lm_prob=masked_lm_prob,
        short_seq_prob=short_seq_prob,
    )
    return instances_from_documents(documents, cached, config, rng)


# ----------------------------------------------------------------------------------------------
# Features and writing
# ----------------------------------------------------------------------------------------------


def instance_to_features(
    instance: TrainingInstance,
    vocab: dict[str, int],
    max_seq_length: int,
    max_predictions_per_seq: int,
) -> dict[str, list]:
    """The padded feature lists of one instance, in `PRETRAINING_FEATURES` order.

    Raises:
        ValueError: If a token is not in `vocab` or the instance is longer than the limits.
    """
    try:
        token_ids = [vocab[token] for token in instance.tokens]
        label_ids = [vocab[token] for token in instance.masked_lm_labels]
    except KeyError as e:
        raise ValueError(f"token {e.args[0]!r} is not in the vocabulary") from None
    used, predicted = len(token_ids), len(label_ids)
    if used > max_seq_length or predicted > max_predictions_per_seq:
        raise ValueError(
            f"instance of {used} tokens and {predicted} predictions exceeds "
            f"max_seq_length={max_seq_length} / max_predictions_per_seq={max_predictions_per_seq}"
        )
    padding = [0] * (max_seq_length - used)
    free_slots = [0] * (max_predictions_per_seq - predicted)
    values = (
        token_ids + padding,
        [1] * used + padding,
        list(instance.segment_ids) + padding,
        list(instance.masked_lm_positions) + free_slots,
        label_ids + free_slots,
        [1.0] * predicted + [0.0] * len(free_slots),
        [int(instance.is_random_next)],
    )
    return dict(zip(PRETRAINING_FEATURES, values))


def describe_instance(instance: TrainingInstance, features: dict[str, list]) -> list[str]:
    """The log lines Google's script prints for one of the first 20 instances written."""
    lines = ["*** Example ***", "tokens: " + " ".join(instance.tokens)]
    lines += [f"{name}: {' '.join(map(str, values))}" for name, values in features.items()]
    if any(map(word_segmentation.CJK_CHARACTER.match, instance.masked_lm_labels)):
        lines.append("masked words (adjacent positions joined): " + _masked_spans(instance))
    return lines


def _masked_spans(instance: TrainingInstance) -> str:
    """The masked labels, those at consecutive positions written as one span."""
    spans: list[list[str]] = []
    previous, previous_cjk = -2, False
    for position, label in zip(instance.masked_lm_positions, instance.masked_lm_labels):
        cjk = word_segmentation.CJK_CHARACTER.match(label) is not None
        if position == previous + 1 and cjk and previous_cjk:
            spans[-1].append(label)
        else:
            spans.append([label])
        previous, previous_cjk = position, cjk
    return " ".join("".join(span) for span in spans)


EXAMPLES_TO_LOG = 20


class InstanceEncoder:
    """Serializes instances to records fast, byte for byte as `serialize_example` would.

    The packed encoding of every vocabulary token's id is computed once, so a record is a few
    byte joins: `encode(instance) == serialize_example(instance_to_features(instance, ...))`.
    """

    def __init__(self, vocab: dict[str, int], max_seq_length: int, max_predictions_per_seq: int):
        """Prepares the encodings.

        Args:
            vocab: Token -> id.
            max_seq_length: Length of the token features.
            max_predictions_per_seq: Length of the masked-LM features.
        """
        self.vocab: dict[str, int] = vocab
        self.max_seq_length = max_seq_length
        self.max_predictions_per_seq = max_predictions_per_seq
        self._token_bytes = {token: records.varint(index) for token, index in vocab.items()}
        self._one = records.pack_values("input_mask", [1])
        self._zero = {name: records.pack_values(name, [0]) for name in PRETRAINING_FEATURES}
        self._weights = [
            records.pack_values(
                "masked_lm_weights", [1.0] * used + [0.0] * (max_predictions_per_seq - used)
            )
            for used in range(max_predictions_per_seq + 1)
        ]

    def encode(self, instance: TrainingInstance) -> bytes:
        """The serialized `tf.train.Example` of one instance.

        Raises:
            ValueError: If a token is not in the vocabulary or the instance is too long.
        """
        used, predicted = len(instance.tokens), len(instance.masked_lm_positions)
        spare = self.max_seq_length - used
        free = self.max_predictions_per_seq - predicted
        if spare < 0 or free < 0:
            raise ValueError(
                f"instance of {used} tokens and {predicted} predictions exceeds max_seq_length="
                f"{self.max_seq_length} / max_predictions_per_seq={self.max_predictions_per_seq}"
            )
        lookup = self._token_bytes.__getitem__
        try:
            token_ids = b"".join(map(lookup, instance.tokens))
            label_ids = b"".join(map(lookup, instance.masked_lm_labels))
        except KeyError as e:
            raise ValueError(f"token {e.args[0]!r} is not in the vocabulary") from None
        zero = self._zero
        packed = {
            "input_ids": token_ids + zero["input_ids"] * spare,
            "input_mask": self._one * used + zero["input_mask"] * spare,
            "segment_ids": records.pack_values("segment_ids", instance.segment_ids)
            + zero["segment_ids"] * spare,
            "masked_lm_positions": records.pack_values(
                "masked_lm_positions", instance.masked_lm_positions
            )
            + zero["masked_lm_positions"] * free,
            "masked_lm_ids": label_ids + zero["masked_lm_ids"] * free,
            "masked_lm_weights": self._weights[predicted],
            "next_sentence_labels": self._one if instance.is_random_next else zero["input_mask"],
        }
        return records.serialize_packed(packed)


def _instance_records(
    instances: Iterable[TrainingInstance], vocab: dict[str, int], config: PretrainingDataConfig
) -> Iterator[tuple[bytes, Optional[list[str]]]]:
    """Serialized records, with the log lines of the first `EXAMPLES_TO_LOG`."""
    encoder = InstanceEncoder(vocab, config.max_seq_length, config.max_predictions_per_seq)
    for index, instance in enumerate(instances):
        description = None
        if index < EXAMPLES_TO_LOG:
            features = instance_to_features(
                instance, vocab, config.max_seq_length, config.max_predictions_per_seq
            )
            description = describe_instance(instance, features)
        yield encoder.encode(instance), description


def write_instance_to_example_files(
    instances: Sequence[TrainingInstance],
    tokenizer: TokenizerLike,
    max_seq_length: int,
    max_predictions_per_seq: int,
    output_files: Sequence[str],
    progress: Optional[_Progress] = None,
) -> list[int]:
    """Writes instances round-robin over `output_files`, logging the first 20.

    Returns:
        Records written to each file.
    """
    from bert_tf.records import RoundRobinWriter  # Imports TensorFlow.

    config = PretrainingDataConfig(
        vocab_file="",
        max_seq_length=max_seq_length,
        max_predictions_per_seq=max_predictions_per_seq,
    )
    if progress is not None:
        progress.begin()
    with RoundRobinWriter(output_files) as writer:
        for record, description in _instance_records(instances, tokenizer.vocab, config):
            writer.write(record)
            for line in description or ():
                logging.info("%s", line)
            if progress is not None and not writer.total % 1024 and progress.due():
                progress.report("writing", writer.total, len(instances), writer.total, "records")
    logging.info("Wrote %d total instances", writer.total)
    return writer.counts


# ----------------------------------------------------------------------------------------------
# Sharding over worker processes
# ----------------------------------------------------------------------------------------------


def _boundary_after(path: str, offset: int, size: int) -> int:
    """First position >= `offset` that follows a blank line (or `size` when there is none)."""
    if offset <= 0:
        return 0
    if offset >= size:
        return size
    with _open_binary(path) as reader:
        reader.seek(offset - 1)
        reader.readline()  # The rest of the line holding byte `offset - 1`.
        while True:
            raw = reader.readline()
            if not raw:
                return size
            if not raw.strip():
                return reader.tell()


def plan_shards(input_files: Sequence[str], num_shards: int) -> list[list[Segment]]:
    """Cuts the files, taken as one stream, into `num_shards` pieces of about equal size.

    Cuts fall right after a blank line (or at a file's end), so no document is split except
    one that runs from one file into the next. A shard may be empty.

    Returns:
        For every shard, the file segments it reads, in order.
    """
    sizes = [_file_size(path) for path in input_files]
    total = sum(sizes)
    starts = list(itertools.accumulate([0] + sizes))  # Stream offset of every file.

    def cut(stream_offset: int) -> tuple[int, int]:
        """(file index, offset) of the boundary at or after a stream offset."""
        for index, size in enumerate(sizes):
            if stream_offset < starts[index] + size:
                local = _boundary_after(input_files[index], stream_offset - starts[index], size)
                if local < size:
                    return index, local
                stream_offset = starts[index + 1]
        return len(sizes), 0

    cuts = [cut(total * k // num_shards) for k in range(num_shards)] + [(len(sizes), 0)]
    shards = []
    for (first_file, first_offset), (end_file, end_offset) in zip(cuts, cuts[1:]):
        segments = []
        for index in range(first_file, min(end_file + 1, len(sizes))):
            begin = first_offset if index == first_file else 0
            end = end_offset if index == end_file else sizes[index]
            if end > begin:
                segments.append(Segment(input_files[index], begin, end))
        shards.append(segments)
    return shards


@dataclasses.dataclass
class _ShardJob:
    index: int
    count: int
    segments: list[Segment]
    config: PretrainingDataConfig
    spill_file: str
    progress_seconds: float


@dataclasses.dataclass
class _ShardResult:
    stats: CorpusStats
    records: int
    descriptions: list[list[str]]


_FRAME = struct.Struct("<Q")


def _init_worker(verbosity: int) -> None:
    from absl import flags

    if not flags.FLAGS.is_parsed():
        flags.FLAGS.mark_as_parsed()
    logging.use_absl_handler()
    logging.set_verbosity(verbosity)


@contextlib.contextmanager
def _main_module_hidden() -> Iterator[None]:
    """Starts spawned workers without re-running the caller's main script.

    A spawned process normally imports the parent's `__main__` file again, which for a script
    that imports TensorFlow costs seconds per worker. The workers need nothing from it (their
    code lives in this module), so an empty stand-in is shown while they start.
    """
    real_main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = real_main


def _run_shard(job: _ShardJob) -> _ShardResult:
    """Worker: one shard to instances, spilled as length-prefixed serialized records."""
    prefix = f"shard {job.index + 1}/{job.count}: "
    progress = _Progress(prefix, job.progress_seconds)
    stats = CorpusStats()
    tokenizer = load_tokenizer(
        job.config.vocab_file, job.config.do_lower_case, job.config.chinese_word_segmenter
    )
    documents = read_documents(job.segments, tokenizer, stats, progress)
    instances = instances_from_documents(
        documents,
        tokenizer,
        job.config,
        random.Random(job.config.random_seed + job.index),
        progress,
    )
    stats.long_sentences = _count_long_sentences(documents, job.config.max_seq_length)
    stats.instances = len(instances)
    del documents
    descriptions = []
    with open(job.spill_file, "wb") as spill:
        for record, description in _instance_records(instances, tokenizer.vocab, job.config):
            spill.write(_FRAME.pack(len(record)))
            spill.write(record)
            if description is not None:
                descriptions.append(description)
    logging.info("%s%d documents -> %d instances", prefix, stats.documents, stats.instances)
    return _ShardResult(stats, len(instances), descriptions)


def _spilled_records(path: str) -> Iterator[bytes]:
    with open(path, "rb") as spill:
        while True:
            header = spill.read(_FRAME.size)
            if not header:
                return
            (length,) = _FRAME.unpack(header)
            yield spill.read(length)


def _count_long_sentences(documents: Sequence[Document], max_seq_length: int) -> int:
    room = max_seq_length - 3
    return sum(1 for document in documents for sentence in document if len(sentence) > room)


def _merge_shards(
    results: Sequence[_ShardResult], spill_files: Sequence[str], output_files: Sequence[str]
) -> list[int]:
    """Interleaves the shards' records (one of each in turn) round-robin over the outputs."""
    from bert_tf.records import RoundRobinWriter  # Imports TensorFlow.

    streams = [iter(_spilled_records(path)) for path in spill_files]
    taken = [0] * len(streams)
    live = list(range(len(streams)))
    with RoundRobinWriter(output_files) as writer:
        while live:
            for shard in list(live):
                record = next(streams[shard], None)
                if record is None:
                    live.remove(shard)
                    continue
                if writer.total < EXAMPLES_TO_LOG and taken[shard] < len(
                    results[shard].descriptions
                ):
                    for line in results[shard].descriptions[taken[shard]]:
                        logging.info("%s", line)
                taken[shard] += 1
                writer.write(record)
    logging.info("Wrote %d total instances", writer.total)
    return writer.counts


# ----------------------------------------------------------------------------------------------
# The whole run
# ----------------------------------------------------------------------------------------------


def _no_text_error(input_files: Sequence[str]) -> ValueError:
    return ValueError(
        f"no text found in {', '.join(input_files)}: expected one sentence per line and blank "
        "lines between documents"
    )


def create_pretraining_data(
    input_files: Sequence[str],
    output_files: Sequence[str],
    config: PretrainingDataConfig,
    num_workers: int = 1,
    progress_seconds: float = 30.0,
) -> RunSummary:
    """Reads text files and writes masked-LM / next-sentence TFRecord files.

    Args:
        input_files: Text files (already expanded from patterns).
        output_files: TFRecord files; records go round-robin across them.
        config: Settings (validated here).
        num_workers: 1 reproduces Google's script exactly; N > 1 makes N shards in N processes
            (see the module docstring for how the output differs).
        progress_seconds: Least time between two progress lines of one process.

    Returns:
        What was read, skipped and written.

    Raises:
        FileNotFoundError: If the vocabulary or an input file does not exist.
        ValueError: On bad settings, a vocabulary without the special tokens, or input without
            any text.
    """
    begin = time.monotonic()
    config.validate()
    if num_workers < 1:
        raise ValueError(f"--num_workers={num_workers}: must be at least 1")
    if not input_files:
        raise ValueError("no input file given")
    if not output_files:
        raise ValueError("no output file given")
    for path in input_files:
        if "://" not in path and not os.path.isfile(path):
            raise FileNotFoundError(f"input file not found: {path}")
    tokenizer = load_tokenizer(
        config.vocab_file, config.do_lower_case, config.chinese_word_segmenter
    )

    logging.info("*** Reading from input files ***")
    for path in input_files:
        logging.info("  %s", path)

    if num_workers == 1:
        stats = CorpusStats()
        progress = _Progress("", progress_seconds)
        documents = read_documents(input_files, tokenizer, stats, progress)
        if not documents:
            raise _no_text_error(input_files)
        stats.long_sentences = _count_long_sentences(documents, config.max_seq_length)
        instances = instances_from_documents(
            documents, tokenizer, config, random.Random(config.random_seed), progress
        )
        stats.instances = len(instances)
        del documents
        _log_outputs(output_files)
        counts = write_instance_to_example_files(
            instances,
            tokenizer,
            config.max_seq_length,
            config.max_predictions_per_seq,
            output_files,
            progress,
        )
    else:
        stats, counts = _create_sharded(
            input_files, output_files, config, num_workers, progress_seconds
        )

    stats.log_summary(config.max_seq_length)
    if config.chinese_word_segmenter != "none" and not stats.cjk_characters:
        logging.warning(
            "--chinese_word_segmenter=%s found no CJK text in the input: every word was masked "
            "as plain whole word masking does",
            config.chinese_word_segmenter,
        )
    seconds = time.monotonic() - begin
    logging.info(
        "%d instances in %.1f s (%.0f instances/s) with %d worker(s)",
        sum(counts),
        seconds,
        sum(counts) / max(seconds, 1e-9),
        num_workers,
    )
    return RunSummary(stats, list(output_files), counts, num_workers, seconds)


def _log_outputs(output_files: Sequence[str]) -> None:
    logging.info("*** Writing to output files ***")
    for path in output_files:
        logging.info("  %s", path)


def _create_sharded(
    input_files: Sequence[str],
    output_files: Sequence[str],
    config: PretrainingDataConfig,
    num_workers: int,
    progress_seconds: float,
) -> tuple[CorpusStats, list[int]]:
    shards = plan_shards(input_files, num_workers)
    if not any(shards):
        raise _no_text_error(input_files)
    first_output = output_files[0]
    spill_parent = (
        os.path.dirname(os.path.abspath(first_output)) if "://" not in first_output else None
    )
    if spill_parent:
        os.makedirs(spill_parent, exist_ok=True)
    spill_folder = tempfile.mkdtemp(prefix=".pretraining_shards_", dir=spill_parent)
    try:
        jobs = [
            _ShardJob(
                index,
                num_workers,
                segments,
                config,
                os.path.join(spill_folder, f"shard-{index:05d}.bin"),
                progress_seconds,
            )
            for index, segments in enumerate(shards)
        ]
        logging.info(
            "%d workers, shards of %s bytes",
            num_workers,
            ", ".join(str(sum(s.end - s.start for s in segments)) for segments in shards),
        )
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(
            max_workers=num_workers,
            mp_context=context,
            initializer=_init_worker,
            initargs=(logging.get_verbosity(),),
        ) as pool:
            with _main_module_hidden():  # Workers start while jobs are submitted.
                futures = [pool.submit(_run_shard, job) for job in jobs]
            results = [future.result() for future in futures]
        stats = CorpusStats()
        for result in results:
            stats.add(result.stats)
        if not stats.documents:
            raise _no_text_error(input_files)
        _log_outputs(output_files)
        counts = _merge_shards(results, [job.spill_file for job in jobs], output_files)
    finally:
        shutil.rmtree(spill_folder, ignore_errors=True)
    return stats, counts
