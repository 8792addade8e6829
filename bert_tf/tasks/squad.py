"""SQuAD v1.1 / v2.0 for BERT: JSON -> examples -> sliding-window features -> answer texts.

The behaviour is that of Google's ``run_squad.py`` (github.com/google-research/bert):

* Reading: each context is cut into whitespace-separated words (space, tab, CR, LF and U+202F
  count as whitespace); ``char_to_word_offset`` maps every character to its word, which turns an
  answer's character offset into start and end words. For training, an answer whose text cannot
  be found in the words at its offset is logged, counted and its question skipped. SQuAD v2.0
  questions marked ``is_impossible`` get positions -1 and an empty answer.
* Features: the question (at most ``max_query_length`` WordPieces) and a window of the context
  are packed as ``[CLS] question [SEP] context-window [SEP]``; windows start every
  ``doc_stride`` WordPieces until the context is covered. A token seen by several windows is
  scored only in the window where it has the most context (the larger of the smaller side, see
  `check_is_max_context`). Training answers are moved to the tightest WordPiece span whose text
  equals the tokenized answer (`improve_answer_span`); a window that does not hold the whole
  answer, and every window of an impossible question, points at position 0 ([CLS]).
* Predictions: the `n_best_size` best start and end logits of every window of a question are
  paired, impossible spans dropped, the rest ranked by start + end logit; the WordPiece text of
  a span is mapped back onto the original words (`get_final_text`). For v2.0 the null answer
  (both logits at [CLS], from the window where it scores lowest) competes, and the question is
  answered "" when ``null score - best non-null score > null_score_diff_threshold``.

One deliberate difference: for v2.0 the original crashes (it dereferences ``None``) when a
question's n-best list holds only the null answer, which happens when no window offers a valid
span (e.g. every top start or end index falls in the question). Here that question is answered
"" with null odds `NO_SPAN_NULL_ODDS`.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np
from absl import logging

from bert_tf import files, tokenization

# The first feature's id; every window gets the next one, as in the original.
FIRST_UNIQUE_ID = 1000000000

# Null odds written for a v2.0 question with no possible non-null span: the original's
# "large and positive" starting value of the null score.
NO_SPAN_NULL_ODDS = 1000000.0

# How many examples' features are logged in full while converting (as the original).
NUM_LOGGED_EXAMPLES = 20


@dataclasses.dataclass
class SquadExample:
    """One question on one context.

    Attributes:
        qas_id: The question's id in the JSON file.
        question_text: The question.
        doc_tokens: The context's whitespace-separated words (shared by its questions).
        orig_answer_text: The answer as annotated (training only; "" when impossible).
        start_position: Index of the answer's first word (training; -1 when impossible).
        end_position: Index of the answer's last word (training; -1 when impossible).
        is_impossible: v2.0: the question has no answer in the context.
    """

    qas_id: str
    question_text: str
    doc_tokens: list[str]
    orig_answer_text: str | None = None
    start_position: int | None = None
    end_position: int | None = None
    is_impossible: bool = False


@dataclasses.dataclass
class SquadFeatures:
    """One window of one example, padded to ``max_seq_length``.

    Attributes:
        unique_id: Id of this window (from `FIRST_UNIQUE_ID` on); predictions are keyed by it.
        example_index: Index of the example in the list converted.
        doc_span_index: Which window of the example this is (0 first).
        tokens: ``[CLS] question [SEP] window [SEP]`` as WordPieces (unpadded).
        token_to_orig_map: Position in `tokens` -> index of the original word (context only).
        token_is_max_context: Position in `tokens` -> whether this window gives the token its
            most context (context only).
        input_ids, input_mask, segment_ids: Model inputs, ``max_seq_length`` long.
        start_position, end_position: Training targets in `tokens` (0 when the answer is not
            in this window or the question is impossible); None for prediction.
        is_impossible: Copied from the example.
    """

    unique_id: int
    example_index: int
    doc_span_index: int
    tokens: list[str]
    token_to_orig_map: dict[int, int]
    token_is_max_context: dict[int, bool]
    input_ids: list[int]
    input_mask: list[int]
    segment_ids: list[int]
    start_position: int | None = None
    end_position: int | None = None
    is_impossible: bool = False


DocSpan = collections.namedtuple("DocSpan", ["start", "length"])


@dataclasses.dataclass
class RawResult:
    """The model's logits for one feature (window)."""

    unique_id: int
    start_logits: Sequence[float]
    end_logits: Sequence[float]


