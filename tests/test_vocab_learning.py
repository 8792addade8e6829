"""bert_tf.vocab_learning and build_vocab.py on tiny synthetic Chinese and English corpora.

Expectations come from what `FullTokenizer` must be able to do with the file (Google's ids for the
special tokens, every frequent character a token, every entry producible), checked with
`BasicTokenizer`/`FullTokenizer` themselves rather than with the learner's internals.
"""

import collections
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from absl import flags
from absl.testing import flagsaver
from conftest import REPO

import build_vocab
from bert_tf import tokenization, vocab_learning

FLAGS = flags.FLAGS

CHINESE_WORDS = "我们 今天 北京 大学 中国 人民 银行 朋友 手机 非常 质量 价格 便宜 的 了 很".split()  # noqa: SIM905
STEMS = (  # noqa: SIM905
    "play walk talk jump cook clean paint watch listen visit open start"
).split()
ENGLISH_WORDS = [stem + end for stem in STEMS for end in ("", "s", "ing", "ed", "er")] + [
    "hotel",
    "friendly",
]


def write(path, lines) -> str:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def chinese_corpus(tmp_path_factory):
    rng = random.Random(5)
    lines = [
        "".join(rng.choice(CHINESE_WORDS) for _ in range(rng.randint(4, 12)))
        + rng.choice(["。", "！", "，很好", " iPhone手机，价格2999元。"])
        for _ in range(400)
    ]
    lines.append("罕见的字：鑫")  # 鑫 occurs once.
    return write(tmp_path_factory.mktemp("zh") / "zh.txt", lines)


def run_main(**values):
    if not FLAGS.is_parsed():
        FLAGS.mark_as_parsed()
    settings = {"vocab_size": 400, "do_lower_case": True, "min_char_count": 2, "lower_thresh": 2}
    settings.update(values)
    with flagsaver.flagsaver(**settings):
        build_vocab.main([])


def reachable(token, basic):
    """Whether FullTokenizer can emit `token`: a whole word, or "##" + the rest of a word."""
    if token.startswith("##"):
        rest = token[2:]
        return basic.tokenize("a" + rest) == ["a" + rest]
    return basic.tokenize(token) == [token]


def test_chinese_vocabulary_has_googles_layout_and_every_frequent_character(
    chinese_corpus, tmp_path
):
    vocab_file = tmp_path / "vocab.txt"
    run_main(input_file=chinese_corpus, vocab_file=str(vocab_file))
    tokens = vocab_file.read_text(encoding="utf-8").splitlines()
    assert len(tokens) == len(set(tokens)) <= 400
    assert tokens[0] == "[PAD]" and tokens[1:100] == [f"[unused{i}]" for i in range(99)]
    assert tokens[100:104] == ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    # Characters seen at least twice are tokens; 鑫 (seen once) is not.
    counts = collections.Counter(Path(chinese_corpus).read_text(encoding="utf-8").lower())
    frequent = {c for c, n in counts.items() if n >= 2 and not c.isspace()}
    assert frequent - set(tokens) == set()
    assert "鑫" not in tokens
    basic = tokenization.BasicTokenizer(do_lower_case=True)
    cjk = [t for t in tokens if tokenization._is_cjk_code_point(ord(t[-1]))]
    assert set(cjk) == {c for c in frequent if tokenization._is_cjk_code_point(ord(c))}
    assert all(not t.startswith("##") for t in cjk)  # FullTokenizer never makes "##" + CJK.
    assert all(reachable(t, basic) for t in tokens[104:])
    assert "iphone" in tokens  # A frequent Latin word is learned whole.
    full = tokenization.FullTokenizer(str(vocab_file), do_lower_case=True)
    text = Path(chinese_corpus).read_text(encoding="utf-8")
    pieces = full.tokenize(text)
    rare = [c for c, n in counts.items() if n == 1]  # 罕, 见, 字, 鑫 and "："
    assert len(rare) == 5 and pieces.count("[UNK]") == len(rare)


def test_english_vocabulary_learns_word_pieces(tmp_path):
    rng = random.Random(9)
    lines = [" ".join(rng.choice(ENGLISH_WORDS) for _ in range(10)) + "." for _ in range(200)]
    # "ж" is seen twice, but only in words that hold a character seen once.
    corpus = write(tmp_path / "en.txt", lines + ["Naïve CAFÉ!", "жŋ жƣ"])
    vocab_file = tmp_path / "vocab.txt"
    summary = vocab_learning.build_vocab(
        [corpus],
        str(vocab_file),
        vocab_size=180,
        do_lower_case=True,
        lower_thresh=2,
        min_char_count=2,
    )
    tokens = vocab_file.read_text(encoding="utf-8").splitlines()
    # 62 words do not fit next to the alphabet: stems and suffixes are learned instead.
    assert summary.vocab_size == len(tokens) <= 180 and summary.learn_seconds > 0
    assert tokens[100] == "[UNK]" and tokens[103] == "[MASK]"
    assert {"##s", "##ing", "##ed", "ж", "##ж"} <= set(tokens)
    assert sum(stem in tokens for stem in STEMS) >= 3
    assert "ŋ" not in tokens
    assert "##." not in tokens and "##!" not in tokens  # Punctuation is always split off.
    basic = tokenization.BasicTokenizer(do_lower_case=True)
    assert all(reachable(t, basic) for t in tokens[104:])
    full = tokenization.FullTokenizer(str(vocab_file), do_lower_case=True)
    # Unknown: the words holding a character seen once ("жŋ", "жƣ") and the single "!".
    assert full.tokenize(Path(corpus).read_text(encoding="utf-8")).count("[UNK]") == 3
    assert "naive" in full.tokenize("naïve") or full.tokenize("naïve")[0] == "n"


def test_bad_corpora_give_clear_errors_and_write_nothing(tmp_path):
    vocab_file = tmp_path / "out" / "vocab.txt"
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(ValueError, match="--input_file: file is empty"):
        run_main(input_file=str(empty), vocab_file=str(vocab_file))
    blank = tmp_path / "blank.txt"
    blank.write_text("\n  \n\t\n")
    with pytest.raises(ValueError, match="no words in .*blank.txt"):
        run_main(input_file=str(blank), vocab_file=str(vocab_file))
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("第一行\ncaf\xe9 au lait\n".encode()[:10] + b"caf\xe9\n")
    with pytest.raises(ValueError, match=r"latin1.txt:2: not UTF-8 text"):
        run_main(input_file=str(latin1), vocab_file=str(vocab_file))
    small = write(tmp_path / "small.txt", ["中文字符很多" * 3])
    with pytest.raises(ValueError, match="--vocab_size=105 cannot hold the 6 characters"):
        run_main(input_file=small, vocab_file=str(vocab_file), vocab_size=105)
    assert not os.path.exists(vocab_file) and not os.path.exists(str(vocab_file) + ".incomplete")


def test_script_prints_one_line_for_a_non_utf8_corpus(tmp_path):
    corpus = tmp_path / "gbk.txt"
    corpus.write_bytes("中文".encode("gbk") + b"\n")
    vocab_file = tmp_path / "vocab.txt"
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "build_vocab.py"),
            f"--input_file={corpus}",
            f"--vocab_file={vocab_file}",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        check=False,
    )
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "gbk.txt:1: not UTF-8 text" in errors[0]
    assert "Traceback" not in result.stderr
    assert not vocab_file.exists()
