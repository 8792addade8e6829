"""Windows over long texts: what fits is packed as before, every token of a long text is in a
window, pairs window the longer text, window logits combine per text."""

import numpy as np
import pytest

from bert_tf.tasks import glue, windows
from bert_tf.tasks.common import InputExample, convert_single_example
from bert_tf.tokenization import FullTokenizer

WORDS = [f"w{i}" for i in range(60)]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    path = tmp_path_factory.mktemp("vocab") / "vocab.txt"
    path.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", *WORDS]) + "\n")
    return FullTokenizer(str(path))


def _text(start, stop):
    return " ".join(WORDS[start:stop])


def _windows(tokenizer, text_a, text_b=None, seq=12, stride=4, label_id=1):
    a = tokenizer.tokenize(text_a)
    b = tokenizer.tokenize(text_b) if text_b else None
    return windows.example_windows(a, b, tokenizer, seq, stride, label_id)


@pytest.mark.parametrize(
    "text_a, text_b", [(_text(0, 10), None), (_text(0, 4), _text(4, 13)), ("", None)]
)
def test_what_fits_is_packed_as_without_windows(tokenizer, text_a, text_b):
    [feature] = _windows(tokenizer, text_a, text_b, seq=16)
    expected = convert_single_example(InputExample(0, text_a, text_b), tokenizer, 16, 1)
    assert feature == expected


def test_a_long_text_is_covered_by_strided_windows(tokenizer):
    features = _windows(tokenizer, _text(0, 31), seq=12, stride=4)
    contents = [f.tokens[1:-1] for f in features]
    # Windows of 10 pieces starting every 4; the last ends at the last piece (run_squad's rule).
    assert [c[0] for c in contents] == ["w0", "w4", "w8", "w12", "w16", "w20", "w24"]
    assert contents[-1][-1] == "w30" and len(contents[-1]) == 7
    assert all(len(c) <= 10 for c in contents)
    assert set(WORDS[:31]) == {t for c in contents for t in c}
    for f in features:
        assert f.tokens[0] == "[CLS]" and f.tokens[-1] == "[SEP]"
        assert len(f.input_ids) == 12 and sum(f.input_mask) == len(f.tokens)
        assert f.label_id == 1 and set(f.segment_ids) == {0}
    # A stride longer than a window still skips nothing: windows then touch end to end.
    touching = [f.tokens[1:-1] for f in _windows(tokenizer, _text(0, 25), stride=50)]
    assert [t for c in touching for t in c] == WORDS[:25]


def test_pairs_window_the_longer_text_and_keep_the_shorter_whole(tokenizer):
    # Text B longer: A is in every window as segment 0, B is windowed.
    features = _windows(tokenizer, _text(0, 3), _text(10, 30), seq=16, stride=5)
    room = 16 - 3 - 3
    for f in features:
        sep = f.tokens.index("[SEP]")
        assert f.tokens[1:sep] == WORDS[0:3]
        assert len(f.tokens) - sep - 2 <= room
        assert f.segment_ids[: sep + 1] == [0] * (sep + 1)
    covered = {t for f in features for t in f.tokens[f.tokens.index("[SEP]") + 1 : -1]}
    assert covered == set(WORDS[10:30])
    # Text A longer: A is windowed, B kept whole as segment 1.
    features = _windows(tokenizer, _text(10, 30), _text(0, 3), seq=16, stride=5)
    for f in features:
        assert f.tokens[-4:] == [*WORDS[0:3], "[SEP]"]
    assert {t for f in features for t in f.tokens[1 : f.tokens.index("[SEP]")]} == set(WORDS[10:30])
    # Both long: B (the longer, or B on a tie) is windowed; A is cut to half the room.
    features = _windows(tokenizer, _text(0, 20), _text(20, 40), seq=16, stride=3)
    for f in features:
        assert f.tokens[1 : f.tokens.index("[SEP]")] == WORDS[0:6]  # (16 - 3) // 2
        assert len(f.tokens) <= 16
    assert {t for f in features for t in f.tokens[8:-1]} == set(WORDS[20:40])


def test_convert_examples_to_windows_counts_documents(tokenizer):
    processor = glue.get_processor("sst-2")
    examples = [
        InputExample("dev-0", _text(0, 5), label="1"),
        InputExample("dev-1", _text(0, 31), label="0"),
        InputExample("dev-2", "", label="1"),
    ]
    result = windows.convert_examples_to_windows(examples, processor, 12, tokenizer, 4)
    assert result.num_docs == 3
    assert result.doc_index.tolist() == [0] + [1] * 7 + [2]
    assert [f.label_id for f in result.features] == [1] + [0] * 7 + [1]
    with pytest.raises(ValueError, match="doc_stride must be at least 1"):
        windows.convert_examples_to_windows(examples, processor, 12, tokenizer, 0)


def test_pool_windows_mean_and_max():
    values = np.array([[1.0, -2.0], [3.0, 0.0], [5.0, 5.0], [-1.0, 2.0]], np.float32)
    doc = np.array([0, 0, 1, 2])
    np.testing.assert_array_equal(
        windows.pool_windows(values, doc, 3, "mean"), [[2.0, -1.0], [5.0, 5.0], [-1.0, 2.0]]
    )
    np.testing.assert_array_equal(
        windows.pool_windows(values, doc, 3, "max"), [[3.0, 0.0], [5.0, 5.0], [-1.0, 2.0]]
    )
    with pytest.raises(ValueError, match="needs a window"):
        windows.pool_windows(values, doc, 4, "mean")


def test_document_outputs_keep_single_windows_and_softmax_combined_logits():
    logits = np.array([[0.0, 2.0], [2.0, 0.0], [0.3, 0.1]], np.float32)
    probs = np.array([[0.1, 0.9], [0.8, 0.2], [0.123, 0.877]], np.float32)  # as the model gave
    result = windows.document_outputs(
        {"logits": logits, "probabilities": probs},
        windows.Windows([None] * 3, np.array([0, 0, 1]), 2),
        "mean",
        regression=False,
    )
    np.testing.assert_allclose(result["logits"], [[1.0, 1.0], [0.3, 0.1]])
    np.testing.assert_allclose(result["probabilities"][0], [0.5, 0.5])
    np.testing.assert_array_equal(result["probabilities"][1], probs[2])
    regression = windows.document_outputs(
        {"logits": np.array([[1.0], [4.0], [2.5]], np.float32)},
        windows.Windows([None] * 3, np.array([0, 0, 1]), 2),
        "max",
        regression=True,
    )
    np.testing.assert_array_equal(regression["predictions"], [4.0, 2.5])
