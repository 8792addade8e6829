"""bert_tf.tasks.squad: reading, sliding windows, answer spans, post-processing, SQuAD records."""

import collections
import json
import logging as std_logging
import random

import numpy as np
import pytest

from bert_tf import records, tokenization
from bert_tf.tasks import squad
from conftest import shared_data

WORDS = (
    "the man went to store and bought a gallon of milk leader was john smith born ( ) - . , "
    "1895 1943 japanese electronics industry is largest in world what year country who "
    "steve ' s"
).split()


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    """A FullTokenizer over a small vocabulary: WORDS plus a few continuation pieces."""
    path = tmp_path_factory.mktemp("vocab") / "vocab.txt"
    pieces = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"] + WORDS + ["##s", "##ing", "w", "##x"]
    path.write_text("\n".join(pieces) + "\n")
    return tokenization.FullTokenizer(str(path), do_lower_case=True)


def squad_data(context, qas, title="t"):
    return [{"title": title, "paragraphs": [{"context": context, "qas": qas}]}]


def qa(qid, question, text=None, start=None, impossible=None):
    item = {"id": qid, "question": question, "answers": []}
    if text is not None:
        item["answers"] = [{"text": text, "answer_start": start}]
    if impossible is not None:
        item["is_impossible"] = impossible
    return item


# ---------------------------------------------------------------------------------------------
# Reading


def test_split_context_whitespace_and_offsets():
    text = "ab  c\u202fd\te\u00a0f\n"
    words, offsets = squad.split_context(text)
    # U+202F separates words like a space; U+00A0 (no-break space) does not.
    assert words == ["ab", "c", "d", "e\u00a0f"]
    assert offsets == [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 3, 3]
    assert squad.split_context("  x")[1] == [-1, -1, 0]


def test_training_examples_get_word_positions():
    context = "The leader was John Smith (1895-1943)."
    data = squad_data(
        context,
        [qa("q1", "Who?", "John Smith", context.index("John")), qa("q2", "When?", "1895", 27)],
    )
    examples, skipped = squad.parse_squad_examples(data, is_training=True)
    assert skipped == 0
    assert [(e.start_position, e.end_position) for e in examples] == [(3, 4), (5, 5)]
    assert examples[0].doc_tokens == ["The", "leader", "was", "John", "Smith", "(1895-1943)."]
    assert examples[1].orig_answer_text == "1895"
    # Questions of one paragraph share its word list (the feature converter relies on it).
    assert examples[0].doc_tokens is examples[1].doc_tokens
    # Prediction reads no answer.
    predict, _ = squad.parse_squad_examples(data, is_training=False)
    assert [(e.start_position, e.orig_answer_text) for e in predict] == [(None, None)] * 2


def test_answer_not_at_its_offset_is_counted_and_skipped(tmp_path, caplog):
    context = "alpha beta gamma delta"
    data = squad_data(
        context,
        [
            qa("good", "q", "gamma", 11),
            qa("wrong_offset", "q", "gamma", 0),  # points at "alpha"
            qa("past_end", "q", "delta", 20),  # runs past the context
            qa("also_good", "q", "beta gamma", 6),
        ],
    )
    examples, skipped = squad.parse_squad_examples(data, is_training=True)
    assert [e.qas_id for e in examples] == ["good", "also_good"]
    assert skipped == 2

    path = tmp_path / "train.json"
    path.write_text(json.dumps({"version": "1.1", "data": data}))
    caplog.set_level(std_logging.WARNING, logger="absl")
    assert len(squad.read_squad_examples(str(path), is_training=True)) == 2
    assert "Could not find answer: 'alpha' vs. 'gamma'" in caplog.text
    assert "skipped 2 question(s)" in caplog.text
    # Prediction does not look at answers, so nothing is skipped.
    assert len(squad.read_squad_examples(str(path), is_training=False)) == 4


