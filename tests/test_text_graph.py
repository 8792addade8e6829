"""The in-graph tokenizer must give exactly the ids of the pure-Python `FullTokenizer`."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import pytest
import tensorflow as tf

from bert_tf import text_graph, tokenization
from conftest import SPECIAL_TOKENS

DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data"
REAL_VOCAB = DATA_DIR / "vocab" / "bert-base-uncased-vocab.txt"
SQUAD_DEV = DATA_DIR / "squad" / "dev-v1.1.json"
CONLL_VALID = DATA_DIR / "conll2003" / "valid.txt"

BATCH = 512

CRAFTED = [
    "",
    " ",
    "\n\t\r ",
    "UNwant\u00e9d,running",
    "Hello, World! It's 3:30pm; isn't it?",
    "ah\u535a\u63a8zz \u4e2d\u6587\u5b57 \U00020000\U0002a700 \uf900\ufa0e\U0002f800",
    "Cr\u00e8me br\u00fbl\u00e9e, na\u00efve fa\u00e7ade, \u00c5ngstr\u00f6m, \u0130stanbul",
    "\u00bd \u00b2 \u2026 \u00df STRASSE stra\u00dfe \ufb01 \uff21\uff22",
    "\u039f\u0394\u03a5\u03a3\u03a3\u0395\u03a5\u03a3 \u0391\u03a3. \u03a3\u0391 \u0391\u03a3.\u0391",
    "\u0391\u03a3\u00ad \u0391\u03a3\u200b\u0391 \u0391\u03a3\x01\u0391 \u0391\u03a3\u0301 \u03a3",
    "\u0391\u0301\u03a3 \u03a3\u03a3\u03a3 \u0391\u03a3\u4e2d \u0391\u03a3\u2028\u0391",
    "emoji \U0001f600\U0001f44d\U0001f3fd and \u2764\ufe0f flags \U0001f1fa\U0001f1f8",
    "ctrl\x00a\x01b\x07c\x1bd\x7fe\x85f\ufffdg\u200bh\u200ci\u200dj\u2060k\ufeffl",
    "zero\u200bwidth \u200ejoin\u200f and\u00a0nbsp\u2007fig\u202fnarrow\u3000ideo",
    "line\u2028sep\u2029para\x0bvt\x0cff\x1cfs\x1dgs",
    "combining e\u0301 a\u0308 o\u0302\u0323 \u0301lead q\u0307\u0323 \u1e9b\u0323",
    "music \U0001d15f\U0001d16d\U0001d165 \U0001d165\U0001d16d x\u0301\U0001d16e\u0300\U0001d165",
    "hangul \ud55c\uad6d\uc5b4 \u1100\u1161 jamo, kana \u30ac\u30ae \u304c",
    "arabic \u0627\u0644\u0639\u0631\u0628\u064a\u0629 \ufdfa hebrew \u05e9\u05c1\u05dc\u05d5\u05dd",
    "devanagari \u0939\u093f\u0928\u094d\u0926\u0940 thai \u0e20\u0e32\u0e29\u0e32\u0e44\u0e17\u0e22",
    "new in unicode 14: \u2c2f\ua7c0\U00010570\U000105a0 cherokee \u13a0\uab70",
    "[UNK] [CLS] [SEP] ## #hash ##tag a##b",
    "x" * 200 + " " + "y" * 201 + " " + "\u00e9" * 150 + " " + "\u00e9" * 201,
    "\ud55c" * 80 + " " + "\ud55c" * 66 + " " + "\uac00" * 201,
    "a" * 300 + "," + "b" * 199,
    "private \ue000\U000f0000 unassigned \u0378\U000e0080 nonchar \ufffe\uffff\U0010ffff",
    "\u212a\u2126 kelvin ohm \u1e9e \u0149 \u01c5 \u1f88 \u0345\u03a3 \u03a3\u0345",
]


def _stand_in_vocab() -> List[str]:
    """A small vocabulary for machines without the data folder."""
    letters = [chr(cp) for cp in range(ord("a"), ord("z") + 1)]
    letters += list("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
    letters += ["\u00e9", "\u03c3", "\u03c2", "\u03b1", "\u4e2d", "\u6587", "\u00df", "\u00bd"]
    punctuation = [chr(cp) for cp in range(33, 127) if not chr(cp).isalnum()] + ["\u2026"]
    words = ["un", "##want", "##ed", "runn", "##ing", "hello", "world", "the", "##s"]
    return (
        SPECIAL_TOKENS
        + letters
        + punctuation
        + words
        + ["##" + letter for letter in letters]
    )


@pytest.fixture(scope="module")
def vocab_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real uncased vocabulary, or a small stand-in when the data folder is absent."""
    if REAL_VOCAB.is_file():
        return REAL_VOCAB
    path = tmp_path_factory.mktemp("vocab") / "vocab.txt"
    path.write_text("\n".join(_stand_in_vocab()) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def pairs(
    vocab_file: Path,
) -> Dict[bool, Tuple[text_graph.GraphTokenizer, tokenization.FullTokenizer]]:
    return {
        lower: (
            text_graph.GraphTokenizer(str(vocab_file), do_lower_case=lower),
            tokenization.FullTokenizer(str(vocab_file), do_lower_case=lower),
        )
        for lower in (True, False)
    }


def _route(graph: text_graph.GraphTokenizer, route: str):
    """One route of the graph tokenizer (see `GraphTokenizer._single_route`) as a tf.function."""
    return tf.function(
        lambda texts: graph._single_route(texts, route),
        input_signature=[tf.TensorSpec([None], tf.string)],
    )


def _expected(reference: tokenization.FullTokenizer, texts: Sequence) -> List[List[int]]:
    return [reference.convert_tokens_to_ids(reference.tokenize(text)) for text in texts]


def _graph_ids(function, texts: Sequence, batch: int = BATCH) -> List[List[int]]:
    ids: List[List[int]] = []
    for start in range(0, len(texts), batch):
        ids.extend(function(tf.constant(list(texts[start : start + batch]))).to_list())
    return ids


def _assert_same(texts: Sequence, got: List[List[int]], want: List[List[int]]) -> None:
    differing = [index for index, (a, b) in enumerate(zip(got, want)) if a != b]
    assert len(got) == len(want)
    assert not differing, (
        f"{len(differing)} of {len(texts)} texts differ; first: {texts[differing[0]]!r}: "
        f"graph {got[differing[0]]} vs reference {want[differing[0]]}"
    )


@pytest.mark.parametrize("lower", [True, False])
def test_crafted_strings(pairs, lower: bool) -> None:
    graph, reference = pairs[lower]
    want = _expected(reference, CRAFTED)
    _assert_same(CRAFTED, _graph_ids(graph.tokenize, CRAFTED), want)
    # Both routes of the exact path must be right on their own, whatever the text.
    for route in ("exact", "words"):
        _assert_same(CRAFTED, _graph_ids(_route(graph, route), CRAFTED), want)


@pytest.mark.parametrize("lower", [True, False])
def test_tokenize_to_strings(pairs, lower: bool) -> None:
    graph, reference = pairs[lower]
    got = graph.tokenize_to_strings(tf.constant(CRAFTED)).to_list()
    want = [[token.encode("utf-8") for token in reference.tokenize(text)] for text in CRAFTED]
    assert got == want


# Characters whose effect depends on their neighbours: sigmas and what the final-sigma rule skips,
# combining marks of several classes (and spacing ones that canonical ordering can move),
# deleted format characters, separators, punctuation, CJK, Hangul and case-mapping oddities.
MIXTURE_POOL = (
    "\u0391\u03a3\u03c3\u03c2\u03b1\u03b2\u0399\u0313\u1f00\u1fbc\u0386"
    "\u0301\u0345\u0308\u0323\u05c1\u0f71\u0f72\u0f74\u1b44\u302e\u302f"
    "\U0001d165\U0001d16d\U0001d16e\U0001d172"
    "\u00ad\u200b\u200d\u2060\ufeff\x00\x01\x85 \t\n\u00a0\u2028"
    ".,'\u2019:-_\u2026\u00bd\u00df\u4e2d\uf900\ud55c\u1100"
    "aAzZ\u00e9\u00c9\u0130\u0131\u0132\u1e9e\u212a\ufb01\uff21"
)


@pytest.mark.parametrize("lower", [True, False])
def test_random_mixtures(pairs, lower: bool) -> None:
    graph, reference = pairs[lower]
    rng = random.Random(7)
    texts = [
        "".join(rng.choice(MIXTURE_POOL) for _ in range(rng.randint(0, 30))) for _ in range(5000)
    ]
    want = _expected(reference, texts)
    _assert_same(texts, _graph_ids(graph.tokenize, texts), want)
    _assert_same(texts, _graph_ids(_route(graph, "words"), texts), want)


def _random_byte_strings(count: int, seed: int) -> List[bytes]:
    rng = random.Random(seed)
    pieces = [b"\x80", b"\xbf", b"\xc0", b"\xc3", b"\xe0\xa0", b"\xe4\xb8", b"\xed\xa0\x80"]
    pieces += [b"\xf0\x9f\x98", b"\xf4\x90\x80\x80", b"\xff", b"\xfe", b"A", b"\xce\xa3", b" "]
    pieces += [b"\xc0\x80", b"\xe0\x80\x80", b"\xf8\x88\x80\x80\x80", b"\xed\xbf\xbf"]
    pieces += ["\u4e2d".encode(), "\u00e9".encode(), b"\xe2\x80\x8b", b"word", b","]
    texts = [b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 12))) for _ in range(count)]
    return texts + [b"ab\xffcd", b"\xe4\xb8\xe4\xb8\xad", b"caf\xc3", b"\xef\xbb\xbfBOM"]


