"""Chinese fine-tuning and serving end to end, on a tiny model and synthetic Chinese data.

run_classifier.py --task_name=chnsenticorp and run_ner.py on People's Daily's layout (one
character a line) train a few steps, predict and export; the export then gets raw Chinese text.
The reference outputs are what the scripts wrote (test_results.tsv, test_predictions.txt), which
come from FullTokenizer's ids: equal outputs mean the in-graph tokenizer gave the same ids.
"""

import random

import numpy as np
import pytest
import tensorflow as tf
from absl import flags
from absl.testing import flagsaver

import run_classifier
import run_ner
from conftest import SPECIAL_TOKENS, TINY_CONFIG, fine_tuning_flags, write_google_folder

FLAGS = flags.FLAGS
SEQ = 24
POSITIVE = ["很好", "干净", "满意", "推荐", "喜欢"]
NEGATIVE = ["太差", "失望", "不好", "吵闹", "退货"]
FILLER = ["房间", "服务", "价格", "酒店", "手机", "这个", "非常", "也"]
PEOPLE, PLACES, ORGS = ["江泽民", "李鹏", "张三"], ["北京", "上海", "广东"], ["新华社", "人民日报"]
# Raw requests: full-width punctuation, digits and letters, a character outside the vocabulary.
RAW_TEXTS = ["这个酒店很好，推荐！", "价格太差了（失望）……", "手机１２号ＡＢ满意", "鑫房间 很干净"]


def _vocab():
    characters = sorted(
        set("".join(POSITIVE + NEGATIVE + FILLER + PEOPLE + PLACES + ORGS) + "了在会见号")
    )
    punctuation = list("，。！？（）……；：")
    return [*SPECIAL_TOKENS, *characters, *dict.fromkeys(punctuation)]


@pytest.fixture(scope="module")
def google_folder(tmp_path_factory):
    vocab = _vocab()
    config = {**TINY_CONFIG, "vocab_size": len(vocab)}
    return write_google_folder(tmp_path_factory.mktemp("zh_model"), vocab, config, seed=11)


def _review(rng, label):
    words = [rng.choice(FILLER) for _ in range(rng.randint(1, 3))]
    words.insert(rng.randint(0, len(words)), rng.choice(POSITIVE if label else NEGATIVE))
    return "".join(words) + rng.choice("，。！")


def _run(script, folder, output_dir, **values):
    if not FLAGS.is_parsed():
        FLAGS.mark_as_parsed()
    settings = fine_tuning_flags(
        folder,
        output_dir,
        max_seq_length=SEQ,
        learning_rate=2e-3,
        num_train_epochs=2.0,
        log_every_steps=10,
        do_train=True,
        do_predict=True,
        **values,
    )
    with flagsaver.flagsaver(**settings):
        script.main([])


@pytest.fixture(scope="module")
def sentiment_run(google_folder, tmp_path_factory):
    root = tmp_path_factory.mktemp("chnsenticorp")
    rng = random.Random(2)
    train = [(label, _review(rng, label)) for label in [0, 1] * 12]
    (root / "data").mkdir()
    (root / "data" / "train.tsv").write_text(
        "label\ttext_a\n" + "".join(f"{label}\t{text}\n" for label, text in train),
        encoding="utf-8",
    )
    # Test ids out of order: the results must follow the file, not the ids.
    qids = [5, 2, 9, 0]
    (root / "data" / "test.tsv").write_text(
        "qid\ttext_a\n" + "".join(f"{q}\t{t}\n" for q, t in zip(qids, RAW_TEXTS)),
        encoding="utf-8",
    )
    _run(
        run_classifier,
        google_folder,
        root / "out",
        data_dir=str(root / "data"),
        task_name="chnsenticorp",
        xnli_language="zh",
        trim_padding=False,
        export_dir=str(root / "export"),
    )
    return root


def test_chnsenticorp_raw_text_served_as_predicted(sentiment_run):
    lines = (sentiment_run / "out" / "test_results.tsv").read_text().splitlines()
    written = np.array([[float(v) for v in line.split("\t")] for line in lines])
    assert written.shape == (len(RAW_TEXTS), 2)
    model = tf.saved_model.load(str(sentiment_run / "export" / "1"))
    served = model.signatures["serving_default"](text_a=tf.constant(RAW_TEXTS))
    np.testing.assert_allclose(served["probabilities"].numpy(), written, atol=1e-5)


def _ner_sentence(rng):
    """(character, tag) pairs: a person, a verb, a place or an organisation."""
    person = rng.choice(PEOPLE)
    pairs = [(c, "B-PER" if i == 0 else "I-PER") for i, c in enumerate(person)]
    pairs += [("在", "O")] if rng.random() < 0.5 else [("会", "O"), ("见", "O")]
    other, kind = (rng.choice(PLACES), "LOC") if rng.random() < 0.5 else (rng.choice(ORGS), "ORG")
    pairs += [(c, ("B-" if i == 0 else "I-") + kind) for i, c in enumerate(other)]
    return pairs + [("。", "O")]


def _write_conll(path, sentences):
    path.write_text(
        "".join("".join(f"{c} {t}\n" for c, t in s) + "\n" for s in sentences), encoding="utf-8"
    )


@pytest.fixture(scope="module")
def ner_run(google_folder, tmp_path_factory):
    root = tmp_path_factory.mktemp("peoples_daily")
    rng = random.Random(4)
    (root / "data").mkdir()
    _write_conll(root / "data" / "train.txt", [_ner_sentence(rng) for _ in range(16)])
    test = [_ner_sentence(rng) for _ in range(4)]
    test.append(
        [("１", "O"), ("号", "O"), ("，", "O"), ("鑫", "O"), ("李", "B-PER"), ("鹏", "I-PER")]
    )
    _write_conll(root / "data" / "test.txt", test)
    _run(
        run_ner,
        google_folder,
        root / "out",
        data_dir=str(root / "data"),
        entity_types=["PER", "LOC", "ORG"],
        feature_based=False,
        lstm_size=8,
        export_dir=str(root / "export"),
    )
    return root, test


def test_peoples_daily_tagger_serves_raw_chinese(ner_run):
    root, test = ner_run
    predicted, sentence = [], []
    for line in (root / "out" / "test_predictions.txt").read_text(encoding="utf-8").splitlines():
        if line:
            sentence.append(line.split()[2])
        else:
            predicted.append(sentence)
            sentence = []
    assert [len(s) for s in predicted] == [len(s) for s in test]
    assert (root / "out" / "test_results.txt").exists()  # conlleval's scores of test.txt
    model = tf.saved_model.load(str(root / "export" / "1"))
    serve = model.signatures["serving_default"]
    # Characters as the words, as the data has them: one label per character.
    spaced = serve(text=tf.constant([" ".join(c for c, _ in s) for s in test]))
    word_labels = [[v.decode() for v in row] for row in spaced["word_labels"].numpy()]
    assert [row[: len(s)] for row, s in zip(word_labels, test)] == predicted
    # Raw text without spaces: every CJK character (and full-width punctuation) is a token of
    # its own, so the per-token labels are the characters' labels.
    raw = serve(text=tf.constant(["".join(c for c, _ in s) for s in test[:4]]))
    token_labels = [[v.decode() for v in row] for row in raw["labels"].numpy()]
    assert [row[1 : 1 + len(s)] for row, s in zip(token_labels, test)] == predicted[:4]
