"""create_pretraining_data.py end to end: flags, outputs, workers, and bad input."""

import logging as std_logging
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from absl import flags
from absl.testing import flagsaver

import create_pretraining_data
from bert_tf import pretraining_data, records
from conftest import REPO, SPECIAL_TOKENS, shared_data
from test_pretraining_data import squad_documents, write_corpus

FLAGS = flags.FLAGS


@pytest.fixture(scope="module")
def vocab_file():
    return str(shared_data("vocab", "bert-base-uncased-vocab.txt"))


@pytest.fixture
def tiny_vocab(tmp_path):
    """A small vocabulary: the special tokens and a few words (others become [UNK])."""
    words = "a the and one first second document sentence here more end normal clean broken"
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join([*SPECIAL_TOKENS, "."] + words.split()))
    return str(path)


@pytest.fixture
def small_text(tmp_path):
    path = tmp_path / "small.txt"
    path.write_text("One first sentence.\nA second sentence here.\n\nMore document.\nThe end.\n")
    return str(path)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_corpus(tmp_path_factory.mktemp("corpus") / "squad.txt", squad_documents(250))


def run_main(**values):
    if not FLAGS.is_parsed():
        FLAGS.mark_as_parsed()
    settings = dict(dupe_factor=2, progress_seconds=0.0)
    settings.update(values)
    with flagsaver.flagsaver(**settings):
        create_pretraining_data.main([])


def raw_records(paths):
    return [[r.numpy() for r in tf.data.TFRecordDataset([p])] for p in paths]


def test_main_writes_records_the_training_input_reads(corpus, vocab_file, tmp_path):
    outputs = [str(tmp_path / "a.tfrecord"), str(tmp_path / "b.tfrecord")]
    run_main(input_file=corpus, output_file=",".join(outputs), vocab_file=vocab_file)
    first = raw_records(outputs)
    assert len(first[0]) > 400 and len(first[0]) - len(first[1]) in (0, 1)
    records.check_record_shapes(outputs[0], 128, 20)

    dataset = records.pretraining_dataset(outputs, 8, 128, 20, is_training=True, seed=1)
    batch = next(iter(dataset))
    for name in records.SEQUENCE_FEATURES:
        assert batch[name].shape == (8, 128) and batch[name].dtype == tf.int32
    assert batch["masked_lm_positions"].shape == (8, 20)
    assert batch["masked_lm_ids"].dtype == tf.int32
    assert batch["masked_lm_weights"].dtype == tf.float32
    assert batch["next_sentence_labels"].shape == (8, 1)
    weights = batch["masked_lm_weights"].numpy()
    positions = batch["masked_lm_positions"].numpy()
    assert np.all(positions[weights == 0] == 0) and np.all(positions[weights == 1] > 0)

    # A rerun gives the same bytes (features are written in a fixed order).
    run_main(input_file=corpus, output_file=",".join(outputs), vocab_file=vocab_file)
    assert raw_records(outputs) == first


def test_two_workers_are_reproducible_and_differ_from_one(corpus, vocab_file, tmp_path):
    single = str(tmp_path / "one.tfrecord")
    run_main(input_file=corpus, output_file=single, vocab_file=vocab_file)
    runs = []
    for attempt in range(2):
        path = str(tmp_path / f"two-{attempt}.tfrecord")
        run_main(input_file=corpus, output_file=path, vocab_file=vocab_file, num_workers=2)
        runs.append(raw_records([path])[0])
    assert runs[0] == runs[1]
    one = raw_records([single])[0]
    assert runs[0] != one
    assert abs(len(runs[0]) - len(one)) < 0.05 * len(one)
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".pretraining_shards_")]