def test_training_needs_exactly_one_answer():
    item = qa("q", "?", "a", 0)
    item["answers"].append({"text": "a", "answer_start": 0})
    with pytest.raises(ValueError, match="q has 2 answers; training needs exactly one"):
        squad.parse_squad_examples(squad_data("a b", [item]), is_training=True)


def test_v2_impossible_questions():
    data = squad_data("a b c", [qa("no", "?", impossible=True), qa("yes", "?", "b", 2, False)])
    examples, _ = squad.parse_squad_examples(data, True, version_2_with_negative=True)
    assert [(e.is_impossible, e.start_position, e.orig_answer_text) for e in examples] == [
        (True, -1, ""),
        (False, 1, "b"),
    ]
    # Without the v2 flag an unanswerable training question is an error, as in the original.
    with pytest.raises(ValueError, match="no has 0 answers"):
        squad.parse_squad_examples(data, True, version_2_with_negative=False)
    assert squad.has_gold_answers(data)
    assert not squad.has_gold_answers(squad_data("a", [qa("x", "?")]))


def test_reads_squad_dev_v11():
    path = shared_data("squad", "dev-v1.1.json")
    dataset = squad.load_squad_json(str(path))
    assert len(dataset["data"]) == 48
    examples = squad.read_squad_examples(str(path), is_training=False)
    assert len(examples) == 10570
    assert len({e.qas_id for e in examples}) == 10570
    assert squad.has_gold_answers(dataset["data"])
    # Training-mode reading (first answer of each question): every answer is at its offset.
    for article in dataset["data"]:
        for paragraph in article["paragraphs"]:
            for item in paragraph["qas"]:
                del item["answers"][1:]
    train, skipped = squad.parse_squad_examples(dataset["data"], is_training=True)
    assert (len(train), skipped) == (10570, 0)
    for example in train[:500]:
        words = " ".join(example.doc_tokens[example.start_position : example.end_position + 1])
        assert " ".join(example.orig_answer_text.split()) in words


def test_not_a_squad_file(tmp_path):
    path = tmp_path / "x.json"
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match="no top-level 'data' list"):
        squad.load_squad_json(str(path))
    path.write_text("{")
    with pytest.raises(ValueError, match="not valid JSON"):
        squad.load_squad_json(str(path))


# ---------------------------------------------------------------------------------------------
# Answer spans and windows


def test_improve_answer_span_narrows_to_the_answer(tokenizer):
    words = "the leader was john smith (1895-1943).".split()
    pieces = [p for w in words for p in tokenizer.tokenize(w)]
    assert pieces[5:] == ["(", "1895", "-", "1943", ")", "."]
    # The word "(1895-1943)." is pieces 5..10; the answer "1895" is piece 6 alone.
    assert squad.improve_answer_span(pieces, 5, 10, tokenizer, "1895") == (6, 6)
    assert squad.improve_answer_span(pieces, 5, 10, tokenizer, "1895-1943") == (6, 8)
    # "Japan" inside the single piece "japanese" cannot be narrowed: the span is kept.
    assert squad.improve_answer_span(["japanese", "electronics"], 0, 0, tokenizer, "Japan") == (
        0,
        0,
    )


def test_max_context_hand_case():
    # "the man went to the store and bought a gallon of milk", windows of 5 with stride 3.
    spans = [squad.DocSpan(0, 5), squad.DocSpan(3, 5), squad.DocSpan(6, 5)]
    bought = 7  # window 1: 4 left, 0 right; window 2: 1 left, 3 right
    assert [squad.check_is_max_context(spans, i, bought) for i in range(3)] == [False, False, True]
    to = 3  # window 0: 3 left, 1 right (score 1); window 1: 0 left (score 0)
    assert [squad.check_is_max_context(spans, i, to) for i in range(3)] == [True, False, False]
    # Equal scores: the first window wins.
    tie = [squad.DocSpan(0, 5), squad.DocSpan(2, 5)]
    assert [squad.check_is_max_context(tie, i, 3) for i in range(2)] == [True, False]
    # A longer window wins a tie of context by its 0.01 * length.
    longer = [squad.DocSpan(0, 5), squad.DocSpan(2, 6)]
    assert [squad.check_is_max_context(longer, i, 3) for i in range(2)] == [False, True]


