"""In-graph BERT tokenization that yields exactly the ids of `tokenization.FullTokenizer`.

:class:`GraphTokenizer` runs on TensorFlow and tensorflow-text ops only, inside `tf.function`
and in an exported SavedModel (which then loads in a process importing just `tensorflow` and
`tensorflow_text`).

How exactness is obtained
-------------------------
Apart from the Greek final-sigma rule of `str.lower` and the canonical reordering of combining
marks done by NFD, every step of the original basic tokenizer acts on one code point at a time.
At construction, the Python reference (`bert_tf.tokenization`, i.e. Python's own `unicodedata`
and `str.lower`) is evaluated on every code point, and the result is stored in a two-level
lookup table. Two paths share that table:

* The **fast path** feeds the text to tensorflow-text's `FastBertNormalizer` (when
  lower-casing) and to an end-to-end `FastWordpieceTokenizer`. They are C++ and fast, but follow
  ICU's rules (NFKC case folding, other Unicode versions). At construction both are probed on
  every code point and compared with the reference; code points on which they differ in any way
  (for example `ß`, `ς`, `½`, `²`, `…`, zero-width and other format characters, capital sigma)
  are "unsafe". A text keeps the fast path's answer only if a regular expression finds it valid
  UTF-8 free of unsafe code points and a second one finds no run of more than
  `max_input_chars_per_word` characters without ASCII whitespace in the normalized text (the
  kernel caps words by bytes, the original by characters).
* The **exact path** handles every other text: it decodes to code points, rewrites final sigmas
  (their context found with a binary search over the characters that are not case-ignorable),
  expands each code point into its lower-cased, decomposed form with a class per output
  character (word character, punctuation/CJK, separator, non-spacing mark), restores the
  canonical order of combining marks when that can matter, and drops the marks. The result is
  either re-encoded and given to the end-to-end kernel (when every character is one the kernel
  classifies like the reference and no word is too long) or cut into words in the graph and
  tokenized word by word. It is right for any input, and slower.

The fast path runs on the whole batch and the exact path, in the same call, on the texts that need
it. Construction takes a few seconds per casing (cached per process); an exported SavedModel
carries the tables as constants and does not redo it.
"""

from __future__ import annotations

import collections
import functools
import os
import unicodedata
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text

from bert_tf import tokenization

__all__ = ["GraphTokenizer", "pack_inputs", "pack_pairs", "take_first", "truncate_pair_lengths"]

VocabLike = Union[str, "os.PathLike[str]", Sequence[str], Mapping[str, int]]

_MAX_CODE_POINT = 0x10FFFF
_NUM_CODE_POINTS = _MAX_CODE_POINT + 1
_SURROGATES = (0xD800, 0xDFFF)
_BLOCK_BITS = 7
_BLOCK_SIZE = 1 << _BLOCK_BITS

# Classes of the characters that the basic tokenizer outputs.
_WORD = 1  # part of a word
_SINGLE = 2  # punctuation or CJK: a word by itself
_SEP = 3  # separates words and is dropped
_MARK = 4  # non-spacing mark, dropped after canonical reordering

# Bits of `_CharTables.flags`.
_FLAG_TRANSPARENT = 1  # skipped when looking for the context of a capital sigma
_FLAG_CASED = 2  # a cased letter for the final-sigma rule
_FLAG_REORDER = 4  # expands to a character whose canonical order matters after mark removal

# Longest vocabulary token (without "##") that tensorflow-text's WordPiece kernels accept.
_MAX_KERNEL_TOKEN_BYTES = 256

_CAPITAL_SIGMA = 0x03A3
_FINAL_SIGMA = 0x03C2


class _CharTables:
    """Per-code-point behaviour of the reference basic tokenizer, as numpy arrays.

    A code point `cp` maps to entry `stage2[stage1[cp >> 7] * 128 + (cp & 127)]`. An entry
    expands to `count` output characters: the first is `cp + delta` with class `kind` and
    canonical combining class `ccc`; the others are `tail_cp/kind/ccc[tail_start:]`.
    """

    def __init__(self, do_lower_case: bool) -> None:
        self.do_lower_case = bool(do_lower_case)
        self.expansions = _reference_expansions(do_lower_case)
        flags = _sigma_flags(do_lower_case)
        entry_of_key: Dict[tuple, int] = {}
        entries: List[tuple] = []
        tails: List[Tuple[int, int, int]] = [(0, _WORD, 0)]  # index 0: padding, never read
        tail_start_of: Dict[tuple, int] = {}
        code_entry = np.zeros(_NUM_CODE_POINTS, dtype=np.int32)
        for cp, elements in enumerate(self.expansions):
            flag = flags[cp]
            if any(kind != _MARK and ccc > 0 for _, kind, ccc in elements):
                flag |= _FLAG_REORDER
            if elements:
                first_cp, first_kind, first_ccc = elements[0]
                tail = elements[1:]
                key = (first_cp - cp, first_kind, first_ccc, tail, flag)
            else:
                tail = ()
                key = (0, _WORD, 0, None, flag)
            entry = entry_of_key.get(key)
            if entry is None:
                entry = entry_of_key[key] = len(entries)
                if tail and tail not in tail_start_of:
                    tail_start_of[tail] = len(tails)
                    tails.extend(tail)
                start = tail_start_of.get(tail, 0)
                entries.append((key[0], key[1], key[2], len(elements), start, flag))
            code_entry[cp] = entry
        blocks = code_entry.reshape(-1, _BLOCK_SIZE)
        unique_blocks, stage1 = np.unique(blocks, axis=0, return_inverse=True)
        self.stage1 = stage1.reshape(-1).astype(np.int32)
        self.stage2 = unique_blocks.reshape(-1).astype(np.int32)
        table = np.asarray(entries, dtype=np.int32)
        self.delta, self.kind, self.ccc, self.count, self.tail_start, self.flags = table.T
        tail_table = np.asarray(tails, dtype=np.int32)
        self.tail_cp, self.tail_kind, self.tail_ccc = tail_table.T
        self.code_entry = code_entry