# ---------------------------------------------------------------------------------------------
# Reading


def is_squad_whitespace(char: str) -> bool:
    """The original reader's word separators: space, tab, CR, LF and NARROW NO-BREAK SPACE."""
    return char in " \t\r\n" or ord(char) == 0x202F


def split_context(text: str) -> tuple[list[str], list[int]]:
    """Cuts a context into words and maps each character to the word it belongs to.

    Returns:
        (doc_tokens, char_to_word_offset): the words, and for every character of `text` the
        index of its word (a separator maps to the word before it; -1 before the first word).
    """
    words: list[str] = []
    char_to_word: list[int] = []
    in_word = False
    for char in text:
        if is_squad_whitespace(char):
            in_word = False
        elif in_word:
            words[-1] += char
        else:
            words.append(char)
            in_word = True
        char_to_word.append(len(words) - 1)
    return words, char_to_word


def _training_answer(qa: Mapping, words: list[str], char_to_word: list[int]):
    """(text, start word, end word) of a question's single answer, or None when not found."""
    answer = qa["answers"][0]
    text = answer["text"]
    offset = int(answer["answer_start"])
    last_char = offset + len(text) - 1
    if offset < 0 or last_char >= len(char_to_word) or last_char < offset:
        logging.warning(
            "Answer of %s lies outside its context: offset %d, text '%s'", qa["id"], offset, text
        )
        return None
    first, last = char_to_word[offset], char_to_word[last_char]
    # The annotation is trusted only when its text is recovered from the words it points at;
    # otherwise (odd Unicode, mostly) the question is left out of training, as in the original.
    found = " ".join(words[first : last + 1])
    wanted = " ".join(tokenization.whitespace_tokenize(text))
    if wanted not in found:
        logging.warning("Could not find answer: '%s' vs. '%s'", found, wanted)
        return None
    return text, first, last


def parse_squad_examples(
    data: Sequence[Mapping], is_training: bool, version_2_with_negative: bool = False
) -> tuple[list[SquadExample], int]:
    """Turns the ``data`` list of a SQuAD JSON file into examples.

    Args:
        data: The file's ``data`` (articles with ``paragraphs`` of ``context`` and ``qas``).
        is_training: Read the answers (exactly one per question) into word positions.
        version_2_with_negative: Honour ``is_impossible`` (SQuAD v2.0).

    Returns:
        (examples, num_skipped): the examples in file order, and how many training questions
        were left out because their answer text is not at its offset.

    Raises:
        ValueError: A training question does not have exactly one answer (and is possible).
    """
    examples: list[SquadExample] = []
    skipped = 0
    for article in data:
        for paragraph in article["paragraphs"]:
            words, char_to_word = split_context(paragraph["context"])
            for qa in paragraph["qas"]:
                example = SquadExample(qa["id"], qa["question"], words)
                if is_training:
                    impossible = bool(version_2_with_negative and qa.get("is_impossible", False))
                    example.is_impossible = impossible
                    if impossible:
                        example.orig_answer_text = ""
                        example.start_position = example.end_position = -1
                    else:
                        if len(qa.get("answers", ())) != 1:
                            raise ValueError(
                                f"question {qa['id']} has {len(qa.get('answers', ()))} answers; "
                                "training needs exactly one per question (dev files list "
                                "several: keep the first, or use a train-*.json file)"
                            )
                        answer = _training_answer(qa, words, char_to_word)
                        if answer is None:
                            skipped += 1
                            continue
                        (
                            example.orig_answer_text,
                            example.start_position,
                            example.end_position,
                        ) = answer
                examples.append(example)
    return examples, skipped


