"""CoNLL reading (both layouts, IOB1), WordPiece alignment, windowing, predictions round trip."""

import numpy as np
import pytest
from conftest import SPECIAL_TOKENS, shared_data

from bert_tf import metrics
from bert_tf.tasks import conll
from bert_tf.tokenization import FullTokenizer

LABELS = conll.get_labels()
VOCAB = [*SPECIAL_TOKENS, "john", "lives", "in", "paris", "."]
VOCAB += ["new", "york", "##er", "un", "##ited", "says", "x"]


@pytest.fixture
def tokenizer(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(VOCAB) + "\n")
    return FullTokenizer(str(path), do_lower_case=True)


def test_labels_and_to_bio():
    assert LABELS == ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"] + [
        "B-MISC",
        "I-MISC",
    ]
    # IOB1: phrase-opening I- becomes B-, a B- between two same-type phrases stays.
    assert conll.to_bio(["I-ORG", "I-ORG", "B-ORG", "O", "I-PER", "I-LOC"]) == [
        "B-ORG",
        "I-ORG",
        "B-ORG",
        "O",
        "B-PER",
        "B-LOC",
    ]
    bio = ["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC"]
    assert conll.to_bio(bio) == bio


def test_reads_two_column_bio_and_four_column_iob1(tmp_path):
    two = tmp_path / "train.txt"
    # Trailing spaces, a -DOCSTART- line and blank lines as the shared copy has them.
    two.write_text("-DOCSTART- O \n\nJohn B-PER \nlives O \n\n\nParis B-LOC\n")
    sentences = conll.read_conll(str(two), LABELS)
    assert [s.words for s in sentences] == [["John", "lives"], ["Paris"]]
    assert [s.tags for s in sentences] == [["B-PER", "O"], ["B-LOC"]]
    four = tmp_path / "eng.testa"
    four.write_text(
        "-DOCSTART- -X- O O\n\nUnited NNP I-NP I-ORG\nNations NNP I-NP I-ORG\n"
        "Paris NNP I-NP B-ORG\nsays VBZ I-VP O\n"
    )
    (sentence,) = conll.read_conll(str(four), LABELS)
    assert sentence.tags == ["I-ORG", "I-ORG", "B-ORG", "O"]  # kept as written
    assert sentence.labels == ["B-ORG", "I-ORG", "B-ORG", "O"]
    assert conll.find_file(str(tmp_path), "dev") == str(four)


@pytest.mark.parametrize(
    "text, message",
    [
        ("John B-PER\nlives\n", r"line 2: expected a token and its tag"),
        ("John NNP B-PER\nlives O\n", r"line 2: 2 fields where the file's first token line has 3"),
        ("John S-PER\n", r"line 1: tag 'S-PER' is not O, B-TYPE or I-TYPE"),
        ("John B-ANIMAL\n", r"line 1: entity type 'ANIMAL' is not one of"),
        ("-DOCSTART- O\n\n", r"holds no sentence"),
    ],
)
def test_bad_files_name_the_line(tmp_path, text, message):
    path = tmp_path / "train.txt"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        conll.read_conll(str(path), LABELS)


def test_missing_split_names_the_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"lacks the test file \(one of test.txt"):
        conll.check_data_dir(str(tmp_path), ["test"])


def test_plan_windows_owns_every_word_once():
    rng = np.random.default_rng(0)
    for _ in range(200):
        budget = int(rng.integers(1, 12))
        counts = [int(c) for c in rng.integers(1, budget + 1, size=int(rng.integers(1, 30)))]
        windows = conll.plan_windows(counts, budget)
        owned = [w for _, _, a, b in windows for w in range(a, b)]
        assert owned == list(range(len(counts)))
        for start, end, a, b in windows:
            assert start <= a < b <= end and sum(counts[start:end]) <= budget
    assert conll.plan_windows([1, 2, 1], 4) == [(0, 3, 0, 3)]
    # Budget 4 of 6 pieces: owned runs of <= 2 pieces, filled right then left with context.
    assert conll.plan_windows([1, 1, 1, 1, 1, 1], 4) == [
        (0, 4, 0, 2),
        (1, 5, 2, 4),
        (2, 6, 4, 6),
    ]


def test_label_on_first_piece_and_windows(tokenizer):
    # "UNITEDER" is three pieces; "\x07" tokenizes to nothing and is scored on an [UNK].
    sentence = conll.Sentence(
        "s", ["John", "UNITEDER", "\x07", "lives"], ["B-PER", "B-MISC", "O", "O"]
    )
    (feature,) = conll.convert_sentences([sentence], LABELS, 10, tokenizer)
    assert feature.tokens == ["[CLS]", "john", "un", "##ited", "##er", "[UNK]", "lives", "[SEP]"]
    assert feature.input_ids == [2, 5, 13, 14, 12, 1, 6, 3, 0, 0]
    assert feature.input_mask == [1] * 8 + [0] * 2
    assert feature.segment_ids == [0] * 10
    per, misc = LABELS.index("B-PER"), LABELS.index("B-MISC")
    assert feature.label_ids == [-1, per, misc, -1, -1, 0, 0, -1, -1, -1]
    assert feature.scored == [(0, 1), (1, 2), (2, 5), (3, 6)]

    # Eleven one-piece words with room for 4 per window: every word scored exactly once.
    words = ["john", "lives", "in", "paris", "."] * 2 + ["x"]
    tags = ["B-PER", "O", "O", "B-LOC", "O"] * 2 + ["O"]
    long = conll.Sentence("l", words, tags)
    features = conll.convert_sentences([long], LABELS, 6, tokenizer)
    assert len(features) > 1
    scored = sorted(w for f in features for w, _ in f.scored)
    assert scored == list(range(len(words)))
    for f in features:
        assert len(f.input_ids) == 6 and sum(lbl >= 0 for lbl in f.label_ids) == len(f.scored)
        for w, p in f.scored:
            assert f.tokens[p] == words[w] and f.label_ids[p] == LABELS.index(tags[w])


