"""Tests of the pure-Python reference tokenizer against hand-checked expectations."""

from __future__ import annotations

import collections
import json
from pathlib import Path
from typing import List

import pytest

from bert_tf import tokenization

DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data"
REAL_VOCAB = DATA_DIR / "vocab" / "bert-base-uncased-vocab.txt"

# A small vocabulary whose WordPiece splits can be worked out by hand.
TINY_VOCAB = [
    "[UNK]",
    "[CLS]",
    "[SEP]",
    "want",
    "##want",
    "##ed",
    "wa",
    "un",
    "runn",
    "##ing",
    ",",
]


def _write_vocab(path: Path, tokens: List[str]) -> Path:
    path.write_text("".join(token + "\n" for token in tokens), encoding="utf-8")
    return path


@pytest.fixture()
def tiny_vocab_file(tmp_path: Path) -> Path:
    return _write_vocab(tmp_path / "vocab.txt", TINY_VOCAB)


def test_full_tokenizer_splits_and_converts(tiny_vocab_file: Path) -> None:
    tokenizer = tokenization.FullTokenizer(str(tiny_vocab_file), do_lower_case=True)
    tokens = tokenizer.tokenize("UNwant\u00e9d,running")
    assert tokens == ["un", "##want", "##ed", ",", "runn", "##ing"]
    assert tokenizer.convert_tokens_to_ids(tokens) == [7, 4, 5, 10, 8, 9]
    assert tokenizer.convert_ids_to_tokens([7, 4, 5, 10, 8, 9]) == tokens
    # Bytes are decoded as UTF-8, like text.
    assert tokenizer.tokenize("UNwant\u00e9d,running".encode("utf-8")) == tokens


def test_full_tokenizer_cased_keeps_accents(tiny_vocab_file: Path) -> None:
    tokenizer = tokenization.FullTokenizer(tiny_vocab_file, do_lower_case=False)
    # "UNwant" starts with no vocabulary piece and "é" keeps its accent: both unknown.
    assert tokenizer.tokenize("UNwant\u00e9d,running") == ["[UNK]", ",", "runn", "##ing"]


def test_basic_tokenizer_lower() -> None:
    basic = tokenization.BasicTokenizer(do_lower_case=True)
    assert basic.tokenize(" \tHeLLo!how  \n Are yoU?  ") == [
        "hello",
        "!",
        "how",
        "are",
        "you",
        "?",
    ]
    assert basic.tokenize("H\u00e9llo") == ["hello"]
    assert basic.tokenize("\u00dcn\u00efc\u00f6d\u00e9") == ["unicode"]


def test_basic_tokenizer_cased_keeps_case_and_accents() -> None:
    basic = tokenization.BasicTokenizer(do_lower_case=False)
    assert basic.tokenize(" \tHeLLo!how  \n Are yoU?  ") == [
        "HeLLo",
        "!",
        "how",
        "Are",
        "yoU",
        "?",
    ]
    assert basic.tokenize("H\u00e9llo \u00dcn\u00efc\u00f6d\u00e9") == [
        "H\u00e9llo",
        "\u00dcn\u00efc\u00f6d\u00e9",
    ]


def test_chinese_characters_are_split() -> None:
    basic = tokenization.BasicTokenizer()
    assert basic.tokenize("ah\u535a\u63a8zz") == ["ah", "\u535a", "\u63a8", "zz"]
    # Hiragana is not in the CJK ideograph blocks and stays one word; lower-casing strips the
    # voicing mark of "ga" (NFD: U+304B U+3099, a non-spacing mark).
    hiragana = "\u3072\u3089\u304c\u306a"
    assert tokenization.BasicTokenizer(do_lower_case=False).tokenize(hiragana) == [hiragana]
    assert basic.tokenize(hiragana) == ["\u3072\u3089\u304b\u306a"]


def test_cleaning_drops_control_and_maps_whitespace() -> None:
    basic = tokenization.BasicTokenizer(do_lower_case=False)
    # Zero-width space (Cf), NUL, U+FFFD and BEL (Cc) vanish without splitting the word.
    assert basic.tokenize("a\u200bb\x00c\ufffdd\x07e") == ["abcde"]
    # Tab, newline, return, NBSP and ideographic space separate words.
    assert basic.tokenize("a\tb\nc\rd\u00a0e\u3000f") == ["a", "b", "c", "d", "e", "f"]
    # U+2028 is neither deleted nor mapped to a space, but `str.split` splits on it.
    assert basic.tokenize("a\u2028b") == ["a", "b"]
    assert basic.tokenize("") == []
    assert basic.tokenize(" \n\t ") == []


def test_only_control_and_format_characters_are_deleted() -> None:
    # The released code deletes categories Cc and Cf only (an earlier revision deleted every
    # "C*" category): private-use (Co), unassigned (Cn) and surrogate (Cs) code points stay.
    basic = tokenization.BasicTokenizer(do_lower_case=False)
    assert basic.tokenize("a\ue000b \u0378 c\U000f0000") == ["a\ue000b", "\u0378", "c\U000f0000"]
    assert basic.tokenize("a\ud800b") == ["a\ud800b"]
    assert basic.tokenize("a\u00adb\u2060c\U000e0041d") == ["abcd"]  # Cf: soft hyphen, etc.