def test_doc_spans_cover_the_context():
    assert squad.doc_spans_for(10, 4, 3) == [(0, 4), (3, 4), (6, 4)]
    assert squad.doc_spans_for(10, 4, 6) == [(0, 4), (4, 4), (8, 2)]  # stride > window
    assert squad.doc_spans_for(3, 8, 2) == [(0, 3)]
    assert squad.doc_spans_for(0, 8, 2) == []
    with pytest.raises(ValueError, match="doc_stride=0"):
        squad.doc_spans_for(10, 4, 0)


def long_example(tokenizer, num_words=60, answer_words=(28, 31)):
    """A context of `num_words` distinct-position words with an answer at `answer_words`."""
    vocab = ["man", "went", "store", "bought", "gallon", "milk", "leader", "john"]
    words = [vocab[i % len(vocab)] + ("s" if i % 3 == 0 else "") for i in range(num_words)]
    first, last = answer_words
    context = " ".join(words)
    start = len(" ".join(words[:first])) + (1 if first else 0)
    text = " ".join(words[first : last + 1])
    data = squad_data(context, [qa("q", "who was the leader", text, start)])
    return data, words


def features_of(examples, tokenizer, is_training, **kwargs):
    settings = dict(max_seq_length=32, doc_stride=8, max_query_length=8)
    settings.update(kwargs)
    return list(squad.generate_features(examples, tokenizer, is_training=is_training, **settings))


def test_windowing_on_a_long_context(tokenizer):
    data, words = long_example(tokenizer)
    examples, _ = squad.parse_squad_examples(data, is_training=True)
    pieces = [p for w in words for p in tokenizer.tokenize(w)]
    word_of_piece = [i for i, w in enumerate(words) for _ in tokenizer.tokenize(w)]
    features = features_of(examples, tokenizer, True)
    query = tokenizer.tokenize("who was the leader")
    window = 32 - len(query) - 3
    assert len(pieces) > 3 * window
    assert [f.doc_span_index for f in features] == list(range(len(features)))
    assert [f.unique_id for f in features] == [
        squad.FIRST_UNIQUE_ID + i for i in range(len(features))
    ]
    owners = collections.Counter()
    for index, feature in enumerate(features):
        assert len(feature.input_ids) == len(feature.input_mask) == len(feature.segment_ids) == 32
        start = index * 8
        used = min(window, len(pieces) - start)
        assert feature.tokens == ["[CLS]", *query, "[SEP]", *pieces[start : start + used], "[SEP]"]
        assert sum(feature.input_mask) == len(feature.tokens)
        assert feature.segment_ids[: len(feature.tokens)] == [0] * (len(query) + 2) + [1] * (
            used + 1
        )
        assert feature.input_ids == tokenizer.convert_tokens_to_ids(feature.tokens) + [0] * (
            32 - len(feature.tokens)
        )
        offset = len(query) + 2
        assert sorted(feature.token_to_orig_map) == list(range(offset, offset + used))
        for position, word in feature.token_to_orig_map.items():
            assert word == word_of_piece[position - offset + start]
            if feature.token_is_max_context[position]:
                owners[position - offset + start] += 1
    # The last window ends at the last piece, and every piece is scored in exactly one window.
    assert features[-1].tokens[-2] == pieces[-1]
    assert sorted(owners) == list(range(len(pieces))) and set(owners.values()) == {1}