def test_word_predictions_round_trip(tokenizer, tmp_path):
    sentences = [
        conll.Sentence("a", ["united", "says", "john"], ["I-ORG", "O", "I-PER"]),
        conll.Sentence(
            "b",
            ["john", "lives", "in", "new", "york", "."] * 2,
            ["B-PER", "O", "O", "B-LOC", "I-LOC", "O"] * 2,
        ),
    ]
    features = conll.convert_sentences(sentences, LABELS, 8, tokenizer)
    logits = np.zeros((len(features), 8, len(LABELS)))
    for i, f in enumerate(features):
        for p, label in enumerate(f.label_ids):
            logits[i, p, max(label, 0)] = 1.0
    predicted = conll.word_predictions(sentences, features, logits, LABELS)
    assert predicted == [s.labels for s in sentences]
    path = tmp_path / "predictions.txt"
    conll.write_predictions(str(path), sentences, predicted)
    lines = path.read_text().splitlines()
    assert lines[:4] == ["united B-ORG B-ORG", "says O O", "john B-PER B-PER", ""]
    counts = metrics.conlleval_lines(lines)
    assert counts.scores()["f1"] == 100.0 and sum(counts.found_correct.values()) == 6


def test_real_conll2003_files():
    folder = shared_data("conll2003")
    vocab = shared_data("vocab", "bert-base-uncased-vocab.txt")
    expected = {"train": (14041, 23499), "dev": (3250, 5942), "test": (3453, 5648)}
    for split, (num_sentences, num_entities) in expected.items():
        sentences = conll.read_conll(conll.find_file(str(folder), split), LABELS)
        assert len(sentences) == num_sentences
        counts = metrics.conlleval_sentences(list(zip(s.tags, s.tags)) for s in sentences)
        assert sum(counts.found_correct.values()) == num_entities
    # The test set at 64 tokens: every word owned by exactly one window.
    tokenizer = FullTokenizer(str(vocab), do_lower_case=True)
    features = conll.convert_sentences(sentences, LABELS, 64, tokenizer)
    per_sentence = [0] * len(sentences)
    for f in features:
        per_sentence[f.sentence_index] += len(f.scored)
    assert per_sentence == [len(s.words) for s in sentences]
    assert len(features) > len(sentences)  # some sentences needed windows


def test_peoples_daily_layout_one_character_a_line(tmp_path):
    # One character and its BIO tag a line, as ../shared/data/chinese/peoples_daily_ner.
    rows = ["江 B-PER", "泽 I-PER", "民 I-PER", "在 O", "北 B-LOC", "京 I-LOC", "。 O", ""]
    rows += ["新 B-ORG", "华 I-ORG", "社 I-ORG", "１ O", "２ O"]
    (tmp_path / "train.txt").write_text("\n".join(rows) + "\n", encoding="utf-8")
    labels = conll.get_labels(["PER", "LOC", "ORG"])
    sentences = conll.read_conll(str(tmp_path / "train.txt"), labels)
    assert [s.words for s in sentences] == [list("江泽民在北京。"), list("新华社１２")]
    with pytest.raises(FileNotFoundError, match="lacks the test file .*test.txt"):
        conll.check_data_dir(str(tmp_path), ["train", "test"])
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", *"江泽民在北京。新华社１"]))
    tokenizer = FullTokenizer(str(vocab), do_lower_case=True)
    (first, second) = conll.convert_sentences(sentences, labels, 16, tokenizer)
    # Every character is one token and carries its own label.
    assert first.tokens == ["[CLS]", *"江泽民在北京。", "[SEP]"]
    assert [labels[first.label_ids[p]] for _, p in first.scored] == sentences[0].labels
    assert second.tokens == ["[CLS]", *"新华社１", "[UNK]", "[SEP]"]


def test_real_peoples_daily_dev():
    folder = shared_data("chinese", "peoples_daily_ner")
    labels = conll.get_labels(["PER", "LOC", "ORG"])
    sentences = conll.read_conll(conll.find_file(str(folder), "dev"), labels)
    # The sizes stated in ../shared/data/chinese/SOURCE.txt.
    assert len(sentences) == 3608
    assert all(len(word) == 1 for s in sentences for word in s.words)
    counts = metrics.conlleval_sentences(list(zip(s.tags, s.tags)) for s in sentences)
    assert sum(counts.found_correct.values()) == 4310