def load_squad_json(input_file: str) -> dict:
    """Reads a SQuAD JSON file (local or any `tf.io.gfile` path)."""
    import tensorflow as tf

    with tf.io.gfile.GFile(input_file, "r") as f:
        try:
            dataset = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{input_file} is not valid JSON: {e}") from e
    if not isinstance(dataset, dict) or "data" not in dataset:
        raise ValueError(f"{input_file} is not a SQuAD file: it has no top-level 'data' list")
    _check_squad_schema(dataset, input_file)
    return dataset


def _check_squad_schema(dataset: dict, input_file: str) -> None:
    """Raises a ValueError naming the first place where `dataset` is not SQuAD's layout."""

    def need(value, kind, where: str):
        if not isinstance(value, kind):
            raise ValueError(
                f"{input_file} is not a SQuAD file: {where} should be a "
                f"{'list' if kind is list else 'object' if kind is dict else 'string'}, found "
                f"{type(value).__name__} (expected data[].paragraphs[].context and "
                "data[].paragraphs[].qas[].id/question)"
            )
        return value

    for i, article in enumerate(need(dataset["data"], list, "'data'")):
        article = need(article, dict, f"data[{i}]")
        paragraphs = need(article.get("paragraphs"), list, f"data[{i}].paragraphs")
        for j, paragraph in enumerate(paragraphs):
            where = f"data[{i}].paragraphs[{j}]"
            paragraph = need(paragraph, dict, where)
            need(paragraph.get("context"), str, f"{where}.context")
            for k, qa in enumerate(need(paragraph.get("qas"), list, f"{where}.qas")):
                qa = need(qa, dict, f"{where}.qas[{k}]")
                if qa.get("id") is None:
                    raise ValueError(
                        f"{input_file} is not a SQuAD file: {where}.qas[{k}] has no 'id'"
                    )
                need(qa.get("question"), str, f"{where}.qas[{k}].question")


def read_squad_examples(
    input_file: str, is_training: bool, version_2_with_negative: bool = False
) -> list[SquadExample]:
    """Reads a SQuAD JSON file into examples (see `parse_squad_examples`), logging skips."""
    data = load_squad_json(input_file)["data"]
    examples, skipped = parse_squad_examples(data, is_training, version_2_with_negative)
    if skipped:
        logging.warning(
            "%s: skipped %d question(s) whose answer text is not at its answer_start",
            input_file,
            skipped,
        )
    return examples


def has_gold_answers(data: Sequence[Mapping]) -> bool:
    """Whether every question of a SQuAD ``data`` list can be scored (has answers or is
    marked impossible), so predictions on the file can be evaluated."""
    seen = False
    for article in data:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                seen = True
                if not qa.get("answers") and not qa.get("is_impossible", False):
                    return False
    return seen


# ---------------------------------------------------------------------------------------------
# Features


def improve_answer_span(
    doc_tokens: Sequence[str],
    input_start: int,
    input_end: int,
    tokenizer,
    orig_answer_text: str,
) -> tuple[int, int]:
    """Narrows a WordPiece answer span to the sub-span whose text is the tokenized answer.

    Answers are annotated on characters and first projected onto whole words, so the answer
    "1895" in "(1895-1943)." starts out as all of "( 1895 - 1943 ) ."; this returns the span of
    just "1895". The leftmost start, then the rightmost end, that matches wins. When no sub-span
    matches (an answer "Japan" inside the word "Japanese") the span is returned unchanged.

    Args:
        doc_tokens: The context's WordPieces.
        input_start, input_end: The span (inclusive) covering the answer's words.
        tokenizer: Something with ``tokenize(text) -> list[str]`` (a `FullTokenizer`).
        orig_answer_text: The annotated answer.

    Returns:
        (start, end), inclusive.
    """
    wanted = " ".join(tokenizer.tokenize(orig_answer_text))
    for start in range(input_start, input_end + 1):
        for end in range(input_end, start - 1, -1):
            if " ".join(doc_tokens[start : end + 1]) == wanted:
                return start, end
    return input_start, input_end