class _CodePointFacts:
    """Casing-independent reference predicates of every code point, computed once."""

    def __init__(self) -> None:
        self.chars = [chr(cp) for cp in range(_NUM_CODE_POINTS)]
        self.space = [char.isspace() for char in self.chars]
        cleaned = list(map(tokenization._clean_char, self.chars))
        self.removed = [out == "" for out in cleaned]
        # Whitespace after cleaning, plus what `str.split` also splits on (U+2028, U+2029).
        self.separator = [
            out == " " or (out != "" and space) for out, space in zip(cleaned, self.space)
        ]
        cjk = np.zeros(_NUM_CODE_POINTS, dtype=bool)
        for first, last in tokenization.CJK_RANGES:
            cjk[first : last + 1] = True
        # Same answer as the reference predicate, computed for all code points at once.
        self.cjk = cjk.tolist()
        self.punctuation = list(map(tokenization._is_punctuation, self.chars))
        self.non_spacing_mark = [unicodedata.category(char) == "Mn" for char in self.chars]
        self.combining = list(map(unicodedata.combining, self.chars))


@functools.lru_cache(maxsize=1)
def _code_point_facts() -> _CodePointFacts:
    return _CodePointFacts()


def _reference_expansions(do_lower_case: bool) -> List[Tuple[Tuple[int, int, int], ...]]:
    """Returns what the reference basic tokenizer makes of each code point out of context.

    Args:
        do_lower_case: Whether lower-casing and accent stripping are on.

    Returns:
        For every code point, a tuple with one `(code point, class, canonical combining class)`
        per output character; empty when text cleaning deletes the code point.
    """
    facts = _code_point_facts()
    # The class of a character once it is lower-cased and decomposed.
    output_class = [
        (_MARK if do_lower_case and mark else _SINGLE if punctuation else _SEP if space else _WORD)
        for mark, punctuation, space in zip(facts.non_spacing_mark, facts.punctuation, facts.space)
    ]
    combining = facts.combining
    separator = ((0x20, _SEP, 0),)
    expansions = []
    for cp, char in enumerate(facts.chars):
        if facts.removed[cp]:
            expansions.append(())
            continue
        if facts.separator[cp]:
            expansions.append(separator)
            continue
        mapped = unicodedata.normalize("NFD", char.lower()) if do_lower_case else char
        if mapped == char:
            elements = ((cp, output_class[cp], combining[cp]),)
        else:
            elements = tuple(
                (ord(out), output_class[ord(out)], combining[ord(out)]) for out in mapped
            )
        if facts.cjk[cp]:
            if len(elements) == 1 and elements[0][1] != _MARK and elements[0][2] == 0:
                elements = ((elements[0][0], _SINGLE, 0),)
            else:  # The original surrounds the character with spaces.
                elements = separator + elements + separator
        expansions.append(elements)
    return expansions


def _sigma_flags(do_lower_case: bool) -> List[int]:
    """Returns the final-sigma flags of every code point, measured on Python's `str.lower`.

    Python lower-cases a capital sigma to a final sigma when a cased letter precedes it and no
    cased letter follows it, skipping case-ignorable characters both ways. Characters that text
    cleaning deletes are skipped too (they are gone before lower-casing); whitespace and CJK
    ideographs end the context (the original puts spaces there).
    """
    if not do_lower_case:
        return [0] * _NUM_CODE_POINTS
    facts = _code_point_facts()
    flags = []
    for cp, char in enumerate(facts.chars):
        if facts.removed[cp]:
            flags.append(_FLAG_TRANSPARENT)
        elif facts.separator[cp] or facts.cjk[cp]:
            flags.append(0)
        elif (char + "\u03a3").lower()[-1] == "\u03c2":
            flags.append(_FLAG_CASED)  # not skipped, and a cased letter
        elif ("\u0391" + char + "\u03a3").lower()[-1] == "\u03c2":
            flags.append(_FLAG_TRANSPARENT)  # skipped: the letter before it decides
        else:
            flags.append(0)
    return flags


@functools.lru_cache(maxsize=2)
def _char_tables(do_lower_case: bool) -> _CharTables:
    """Builds (once per process and casing) the reference tables; takes a few seconds."""
    return _CharTables(do_lower_case)


def _ranges(code_points: np.ndarray) -> List[Tuple[int, int]]:
    """Groups sorted code points into inclusive `(first, last)` runs."""
    if code_points.size == 0:
        return []
    breaks = np.nonzero(np.diff(code_points) != 1)[0]
    firsts = np.concatenate([[code_points[0]], code_points[breaks + 1]])
    lasts = np.concatenate([code_points[breaks], [code_points[-1]]])
    return list(zip(firsts.tolist(), lasts.tolist()))


def _re2_class(ranges: Sequence[Tuple[int, int]], negate: bool) -> str:
    """Writes an RE2 character class from explicit code point ranges."""
    parts = [
        f"\\x{{{first:X}}}" if first == last else f"\\x{{{first:X}}}-\\x{{{last:X}}}"
        for first, last in ranges
    ]
    return "[" + ("^" if negate else "") + "".join(parts) + "]"


def _probe_code_points() -> np.ndarray:
    """All code points that can appear in valid UTF-8 (surrogates excluded)."""
    every = np.arange(_NUM_CODE_POINTS, dtype=np.int64)
    return every[(every < _SURROGATES[0]) | (every > _SURROGATES[1])]


