"""CoNLL-2003 named entities: files -> sentences -> WordPiece windows with one label per word.

Files. One token per line with its tag in the last field, a blank line between sentences, and
``-DOCSTART-`` lines between documents (they are not sentences and are skipped). Both layouts in
use are read: the two-column ``token tag`` files (BIO tags, as most copies of the data hold) and
the original four-column ``token POS chunk tag`` files (``eng.train``, ``eng.testa``,
``eng.testb``, IOB1 tags). The model learns, predicts and writes tags in BIO form (`to_bio`: an
I- tag that opens a phrase becomes B-). Both forms name the same phrases under conlleval's rules,
so entity scores do not depend on the form of the file; the gold column of the predictions file
is written in BIO too, so that conlleval's token accuracy compares like with like.

Features. Each word is split into WordPiece tokens and its label sits on its first piece; every
other position ([CLS], [SEP], later pieces, padding, and context words, see below) has label id
`IGNORE_LABEL` (-1), so it counts neither in the loss nor in scoring. A word that WordPiece
turns into nothing (a lone control character) is given one [UNK] piece so that it is still
scored. A sentence longer than ``max_seq_length - 2`` pieces is split into windows at word
boundaries: each word is *owned* (labelled and scored) by exactly one window, and each window
is filled with context words on both sides of the words it owns, so no word is dropped and
every prediction sees context on both sides when there is room. A single word with more pieces
than a window holds keeps its first pieces only (counted and logged).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

import tensorflow as tf
from absl import logging

from bert_tf import files

# Label id of positions that are neither trained nor scored.
IGNORE_LABEL = -1
# CoNLL-2003's entity types, in the order their labels get ids.
CONLL2003_TYPES = ("PER", "ORG", "LOC", "MISC")
DOCSTART = "-DOCSTART-"
# The files of each split: the usual names first, then the original distribution's.
SPLIT_FILES = {
    "train": ("train.txt", "eng.train"),
    "dev": ("valid.txt", "dev.txt", "eng.testa"),
    "test": ("test.txt", "eng.testb"),
}


def get_labels(entity_types: Sequence[str] = CONLL2003_TYPES) -> list[str]:
    """The BIO label list: ``O`` then ``B-T``, ``I-T`` for each type (ids are list positions)."""
    labels = ["O"]
    for kind in entity_types:
        labels += [f"B-{kind}", f"I-{kind}"]
    return labels


def to_bio(tags: Sequence[str]) -> list[str]:
    """Rewrites IOB1 (or loose BIO) tags as strict BIO: a phrase-opening I-T becomes B-T.

    An I-T opens a phrase when the previous tag is O, the sentence start, or of another type
    (conlleval's rule). B- tags and I- tags continuing a phrase are kept, so BIO input is
    returned unchanged.
    """
    out = []
    previous_type = None
    for tag in tags:
        prefix, _, kind = tag.partition("-")
        if prefix == "I" and kind != previous_type:
            tag = f"B-{kind}"
        out.append(tag)
        previous_type = kind if prefix in ("B", "I") else None
    return out


@dataclasses.dataclass
class Sentence:
    """One sentence of a CoNLL file: its words and their tags as written (IOB1 or BIO)."""

    guid: str
    words: list[str]
    tags: list[str]

    @property
    def labels(self) -> list[str]:
        """The tags in BIO form (what the model is trained to predict)."""
        return to_bio(self.tags)


def find_file(data_dir: str, split: str) -> str | None:
    """The file of `split` ("train", "dev", "test") in `data_dir`, or None."""
    for name in SPLIT_FILES[split]:
        path = os.path.join(data_dir, name)
        if tf.io.gfile.exists(path):
            return path
    return None


def check_data_dir(data_dir: str, splits: Sequence[str]) -> None:
    """Fails early, naming the folder and the files looked for, when a needed split is missing."""
    if not tf.io.gfile.isdir(data_dir):
        raise FileNotFoundError(f"--data_dir: no such folder: {data_dir}")
    for split in splits:
        if find_file(data_dir, split) is None:
            raise FileNotFoundError(
                f"--data_dir={data_dir} lacks the {split} file (one of "
                f"{', '.join(SPLIT_FILES[split])})"
            )


def read_conll(path: str, labels: Sequence[str] | None = None) -> list[Sentence]:
    """Reads a CoNLL NER file in either layout (see the module docstring).

    Args:
        path: the file.
        labels: the label list (`get_labels`); each tag, in BIO form, must be one of them.
            None accepts any B-/I-/O tag.

    Returns:
        The sentences, in file order (guid ``"<file name>-<index>"``).

    Raises:
        ValueError: a line with a single field, a line whose field count differs from the
            file's first token line, a tag that is not O/B-/I- or not in `labels`, or a file
            with no sentence; the message names the file and line.
    """
    name = os.path.basename(path)
    known = set(labels) if labels is not None else None
    sentences: list[Sentence] = []
    words: list[str] = []
    tags: list[str] = []
    width = None

    def flush():
        if words:
            sentences.append(Sentence(f"{name}-{len(sentences)}", list(words), list(tags)))
            words.clear()
            tags.clear()

    with tf.io.gfile.GFile(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise ValueError(
                    f"{path}, line {number}: not UTF-8 text ({e.reason}: "
                    f"{raw[e.start:e.end]!r}); save the file as UTF-8"
                ) from None
            fields = line.split()
            if not fields:
                flush()
                continue
            if fields[0] == DOCSTART:
                flush()
                continue
            if len(fields) < 2:
                raise ValueError(
                    f"{path}, line {number}: expected a token and its tag separated by "
                    f"whitespace, found {line.strip()!r}"
                )
            if width is None:
                width = len(fields)
            elif len(fields) != width:
                raise ValueError(
                    f"{path}, line {number}: {len(fields)} fields where the file's first token "
                    f"line has {width} (expected 'token tag' or 'token POS chunk tag')"
                )
            tag = fields[-1]
            prefix, hyphen, kind = tag.partition("-")
            if tag != "O" and not (hyphen and prefix in ("B", "I") and kind):
                raise ValueError(
                    f"{path}, line {number}: tag {tag!r} is not O, B-TYPE or I-TYPE "
                    "(IOBES and untyped tags are not read)"
                )
            if known is not None and f"B-{kind}" not in known and tag != "O":
                raise ValueError(
                    f"{path}, line {number}: entity type {kind!r} is not one of "
                    f"{sorted({lbl[2:] for lbl in known if lbl != 'O'})} (see --entity_types)"
                )
            words.append(fields[0])
            tags.append(tag)
    flush()
    if not sentences:
        raise ValueError(f"{path} holds no sentence (expected 'token tag' lines)")
    return sentences


@dataclasses.dataclass
class NerFeatures:
    """One window of one sentence, padded to ``max_seq_length`` (Google's feature names).

    `scored` lists ``(word index in the sentence, token position)`` for each word this window
    owns, in order; those positions carry the word's label in `label_ids`.
    """

    sentence_index: int
    input_ids: list[int]
    input_mask: list[int]
    segment_ids: list[int]
    label_ids: list[int]
    tokens: list[str]
    scored: list[tuple[int, int]]

    def values(self) -> dict[str, list[int]]:
        """The record values (see `bert_tf.records.NER_FEATURES`)."""
        return {
            "input_ids": self.input_ids,
            "input_mask": self.input_mask,
            "segment_ids": self.segment_ids,
            "label_ids": self.label_ids,
        }


def plan_windows(piece_counts: Sequence[int], budget: int) -> list[tuple[int, int, int, int]]:
    """Splits words into windows of at most `budget` pieces, each word owned by one window.

    A sentence that fits is one window owning every word. Otherwise consecutive runs of words
    of at most ``budget // 2`` pieces (at least one word each) are owned in turn, and each
    window grows with neighbouring words, one at a time alternating right and left, until the
    next word would not fit.

    Args:
        piece_counts: pieces per word, each between 1 and `budget`.
        budget: pieces one window holds (``max_seq_length - 2``).

    Returns:
        ``(start, end, own_start, own_end)`` word ranges (end exclusive) per window.
    """
    total = sum(piece_counts)
    n = len(piece_counts)
    if total <= budget:
        return [(0, n, 0, n)]
    windows = []
    own_capacity = max(1, budget // 2)
    own_start = 0
    while own_start < n:
        own_end, used = own_start + 1, piece_counts[own_start]
        while own_end < n and used + piece_counts[own_end] <= own_capacity:
            used += piece_counts[own_end]
            own_end += 1
        start, end = own_start, own_end
        grew = True
        while grew:
            grew = False
            if end < n and used + piece_counts[end] <= budget:
                used += piece_counts[end]
                end += 1
                grew = True
            if start > 0 and used + piece_counts[start - 1] <= budget:
                start -= 1
                used += piece_counts[start]
                grew = True
        windows.append((start, end, own_start, own_end))
        own_start = own_end
    return windows


def convert_sentences(
    sentences: Sequence[Sentence],
    labels: Sequence[str],
    max_seq_length: int,
    tokenizer,
    log_first: int = 5,
) -> list[NerFeatures]:
    """Tokenizes sentences into labelled, padded windows (see the module docstring).

    Args:
        sentences: from `read_conll`.
        labels: the label list; a label's id is its position.
        max_seq_length: tokens per window, [CLS] and [SEP] included.
        tokenizer: a `FullTokenizer` (lower-cases when built with ``do_lower_case=True``).
        log_first: how many windows to log, as the original scripts log their first examples.

    Returns:
        The windows of every sentence, in order.
    """
    label_map = {label: i for i, label in enumerate(labels)}
    budget = max_seq_length - 2
    features: list[NerFeatures] = []
    cut_words = split_sentences = 0
    for index, sentence in enumerate(sentences):
        pieces = []
        for word in sentence.words:
            word_pieces = tokenizer.tokenize(word) or ["[UNK]"]
            if len(word_pieces) > budget:
                cut_words += 1
                word_pieces = word_pieces[:budget]
            pieces.append(word_pieces)
        label_ids = [label_map[label] for label in sentence.labels]
        windows = plan_windows([len(p) for p in pieces], budget)
        split_sentences += len(windows) > 1
        for start, end, own_start, own_end in windows:
            tokens = ["[CLS]"]
            targets = [IGNORE_LABEL]
            scored = []
            for w in range(start, end):
                if own_start <= w < own_end:
                    scored.append((w, len(tokens)))
                    targets.append(label_ids[w])
                else:
                    targets.append(IGNORE_LABEL)
                targets += [IGNORE_LABEL] * (len(pieces[w]) - 1)
                tokens += pieces[w]
            tokens.append("[SEP]")
            targets.append(IGNORE_LABEL)
            input_ids = tokenizer.convert_tokens_to_ids(tokens)
            padding = max_seq_length - len(input_ids)
            feature = NerFeatures(
                sentence_index=index,
                input_ids=input_ids + [0] * padding,
                input_mask=[1] * len(input_ids) + [0] * padding,
                segment_ids=[0] * max_seq_length,
                label_ids=targets + [IGNORE_LABEL] * padding,
                tokens=tokens,
                scored=scored,
            )
            if len(features) < log_first:
                _log_features(sentence, feature, labels)
            features.append(feature)
    logging.info(
        "%d sentences -> %d windows of %d tokens (%d sentences split into windows, "
        "%d words cut to their first %d pieces)",
        len(sentences),
        len(features),
        max_seq_length,
        split_sentences,
        cut_words,
        budget,
    )
    return features


def _log_features(sentence: Sentence, feature: NerFeatures, labels: Sequence[str]) -> None:
    logging.info("*** Example ***")
    logging.info("guid: %s", sentence.guid)
    logging.info("tokens: %s", " ".join(feature.tokens))
    logging.info("input_ids: %s", " ".join(map(str, feature.input_ids)))
    logging.info("input_mask: %s", " ".join(map(str, feature.input_mask)))
    logging.info(
        "labels: %s",
        " ".join(f"{feature.tokens[p]}/{labels[feature.label_ids[p]]}" for _, p in feature.scored),
    )


def word_predictions(
    sentences: Sequence[Sentence],
    features: Sequence[NerFeatures],
    logits,
    labels: Sequence[str],
) -> list[list[str]]:
    """Each word's predicted label: the arg-max at its first piece in the window owning it.

    Args:
        sentences: the sentences the features came from.
        features: their windows, in the order of `logits`.
        logits: float array [num_features, max_seq_length, num_labels].
        labels: the label list.

    Returns:
        One list of labels per sentence, as long as its words.

    Raises:
        RuntimeError: a word got no prediction (features and sentences do not belong together).
    """
    predicted: list[list[str | None]] = [[None] * len(s.words) for s in sentences]
    for feature, window_logits in zip(features, logits):
        for word, position in feature.scored:
            predicted[feature.sentence_index][word] = labels[int(window_logits[position].argmax())]
    for sentence, tags in zip(sentences, predicted):
        if None in tags:
            raise RuntimeError(f"{sentence.guid}: a word has no prediction")
    return predicted


def write_predictions(path: str, sentences: Sequence[Sentence], predicted) -> None:
    """Writes ``word gold predicted`` lines, a blank line after each sentence (conlleval's input).

    The gold tags are the sentence's BIO labels (IOB1 files converted, see the module docstring).
    """
    with files.atomic_open(path) as f:
        for sentence, tags in zip(sentences, predicted):
            for word, gold, guess in zip(sentence.words, sentence.labels, tags):
                f.write(f"{word} {gold} {guess}\n")
            f.write("\n")