def check_is_max_context(doc_spans: Sequence[DocSpan], cur_span_index: int, position: int) -> bool:
    """Whether window `cur_span_index` is the one giving token `position` its most context.

    A window's score for a token is the smaller of its left and right context plus 0.01 times
    the window's length; the first window with the highest score wins. E.g. with windows
    "the man went to the", "to the store and bought", "and bought a gallon of", the token
    "bought" belongs to the third (1 token left, 3 right) rather than the second (4 and 0).
    """
    winner, top_score = None, None
    for index, span in enumerate(doc_spans):
        last = span.start + span.length - 1
        if not span.start <= position <= last:
            continue
        score = min(position - span.start, last - position) + 0.01 * span.length
        if top_score is None or top_score < score:
            winner, top_score = index, score
    return winner == cur_span_index


def doc_spans_for(num_tokens: int, max_tokens_for_doc: int, doc_stride: int) -> list[DocSpan]:
    """The sliding windows over `num_tokens` context WordPieces.

    Windows hold at most `max_tokens_for_doc` tokens and start `doc_stride` apart (or one
    window length apart when that is smaller); the last one ends at the last token.
    """
    if max_tokens_for_doc < 1 or doc_stride < 1:
        raise ValueError(
            f"windows need room and a stride: max_tokens_for_doc={max_tokens_for_doc}, "
            f"doc_stride={doc_stride} (raise max_seq_length or lower max_query_length)"
        )
    spans: list[DocSpan] = []
    start = 0
    while start < num_tokens:
        length = min(num_tokens - start, max_tokens_for_doc)
        spans.append(DocSpan(start=start, length=length))
        if start + length == num_tokens:
            break
        start += min(length, doc_stride)
    return spans


class _ContextCache:
    """WordPieces of each context, computed once: a context's questions share its word list."""

    def __init__(self, tokenizer):
        self._tokenizer = tokenizer
        self._entries: dict[int, tuple] = {}

    def get(self, words: list[str]) -> tuple[list[int], list[int], list[str]]:
        """(tok_to_orig_index, orig_to_tok_index, all_doc_tokens) of a word list."""
        entry = self._entries.get(id(words))
        if entry is not None and entry[0] is words:
            return entry[1]
        tok_to_orig, orig_to_tok, pieces = [], [], []
        for index, word in enumerate(words):
            orig_to_tok.append(len(pieces))
            for piece in self._tokenizer.tokenize(word):
                tok_to_orig.append(index)
                pieces.append(piece)
        # Holding `words` keeps its id from being reused by another list.
        self._entries[id(words)] = (words, (tok_to_orig, orig_to_tok, pieces))
        return tok_to_orig, orig_to_tok, pieces


def _log_feature(feature: SquadFeatures, is_training: bool) -> None:
    logging.info("*** Example ***")
    logging.info("unique_id: %s", feature.unique_id)
    logging.info("example_index: %s", feature.example_index)
    logging.info("doc_span_index: %s", feature.doc_span_index)
    logging.info("tokens: %s", " ".join(tokenization.printable_text(t) for t in feature.tokens))
    logging.info(
        "token_to_orig_map: %s",
        " ".join(f"{k}:{v}" for k, v in feature.token_to_orig_map.items()),
    )
    logging.info(
        "token_is_max_context: %s",
        " ".join(f"{k}:{v}" for k, v in feature.token_is_max_context.items()),
    )
    logging.info("input_ids: %s", " ".join(map(str, feature.input_ids)))
    logging.info("input_mask: %s", " ".join(map(str, feature.input_mask)))
    logging.info("segment_ids: %s", " ".join(map(str, feature.segment_ids)))
    if not is_training:
        return
    if feature.is_impossible:
        logging.info("impossible example")
    else:
        answer = " ".join(feature.tokens[feature.start_position : feature.end_position + 1])
        logging.info("start_position: %d", feature.start_position)
        logging.info("end_position: %d", feature.end_position)
        logging.info("answer: %s", tokenization.printable_text(answer))