def test_answer_across_window_boundaries(tokenizer):
    data, words = long_example(tokenizer, answer_words=(20, 23))
    examples, _ = squad.parse_squad_examples(data, is_training=True)
    features = features_of(examples, tokenizer, True)
    answer_pieces = [p for w in words[20:24] for p in tokenizer.tokenize(w)]
    holding = []
    for feature in features:
        if feature.start_position == 0:
            assert feature.end_position == 0
            continue
        span = feature.tokens[feature.start_position : feature.end_position + 1]
        assert span == answer_pieces
        holding.append(feature.doc_span_index)
    # The answer is whole only in some windows; the windows that cut it (and those without
    # it) point at [CLS].
    assert 0 < len(holding) < len(features)
    cut = [
        f
        for f in features
        if any(words[w] in words[20:24] for w in f.token_to_orig_map.values())
        and f.doc_span_index not in holding
    ]
    assert cut and all(f.start_position == f.end_position == 0 for f in cut)
    # Prediction features carry no positions.
    predict, _ = squad.parse_squad_examples(data, is_training=False)
    assert {(f.start_position, f.end_position) for f in features_of(predict, tokenizer, False)} == {
        (None, None)
    }


def test_impossible_and_truncated_question(tokenizer):
    data = squad_data("the man went to store", [qa("q", "the man " * 10, impossible=True)])
    examples, _ = squad.parse_squad_examples(data, True, version_2_with_negative=True)
    (feature,) = features_of(examples, tokenizer, True, max_query_length=4)
    assert feature.tokens[:6] == ["[CLS]", "the", "man", "the", "man", "[SEP]"]
    assert (feature.start_position, feature.end_position, feature.is_impossible) == (0, 0, True)
    assert squad.feature_record(feature, True)["is_impossible"] == [1]


def test_answer_at_the_end_of_the_context(tokenizer):
    context = "the man went to (1895-1943)."
    data = squad_data(context, [qa("q", "when", "1943", context.index("1943"))])
    examples, _ = squad.parse_squad_examples(data, is_training=True)
    (feature,) = features_of(examples, tokenizer, True)
    assert feature.tokens[feature.start_position : feature.end_position + 1] == ["1943"]


def test_records_round_trip(tokenizer, tmp_path):
    data, _ = long_example(tokenizer)
    examples, _ = squad.parse_squad_examples(data, is_training=True)
    features = features_of(examples, tokenizer, True)
    path = str(tmp_path / records.SQUAD_RECORD_FILES["train"])
    count = records.write_squad_records(path, (squad.feature_record(f, True) for f in features))
    assert count == len(features)
    stored = records.read_first_example(path).features.feature
    assert sorted(stored) == [
        "end_positions",
        "input_ids",
        "input_mask",
        "is_impossible",
        "segment_ids",
        "start_positions",
        "unique_ids",
    ]
    batches = list(records.squad_dataset(path, 2, 32, is_training=False, drop_remainder=False))
    ids = np.concatenate([b["unique_ids"].numpy() for b in batches])
    assert ids.tolist() == [f.unique_id for f in features]
    first = batches[0]
    assert first["input_ids"].shape == (2, 32) and "start_positions" not in first
    assert first["input_ids"].numpy().tolist() == [f.input_ids for f in features[:2]]
    by_id = {f.unique_id: f for f in features}
    for batch in records.squad_dataset(path, 3, 32, is_training=True, seed=1).take(4):
        assert batch["input_ids"].shape == (3, 32) and batch["start_positions"].shape == (3,)
        for i, unique_id in enumerate(batch["unique_ids"].numpy()):
            feature = by_id[int(unique_id)]
            assert batch["start_positions"][i] == feature.start_position
            assert batch["end_positions"][i] == feature.end_position
            assert batch["input_mask"].numpy()[i].tolist() == feature.input_mask
    # Prediction records hold no positions.
    predict_record = squad.feature_record(features[0], is_training=False)
    assert sorted(predict_record) == ["input_ids", "input_mask", "segment_ids", "unique_ids"]