@pytest.mark.parametrize("lower", [True, False])
def test_invalid_utf8_bytes_are_dropped(pairs, lower: bool) -> None:
    graph, reference = pairs[lower]
    texts = _random_byte_strings(3000, seed=1234)
    _assert_same(texts, _graph_ids(graph.tokenize, texts), _expected(reference, texts))


def test_fast_path_check_rejects_invalid_utf8(pairs) -> None:
    graph, _ = pairs[True]
    texts = _random_byte_strings(20000, seed=99)
    accepted = tf.strings.regex_full_match(tf.constant(texts), graph._safe_pattern).numpy()
    invalid = []
    for text in texts:
        try:
            text.decode("utf-8")
            invalid.append(False)
        except UnicodeDecodeError:
            invalid.append(True)
    assert sum(invalid) > 1000
    assert not [text for text, bad, ok in zip(texts, invalid, accepted) if bad and ok]


def _code_point_texts() -> Tuple[List[str], List[str]]:
    """Every code point valid in UTF-8, 64 to a text: alone, in a run, and inside a word."""
    code_points = [cp for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF]
    alone_and_runs, in_words = [], []
    for start in range(0, len(code_points), 64):
        chars = [chr(cp) for cp in code_points[start : start + 64]]
        alone_and_runs.append(" ".join(chars))
        alone_and_runs.append("".join(chars))
        in_words.append(" ".join("a" + char + "b" for char in chars))
    return alone_and_runs, in_words