def generate_features(
    examples: Sequence[SquadExample],
    tokenizer,
    max_seq_length: int,
    doc_stride: int,
    max_query_length: int,
    is_training: bool,
    num_logged_examples: int = NUM_LOGGED_EXAMPLES,
) -> Iterator[SquadFeatures]:
    """Cuts every example into windows and yields each window's features, one at a time.

    Args:
        examples: From `read_squad_examples`.
        tokenizer: A `FullTokenizer` (``tokenize`` and ``convert_tokens_to_ids``).
        max_seq_length: Length of every feature (question, window and 3 special tokens).
        doc_stride: Tokens between the starts of consecutive windows.
        max_query_length: Question WordPieces kept (the rest are cut off).
        is_training: Compute ``start_position``/``end_position`` from the examples' answers.
        num_logged_examples: The features of this many first examples are logged in full.

    Yields:
        `SquadFeatures`, in order of unique_id.

    Raises:
        ValueError: `max_seq_length` leaves no room for context after the question.
    """
    contexts = _ContextCache(tokenizer)
    next_id = FIRST_UNIQUE_ID
    for ex_index, example in enumerate(examples):
        query = tokenizer.tokenize(example.question_text)[:max_query_length]
        tok_to_orig, orig_to_tok, doc_pieces = contexts.get(example.doc_tokens)

        answer_start = answer_end = None
        if is_training:
            answer_start, answer_end = -1, -1
            if not example.is_impossible:
                answer_start = orig_to_tok[example.start_position]
                after = example.end_position + 1
                answer_end = (
                    orig_to_tok[after] - 1 if after < len(orig_to_tok) else len(doc_pieces) - 1
                )
                answer_start, answer_end = improve_answer_span(
                    doc_pieces, answer_start, answer_end, tokenizer, example.orig_answer_text
                )

        # [CLS], [SEP] and [SEP] take three positions.
        room_for_doc = max_seq_length - len(query) - 3
        spans = doc_spans_for(len(doc_pieces), room_for_doc, doc_stride)
        question_part = ["[CLS]", *query, "[SEP]"]
        doc_offset = len(question_part)

        for span_index, span in enumerate(spans):
            tokens = list(question_part)
            to_orig: dict[int, int] = {}
            max_context: dict[int, bool] = {}
            for i in range(span.start, span.start + span.length):
                position = len(tokens)
                to_orig[position] = tok_to_orig[i]
                max_context[position] = check_is_max_context(spans, span_index, i)
                tokens.append(doc_pieces[i])
            tokens.append("[SEP]")
            padding = max_seq_length - len(tokens)
            ids = tokenizer.convert_tokens_to_ids(tokens) + [0] * padding
            mask = [1] * len(tokens) + [0] * padding
            segments = [0] * doc_offset + [1] * (span.length + 1) + [0] * padding

            start = end = None
            if is_training:
                span_last = span.start + span.length - 1
                inside = span.start <= answer_start and answer_end <= span_last
                if example.is_impossible or not inside:
                    # Nothing to point at in this window: the target is [CLS].
                    start = end = 0
                else:
                    start = answer_start - span.start + doc_offset
                    end = answer_end - span.start + doc_offset

            feature = SquadFeatures(
                next_id,
                ex_index,
                span_index,
                tokens,
                to_orig,
                max_context,
                ids,
                mask,
                segments,
                start_position=start,
                end_position=end,
                is_impossible=example.is_impossible,
            )
            if ex_index < num_logged_examples:
                _log_feature(feature, is_training)
            yield feature
            next_id += 1