# ---------------------------------------------------------------------------------------------
# get_final_text


@pytest.mark.parametrize(
    "pred, orig, lower, expected",
    [
        ("steve smith", "Steve Smith's", True, "Steve Smith"),
        ("1895", "(1895-1943).", True, "1895"),
        ("1895 - 1943", "(1895-1943).", True, "1895-1943"),
        ("cafe", "Café", True, "Café"),  # accents stripped by the tokenizer, kept in the answer
        # Not found in the tokenized original: the whole original text comes back.
        ("steve smith", "Steve Smith's", False, "Steve Smith's"),
        ("jones", "Steve Smith's", True, "Steve Smith's"),
        # Found, but tokenizing dropped a character (a soft hyphen): lengths differ.
        ("hello", "Hel\u00adlo world", True, "Hel\u00adlo world"),
    ],
)
def test_get_final_text(pred, orig, lower, expected):
    assert squad.get_final_text(pred, orig, lower) == expected


def test_get_final_text_verbose_logging(caplog):
    caplog.set_level(std_logging.INFO, logger="absl")
    squad.get_final_text("jones", "Steve Smith's", True, verbose_logging=False)
    assert "Unable to find text" not in caplog.text
    squad.get_final_text("jones", "Steve Smith's", True, verbose_logging=True)
    assert "Unable to find text: 'jones' in 'Steve Smith's'" in caplog.text
    squad.get_final_text("hello", "Hel\u00adlo world", True, verbose_logging=True)
    assert "Length not equal after stripping spaces" in caplog.text


def test_best_indexes_and_softmax():
    assert squad.get_best_indexes([0.1, 3.0, 3.0, -1.0, 2.0], 3) == [1, 2, 4]
    assert squad.get_best_indexes([1.0, 2.0], 5) == [1, 0]
    probs = squad.compute_softmax([1.0, 2.0, 3.0])
    assert sum(probs) == pytest.approx(1.0) and probs[2] > probs[1] > probs[0]
    assert squad.compute_softmax([]) == []


# ---------------------------------------------------------------------------------------------
# Post-processing


def hand_example(tokenizer, context="john smith went to the store", question="who was born"):
    data = squad_data(context, [qa("q", question)])
    examples, _ = squad.parse_squad_examples(data, is_training=False)
    features = features_of(examples, tokenizer, False)
    return examples, features


def logits_for(feature, spans, null=(0.0, 0.0), width=32):
    """Start/end logits: -10 everywhere, `null` at [CLS], and (start, end, s, e) bumps."""
    start, end = np.full(width, -10.0, np.float32), np.full(width, -10.0, np.float32)
    start[0], end[0] = null
    for first, last, s, e in spans:
        start[first], end[last] = s, e
    return squad.RawResult(feature.unique_id, start, end)


def test_v1_best_span_and_nbest_layout(tokenizer, tmp_path):
    examples, (feature,) = hand_example(tokenizer)
    doc = feature.tokens.index("john")
    result = logits_for(feature, [(doc, doc + 1, 5.0, 4.0), (doc + 2, doc + 2, 1.0, 1.0)])
    out = squad.postprocess_predictions(examples, [feature], [result], n_best_size=3)
    assert out.predictions == {"q": "john smith"}
    nbest = out.nbest["q"]
    assert {tuple(entry) for entry in nbest} == {
        ("text", "probability", "start_logit", "end_logit")
    }
    assert [e["text"] for e in nbest][:2] == ["john smith", "john smith went"]
    assert sum(e["probability"] for e in nbest) == pytest.approx(1.0)
    assert out.null_odds == {}
    squad.write_predictions(out, str(tmp_path / "p.json"), str(tmp_path / "n.json"))
    assert (tmp_path / "p.json").read_text() == json.dumps(out.predictions, indent=4) + "\n"
    assert json.loads((tmp_path / "n.json").read_text()) == out.nbest
    assert not (tmp_path / "o.json").exists()