@pytest.mark.slow
@pytest.mark.parametrize("lower", [True, False])
def test_every_code_point(pairs, lower: bool) -> None:
    graph, reference = pairs[lower]
    alone_and_runs, in_words = _code_point_texts()
    for texts in (alone_and_runs, in_words):
        _assert_same(texts, _graph_ids(graph.tokenize, texts, 2048), _expected(reference, texts))
    # The exact path on its own (the fast path alone is right only where `tokenize` uses it).
    exact = _graph_ids(_route(graph, "exact"), alone_and_runs, 2048)
    _assert_same(alone_and_runs, exact, _expected(reference, alone_and_runs))


def _squad_contexts() -> List[str]:
    if not SQUAD_DEV.is_file():
        pytest.skip(f"SQuAD v1.1 dev set not found at {SQUAD_DEV}")
    data = json.loads(SQUAD_DEV.read_text(encoding="utf-8"))["data"]
    return [paragraph["context"] for article in data for paragraph in article["paragraphs"]]


def _conll_sentences() -> List[str]:
    if not CONLL_VALID.is_file():
        pytest.skip(f"CoNLL-2003 validation set not found at {CONLL_VALID}")
    sentences, words = [], []
    for line in CONLL_VALID.read_text(encoding="utf-8").split("\n"):
        fields = line.split()
        if not fields:
            if words:
                sentences.append(" ".join(words))
                words = []
        elif fields[0] != "-DOCSTART-":
            words.append(fields[0])
    if words:
        sentences.append(" ".join(words))
    return sentences