def test_whole_word_mask_flag_reaches_the_algorithm(corpus, vocab_file, tmp_path):
    path = str(tmp_path / "wwm.tfrecord")
    run_main(
        input_file=corpus,
        output_file=path,
        vocab_file=vocab_file,
        do_whole_word_mask=True,
        max_seq_length=64,
        max_predictions_per_seq=10,
        dupe_factor=1,
    )
    records.check_record_shapes(path, 64, 10)
    inverse = pretraining_data.load_tokenizer(vocab_file, True).inv_vocab
    split_words = 0
    for raw in raw_records([path])[0]:
        feature = tf.train.Example.FromString(raw).features.feature
        ids = list(feature["input_ids"].int64_list.value)
        weights = list(feature["masked_lm_weights"].float_list.value)
        positions = list(feature["masked_lm_positions"].int64_list.value)[: int(sum(weights))]
        labels = [inverse[i] for i in feature["masked_lm_ids"].int64_list.value]
        tokens = [inverse[i] for i in ids]
        for position, label in zip(positions, labels):
            tokens[position] = label
        for position in positions:  # The piece after a masked word's last piece is no "##".
            after = position + 1
            if after < len(tokens) and tokens[after].startswith("##") and after not in positions:
                split_words += 1
    assert split_words == 0


def test_demo_corpus_makes_instances(vocab_file, tmp_path):
    path = str(tmp_path / "demo.tfrecord")
    summary = pretraining_data.create_pretraining_data(
        [str(REPO / "demo" / "corpus.txt")],
        [path],
        pretraining_data.PretrainingDataConfig(vocab_file, dupe_factor=1),
    )
    assert summary.stats.documents >= 30 and summary.stats.sentences >= 300
    assert summary.instances == len(raw_records([path])[0]) > 50
    assert summary.stats.invalid_utf8_lines == 0 and summary.stats.empty_documents == 0


def test_invalid_utf8_is_dropped_counted_and_logged(tiny_vocab, tmp_path, caplog):
    text = tmp_path / "bad.txt"
    text.write_bytes(
        b"A clean first sentence here.\nBroken \xff\xfe bytes in this one.\n\n"
        b"Second document starts.\nMore \xc3 trouble.\nAnd a normal end.\n"
    )
    caplog.set_level(std_logging.WARNING)
    summary = pretraining_data.create_pretraining_data(
        [str(text)],
        [str(tmp_path / "bad.tfrecord")],
        pretraining_data.PretrainingDataConfig(tiny_vocab),
    )
    assert summary.stats.invalid_utf8_lines == 2
    assert summary.stats.invalid_utf8_where == [f"{text}:2", f"{text}:5"]
    assert "2 lines held bytes that are not UTF-8" in caplog.text
    tokenizer = pretraining_data.load_tokenizer(tiny_vocab, True)
    documents = pretraining_data.read_documents([str(text)], tokenizer)
    assert documents[0][1] == tokenizer.tokenize("Broken  bytes in this one.")


def test_bad_input_gives_clear_errors(small_text, tiny_vocab, tmp_path):
    corpus, vocab_file = small_text, tiny_vocab
    out = str(tmp_path / "x.tfrecord")
    with pytest.raises(FileNotFoundError, match="--vocab_file: no such file"):
        run_main(input_file=corpus, output_file=out, vocab_file=str(tmp_path / "none.txt"))
    with pytest.raises(ValueError, match="matches no file"):
        run_main(input_file=str(tmp_path / "absent*.txt"), output_file=out, vocab_file=vocab_file)
    blank = tmp_path / "blank.txt"
    blank.write_text("\n\n   \n\x00\n")
    for workers in (1, 2):
        with pytest.raises(ValueError, match="no text found"):
            run_main(
                input_file=str(blank), output_file=out, vocab_file=vocab_file, num_workers=workers
            )
    with pytest.raises(ValueError, match="--output_file is empty"):
        run_main(input_file=corpus, output_file=" , ", vocab_file=vocab_file)
    with pytest.raises(ValueError, match="--num_workers=0"):
        run_main(input_file=corpus, output_file=out, vocab_file=vocab_file, num_workers=0)
    with pytest.raises(ValueError, match="--max_seq_length=3"):
        run_main(input_file=corpus, output_file=out, vocab_file=vocab_file, max_seq_length=3)
    plain = tmp_path / "plain_vocab.txt"
    plain.write_text("hello\nworld\n")
    with pytest.raises(ValueError, match=r"lacks \[CLS\], \[SEP\], \[MASK\], \[UNK\]"):
        run_main(input_file=corpus, output_file=out, vocab_file=str(plain))


