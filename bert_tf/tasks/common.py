"""Pieces every task shares: examples, the [CLS] A [SEP] B [SEP] layout, pair truncation."""

from __future__ import annotations

import dataclasses

from absl import logging


@dataclasses.dataclass
class InputExample:
    """One unit of text: a single sequence (`text_b` None) or a pair, with an optional label."""

    guid: str | int
    text_a: str
    text_b: str | None = None
    label: str | float | None = None


@dataclasses.dataclass
class InputFeatures:
    """Fixed-length model inputs for one example (Google's feature names)."""

    input_ids: list[int]
    input_mask: list[int]
    segment_ids: list[int]
    tokens: list[str]
    label_id: int | float = 0
    is_real_example: bool = True


def truncate_seq_pair(tokens_a: list, tokens_b: list, max_length: int) -> None:
    """Shortens a pair in place to at most `max_length` tokens in total.

    Like the original, one token at a time comes off the end of whichever list is longer (the
    second on ties), which keeps as much of the shorter text as possible.
    """
    while len(tokens_a) + len(tokens_b) > max_length:
        longer = tokens_a if len(tokens_a) > len(tokens_b) else tokens_b
        longer.pop()


def pack_tokens(
    tokens_a: list[str], tokens_b: list[str] | None, max_seq_length: int
) -> tuple[list[str], list[int]]:
    """Truncates and lays out ``[CLS] A [SEP]`` or ``[CLS] A [SEP] B [SEP]``.

    Returns:
        (tokens, segment_ids): segment 0 covers [CLS], A and its [SEP]; segment 1 covers B and
        the final [SEP]. Nothing is padded yet.
    """
    tokens_a = list(tokens_a)
    if tokens_b:
        tokens_b = list(tokens_b)
        truncate_seq_pair(tokens_a, tokens_b, max_seq_length - 3)
    else:
        tokens_b = None
        del tokens_a[max_seq_length - 2 :]
    tokens = ["[CLS]"] + tokens_a + ["[SEP]"]
    segment_ids = [0] * len(tokens)
    if tokens_b:
        tokens += tokens_b + ["[SEP]"]
        segment_ids += [1] * (len(tokens_b) + 1)
    return tokens, segment_ids


def convert_single_example(
    example: InputExample, tokenizer, max_seq_length: int, label_id: int | float = 0
) -> InputFeatures:
    """Tokenizes, truncates, packs and zero-pads one example to `max_seq_length`."""
    tokens_a = tokenizer.tokenize(example.text_a)
    tokens_b = tokenizer.tokenize(example.text_b) if example.text_b else None
    return features_from_tokens(tokens_a, tokens_b, tokenizer, max_seq_length, label_id)


def features_from_tokens(
    tokens_a: list[str],
    tokens_b: list[str] | None,
    tokenizer,
    max_seq_length: int,
    label_id: float = 0,
) -> InputFeatures:
    """Truncates, packs and zero-pads WordPieces (`pack_tokens`) into `InputFeatures`."""
    tokens, segment_ids = pack_tokens(tokens_a, tokens_b, max_seq_length)
    input_ids = tokenizer.convert_tokens_to_ids(tokens)
    input_mask = [1] * len(input_ids)
    padding = max_seq_length - len(input_ids)
    return InputFeatures(
        input_ids=input_ids + [0] * padding,
        input_mask=input_mask + [0] * padding,
        segment_ids=segment_ids + [0] * padding,
        tokens=tokens,
        label_id=label_id,
    )


def log_features(example: InputExample, features: InputFeatures) -> None:
    """Logs one converted example the way the original scripts show their first few."""
    logging.info("*** Example ***")
    logging.info("guid: %s", example.guid)
    logging.info("tokens: %s", " ".join(features.tokens))
    logging.info("input_ids: %s", " ".join(map(str, features.input_ids)))
    logging.info("input_mask: %s", " ".join(map(str, features.input_mask)))
    logging.info("segment_ids: %s", " ".join(map(str, features.segment_ids)))