def test_squad_dev_contexts_uncased(pairs) -> None:
    contexts = _squad_contexts()
    assert len(contexts) == 2067
    graph, reference = pairs[True]
    _assert_same(contexts, _graph_ids(graph.tokenize, contexts), _expected(reference, contexts))


def test_conll_valid_sentences_cased(pairs) -> None:
    sentences = _conll_sentences()
    assert len(sentences) == 3250
    graph, reference = pairs[False]
    got = _graph_ids(graph.tokenize, sentences)
    _assert_same(sentences, got, _expected(reference, sentences))


def test_shards_and_tf_function(vocab_file: Path, pairs) -> None:
    _, reference = pairs[True]
    sharded = text_graph.GraphTokenizer(str(vocab_file), do_lower_case=True, num_shards=2)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def outer(texts: tf.Tensor) -> tf.Tensor:
        return sharded.tokenize(texts).to_tensor(default_value=-1)

    for texts in (CRAFTED, CRAFTED[:2], CRAFTED[:1], [CRAFTED[8]]):
        dense = outer(tf.constant(texts)).numpy().tolist()
        got = [[i for i in row if i != -1] for row in dense]
        assert got == _expected(reference, texts)
    assert sharded.tokenize(tf.constant([], tf.string)).to_list() == []


def test_vocab_with_duplicates_blank_lines_and_no_unk(tmp_path: Path) -> None:
    path = tmp_path / "vocab.txt"
    tokens = ["[UNK]", "", "a", "##b", "c", "a", "##", "x y", ",", "\u4e2d", "##\u00e9", "\u00e9"]
    tokens += ["z" * 201, "##" + "z" * 300]  # longer than any word may be: never matched
    path.write_text("\n".join(tokens) + "\n", encoding="utf-8")
    texts = ["ab, c \u4e2d a\u00e9 \u00e9\u00e9 x y ##", "AB\u00c9 q", "", "z" * 201]
    for lower in (True, False):
        graph = text_graph.GraphTokenizer(path, do_lower_case=lower)
        reference = tokenization.FullTokenizer(str(path), do_lower_case=lower)
        assert graph.tokenize(tf.constant(texts)).to_list() == _expected(reference, texts)
    list_graph = text_graph.GraphTokenizer(["[UNK]", "a", "##b"], do_lower_case=True)
    assert list_graph.tokenize(tf.constant(["AB b"])).to_list() == [[1, 2, 0]]
    with pytest.raises(ValueError, match="unknown token '\\[UNK\\]' is not in the vocabulary"):
        text_graph.GraphTokenizer(["a", "b"])
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        text_graph.GraphTokenizer(tmp_path / "missing.txt")
    # A token short enough to match but too long in bytes for the kernels is refused.
    with pytest.raises(ValueError, match="entry 1 .* 280 UTF-8 bytes"):
        text_graph.GraphTokenizer(["[UNK]", "\U0001f600" * 70])


def test_saved_model_round_trip(tmp_path: Path, pairs) -> None:
    graph, reference = pairs[True]
    export_dir = tmp_path / "tokenizer"
    tf.saved_model.save(graph, str(export_dir))
    loaded = tf.saved_model.load(str(export_dir))
    want = _expected(reference, CRAFTED)
    assert loaded.tokenize(tf.constant(CRAFTED)).to_list() == want

    # A fresh process that imports only TensorFlow and tensorflow-text can serve it.
    script = textwrap.dedent(f"""
        import json, sys
        import tensorflow as tf
        import tensorflow_text  # registers the kernels
        texts = json.loads(sys.stdin.read())
        model = tf.saved_model.load({str(export_dir)!r})
        ids = model.tokenize(tf.constant(texts)).to_list()
        assert not [name for name in sys.modules if name.startswith("bert_tf")]
        print(json.dumps(ids))
        """)
    result = subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps(CRAFTED),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == want