def test_small_corpus_with_a_small_vocabulary(small_text, tiny_vocab, tmp_path):
    out = tmp_path / "small.tfrecord"
    run_main(input_file=small_text, output_file=str(out), vocab_file=tiny_vocab, max_seq_length=16)
    records.check_record_shapes(str(out), 16, 20)
    count = len(raw_records([str(out)])[0])
    assert count >= 2 * 2  # At least one instance per document and pass.


def test_script_exits_with_a_message_for_a_glob_matching_nothing(tiny_vocab, tmp_path):
    missing = str(tmp_path / "no_such_dir" / "*.txt")
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "create_pretraining_data.py"),
            f"--input_file={missing}",
            f"--output_file={tmp_path / 'out.tfrecord'}",
            f"--vocab_file={tiny_vocab}",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert result.returncode == 1
    assert f"error: --input_file: '{missing}' matches no file" in result.stderr
    assert "Traceback" not in result.stderr


def test_script_runs_two_workers_from_the_command_line(corpus, vocab_file, tmp_path):
    out = tmp_path / "cli.tfrecord"
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "create_pretraining_data.py"),
            f"--input_file={corpus}",
            f"--output_file={out}",
            f"--vocab_file={vocab_file}",
            "--dupe_factor=1",
            "--num_workers=2",
            "--progress_seconds=0",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "shard 1/2" in result.stderr and "shard 2/2" in result.stderr
    assert "*** Example ***" in result.stderr and "Wrote" in result.stderr
    assert len(raw_records([str(out)])[0]) > 200


def test_chinese_whole_word_masking_from_the_command_line(tmp_path, caplog):
    pytest.importorskip("jieba")
    vocab = tmp_path / "zh_vocab.txt"
    characters = sorted(set("我们今天去北京大学看中国人民银行的朋友手机非常好用"))
    vocab.write_text("\n".join([*SPECIAL_TOKENS, "。", *characters]))
    text = tmp_path / "zh.txt"
    text.write_text(
        "我们今天去北京大学。\n看中国人民银行的朋友。\n\n手机非常好用。\n我们的朋友。\n",
        encoding="utf-8",
    )
    out = tmp_path / "zh.tfrecord"
    caplog.set_level(std_logging.INFO)
    settings = dict(input_file=str(text), vocab_file=str(vocab), max_seq_length=32)
    run_main(
        output_file=str(out),
        do_whole_word_mask=True,
        chinese_word_segmenter="jieba",
        **settings,
    )
    records.check_record_shapes(str(out), 32, 20)
    assert "Chinese word segmentation: 30 CJK characters" in caplog.text
    assert "masked words (adjacent positions joined): " in caplog.text
    with pytest.raises(ValueError, match="only serves whole word masking"):
        run_main(output_file=str(out), chinese_word_segmenter="jieba", **settings)


def test_jieba_on_text_without_chinese_says_so(small_text, tiny_vocab, tmp_path, caplog):
    pytest.importorskip("jieba")
    caplog.set_level(std_logging.WARNING)
    outputs = {}
    for segmenter in ("none", "jieba"):
        outputs[segmenter] = tmp_path / f"{segmenter}.tfrecord"
        run_main(
            input_file=small_text,
            output_file=str(outputs[segmenter]),
            vocab_file=tiny_vocab,
            max_seq_length=16,
            do_whole_word_mask=True,
            chinese_word_segmenter=segmenter,
        )
    assert "--chinese_word_segmenter=jieba found no CJK text" in caplog.text
    assert raw_records([outputs["none"]]) == raw_records([outputs["jieba"]])