@functools.lru_cache(maxsize=1)
def _fast_path_classes() -> np.ndarray:
    """Classifies code points the way the end-to-end `FastWordpieceTokenizer` splits text.

    Every code point `x` is tokenized inside `"q" + x + "q"` with the vocabulary `{q, <unk>}`:
    one unknown token means `x` is a word character, `[q, q]` a separator and
    `[q, <unk>, q]` a piece of its own (punctuation or CJK). Anything else gets class 0.

    Returns:
        An int32 class per code point (surrogates: 0).
    """
    code_points = _probe_code_points()
    probe = tf_text.FastWordpieceTokenizer(
        vocab=["<unk>", "q"],
        unknown_token="<unk>",
        token_out_type=tf.int32,
        max_bytes_per_word=100,
        no_pretokenization=False,
    )
    texts = ["q" + chr(cp) + "q" for cp in code_points.tolist()]
    ids = probe.tokenize(tf.constant(texts))
    lengths = ids.row_lengths().numpy()
    starts = ids.row_splits.numpy()[:-1]
    values = np.concatenate([ids.flat_values.numpy(), np.zeros(3, np.int32)])
    first, second, third = values[starts], values[starts + 1], values[starts + 2]
    classes = np.zeros(len(code_points), dtype=np.int32)
    classes[(lengths == 1) & (first == 0)] = _WORD
    classes[(lengths == 2) & (first == 1) & (second == 1)] = _SEP
    classes[(lengths == 3) & (first == 1) & (second == 0) & (third == 1)] = _SINGLE
    by_code_point = np.zeros(_NUM_CODE_POINTS, dtype=np.int32)
    by_code_point[code_points] = classes
    return by_code_point


@functools.lru_cache(maxsize=2)
def _fast_path_masks(do_lower_case: bool) -> Tuple[np.ndarray, np.ndarray]:
    """Returns which code points tensorflow-text's kernels handle like the reference.

    Args:
        do_lower_case: The casing mode.

    Returns:
        Two boolean masks over code points.

        `safe`: replacing the reference's handling of the code point by the fast path's
        (FastBertNormalizer's mapping when lower-casing, then the end-to-end
        FastWordpieceTokenizer's split) changes nothing in any text: both produce the same
        characters with the same classes in the same order. Capital sigma (context-dependent)
        and code points whose canonical reordering could survive accent stripping are never
        safe.

        `splits_alike`: the end-to-end FastWordpieceTokenizer gives every character of the
        reference output of the code point the class the reference gives it, so text already
        normalized by the reference tables can be split and tokenized by that kernel.

    Raises:
        RuntimeError: If the installed tensorflow-text does not split on a plain space.
    """
    tables = _char_tables(do_lower_case)
    code_points = _probe_code_points()
    fast_class = _fast_path_classes()
    if fast_class[0x20] != _SEP:
        raise RuntimeError("tensorflow-text's FastWordpieceTokenizer does not split on spaces.")
    if do_lower_case:
        normalizer = tf_text.FastBertNormalizer(lower_case_nfd_strip_accents=True)
        chars = tf.constant([chr(cp) for cp in code_points.tolist()])
        mapped = [raw.decode("utf-8") for raw in normalizer.normalize(chars).numpy().tolist()]
    else:
        mapped = [chr(cp) for cp in code_points.tolist()]
    safe = np.zeros(_NUM_CODE_POINTS, dtype=bool)
    splits_alike = np.zeros(_NUM_CODE_POINTS, dtype=bool)
    fast_class_list = fast_class.tolist()
    never_safe = {_CAPITAL_SIGMA} if do_lower_case else set()
    for cp, fast_text in zip(code_points.tolist(), mapped):
        elements = tables.expansions[cp]
        if len(elements) == 1 and elements[0][1] in (_WORD, _SINGLE):
            # Most code points: one output character that is a word character or a word.
            out, kind, _ = elements[0]
            splits_alike[cp] = fast_class_list[out] == kind
            safe[cp] = (
                splits_alike[cp]
                and fast_text == chr(out)
                and not tables.flags[tables.code_entry[cp]] & _FLAG_REORDER
                and cp not in never_safe
            )
            continue
        reference = [
            (_SEP, 0) if kind == _SEP else (kind, out) for out, kind, _ in elements if kind != _MARK
        ]
        splits_alike[cp] = all(
            kind == _SEP or fast_class_list[out] == kind for kind, out in reference
        )
        if tables.flags[tables.code_entry[cp]] & _FLAG_REORDER or cp in never_safe:
            continue
        fast = []
        for char in fast_text:
            kind = fast_class_list[ord(char)]
            fast.append((_SEP, 0) if kind == _SEP else (kind, ord(char)))
        safe[cp] = fast == reference and all(kind != 0 for kind, _ in fast)
    return safe, splits_alike


def _absent_pattern(present: np.ndarray) -> str:
    """An RE2 pattern fully matching valid UTF-8 text free of code points not in `present`.

    The surrogates are always excluded: RE2 then rejects every invalid UTF-8 sequence, whereas
    a negated class that admits them also admits encoded surrogates, overlong forms and code
    points past U+10FFFF (checked in `tests/test_text_graph.py`).
    """
    present = present.copy()
    present[_SURROGATES[0] : _SURROGATES[1] + 1] = False
    return _re2_class(_ranges(np.nonzero(~present)[0]), negate=True) + "*"


def _vocab_mapping(vocab: VocabLike) -> "collections.OrderedDict[str, int]":
    """Turns a vocabulary path, token list or token -> id mapping into an ordered mapping."""
    if isinstance(vocab, (str, os.PathLike)):
        return tokenization.load_vocab(vocab)
    if isinstance(vocab, Mapping):
        mapping = collections.OrderedDict((str(t), int(i)) for t, i in vocab.items())
    else:
        mapping = collections.OrderedDict()
        for index, token in enumerate(vocab):
            if isinstance(token, bytes):
                token = token.decode("utf-8")
            mapping[token] = index
    if not mapping:
        raise ValueError("The vocabulary is empty; expected at least the unknown token.")
    return mapping


