"""create_pretraining_data on Beam: one file per input file, the records of --num_workers.

The pipeline tests need the optional extra (`pip install -r requirements-beam.txt`) and are
skipped without it; run them with `.venv/bin/python -m pytest -q tests/test_beam_pipeline.py`.
"""

import random
import subprocess
import sys

import pytest
import tensorflow as tf
from conftest import REPO, SPECIAL_TOKENS

import create_pretraining_data_beam
from bert_tf import pretraining_data

BEAM_MISSING = (
    "Apache Beam is an optional extra: `.venv/bin/pip install -r requirements-beam.txt` to run "
    "the Beam pipeline tests"
)
WORDS = "the a one two three first second document sentence here more end river city".split()
SETTINGS = dict(max_seq_length=32, max_predictions_per_seq=5, dupe_factor=2, random_seed=777)


@pytest.fixture
def corpus(tmp_path):
    """Three text files of equal size (so that --num_workers=3 cuts exactly at the files)."""
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join([*SPECIAL_TOKENS, "."] + WORDS + ["##s"]))
    rng = random.Random(0)
    texts = []
    for _ in range(3):
        documents = []
        for _ in range(12):
            sentences = [
                " ".join(rng.choice(WORDS) + rng.choice(["", "s"]) for _ in range(rng.randint(3, 12)))
                + " ."
                for _ in range(rng.randint(1, 6))
            ]
            documents.append("\n".join(sentences))
        texts.append("\n\n".join(documents) + "\n")
    size = max(len(text) for text in texts)
    paths = []
    for index, text in enumerate(texts):
        path = tmp_path / "text" / f"part-{index}.txt"
        path.parent.mkdir(exist_ok=True)
        path.write_text(text + "\n" * (size - len(text)))  # Blank lines: no new document.
        paths.append(str(path))
    return str(vocab), paths


def _records(path):
    return [record.numpy() for record in tf.data.TFRecordDataset([path])]


def _config(vocab, **changes):
    return pretraining_data.PretrainingDataConfig(vocab_file=vocab, **{**SETTINGS, **changes})


def _alternate(streams):
    """One record of each stream in turn, skipping streams that ran out."""
    merged, iterators = [], [iter(s) for s in streams]
    while iterators:
        for iterator in list(iterators):
            record = next(iterator, None)
            if record is None:
                iterators.remove(iterator)
            else:
                merged.append(record)
    return merged


def test_beam_flags_are_split_from_the_scripts():
    ours, beam_args = create_pretraining_data_beam.split_arguments(
        [
            "prog", "--input_file=a.txt", "--output_file", "out", "--runner", "DataflowRunner",
            "--num_workers=20", "--nodo_lower_case", "--direct_num_workers=2", "--dupe_factor=3",
        ]
    )
    assert ours == ["prog", "--input_file=a.txt", "--output_file", "out", "--nodo_lower_case",
                    "--dupe_factor=3"]
    assert beam_args == ["prog", "--runner", "DataflowRunner", "--num_workers=20",
                         "--direct_num_workers=2"]


def test_output_is_per_file_runs_and_num_workers_records_for_any_worker_count(corpus, tmp_path):
    pytest.importorskip("apache_beam", reason=BEAM_MISSING)
    from bert_tf import beam_pipeline

    vocab, inputs = corpus
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        beam_pipeline.run([str(tmp_path / "missing.txt")], str(tmp_path / "x"), _config(vocab))
    # In this process (FnApiRunner, in memory).
    outputs, stats = beam_pipeline.run(inputs, str(tmp_path / "one" / "data.tfrecord"), _config(vocab))
    assert outputs == [str(tmp_path / "one" / f"data.tfrecord-0000{k}-of-00003") for k in range(3)]
    one = [_records(path) for path in outputs]
    assert stats.instances == sum(map(len, one)) and stats.documents == 36

    # File k holds what create_pretraining_data makes from file k alone with seed + k.
    for k, path in enumerate(inputs):
        alone = str(tmp_path / f"alone-{k}.tfrecord")
        pretraining_data.create_pretraining_data(
            [path], [alone], _config(vocab, random_seed=SETTINGS["random_seed"] + k)
        )
        assert one[k] == _records(alone) and one[k]

    # --num_workers=3 over the three equal files: the same records, one of each file in turn.
    sharded = str(tmp_path / "sharded.tfrecord")
    pretraining_data.create_pretraining_data(inputs, [sharded], _config(vocab), num_workers=3)
    assert _records(sharded) == _alternate(one)

    # The script, with two worker processes and the inputs as a glob: the same files.
    result = subprocess.run(
        [
            sys.executable, str(REPO / "create_pretraining_data_beam.py"),
            f"--input_file={tmp_path / 'text' / 'part-*.txt'}",
            f"--output_file={tmp_path / 'two' / 'data.tfrecord'}", f"--vocab_file={vocab}",
            *(f"--{name}={value}" for name, value in SETTINGS.items()),
            "--direct_running_mode=multi_processing", "--direct_num_workers=2",
        ],
        capture_output=True, text=True, timeout=300, cwd=REPO,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    two = [_records(str(tmp_path / "two" / f"data.tfrecord-0000{k}-of-00003")) for k in range(3)]
    assert two == one
    assert not list((tmp_path / "two").glob("*.incomplete"))


def test_chinese_word_segmenter_reaches_the_workers(tmp_path):
    """--chinese_word_segmenter in Beam gives create_pretraining_data's whole-word records."""
    pytest.importorskip("apache_beam", reason=BEAM_MISSING)
    from bert_tf import beam_pipeline

    characters = list("我们喜欢中文很好天气今日人民银行")
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join([*SPECIAL_TOKENS, "，", "。"] + characters))
    words = ["我们", "喜欢", "中文", "很", "好", "天气", "今日", "人民银行"]
    rng = random.Random(1)
    documents = [
        "\n".join(" ".join(rng.choice(words) for _ in range(rng.randint(4, 9))) + " 。"
                  for _ in range(rng.randint(2, 5)))
        for _ in range(20)
    ]
    text = tmp_path / "segmented.txt"
    text.write_text("\n\n".join(documents) + "\n")
    config = _config(str(vocab), do_whole_word_mask=True, chinese_word_segmenter="spaces")
    outputs, _ = beam_pipeline.run([str(text)], str(tmp_path / "beam" / "zh.tfrecord"), config)
    alone = str(tmp_path / "alone.tfrecord")
    pretraining_data.create_pretraining_data([str(text)], [alone], config)
    plain = str(tmp_path / "plain.tfrecord")
    pretraining_data.create_pretraining_data(
        [str(text)], [plain], _config(str(vocab), do_whole_word_mask=True)
    )
    assert _records(outputs[0]) == _records(alone) != _records(plain)