def test_v1_invalid_spans_are_dropped(tokenizer):
    examples, (feature,) = hand_example(tokenizer)
    doc = feature.tokens.index("john")
    question = feature.tokens[1 : doc - 1]
    context = "john smith went to the store".split()

    def answers(spans, **kwargs):
        out = squad.postprocess_predictions(
            examples, [feature], [logits_for(feature, spans)], **kwargs
        )
        return out.predictions["q"], [e["text"] for e in out.nbest["q"]]

    # Spans in the question are never answers.
    best, texts = answers([(1, 2, 9.0, 9.0)])
    assert not set(" ".join(texts).split()) & set(question)
    # An end before the start is never an answer.
    best, texts = answers([(doc + 4, doc + 1, 9.0, 9.0)])
    assert best == "the"  # the start with the first of the tied ends at or after it
    best, _ = answers([(doc + 4, doc + 1, 9.0, 9.0)], n_best_size=3)
    assert best == "empty"  # the 3 best ends are [CLS], the question and before the start
    # Too long for max_answer_length.
    best, _ = answers([(doc, doc + 5, 5.0, 5.0)], max_answer_length=6)
    assert best == "john smith went to the store"
    best, texts = answers([(doc, doc + 5, 5.0, 5.0)], max_answer_length=3)
    assert all(len(text.split()) <= 3 and text in " ".join(context) for text in texts)
    # Nothing valid at all (the top start index is [CLS]): the original's placeholder answer.
    out = squad.postprocess_predictions(
        examples, [feature], [logits_for(feature, [])], n_best_size=1
    )
    assert out.predictions == {"q": "empty"}
    assert [dict(e) for e in out.nbest["q"]] == [
        {"text": "empty", "probability": 1.0, "start_logit": 0.0, "end_logit": 0.0}
    ]


def test_spans_only_count_in_their_max_context_window(tokenizer):
    data, words = long_example(tokenizer)
    examples, _ = squad.parse_squad_examples(
        [{**data[0], "paragraphs": [{**data[0]["paragraphs"][0]}]}], is_training=False
    )
    features = features_of(examples, tokenizer, False)
    # Find a piece shown by two windows; give it a high score only in the window where it
    # does NOT have its most context, and a modest one where it does.
    first, second = features[1], features[2]
    shared = [
        p
        for p in first.token_to_orig_map
        if not first.token_is_max_context[p]
        and second.token_is_max_context.get(p - 8, False)
        and tokenizer.tokenize(words[first.token_to_orig_map[p]]) == [first.tokens[p]]
    ]
    position = shared[0]
    results = [logits_for(f, []) for f in features]
    results[1] = logits_for(first, [(position, position, 9.0, 9.0)])
    results[2] = logits_for(second, [(position - 8, position - 8, 1.0, 1.0)])
    out = squad.postprocess_predictions(examples, features, results, n_best_size=2)
    best = out.nbest["q"][0]
    assert (best["start_logit"], best["end_logit"]) == (1.0, 1.0)
    assert out.predictions["q"] == words[second.token_to_orig_map[position - 8]]


def test_v2_null_answer_and_odds(tokenizer):
    examples, (feature,) = hand_example(tokenizer)
    doc = feature.tokens.index("went")
    kwargs = dict(version_2_with_negative=True, n_best_size=5)
    span = [(doc, doc, 2.0, 1.0)]

    out = squad.postprocess_predictions(
        examples, [feature], [logits_for(feature, span, null=(3.0, 2.0))], **kwargs
    )
    assert out.predictions == {"q": ""}
    assert out.null_odds == {"q": pytest.approx(5.0 - 3.0)}
    assert "" in [e["text"] for e in out.nbest["q"]]

    out = squad.postprocess_predictions(
        examples, [feature], [logits_for(feature, span, null=(1.0, 1.0))], **kwargs
    )
    assert out.predictions == {"q": "went"}
    assert out.null_odds["q"] == pytest.approx(-1.0)

    # The threshold moves the decision.
    out = squad.postprocess_predictions(
        examples,
        [feature],
        [logits_for(feature, span, null=(3.0, 2.0))],
        null_score_diff_threshold=2.5,
        **kwargs,
    )
    assert out.predictions == {"q": "went"}


