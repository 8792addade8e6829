"""bert_tf.records: encoding, round-robin writing, file patterns, parsing and input pipelines."""

import numpy as np
import pytest
import tensorflow as tf

from bert_tf import records

SEQ, PRED = 16, 4


def pretraining_features(index: int) -> dict:
    """A valid pre-training feature dict whose values identify the record by `index`."""
    used = 6 + index % 5
    return {
        "input_ids": [101] + [1000 + index] * (used - 2) + [102] + [0] * (SEQ - used),
        "input_mask": [1] * used + [0] * (SEQ - used),
        "segment_ids": [0] * (used // 2) + [1] * (used - used // 2) + [0] * (SEQ - used),
        "masked_lm_positions": [1, 2, 0, 0],
        "masked_lm_ids": [30000 + index % 500, 7, 0, 0],
        "masked_lm_weights": [1.0, 1.0, 0.0, 0.0],
        "next_sentence_labels": [index % 2],
    }


def write_pretraining_file(path, count: int, start: int = 0) -> None:
    records.write_examples([str(path)], (pretraining_features(start + i) for i in range(count)))


def read_raw(path) -> list:
    return [r.numpy() for r in tf.data.TFRecordDataset([str(path)])]


@pytest.mark.parametrize(
    "features",
    [
        pretraining_features(3),
        {"input_ids": [], "masked_lm_weights": []},
        {"input_ids": [-1, 0, 127, 128, 16383, 16384, 65535, 65536, 2**40, 2**63 - 1, -(2**63)]},
        {"undeclared_floats": [1.5, -2.25], "undeclared_ints": [3], "input_mask": [1] * 300},
        {"x" * 200: list(range(70000))},
    ],
)
def test_serialize_example_matches_protobuf_deterministic_bytes(features):
    expected = records.make_example(features).SerializeToString(deterministic=True)
    assert records.serialize_example(features) == expected
    parsed = tf.train.Example.FromString(records.serialize_example(features))
    for name, values in features.items():
        feature = parsed.features.feature[name]
        got = (
            feature.float_list.value
            if records.feature_type(name, values) == "float"
            else (feature.int64_list.value)
        )
        np.testing.assert_allclose(list(got), values)


def test_feature_types_are_googles():
    ints = [
        "input_ids",
        "input_mask",
        "segment_ids",
        "masked_lm_positions",
        "masked_lm_ids",
        "next_sentence_labels",
    ]
    assert all(records.FEATURE_TYPES[name] == records.INT64 for name in ints)
    assert records.FEATURE_TYPES["masked_lm_weights"] == records.FLOAT
    assert set(records.PRETRAINING_FEATURES) == set(ints) | {"masked_lm_weights"}


def test_packed_values_concatenate_and_serialize_packed_agrees():
    a, b = [1, 300, 70000], [0, 5]
    assert records.pack_values("input_ids", a + b) == (
        records.pack_values("input_ids", a) + records.pack_values("input_ids", b)
    )
    features = pretraining_features(11)
    packed = {name: records.pack_values(name, values) for name, values in features.items()}
    assert records.serialize_packed(packed) == records.serialize_example(features)


def test_round_robin_writer_spreads_records_in_turn(tmp_path):
    paths = [str(tmp_path / f"part-{k}.tfrecord") for k in range(3)]
    with records.RoundRobinWriter(paths) as writer:
        for index in range(7):
            writer.write(records.serialize_example(pretraining_features(index)))
    assert writer.counts == [3, 2, 2] and writer.total == 7
    for k, path in enumerate(paths):
        got = [tf.train.Example.FromString(r) for r in read_raw(path)]
        ids = [e.features.feature["input_ids"].int64_list.value[1] - 1000 for e in got]
        assert ids == list(range(k, 7, 3))


def test_round_robin_writer_creates_folders_and_needs_a_file(tmp_path):
    path = tmp_path / "new" / "folder" / "out.tfrecord"
    assert records.write_examples([str(path)], [pretraining_features(0)]) == [1]
    assert path.exists()
    with pytest.raises(ValueError, match="no output file"):
        records.RoundRobinWriter([])


def test_expand_file_patterns(tmp_path):
    for name in ("a1.txt", "a2.txt", "b.txt"):
        (tmp_path / name).write_text("x\n")
    files = records.expand_file_patterns(f"{tmp_path}/a*.txt, {tmp_path}/b.txt")
    assert sorted(files[:2]) == [str(tmp_path / "a1.txt"), str(tmp_path / "a2.txt")]
    assert files[2] == str(tmp_path / "b.txt")
    with pytest.raises(ValueError, match=r"'.*nothing\*\.txt' matches no file"):
        records.expand_file_patterns(f"{tmp_path}/b.txt,{tmp_path}/nothing*.txt")
    with pytest.raises(ValueError, match="--input_file is empty"):
        records.expand_file_patterns(" , ")


def test_feature_spec_and_decode_cast_int64_to_int32():
    spec = records.pretraining_feature_spec(SEQ, PRED)
    assert list(spec) == list(records.PRETRAINING_FEATURES)
    assert spec["input_ids"].shape == [SEQ] and spec["input_ids"].dtype == tf.int64
    assert spec["masked_lm_positions"].shape == [PRED]
    assert spec["masked_lm_weights"].dtype == tf.float32
    assert spec["next_sentence_labels"].shape == [1]
    decoded = records.decode_record(
        tf.constant(records.serialize_example(pretraining_features(2))), spec
    )
    assert decoded["input_ids"].dtype == tf.int32
    assert decoded["masked_lm_weights"].dtype == tf.float32
    assert decoded["masked_lm_ids"].numpy().tolist() == [30002, 7, 0, 0]
    with pytest.raises(KeyError, match="no declared type"):
        records.feature_spec({"label_idz": 1})


def test_eval_dataset_reads_files_in_order_with_fixed_batches(tmp_path):
    first, second = tmp_path / "a.tfrecord", tmp_path / "b.tfrecord"
    write_pretraining_file(first, 5, start=0)
    write_pretraining_file(second, 4, start=5)
    dataset = records.pretraining_dataset(
        [str(first), str(second)], 4, SEQ, PRED, is_training=False, repeat_eval=False
    )
    batches = list(dataset)
    assert len(batches) == 2  # 9 records: the last, partial batch is dropped.
    ids = np.concatenate([b["input_ids"].numpy()[:, 1] for b in batches]) - 1000
    assert ids.tolist() == list(range(8))
    batch = batches[0]
    for name in records.SEQUENCE_FEATURES:
        assert batch[name].shape == (4, SEQ) and batch[name].dtype == tf.int32
    for name in ("masked_lm_positions", "masked_lm_ids"):
        assert batch[name].shape == (4, PRED) and batch[name].dtype == tf.int32
    assert batch["masked_lm_weights"].dtype == tf.float32
    assert batch["next_sentence_labels"].shape == (4, 1)
    # As in the original, evaluation data repeats by default (a fixed number of steps is run).
    repeated = records.pretraining_dataset(str(first), 4, SEQ, PRED, is_training=False)
    assert len(list(repeated.take(5))) == 5


def test_training_dataset_shuffles_interleaves_and_repeats(tmp_path):
    paths = []
    for k in range(3):
        paths.append(str(tmp_path / f"t{k}.tfrecord"))
        write_pretraining_file(paths[-1], 10, start=10 * k)

    def first_epoch(seed):
        dataset = records.pretraining_dataset(
            paths, 5, SEQ, PRED, is_training=True, seed=seed, deterministic=True
        )
        return np.concatenate([b["input_ids"].numpy()[:, 1] for b in dataset.take(6)]) - 1000

    a, b = first_epoch(7), first_epoch(7)
    np.testing.assert_array_equal(a, b)  # Reproducible when asked to be.
    assert a.tolist() != sorted(a.tolist())  # Shuffled.
    assert set(a.tolist()) <= set(range(30))
    # The training stream never ends (the original repeats the file list forever).
    sloppy = records.pretraining_dataset(f"{tmp_path}/t*.tfrecord", 8, SEQ, PRED, is_training=True)
    assert len(list(sloppy.take(10))) == 10


def test_check_record_shapes(tmp_path):
    path = tmp_path / "p.tfrecord"
    write_pretraining_file(path, 2)
    records.check_record_shapes(str(path), SEQ, PRED)
    with pytest.raises(
        ValueError, match="written with max_predictions_per_seq=4, training asks for 20"
    ):
        records.check_record_shapes(str(path), SEQ, 20)
    with pytest.raises(ValueError, match="written with max_seq_length=16, training asks for 128"):
        records.check_record_shapes(str(path), 128, PRED)

    other = tmp_path / "classifier.tfrecord"
    records.write_examples([str(other)], [{"input_ids": [1, 2], "label_ids": [0]}])
    with pytest.raises(ValueError, match="not a pre-training file.*lack input_mask"):
        records.check_record_shapes(str(other), 2, PRED)
    empty = tmp_path / "empty.tfrecord"
    records.write_examples([str(empty)], [])
    with pytest.raises(ValueError, match="holds no record"):
        records.check_record_shapes(str(empty), SEQ, PRED)
    with pytest.raises(FileNotFoundError):
        records.check_record_shapes(str(tmp_path / "missing.tfrecord"), SEQ, PRED)


def test_ner_and_multiple_choice_records_round_trip(tmp_path):
    ner = {
        "input_ids": [2, 7, 8, 3, 0],
        "input_mask": [1, 1, 1, 1, 0],
        "segment_ids": [0] * 5,
        "label_ids": [-1, 3, -1, -1, -1],  # negative ids survive the int64 varints
    }
    path = str(tmp_path / "ner.tf_record")
    assert records.write_ner_records(path, [ner, ner]) == 2
    (batch,) = list(records.ner_dataset(path, 4, 5, is_training=False))
    assert batch["label_ids"].numpy().tolist() == [ner["label_ids"]] * 2
    assert batch["input_ids"].dtype == tf.int32

    choices = {
        "input_ids": list(range(12)),
        "input_mask": [1] * 12,
        "segment_ids": [0, 0, 1] * 4,
        "label_ids": [2],
        "is_real_example": [1],
    }
    path = str(tmp_path / "mc.tf_record")
    records.write_multiple_choice_records(path, [choices])
    (batch,) = list(records.multiple_choice_dataset(path, 2, 3, 4, is_training=False))
    assert batch["input_ids"].numpy().tolist() == [[[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 10, 11]]]
    assert batch["label_ids"].numpy().tolist() == [2]


def test_trim_padding_keeps_each_batchs_used_columns(tmp_path):
    seq = 40
    lengths = [3, 5, 9, 2, 17, 40, 1, 8, 12]
    rows = []
    for i, n in enumerate(lengths):
        ids = [100 + i] * n + [0] * (seq - n)
        rows.append(
            {
                "input_ids": ids,
                "input_mask": [1] * n + [0] * (seq - n),
                "segment_ids": [0] * (n // 2) + [1] * (n - n // 2) + [0] * (seq - n),
                "label_ids": [i % 2],
                "is_real_example": [1],
            }
        )
    path = str(tmp_path / "cls.tf_record")
    records.write_classifier_examples(path, rows)
    full = list(records.classifier_dataset(path, 3, seq, is_training=False))
    trimmed = list(records.classifier_dataset(path, 3, seq, is_training=False, trim_padding=True))
    # Longest row per batch: 9, 40, 12 -> widths rounded up to a multiple of 8, capped at 40.
    assert [b["input_ids"].shape[1] for b in trimmed] == [16, 40, 16]
    for whole, cut in zip(full, trimmed):
        width = cut["input_ids"].shape[1]
        for name in records.SEQUENCE_FEATURES:
            np.testing.assert_array_equal(cut[name].numpy(), whole[name].numpy()[:, :width])
            assert not whole[name].numpy()[:, width:].any()  # only padding was dropped
        for name in ("label_ids", "is_real_example"):
            np.testing.assert_array_equal(cut[name].numpy(), whole[name].numpy())
    # Training batches come trimmed too, with an unknown static width.
    train = records.classifier_dataset(path, 3, seq, is_training=True, seed=1, trim_padding=True)
    assert train.element_spec["input_ids"].shape.as_list() == [3, None]
    for batch in train.take(6):
        longest = int(batch["input_mask"].numpy().sum(axis=1).max())
        assert batch["input_ids"].shape[1] == min(seq, -(-longest // 8) * 8)