def truncate_pair_lengths(
    length_a: tf.Tensor, length_b: tf.Tensor, max_total: Union[int, tf.Tensor]
) -> Tuple[tf.Tensor, tf.Tensor]:
    """Lengths that the original `_truncate_seq_pair` leaves, computed without a loop.

    The original removes the last token of the longer sequence (of the second one on a tie)
    until both fit in `max_total`.

    Args:
        length_a: Integer tensor, lengths of the first sequences.
        length_b: Integer tensor of the same shape, lengths of the second sequences.
        max_total: Room for both together (e.g. `max_seq_length - 3`).

    Returns:
        The truncated `(length_a, length_b)`.
    """
    length_a = tf.convert_to_tensor(length_a)
    length_b = tf.cast(length_b, length_a.dtype)
    total = tf.cast(max_total, length_a.dtype)
    balanced_a = tf.maximum((total + 1) // 2, total - length_b)
    new_a = tf.minimum(length_a, balanced_a)
    fits = length_a + length_b <= total
    return tf.where(fits, length_a, new_a), tf.where(fits, length_b, total - new_a)


def take_first(ragged: tf.RaggedTensor, lengths: tf.Tensor) -> tf.RaggedTensor:
    """Keeps the first `lengths[i]` values of row `i` of a 2-D ragged tensor.

    Args:
        ragged: `tf.RaggedTensor` of shape `[batch, (n)]`.
        lengths: Integer tensor of shape `[batch]`, each at most the row's length.

    Returns:
        `tf.RaggedTensor` of shape `[batch, (lengths)]` with int64 row splits.
    """
    ragged = ragged.with_row_splits_dtype(tf.int64)
    starts = ragged.row_splits[:-1]
    positions = tf.ragged.range(starts, starts + tf.cast(lengths, tf.int64))
    values = tf.gather(ragged.flat_values, positions.flat_values)
    return tf.RaggedTensor.from_row_splits(values, positions.row_splits, validate=False)


def pack_inputs(
    segment_a: tf.RaggedTensor,
    segment_b: tf.RaggedTensor,
    max_seq_length: int,
    cls_value: int | tf.Tensor,
    sep_value: int | tf.Tensor,
    pad_value: int | tf.Tensor = 0,
    is_pair: tf.Tensor | None = None,
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Lays out `[CLS] A [SEP]`, or `[CLS] A [SEP] B [SEP]` where row `i` of B is not empty.

    Nothing is truncated here: the caller cuts A and B to fit (`pack_pairs` does it the way the
    classifier's training data was cut). The values need not be token ids: SQuAD serving lays
    out per-token text offsets the same way, with -1 for the special tokens.

    Args:
        segment_a: `tf.RaggedTensor` `[batch, (n)]`, the first segment of each row.
        segment_b: `tf.RaggedTensor` `[batch, (m)]`, the second segment; an empty row makes that
            row a single sequence (no second `[SEP]`, all segment ids 0).
        max_seq_length: Length of the padded output; `n + m + 3` must not exceed it.
        cls_value: Value placed first (the `[CLS]` id).
        sep_value: Value placed after each segment (the `[SEP]` id).
        pad_value: Value of the padding positions.
        is_pair: Optional bool tensor `[batch]`: which rows get the second `[SEP]` (and
            segment 1) even when their B is empty (SQuAD's empty windows). Default: rows with
            a non-empty B.

    Returns:
        `(values, input_mask, segment_ids)`, each of shape `[batch, max_seq_length]`; `values`
        has the dtype of the segments, the other two are int32.
    """
    segment_a = segment_a.with_row_splits_dtype(tf.int64)
    segment_b = segment_b.with_row_splits_dtype(tf.int64)
    dtype = segment_a.dtype
    batch = segment_a.nrows()
    has_b = segment_b.row_lengths() > 0 if is_pair is None else tf.cast(is_pair, tf.bool)
    column = tf.ones([batch, 1], dtype)
    cls = tf.RaggedTensor.from_tensor(column * tf.cast(cls_value, dtype))
    sep = tf.RaggedTensor.from_tensor(column * tf.cast(sep_value, dtype))
    sep_b = tf.RaggedTensor.from_row_lengths(
        tf.fill([tf.reduce_sum(tf.cast(has_b, tf.int64))], tf.cast(sep_value, dtype)),
        tf.cast(has_b, tf.int64),
        validate=False,
    )
    values = tf.concat([cls, segment_a, sep, segment_b, sep_b], axis=1)
    first_length = segment_a.row_lengths() + 2
    second_length = values.row_lengths() - first_length
    segment_ids = tf.concat(
        [
            tf.RaggedTensor.from_row_lengths(
                tf.zeros([tf.reduce_sum(first_length)], tf.int32), first_length, validate=False
            ),
            tf.RaggedTensor.from_row_lengths(
                tf.ones([tf.reduce_sum(second_length)], tf.int32), second_length, validate=False
            ),
        ],
        axis=1,
    )
    shape = [None, max_seq_length]
    input_mask = tf.ones_like(values, dtype=tf.int32)
    return (
        values.to_tensor(default_value=tf.cast(pad_value, dtype), shape=shape),
        input_mask.to_tensor(default_value=0, shape=shape),
        segment_ids.to_tensor(default_value=0, shape=shape),
    )


def ragged_pair(ids_a: tf.RaggedTensor, ids_b: tf.RaggedTensor | None):
    """Texts A and B with int64 row splits, B all empty rows when None (single texts).

    Returns:
        (ids_a, ids_b, length_a, length_b): the lengths are int64 ``[batch]``.
    """
    ids_a = ids_a.with_row_splits_dtype(tf.int64)
    if ids_b is None:
        ids_b = tf.RaggedTensor.from_row_lengths(
            tf.zeros([0], ids_a.dtype), tf.zeros_like(ids_a.row_lengths()), validate=False
        )
    ids_b = ids_b.with_row_splits_dtype(tf.int64)
    return ids_a, ids_b, ids_a.row_lengths(), ids_b.row_lengths()


def pack_pairs(
    ids_a: tf.RaggedTensor,
    ids_b: tf.RaggedTensor | None,
    max_seq_length: int,
    cls_id: int,
    sep_id: int,
) -> dict[str, tf.Tensor]:
    """Truncates and packs token ids exactly as the classifier's training features were made.

    As `bert_tf.tasks.common.pack_tokens`: a row whose B is empty (or `ids_b` None) is a single
    sequence cut to `max_seq_length - 2` tokens; a pair is cut by `truncate_pair_lengths` to
    `max_seq_length - 3` (tokens come off the end of the longer one). Then `pack_inputs`.

    Args:
        ids_a: `tf.RaggedTensor` of int32 ids `[batch, (n)]`.
        ids_b: `tf.RaggedTensor` of int32 ids `[batch, (m)]`, or None for single sequences.
        max_seq_length: Length of the packed features (at least 3).
        cls_id: Id of `[CLS]`.
        sep_id: Id of `[SEP]`.

    Returns:
        Dict of int32 `input_ids`, `input_mask`, `segment_ids`, each `[batch, max_seq_length]`.
    """
    if max_seq_length < 3:
        raise ValueError(f"max_seq_length must be at least 3, got {max_seq_length}.")
    ids_a, ids_b, length_a, length_b = ragged_pair(ids_a, ids_b)
    pair_a, pair_b = truncate_pair_lengths(length_a, length_b, max_seq_length - 3)
    is_pair = length_b > 0
    keep_a = tf.where(is_pair, pair_a, tf.minimum(length_a, max_seq_length - 2))
    keep_b = tf.where(is_pair, pair_b, 0)
    input_ids, input_mask, segment_ids = pack_inputs(
        take_first(ids_a, keep_a), take_first(ids_b, keep_b), max_seq_length, cls_id, sep_id
    )
    return {
        "input_ids": tf.cast(input_ids, tf.int32),
        "input_mask": input_mask,
        "segment_ids": segment_ids,
    }


class GraphTokenizer(tf.Module):
    """BERT WordPiece tokenization as a TensorFlow graph, id for id like `FullTokenizer`.

    Example:
        >>> tokenizer = GraphTokenizer("vocab.txt", do_lower_case=True)
        >>> tokenizer.tokenize(tf.constant(["Hello, world!"]))  # RaggedTensor [1, (4)], int32

    Attributes:
        vocab: Ordered map from token to id (as `tokenization.load_vocab` returns it).
        do_lower_case: Whether text is lower-cased and stripped of accents.
        unk_token: The unknown token.
        unk_id: Id of the unknown token.
        max_input_chars_per_word: Words with more characters become the unknown token.
        num_shards: Number of slices a batch is cut into.
    """

    def __init__(
        self,
        vocab: VocabLike,
        do_lower_case: bool = True,
        unk_token: str = "[UNK]",
        max_input_chars_per_word: int = 200,
        num_shards: int = 1,
        name: Optional[str] = None,
    ) -> None:
        """Builds the lookup tables and the tensorflow-text tokenizers.

        The first tokenizer of each casing in a process evaluates the reference on every code
        point, which takes a few seconds; later ones reuse the tables.

        Args:
            vocab: Path of a vocab.txt (read with `tokenization.load_vocab`), a list of tokens
                (id = position) or a mapping from token to id.
            do_lower_case: Whether to lower-case and strip accents (uncased checkpoints).
            unk_token: Token for words that cannot be covered; must be in `vocab`.
            max_input_chars_per_word: Words with more characters become `unk_token`.
            num_shards: Number of contiguous slices a batch is cut into; the slices are
                independent ops that TensorFlow can run on different cores. 1 keeps one slice.
            name: Optional name of the module.

        Raises:
            FileNotFoundError: If `vocab` is a path that does not exist.
            ValueError: If the vocabulary is empty or lacks `unk_token`, or
                `max_input_chars_per_word` or `num_shards` is not positive.
        """
        super().__init__(name=name)
        # Kept out of `tf.Module` attribute tracking, which would wrap the dict.
        self._vocab_holder = _Holder(_vocab_mapping(vocab))
        self.do_lower_case = bool(do_lower_case)
        self.max_input_chars_per_word = int(max_input_chars_per_word)
        if self.max_input_chars_per_word < 1:
            raise ValueError(
                f"max_input_chars_per_word must be positive, got {max_input_chars_per_word}."
            )
        if num_shards < 1:
            raise ValueError(f"num_shards must be at least 1, got {num_shards}.")
        self.num_shards = int(num_shards)
        if unk_token not in self.vocab:
            raise ValueError(
                f"The unknown token {unk_token!r} is not in the vocabulary "
                f"({len(self.vocab)} tokens); add it or pass `unk_token=` with one that is."
            )
        self.unk_token: str = unk_token
        self.unk_id = self.vocab[unk_token]

        # Tokens that a word can match: not empty, not just the continuation prefix, without
        # whitespace (words have none) and not longer than a word may be. The original would
        # never match the others, so they are left out of the kernels' vocabulary.
        usable = []
        for index, token in enumerate(self.vocab):
            body = token.removeprefix("##")
            if token != unk_token and (
                not body
                or len(body) > self.max_input_chars_per_word
                or any(char.isspace() for char in token)
            ):
                continue
            if len(body.encode("utf-8")) > _MAX_KERNEL_TOKEN_BYTES:
                raise ValueError(
                    f"Vocabulary entry {index} ({token[:20]!r}...) has "
                    f"{len(body.encode('utf-8'))} UTF-8 bytes; tensorflow-text's WordPiece "
                    f"kernels accept at most {_MAX_KERNEL_TOKEN_BYTES}. Remove it or lower "
                    "`max_input_chars_per_word` below its length."
                )
            usable.append(token)
        wordpiece_ids = np.array([self.vocab[token] for token in usable], dtype=np.int32)
        self._remap_ids = not np.array_equal(wordpiece_ids, np.arange(len(usable)))
        self._wordpiece_ids = tf.constant(wordpiece_ids)
        # Words are capped at 4 bytes per character; longer ones are sent to the word-by-word
        # route (which counts characters like the original) before they reach these kernels.
        max_bytes = 4 * self.max_input_chars_per_word
        self._word_tokenizer = tf_text.FastWordpieceTokenizer(
            vocab=usable,
            unknown_token=unk_token,
            token_out_type=tf.int32,
            max_bytes_per_word=max_bytes,
            no_pretokenization=True,
        )
        self._text_tokenizer = tf_text.FastWordpieceTokenizer(
            vocab=usable,
            unknown_token=unk_token,
            token_out_type=tf.int32,
            max_bytes_per_word=max_bytes,
            no_pretokenization=False,
        )
        self._normalizer = (
            tf_text.FastBertNormalizer(lower_case_nfd_strip_accents=True)
            if self.do_lower_case
            else None
        )

        tables = _char_tables(self.do_lower_case)
        self._stage1 = tf.constant(tables.stage1)
        self._stage2 = tf.constant(tables.stage2)
        self._delta = tf.constant(tables.delta)
        self._kind = tf.constant(tables.kind)
        self._ccc = tf.constant(tables.ccc)
        self._count = tf.constant(tables.count)
        self._tail_start = tf.constant(tables.tail_start)
        self._flags = tf.constant(tables.flags)
        self._tail_cp = tf.constant(tables.tail_cp)
        self._tail_kind = tf.constant(tables.tail_kind)
        self._tail_ccc = tf.constant(tables.tail_ccc)

        safe, splits_alike = _fast_path_masks(self.do_lower_case)
        # Invalid UTF-8 fails these matches too (see `_absent_pattern`).
        self._safe_pattern = _absent_pattern(safe)
        self._splits_alike_pattern = _absent_pattern(splits_alike)
        # Any word longer than the limit lies in a run this long without ASCII whitespace.
        self._long_run_pattern = f"(?s).*\\S{{{self.max_input_chars_per_word + 1}}}.*"

        size = max(self.vocab.values()) + 1
        id_tokens = [""] * size
        for token, index in self.vocab.items():
            id_tokens[index] = token
        self._id_tokens = tf.constant(id_tokens)

    @property
    def vocab(self) -> "collections.OrderedDict[str, int]":
        """Ordered map from token to id."""
        return self._vocab_holder.value

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def tokenize(self, texts: tf.Tensor) -> tf.RaggedTensor:
        """Tokenizes a batch of texts into WordPiece ids.

        Args:
            texts: `tf.string` tensor of shape `[batch]`, UTF-8 (invalid bytes are dropped, as
                `tokenization.convert_to_unicode` does).

        Returns:
            `tf.RaggedTensor` of int32 ids with shape `[batch, (tokens)]`.
        """
        values, row_splits = self._tokenize_parts(texts)
        return tf.RaggedTensor.from_row_splits(values, row_splits, validate=False)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def tokenize_to_strings(self, texts: tf.Tensor) -> tf.RaggedTensor:
        """Like `tokenize` but returns the WordPiece tokens as strings.

        Args:
            texts: `tf.string` tensor of shape `[batch]`.

        Returns:
            `tf.RaggedTensor` of `tf.string` with shape `[batch, (tokens)]`.
        """
        values, row_splits = self._tokenize_parts(texts)
        tokens = tf.gather(self._id_tokens, values)
        return tf.RaggedTensor.from_row_splits(tokens, row_splits, validate=False)

    def _tokenize_parts(self, texts: tf.Tensor) -> Tuple[tf.Tensor, tf.Tensor]:
        """Returns flat ids and row splits of a batch, slice by slice."""
        texts = tf.convert_to_tensor(texts, dtype=tf.string)
        if self.num_shards == 1:
            return self._tokenize_slice(texts)
        size = tf.shape(texts)[0]
        bounds = [size * index // self.num_shards for index in range(self.num_shards + 1)]
        slices = []
        for start, stop in zip(bounds[:-1], bounds[1:]):
            values, row_splits = self._tokenize_slice(texts[start:stop])
            slices.append(tf.RaggedTensor.from_row_splits(values, row_splits, validate=False))
        joined = tf.concat(slices, axis=0)
        return joined.flat_values, joined.row_splits

    def _tokenize_slice(self, texts: tf.Tensor) -> Tuple[tf.Tensor, tf.Tensor]:
        """Returns flat ids and row splits, choosing the fast or exact path per text."""
        # The fast path runs on every text (its kernels accept any bytes) so that it does not
        # wait for the check; texts that fail the check get the exact path's answer instead.
        fast, checked = self._fast_path(texts)
        redo = tf.logical_not(
            tf.logical_and(tf.strings.regex_full_match(texts, self._safe_pattern), checked)
        )

        def merge_exact() -> Tuple[tf.Tensor, tf.Tensor]:
            num_texts = tf.shape(texts, out_type=tf.int64)[0]
            redo_rows = tf.where(redo)[:, 0]
            exact = self._exact_path(tf.gather(texts, redo_rows))
            both = tf.concat([fast, exact], axis=0)
            redo_position = tf.cumsum(tf.cast(redo, tf.int64)) - 1
            source = tf.where(redo, num_texts + redo_position, tf.range(num_texts))
            merged = tf.gather(both, source)
            return merged.flat_values, merged.row_splits

        values, row_splits = tf.cond(
            tf.reduce_any(redo), merge_exact, lambda: (fast.flat_values, fast.row_splits)
        )
        if self._remap_ids:
            values = tf.gather(self._wordpiece_ids, values)
        return values, row_splits

    def _fast_path(self, texts: tf.Tensor) -> Tuple[tf.RaggedTensor, tf.Tensor]:
        """Tokenizes with tensorflow-text's C++ kernels alone.

        Returns:
            The ids (right for texts of safe code points) and, per text, whether it is free of
            runs long enough to hold a word over the length limit.
        """
        if self._normalizer is not None:
            texts = self._normalizer.normalize(texts)
        no_long_run = tf.logical_not(tf.strings.regex_full_match(texts, self._long_run_pattern))
        return self._text_tokenizer.tokenize(texts), no_long_run

    def _lookup(self, code_points: tf.Tensor) -> tf.Tensor:
        """Returns the table entry of every code point."""
        block = tf.gather(self._stage1, tf.bitwise.right_shift(code_points, _BLOCK_BITS))
        within = tf.bitwise.bitwise_and(code_points, _BLOCK_SIZE - 1)
        return tf.gather(self._stage2, block * _BLOCK_SIZE + within)

    def _final_sigma(self, code_points: tf.Tensor, rows: tf.Tensor) -> tf.Tensor:
        """Turns capital sigmas in final position into final small sigmas (U+03C2).

        Python's rule: a capital sigma becomes final when, skipping case-ignorable characters,
        a cased letter comes before it and none after it (in the same text).
        """
        flags = tf.gather(self._flags, self._lookup(code_points))
        context = tf.where(tf.equal(tf.bitwise.bitwise_and(flags, _FLAG_TRANSPARENT), 0))[:, 0]
        sigmas = tf.where(tf.equal(code_points, _CAPITAL_SIGMA))[:, 0]
        # Every sigma is itself a context character: find its index among them.
        index = tf.searchsorted(context, sigmas, side="left", out_type=tf.int64)
        last = tf.size(context, out_type=tf.int64) - 1

        def cased_neighbour(step: int) -> tf.Tensor:
            neighbour_index = tf.clip_by_value(index + step, 0, tf.maximum(last, 0))
            neighbour = tf.gather(context, neighbour_index)
            exists = tf.logical_and(
                tf.logical_and(index + step >= 0, index + step <= last),
                tf.equal(tf.gather(rows, neighbour), tf.gather(rows, sigmas)),
            )
            cased = tf.not_equal(
                tf.bitwise.bitwise_and(tf.gather(flags, neighbour), _FLAG_CASED), 0
            )
            return tf.logical_and(exists, cased)

        final = tf.logical_and(cased_neighbour(-1), tf.logical_not(cased_neighbour(1)))
        positions = tf.boolean_mask(sigmas, final)
        return tf.tensor_scatter_nd_update(
            code_points,
            positions[:, tf.newaxis],
            tf.fill(tf.shape(positions), tf.constant(_FINAL_SIGMA, tf.int32)),
        )

    def _exact_path(self, texts: tf.Tensor) -> tf.RaggedTensor:
        """Tokenizes code point by code point from the reference tables; right for any text."""
        chars, kinds, rows = self._reference_normalize(texts)
        num_texts = tf.shape(texts, out_type=tf.int64)[0]
        normalized = tf.strings.unicode_encode(
            tf.RaggedTensor.from_value_rowids(
                tf.where(tf.equal(kinds, _SEP), 0x20, chars), rows, nrows=num_texts
            ),
            "UTF-8",
        )
        word_by_word = tf.logical_or(
            tf.reduce_any(
                tf.logical_not(tf.strings.regex_full_match(texts, self._splits_alike_pattern))
            ),
            tf.reduce_any(tf.strings.regex_full_match(normalized, self._long_run_pattern)),
        )
        split = tf.cond(
            word_by_word,
            lambda: self._tokenize_words(chars, kinds, rows, num_texts),
            lambda: self._flat_parts(self._text_tokenizer.tokenize(normalized)),
        )
        return tf.RaggedTensor.from_row_splits(split[0], split[1], validate=False)

    def _single_route(self, texts: tf.Tensor, route: str) -> tf.RaggedTensor:
        """Ids from one route for every text, for tests and diagnostics.

        Args:
            texts: `tf.string` tensor of shape `[batch]`.
            route: `"fast"` (kernels only; right only for texts of safe code points),
                `"exact"` (reference tables, then the end-to-end kernel when it applies) or
                `"words"` (reference tables, then word by word).

        Returns:
            `tf.RaggedTensor` of int32 vocabulary ids.

        Raises:
            ValueError: If `route` is none of the above.
        """
        texts = tf.convert_to_tensor(texts, dtype=tf.string)
        if route == "fast":
            ids = self._fast_path(texts)[0]
        elif route == "exact":
            ids = self._exact_path(texts)
        elif route == "words":
            chars, kinds, rows = self._reference_normalize(texts)
            num_texts = tf.shape(texts, out_type=tf.int64)[0]
            values, row_splits = self._tokenize_words(chars, kinds, rows, num_texts)
            ids = tf.RaggedTensor.from_row_splits(values, row_splits, validate=False)
        else:
            raise ValueError(f"route must be 'fast', 'exact' or 'words', got {route!r}.")
        if self._remap_ids:
            ids = ids.with_flat_values(tf.gather(self._wordpiece_ids, ids.flat_values))
        return ids

    @staticmethod
    def _flat_parts(ragged: tf.RaggedTensor) -> Tuple[tf.Tensor, tf.Tensor]:
        return ragged.flat_values, ragged.row_splits

    def _reference_normalize(self, texts: tf.Tensor) -> Tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """Applies the reference basic tokenizer's character mapping to a batch.

        Returns:
            Flat output characters, their classes (`_WORD`, `_SINGLE` or `_SEP`) and the row
            (text) of each.
        """
        decoded = tf.strings.unicode_decode(texts, "UTF-8", errors="ignore")
        code_points = decoded.flat_values
        rows = decoded.value_rowids()
        if self.do_lower_case:  # Only lower-casing knows final sigmas.
            code_points = tf.cond(
                tf.reduce_any(tf.equal(code_points, _CAPITAL_SIGMA)),
                lambda: self._final_sigma(code_points, rows),
                lambda: code_points,
            )
        entry = self._lookup(code_points)

        # Expand every code point into its output characters.
        count = tf.gather(self._count, entry)
        source = tf.repeat(tf.range(tf.size(count)), count)
        first_output = tf.cumsum(count, exclusive=True)
        offset = tf.range(tf.size(source)) - tf.gather(first_output, source)
        source_entry = tf.gather(entry, source)
        is_first = tf.equal(offset, 0)
        tail_index = tf.gather(self._tail_start, source_entry) + tf.maximum(offset - 1, 0)
        chars = tf.where(
            is_first,
            tf.gather(code_points, source) + tf.gather(self._delta, source_entry),
            tf.gather(self._tail_cp, tail_index),
        )
        kinds = tf.where(
            is_first, tf.gather(self._kind, source_entry), tf.gather(self._tail_kind, tail_index)
        )
        char_rows = tf.gather(rows, source)
        if not self.do_lower_case:
            return chars, kinds, char_rows

        def reorder() -> Tuple[tf.Tensor, tf.Tensor]:
            # NFD sorts each run of non-starters by combining class, keeping ties in order.
            ccc = tf.where(
                is_first,
                tf.gather(self._ccc, source_entry),
                tf.gather(self._tail_ccc, tail_index),
            )
            run_start = tf.logical_or(tf.equal(ccc, 0), _starts_of_rows(char_rows))
            run = tf.cumsum(tf.cast(run_start, tf.int64))
            order = tf.argsort(run * 256 + tf.cast(ccc, tf.int64), stable=True)
            return tf.gather(chars, order), tf.gather(kinds, order)

        needs_reorder = tf.reduce_any(
            tf.not_equal(tf.bitwise.bitwise_and(tf.gather(self._flags, entry), _FLAG_REORDER), 0)
        )
        chars, kinds = tf.cond(needs_reorder, reorder, lambda: (chars, kinds))
        kept = tf.not_equal(kinds, _MARK)
        return (
            tf.boolean_mask(chars, kept),
            tf.boolean_mask(kinds, kept),
            tf.boolean_mask(char_rows, kept),
        )

    def _tokenize_words(
        self, chars: tf.Tensor, kinds: tf.Tensor, rows: tf.Tensor, num_texts: tf.Tensor
    ) -> Tuple[tf.Tensor, tf.Tensor]:
        """Cuts classified characters into words and tokenizes word by word.

        Returns:
            Flat ids and the row splits of the texts.
        """
        # A word starts at a character that is a word by itself, right after one, after a
        # separator, or at the start of a text.
        previous = tf.concat([[_SEP], kinds[:-1]], axis=0)[: tf.size(kinds)]
        after_break = tf.logical_or(
            _starts_of_rows(rows),
            tf.logical_or(tf.equal(previous, _SEP), tf.equal(previous, _SINGLE)),
        )
        in_word = tf.not_equal(kinds, _SEP)
        word_start = tf.logical_and(in_word, tf.logical_or(after_break, tf.equal(kinds, _SINGLE)))
        chars = tf.boolean_mask(chars, in_word)
        word_start = tf.boolean_mask(word_start, in_word)
        rows = tf.boolean_mask(rows, in_word)
        word_splits = tf.concat(
            [tf.where(word_start)[:, 0], tf.size(chars, out_type=tf.int64)[tf.newaxis]], axis=0
        )
        word_rows = tf.boolean_mask(rows, word_start)
        words_per_text = tf.math.unsorted_segment_sum(tf.ones_like(word_rows), word_rows, num_texts)
        text_word_splits = tf.concat([tf.zeros([1], tf.int64), tf.cumsum(words_per_text)], axis=0)
        words = tf.strings.unicode_encode(
            tf.RaggedTensor.from_row_splits(chars, word_splits, validate=False), "UTF-8"
        )
        too_long = word_splits[1:] - word_splits[:-1] > self.max_input_chars_per_word
        words = tf.where(too_long, self.unk_token, words)
        pieces = self._word_tokenizer.tokenize(words)
        return pieces.flat_values, tf.gather(pieces.row_splits, text_word_splits)


class _Holder:
    """Holds a Python value that `tf.Module` must not track (e.g. a large dict)."""

    def __init__(self, value: object) -> None:
        self.value = value


def _starts_of_rows(rows: tf.Tensor) -> tf.Tensor:
    """Marks the elements of a flat array whose row differs from the previous element's."""
    changed = tf.not_equal(rows[1:], rows[:-1])
    return tf.concat([tf.ones([1], tf.bool), changed], axis=0)[: tf.size(rows)]