def convert_examples_to_features(
    examples: Sequence[SquadExample],
    tokenizer,
    max_seq_length: int,
    doc_stride: int,
    max_query_length: int,
    is_training: bool,
    output_fn: Callable[[SquadFeatures], None],
    num_logged_examples: int = NUM_LOGGED_EXAMPLES,
) -> int:
    """The original's interface to `generate_features`: hands each window to `output_fn`.

    Returns:
        The number of features produced.
    """
    count = 0
    for feature in generate_features(
        examples,
        tokenizer,
        max_seq_length,
        doc_stride,
        max_query_length,
        is_training,
        num_logged_examples,
    ):
        output_fn(feature)
        count += 1
    return count


def feature_record(feature: SquadFeatures, is_training: bool) -> dict[str, list[int]]:
    """The TFRecord features of one window, as the original's FeatureWriter stored them."""
    record = {
        "unique_ids": [feature.unique_id],
        "input_ids": feature.input_ids,
        "input_mask": feature.input_mask,
        "segment_ids": feature.segment_ids,
    }
    if is_training:
        record["start_positions"] = [feature.start_position]
        record["end_positions"] = [feature.end_position]
        record["is_impossible"] = [int(bool(feature.is_impossible))]
    return record


# ---------------------------------------------------------------------------------------------
# Predictions


def _strip_spaces(text: str) -> tuple[str, dict[int, int]]:
    """`text` without spaces, and a map from each kept character's new index to its old one."""
    kept, positions = [], {}
    for index, char in enumerate(text):
        if char != " ":
            positions[len(kept)] = index
            kept.append(char)
    return "".join(kept), positions


def get_final_text(
    pred_text: str, orig_text: str, do_lower_case: bool, verbose_logging: bool = False
) -> str:
    """Maps a predicted (tokenized, normalised) text back onto the original words' characters.

    `orig_text` is the whole original words the predicted WordPieces came from, e.g.
    "Steve Smith's" for the prediction "steve smith". The original words are basic-tokenized;
    if that text, without spaces, has as many characters as `orig_text` without spaces, the
    two align character by character and the prediction's start and end are carried over
    ("Steve Smith"). When the prediction is not found in the tokenized words, the lengths
    differ, or an end cannot be mapped, the whole `orig_text` is returned.

    Args:
        pred_text: The prediction's WordPieces joined, with ``##`` removed.
        orig_text: The original words spanned, joined by single spaces.
        do_lower_case: How the model's text was cased.
        verbose_logging: Log why a mapping failed.

    Returns:
        The answer text.
    """
    basic = tokenization.BasicTokenizer(do_lower_case)
    tok_text = " ".join(basic.tokenize(orig_text))

    tok_start = tok_text.find(pred_text)
    if tok_start == -1:
        if verbose_logging:
            logging.info("Unable to find text: '%s' in '%s'", pred_text, orig_text)
        return orig_text
    tok_end = tok_start + len(pred_text) - 1

    orig_chars, orig_ns_to_s = _strip_spaces(orig_text)
    tok_chars, tok_ns_to_s = _strip_spaces(tok_text)
    if len(orig_chars) != len(tok_chars):
        if verbose_logging:
            logging.info(
                "Length not equal after stripping spaces: '%s' vs '%s'", orig_chars, tok_chars
            )
        return orig_text

    # Same characters in the same order: position k without spaces is the same in both.
    tok_s_to_ns = {spaced: stripped for stripped, spaced in tok_ns_to_s.items()}

    def to_original(tok_position: int) -> int | None:
        stripped = tok_s_to_ns.get(tok_position)
        return None if stripped is None else orig_ns_to_s.get(stripped)

    orig_start = to_original(tok_start)
    if orig_start is None:
        if verbose_logging:
            logging.info("Couldn't map start position")
        return orig_text
    orig_end = to_original(tok_end)
    if orig_end is None:
        if verbose_logging:
            logging.info("Couldn't map end position")
        return orig_text
    return orig_text[orig_start : orig_end + 1]


def get_best_indexes(logits: Sequence[float], n_best_size: int) -> list[int]:
    """Indexes of the `n_best_size` largest logits, largest first (ties: lower index first)."""
    order = np.argsort(-np.asarray(logits, dtype=np.float64), kind="stable")
    return [int(i) for i in order[:n_best_size]]