def test_punctuation_splitting() -> None:
    basic = tokenization.BasicTokenizer(do_lower_case=False)
    # ASCII symbols count as punctuation; non-ASCII symbols (Sc, So) do not.
    assert basic.tokenize("a$b^c`d") == ["a", "$", "b", "^", "c", "`", "d"]
    assert basic.tokenize("a\u00bfb") == ["a", "\u00bf", "b"]
    assert basic.tokenize("a\u20acb") == ["a\u20acb"]
    assert basic.tokenize("a\U0001f600b") == ["a\U0001f600b"]


def test_lower_casing_is_python_lower_not_case_folding() -> None:
    basic = tokenization.BasicTokenizer(do_lower_case=True)
    # Case folding would turn these into "1/2", "2", "...", "ss"; Python's lower() does not.
    assert basic.tokenize("\u00bd \u00b2 \u2026 stra\u00dfe") == [
        "\u00bd",
        "\u00b2",
        "\u2026",
        "stra\u00dfe",
    ]


def test_final_sigma() -> None:
    basic = tokenization.BasicTokenizer(do_lower_case=True)
    assert basic.tokenize("\u039f\u0394\u03a5\u03a3\u03a3\u0395\u03a5\u03a3") == [
        "\u03bf\u03b4\u03c5\u03c3\u03c3\u03b5\u03c5\u03c2"
    ]
    # A full stop is case-ignorable: the sigma is still final before it ...
    assert basic.tokenize("\u0391\u03a3.") == ["\u03b1\u03c2", "."]
    # ... but not when a letter follows the full stop in the same whitespace token.
    assert basic.tokenize("\u0391\u03a3.\u0391") == ["\u03b1\u03c3", ".", "\u03b1"]
    assert basic.tokenize("\u03a3\u0391") == ["\u03c3\u03b1"]
    assert basic.tokenize("\u03a3") == ["\u03c3"]


def test_predicates() -> None:
    for char in (" ", "\t", "\r", "\n", "\u00a0", "\u3000"):
        assert tokenization._is_whitespace(char)
    for char in ("A", "-", "\u2028"):
        assert not tokenization._is_whitespace(char)
    for char in ("\u0005", "\u200b", "\x7f"):
        assert tokenization._is_control(char)
    for char in ("A", " ", "\t", "\r", "\U0001f4a9"):
        assert not tokenization._is_control(char)
    for char in ("-", "$", "`", ".", "\u00bf", "\u3002"):
        assert tokenization._is_punctuation(char)
    for char in ("A", " ", "\u20ac", "\u00bd"):
        assert not tokenization._is_punctuation(char)


def test_wordpiece_tokenizer() -> None:
    vocab = {token: index for index, token in enumerate(TINY_VOCAB)}
    wordpiece = tokenization.WordpieceTokenizer(vocab=vocab)
    assert wordpiece.tokenize("") == []
    assert wordpiece.tokenize("unwanted running") == ["un", "##want", "##ed", "runn", "##ing"]
    assert wordpiece.tokenize("unwantedX running") == ["[UNK]", "runn", "##ing"]


def test_wordpiece_length_limit_counts_characters() -> None:
    vocab = {"[UNK]": 0, "a": 1, "##a": 2, "\u00e9": 3, "##\u00e9": 4}
    wordpiece = tokenization.WordpieceTokenizer(vocab=vocab)
    assert wordpiece.tokenize("a" * 200) == ["a"] + ["##a"] * 199
    assert wordpiece.tokenize("a" * 201) == ["[UNK]"]
    # 200 two-byte characters are still 200 characters.
    assert wordpiece.tokenize("\u00e9" * 200) == ["\u00e9"] + ["##\u00e9"] * 199
    short = tokenization.WordpieceTokenizer(vocab=vocab, max_input_chars_per_word=3)
    assert short.tokenize("aaa aaaa") == ["a", "##a", "##a", "[UNK]"]


def test_load_vocab(tmp_path: Path) -> None:
    path = tmp_path / "vocab.txt"
    path.write_bytes(b"a\nb\n\n  c  \r\nd\xe2\x80\xa8e\nb")
    vocab = tokenization.load_vocab(path)
    assert isinstance(vocab, collections.OrderedDict)
    # Blank lines take an id; lines are stripped; only "\n" ends a line; a repeated token
    # keeps the id of its last line.
    assert list(vocab.items()) == [("a", 0), ("b", 5), ("", 2), ("c", 3), ("d\u2028e", 4)]


def test_load_vocab_errors(tmp_path: Path) -> None:
    missing = tmp_path / "nope.txt"
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        tokenization.load_vocab(missing)
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        tokenization.FullTokenizer(str(missing))
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty.txt"):
        tokenization.FullTokenizer(str(empty))