def test_v2_null_score_is_the_lowest_over_windows(tokenizer):
    data, _ = long_example(tokenizer)
    examples, _ = squad.parse_squad_examples(data, is_training=False)
    features = features_of(examples, tokenizer, False)
    nulls = [(4.0 + i, 4.0) for i in range(len(features))]
    nulls[2] = (1.5, 2.0)
    results = [logits_for(f, [], null=n) for f, n in zip(features, nulls)]
    doc = features[0].tokens.index("[SEP]") + 1
    results[0] = logits_for(features[0], [(doc, doc, 2.0, 2.0)], null=nulls[0])
    out = squad.postprocess_predictions(
        examples, features, results, version_2_with_negative=True, n_best_size=3
    )
    assert out.null_odds["q"] == pytest.approx(3.5 - 4.0)
    assert out.predictions["q"] != ""
    null_entry = [e for e in out.nbest["q"] if e["text"] == ""][0]
    assert (null_entry["start_logit"], null_entry["end_logit"]) == (1.5, 2.0)


def test_v2_nbest_holding_only_the_null_answer(tokenizer):
    """The original crashes here (best_non_null_entry is None); we answer "" instead."""
    examples, (feature,) = hand_example(tokenizer)
    doc = feature.tokens.index("went")
    kwargs = dict(version_2_with_negative=True, null_score_diff_threshold=100.0)
    # Every top start index points into the question: no valid span, only the null answer.
    result = logits_for(feature, [(1, doc, 9.0, 9.0), (2, doc, 8.0, 8.0)], null=(0.5, 0.25))
    for n_best_size in (1, 2):
        out = squad.postprocess_predictions(
            examples, [feature], [result], n_best_size=n_best_size, **kwargs
        )
        assert out.predictions == {"q": ""}
        assert out.null_odds == {"q": squad.NO_SPAN_NULL_ODDS}
        assert [dict(e) for e in out.nbest["q"]] == [
            {"text": "", "probability": 1.0, "start_logit": 0.5, "end_logit": 0.25}
        ]


def test_missing_result_is_reported(tokenizer):
    examples, features = hand_example(tokenizer)
    with pytest.raises(ValueError, match="no model output for feature 1000000000"):
        squad.postprocess_predictions(examples, features, [])


def test_dev_articles_convert():
    """Two real articles through the uncased vocabulary: answers survive windowing."""
    vocab = shared_data("vocab", "bert-base-uncased-vocab.txt")
    full = tokenization.FullTokenizer(str(vocab), do_lower_case=True)
    data = squad.load_squad_json(str(shared_data("squad", "dev-v1.1.json")))["data"][:2]
    for article in data:
        for paragraph in article["paragraphs"]:
            for item in paragraph["qas"]:
                del item["answers"][1:]
    examples, skipped = squad.parse_squad_examples(data, is_training=True)
    assert skipped == 0
    random.Random(12345).shuffle(examples)
    features = list(
        squad.generate_features(
            examples, full, 128, 32, 24, is_training=True, num_logged_examples=0
        )
    )
    assert len(features) > len(examples)
    for feature in features:
        if feature.start_position:
            example = examples[feature.example_index]
            answer = "".join(full.tokenize(example.orig_answer_text)).replace("##", "")
            span = feature.tokens[feature.start_position : feature.end_position + 1]
            assert answer in "".join(span).replace("##", "")
    per_example = collections.Counter(f.example_index for f in features)
    assert max(per_example.values()) > 1  # long contexts need several windows