def _truncate_pair_reference(length_a: int, length_b: int, max_total: int) -> Tuple[int, int]:
    """The original's `_truncate_seq_pair` on lengths: drop from the longer, `b` on ties."""
    while length_a + length_b > max_total:
        if length_a > length_b:
            length_a -= 1
        else:
            length_b -= 1
    return length_a, length_b


def test_truncate_pair_lengths() -> None:
    cases = [(a, b, m) for a in range(0, 13) for b in range(0, 13) for m in range(0, 15)]
    got_a, got_b = text_graph.truncate_pair_lengths(
        tf.constant([c[0] for c in cases]),
        tf.constant([c[1] for c in cases]),
        tf.constant([c[2] for c in cases]),
    )
    got = list(zip(got_a.numpy().tolist(), got_b.numpy().tolist()))
    assert got == [_truncate_pair_reference(*case) for case in cases]


def test_tensorflow_text_fast_bert_tokenizer_differs(pairs, vocab_file: Path) -> None:
    """Why GraphTokenizer exists: tensorflow-text lower-cases by NFKC case folding."""
    import tensorflow_text as tf_text

    graph, reference = pairs[True]
    texts = ["stra\u00dfe", "\u00bd", "\u2026", "\u03b1\u03c2"]
    fast_bert = tf_text.FastBertTokenizer(
        vocab=list(reference.vocab), lower_case_nfd_strip_accents=True, token_out_type=tf.int32
    )
    theirs = fast_bert.tokenize(tf.constant(texts)).to_list()
    want = _expected(reference, texts)
    assert all(a != b for a, b in zip(theirs, want))
    assert graph.tokenize(tf.constant(texts)).to_list() == want


def _ragged(rows: list[list[int]]) -> tf.RaggedTensor:
    flat = [value for row in rows for value in row]
    return tf.RaggedTensor.from_row_lengths(
        tf.constant(flat, tf.int32, shape=[len(flat)]), [len(row) for row in rows]
    )


def test_pack_pairs_matches_the_training_layout() -> None:
    """Random lengths, single rows (empty B) included, against `tasks.common.pack_tokens`."""
    from bert_tf.tasks import common

    rng = random.Random(5)
    for max_seq_length in (3, 4, 9, 16):
        rows_a = [[rng.randrange(5, 99) for _ in range(rng.randrange(0, 14))] for _ in range(60)]
        rows_b = [[rng.randrange(5, 99) for _ in range(rng.randrange(0, 14))] for _ in range(60)]
        packed = text_graph.pack_pairs(_ragged(rows_a), _ragged(rows_b), max_seq_length, 2, 3)
        single = text_graph.pack_pairs(_ragged(rows_a), None, max_seq_length, 2, 3)
        for row, (a, b) in enumerate(zip(rows_a, rows_b)):
            for got, second in ((packed, b), (single, [])):
                tokens, segments = common.pack_tokens(
                    list(map(str, a)), list(map(str, second)), max_seq_length
                )
                ids = [{"[CLS]": 2, "[SEP]": 3}.get(t) or int(t) for t in tokens]
                pad = [0] * (max_seq_length - len(ids))
                assert got["input_ids"][row].numpy().tolist() == ids + pad
                assert got["input_mask"][row].numpy().tolist() == [1] * len(ids) + pad
                assert got["segment_ids"][row].numpy().tolist() == segments + pad


def test_pack_inputs_forced_pairs_and_other_values() -> None:
    values, mask, segments = text_graph.pack_inputs(
        _ragged([[7, 8], [9]]),
        _ragged([[], [4]]),
        6,
        -1,
        -2,
        pad_value=-9,
        is_pair=tf.constant([True, True]),
    )
    assert values.numpy().tolist() == [[-1, 7, 8, -2, -2, -9], [-1, 9, -2, 4, -2, -9]]
    assert mask.numpy().tolist() == [[1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 0]]
    assert segments.numpy().tolist() == [[0, 0, 0, 0, 1, 0], [0, 0, 0, 1, 1, 0]]
    assert text_graph.take_first(_ragged([[1, 2, 3], [4]]), tf.constant([2, 0])).to_list() == [
        [1, 2],
        [],
    ]