def compute_softmax(scores: Sequence[float]) -> list[float]:
    """Softmax of plain Python floats (max subtracted first), as the n-best file reports."""
    if not scores:
        return []
    top = max(scores)
    exps = [math.exp(score - top) for score in scores]
    total = sum(exps)
    return [value / total for value in exps]


_Candidate = collections.namedtuple(
    "_Candidate", ["feature_index", "start_index", "end_index", "start_logit", "end_logit"]
)
_Answer = collections.namedtuple("_Answer", ["text", "start_logit", "end_logit"])


@dataclasses.dataclass
class SquadPredictions:
    """What `postprocess_predictions` returns: the contents of the three output files."""

    predictions: collections.OrderedDict[str, str]
    nbest: collections.OrderedDict[str, list]
    null_odds: collections.OrderedDict[str, float]


def _span_text(feature: SquadFeatures, example: SquadExample, candidate, do_lower_case, verbose):
    pieces = feature.tokens[candidate.start_index : candidate.end_index + 1]
    first = feature.token_to_orig_map[candidate.start_index]
    last = feature.token_to_orig_map[candidate.end_index]
    # Undo WordPiece splitting, then normalise whitespace.
    tok_text = " ".join(pieces).replace(" ##", "").replace("##", "")
    tok_text = " ".join(tok_text.strip().split())
    orig_text = " ".join(example.doc_tokens[first : last + 1])
    return get_final_text(tok_text, orig_text, do_lower_case, verbose)


def _candidates(features, results_by_id, n_best_size, max_answer_length, with_null):
    """Ranked span candidates of one example, plus its null score and null logits."""
    candidates = []
    null_score, null_feature, null_start, null_end = None, 0, 0.0, 0.0
    for feature_index, feature in enumerate(features):
        try:
            result = results_by_id[feature.unique_id]
        except KeyError:
            raise ValueError(
                f"no model output for feature {feature.unique_id} (example "
                f"{feature.example_index}): predictions and features are out of step"
            ) from None
        start_logits, end_logits = result.start_logits, result.end_logits
        if with_null:
            score = float(start_logits[0]) + float(end_logits[0])
            if null_score is None or score < null_score:
                null_score, null_feature = score, feature_index
                null_start, null_end = float(start_logits[0]), float(end_logits[0])
        starts = get_best_indexes(start_logits, n_best_size)
        ends = get_best_indexes(end_logits, n_best_size)
        num_tokens = len(feature.tokens)
        for start in starts:
            if start >= num_tokens or start not in feature.token_to_orig_map:
                continue
            if not feature.token_is_max_context.get(start, False):
                continue
            for end in ends:
                if end >= num_tokens or end not in feature.token_to_orig_map:
                    continue
                if end < start or end - start + 1 > max_answer_length:
                    continue
                candidates.append(
                    _Candidate(
                        feature_index,
                        start,
                        end,
                        float(start_logits[start]),
                        float(end_logits[end]),
                    )
                )
    if with_null:
        candidates.append(_Candidate(null_feature, 0, 0, null_start, null_end))
    # A stable sort keeps the original's order among equal scores.
    candidates.sort(key=lambda c: c.start_logit + c.end_logit, reverse=True)
    if null_score is None:
        null_score = 0.0
    return candidates, null_score, (null_start, null_end)