def test_convert_helpers(tiny_vocab_file: Path) -> None:
    vocab = tokenization.load_vocab(tiny_vocab_file)
    inv_vocab = {index: token for token, index in vocab.items()}
    assert tokenization.convert_tokens_to_ids(vocab, ["un", "##ing"]) == [7, 9]
    assert tokenization.convert_ids_to_tokens(inv_vocab, [7, 9]) == ["un", "##ing"]
    assert tokenization.convert_by_vocab(vocab, []) == []
    with pytest.raises(KeyError, match="'nope' at position 1"):
        tokenization.convert_tokens_to_ids(vocab, ["un", "nope"])


def test_text_conversion() -> None:
    assert tokenization.convert_to_unicode("h\u00e9") == "h\u00e9"
    assert tokenization.convert_to_unicode(b"h\xc3\xa9\xff!") == "h\u00e9!"
    assert tokenization.printable_text(b"h\xc3\xa9") == "h\u00e9"
    assert tokenization.printable_text("x") == "x"
    with pytest.raises(ValueError, match="int"):
        tokenization.convert_to_unicode(3)
    with pytest.raises(ValueError, match="list"):
        tokenization.printable_text(["a"])
    assert tokenization.whitespace_tokenize("  a\tb \u2028c\n") == ["a", "b", "c"]
    assert tokenization.whitespace_tokenize("   ") == []


@pytest.mark.parametrize(
    "do_lower_case, checkpoint",
    [
        (False, "uncased_L-12_H-768_A-12/bert_model.ckpt"),
        (False, "gs://bucket/models/uncased_L-24_H-1024_A-16/bert_model.ckpt"),
        (False, "/m/multilingual_L-12_H-768_A-12/bert_model.ckpt"),
        (False, "chinese_L-12_H-768_A-12/bert_model.ckpt"),
        (True, "/tmp/cased_L-12_H-768_A-12/bert_model.ckpt"),
        (True, "cased_L-24_H-1024_A-16/bert_model.ckpt"),
        (True, "multi_cased_L-12_H-768_A-12/bert_model.ckpt.index"),
    ],
)
def test_validate_case_raises_on_mismatch(do_lower_case: bool, checkpoint: str) -> None:
    wanted = "False" if do_lower_case else "True"
    with pytest.raises(ValueError, match=f"--do_lower_case={wanted}"):
        tokenization.validate_case_matches_checkpoint(do_lower_case, checkpoint)


@pytest.mark.parametrize(
    "do_lower_case, checkpoint",
    [
        (True, "uncased_L-12_H-768_A-12/bert_model.ckpt"),
        (False, "cased_L-12_H-768_A-12/bert_model.ckpt"),
        (True, "my_model/bert_model.ckpt"),
        (False, "my_model/bert_model.ckpt"),
        (False, "uncased_L-12_H-768_A-12/model.ckpt-1000"),
        (True, ""),
        (False, None),
    ],
)
def test_validate_case_accepts(do_lower_case: bool, checkpoint: str) -> None:
    tokenization.validate_case_matches_checkpoint(do_lower_case, checkpoint)


@pytest.fixture(scope="module")
def real_vocab_lines() -> List[str]:
    if not REAL_VOCAB.is_file():
        pytest.skip(f"real BERT vocabulary not found at {REAL_VOCAB}")
    return REAL_VOCAB.read_text(encoding="utf-8").split("\n")


def test_real_vocab_ids(real_vocab_lines: List[str]) -> None:
    tokenizer = tokenization.FullTokenizer(str(REAL_VOCAB), do_lower_case=True)
    assert len(tokenizer.vocab) == 30522
    # Documented special ids of the released uncased vocabulary.
    assert [tokenizer.vocab[t] for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")] == [
        0,
        100,
        101,
        102,
        103,
    ]
    tokens = tokenizer.tokenize("Hello, World.")
    assert tokens == ["hello", ",", "world", "."]
    # Ids are line numbers of the file, read here without the code under test.
    expected = [real_vocab_lines.index(token) for token in tokens]
    assert tokenizer.convert_tokens_to_ids(tokens) == expected == [7592, 1010, 2088, 1012]


def test_real_squad_context_tokens() -> None:
    squad = DATA_DIR / "squad" / "dev-v1.1.json"
    if not (squad.is_file() and REAL_VOCAB.is_file()):
        pytest.skip(f"SQuAD dev set or vocabulary not found under {DATA_DIR}")
    context = json.loads(squad.read_text(encoding="utf-8"))["data"][0]["paragraphs"][0]["context"]
    assert context.startswith("Super Bowl 50 was an American football game")
    tokenizer = tokenization.FullTokenizer(str(REAL_VOCAB), do_lower_case=True)
    assert tokenizer.tokenize(context)[:8] == [
        "super",
        "bowl",
        "50",
        "was",
        "an",
        "american",
        "football",
        "game",
    ]