# Chinese as BERT-Chinese users write it: CJK ideographs (unified, extensions A and B,
# compatibility forms), full-width punctuation, letters and digits (kept as they are: the original
# applies NFD, not NFKC, so "Ａ" stays full-width, lower-cased to "ａ", and "１２" is one word),
# the ideographic space, CJK symbols (〇, 々, 〜) that are not ideographs, mixed Latin, emoji.
CHINESE = [
    "这家酒店的服务非常好，房间也很干净！下次还会再来。",
    "ｉＰｈｏｎｅ１２手机，价格２９９９元（含税）；屏幕：６．１英寸……",
    "“引号”‘单引号’「直角」『双直角』《书名号》〈尖括号〉【方头】〔六角〕",
    "全角空格\u3000分隔　字符、顿号～波浪号—破折号·间隔号",
    "日期：１９９８年１月１日 〇 々 〆 〜 ㈠ ㈱ ㊣ ＡＢＣａｂｃ ＠＃＄％＾＆＊",
    "扩展区：㐀㐁䶵 𠀀𠀁𪛖 兼容区：豈更車賈 \U0002f800\U0002f801 部首：⼀⼆⺀",
    "Mixed 中英文 text, with iPhone and 微信WeChat 3.5折 😀👍",
    "半角ｶﾀｶﾅ 한국어 にほんご ＡＢ①②③ⅠⅡⅢ ｆｉ ﬁ ½",
]


def _chinese_vocab() -> List[str]:
    """Specials, every character of CHINESE (both cases) but a few, and their ## forms."""
    characters = sorted({c for text in CHINESE for c in text + text.lower() if not c.isspace()})
    left_out = {"䶵", "𪛖", "賈", "㊣"}  # Become [UNK].
    kept = [c for c in characters if c not in left_out]
    return (
        [*SPECIAL_TOKENS, "iphone", "##one", "wechat"]
        + kept
        + ["##" + c for c in kept if not tokenization._is_cjk_code_point(ord(c))]
    )


@pytest.mark.parametrize("lower", [True, False])
def test_chinese_text_with_a_chinese_vocabulary(lower: bool) -> None:
    vocab = _chinese_vocab()
    graph = text_graph.GraphTokenizer(vocab, do_lower_case=lower)
    texts = CHINESE + [text.replace(" ", "") for text in CHINESE]
    want = [
        [vocab.index(token) for token in tokens]
        for tokens in (_reference_tokens(vocab, lower, text) for text in texts)
    ]
    _assert_same(texts, _graph_ids(graph.tokenize, texts), want)
    for route in ("exact", "words"):
        _assert_same(texts, _graph_ids(_route(graph, route), texts), want)


def _reference_tokens(vocab: List[str], lower: bool, text: str) -> List[str]:
    basic = tokenization.BasicTokenizer(do_lower_case=lower)
    wordpiece = tokenization.WordpieceTokenizer({token: i for i, token in enumerate(vocab)})
    return [piece for word in basic.tokenize(text) for piece in wordpiece.tokenize(word)]


def test_chinese_reference_keeps_full_width_forms() -> None:
    # What the ids above are compared with, spelled out: ideographs and full-width punctuation
    # one token each; full-width letters and digits form words (lower-cased, not narrowed).
    vocab = _chinese_vocab()
    assert _reference_tokens(vocab, True, CHINESE[0]) == list(CHINESE[0])
    assert _reference_tokens(vocab, True, "ｉＰｈｏｎｅ１２手机，（含税）") == [
        "ｉ", "##ｐ", "##ｈ", "##ｏ", "##ｎ", "##ｅ", "##１", "##２",
        "手", "机", "，", "（", "含", "税", "）",
    ]  # fmt: skip
    assert _reference_tokens(vocab, False, "ＡＢ賈車") == ["Ａ", "##Ｂ", "[UNK]", "車"]