def postprocess_predictions(
    examples: Sequence[SquadExample],
    features: Sequence[SquadFeatures],
    results: Iterable[RawResult],
    n_best_size: int = 20,
    max_answer_length: int = 30,
    do_lower_case: bool = True,
    version_2_with_negative: bool = False,
    null_score_diff_threshold: float = 0.0,
    verbose_logging: bool = False,
) -> SquadPredictions:
    """Turns the logits of every window into each question's answer and n-best list.

    Args:
        examples: The examples converted (in the order given to `convert_examples_to_features`).
        features: All their features.
        results: One `RawResult` per feature (any order).
        n_best_size: Start and end indexes considered per window, and answers kept per question.
        max_answer_length: Longest answer, in WordPieces.
        do_lower_case: How the text was cased (for `get_final_text`).
        version_2_with_negative: Let the null answer compete (SQuAD v2.0).
        null_score_diff_threshold: Answer "" when null score - best non-null score exceeds it.
        verbose_logging: Log why `get_final_text` fell back to the whole original words.

    Returns:
        `SquadPredictions` (null_odds is empty unless `version_2_with_negative`).
    """
    by_example: dict[int, list[SquadFeatures]] = collections.defaultdict(list)
    for feature in features:
        by_example[feature.example_index].append(feature)
    results_by_id = {result.unique_id: result for result in results}

    predictions: collections.OrderedDict[str, str] = collections.OrderedDict()
    all_nbest: collections.OrderedDict[str, list] = collections.OrderedDict()
    null_odds: collections.OrderedDict[str, float] = collections.OrderedDict()

    for example_index, example in enumerate(examples):
        example_features = by_example[example_index]
        candidates, null_score, (null_start, null_end) = _candidates(
            example_features, results_by_id, n_best_size, max_answer_length, version_2_with_negative
        )

        seen: set[str] = set()
        nbest: list[_Answer] = []
        for candidate in candidates:
            if len(nbest) == n_best_size:
                break
            if candidate.start_index > 0:
                text = _span_text(
                    example_features[candidate.feature_index],
                    example,
                    candidate,
                    do_lower_case,
                    verbose_logging,
                )
                if text in seen:
                    continue
            else:
                text = ""
            seen.add(text)
            nbest.append(_Answer(text, candidate.start_logit, candidate.end_logit))

        if version_2_with_negative and "" not in seen:
            nbest.append(_Answer("", null_start, null_end))
        if not nbest:
            # No valid span at all (the original's placeholder answer).
            nbest.append(_Answer("empty", 0.0, 0.0))

        probabilities = compute_softmax([a.start_logit + a.end_logit for a in nbest])
        nbest_json = []
        for answer, probability in zip(nbest, probabilities):
            entry = collections.OrderedDict()
            entry["text"] = answer.text
            entry["probability"] = probability
            entry["start_logit"] = answer.start_logit
            entry["end_logit"] = answer.end_logit
            nbest_json.append(entry)
        all_nbest[example.qas_id] = nbest_json

        if not version_2_with_negative:
            predictions[example.qas_id] = nbest_json[0]["text"]
            continue
        best = next((a for a in nbest if a.text), None)
        if best is None:
            # Only the null answer made the n-best list (the original crashes here). That means
            # no window offered a valid span: with n_best_size 1 a valid span is made of its
            # window's best logits, so it outranks the null answer, and larger lists have room.
            null_odds[example.qas_id] = NO_SPAN_NULL_ODDS
            predictions[example.qas_id] = ""
            continue
        score_diff = null_score - best.start_logit - best.end_logit
        null_odds[example.qas_id] = score_diff
        predictions[example.qas_id] = "" if score_diff > null_score_diff_threshold else best.text
    return SquadPredictions(predictions, all_nbest, null_odds)


def _write_json(path: str, value) -> None:
    with files.atomic_open(path) as f:
        f.write(json.dumps(value, indent=4) + "\n")


def write_predictions(
    outputs: SquadPredictions,
    output_prediction_file: str,
    output_nbest_file: str,
    output_null_log_odds_file: str | None = None,
) -> None:
    """Writes predictions.json, nbest_predictions.json and (v2.0) null_odds.json.

    The layout is the original's: ``json.dumps(..., indent=4)`` plus a newline, keys in the
    order of the questions.
    """
    logging.info("Writing predictions to: %s", output_prediction_file)
    logging.info("Writing nbest to: %s", output_nbest_file)
    _write_json(output_prediction_file, outputs.predictions)
    _write_json(output_nbest_file, outputs.nbest)
    if output_null_log_odds_file:
        _write_json(output_null_log_odds_file, outputs.null_odds)
