"""Dynamic masking: the original's counts, candidates and 80/10/10 split; masks keyed by record."""

import random

import numpy as np
import pytest
import tensorflow as tf

from bert_tf import dynamic_masking, pretraining_data, records
from bert_tf.dynamic_masking import DynamicMasker, MaskingVocab
from conftest import SPECIAL_TOKENS

# A vocabulary of 200 tokens: the specials, 100 word starts and 95 "##" pieces.
WORDS = [f"w{i}" for i in range(100)]
PIECES = [f"##p{i}" for i in range(95)]
TOKENS = SPECIAL_TOKENS + WORDS + PIECES
PAD, CLS, SEP, MASK = 0, 2, 3, 4
SEQ, PREDS = 64, 12


@pytest.fixture(scope="module")
def vocab(tmp_path_factory):
    path = tmp_path_factory.mktemp("vocab") / "vocab.txt"
    path.write_text("\n".join(TOKENS) + "\n")
    return MaskingVocab.from_vocab_file(str(path))


def _instances(n, seed, pieces=True):
    """Token-id lists `[CLS] A [SEP] B [SEP]`, some words split into ## pieces."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        length = int(rng.integers(8, SEQ + 1))
        body = []
        while len(body) < length - 3:
            body.append(int(rng.integers(5, 105)))
            while pieces and rng.random() < 0.4 and len(body) < length - 3:
                body.append(int(rng.integers(105, 200)))
        cut = int(rng.integers(1, len(body)))
        out.append([CLS] + body[:cut] + [SEP] + body[cut:] + [SEP])
    return out


def _batch(instances):
    ids = np.zeros([len(instances), SEQ], np.int32)
    mask = np.zeros_like(ids)
    for row, tokens in enumerate(instances):
        ids[row, : len(tokens)] = tokens
        mask[row, : len(tokens)] = 1
    return ids, mask


def _noise(count, seed=7, epoch=0):
    """The random numbers of records 0..count-1 of file 0, drawn in one tf.data graph."""
    draws = tf.data.Dataset.range(count).map(
        lambda i: dynamic_masking.draw_noise(dynamic_masking.example_seed(seed, epoch, 0, i), SEQ)
    )
    return next(iter(draws.batch(count)))


def _python_budget(length, prob, most):
    return min(most, max(1, round(length * prob)))


def test_budget_is_the_originals_rounding():
    lengths = np.arange(0, 600)
    for prob in (0.0, 0.1, 0.15, 0.2, 0.5, 0.9, 1.0):
        for most in (20, 80):
            got = dynamic_masking.masking_budget(lengths, prob, most).numpy()
            expected = [_python_budget(int(n), prob, most) for n in lengths]
            assert got.tolist() == expected, (prob, most)
    # Half-way cases round to even, as Python 3's round: 0.5 * 9 = 4.5 -> 4, 0.5 * 11 -> 6.
    assert dynamic_masking.masking_budget([9, 11], 0.5, 20).numpy().tolist() == [4, 6]


def test_counts_candidates_labels_and_order(vocab):
    instances = _instances(400, seed=1)
    ids, mask = _batch(instances)
    out = {
        k: v.numpy()
        for k, v in dynamic_masking.mask_batch(
            ids, mask, _noise(len(instances)), vocab, 0.15, PREDS
        ).items()
    }
    for row, tokens in enumerate(instances):
        weights = out["masked_lm_weights"][row]
        count = int(weights.sum())
        candidates = [p for p, t in enumerate(tokens) if t not in (CLS, SEP)]
        assert count == min(_python_budget(len(tokens), 0.15, PREDS), len(candidates))
        assert weights.tolist() == [1.0] * count + [0.0] * (PREDS - count)
        positions = out["masked_lm_positions"][row]
        assert all(positions[count:] == 0) and all(out["masked_lm_ids"][row][count:] == 0)
        chosen = positions[:count].tolist()
        assert chosen == sorted(set(chosen)) and set(chosen) <= set(candidates)
        assert out["masked_lm_ids"][row][:count].tolist() == [tokens[p] for p in chosen]
        # Only chosen positions change.
        changed = {p for p in range(SEQ) if out["input_ids"][row][p] != ids[row][p]}
        assert changed <= set(chosen)


def test_masked_share_and_80_10_10_split(vocab):
    instances = _instances(3000, seed=2)
    ids, mask = _batch(instances)
    out = dynamic_masking.mask_batch(ids, mask, _noise(len(instances), seed=3), vocab, 0.15, PREDS)
    weights = out["masked_lm_weights"].numpy()
    positions = out["masked_lm_positions"].numpy()
    new_ids = out["input_ids"].numpy()
    labels = out["masked_lm_ids"].numpy()
    real = weights > 0
    after = np.take_along_axis(new_ids, positions, axis=1)[real]
    original = labels[real]
    n, v = real.sum(), len(TOKENS)
    # A random replacement may draw [MASK] or the original token itself (1/v each).
    expected = {
        "mask": 0.8 + 0.1 / v,
        "kept": 0.1 + 0.1 / v,
        "random": 0.1 * (1 - 2 / v),
    }
    observed = {
        "mask": np.mean(after == MASK),
        "kept": np.mean(after == original),
        "random": np.mean((after != MASK) & (after != original)),
    }
    for name, p in expected.items():
        sigma = np.sqrt(p * (1 - p) / n)
        assert abs(observed[name] - p) < 5 * sigma, (name, observed[name], p)
    # Every candidate position is equally likely: per row, chosen/candidates is the expected share.
    lengths = mask.sum(1)
    share = real.sum(1) / (lengths - 3)
    expected_share = np.minimum([_python_budget(n, 0.15, PREDS) for n in lengths], lengths - 3) / (
        lengths - 3
    )
    assert np.allclose(share, expected_share)
    # Position by position across rows of one length: the chosen counts are uniform.
    rows = lengths == SEQ
    counts = np.zeros(SEQ)
    for row in np.flatnonzero(rows):
        counts[positions[row][real[row]]] += 1
    free = [p for p in range(1, SEQ - 1) if not (ids[rows][:, p] == SEP).any()]
    per_position = counts[free]
    mean = per_position.mean()
    assert np.all(np.abs(per_position - mean) < 5 * np.sqrt(mean) + 1)


def _python_whole_word_counts(tokens, budget, trials, seed):
    """Predictions per draw made by the project's reference (the original's algorithm)."""
    rng = random.Random(seed)
    words = [TOKENS[t] for t in tokens]
    counts = []
    for _ in range(trials):
        _, chosen, _ = pretraining_data.create_masked_lm_predictions(
            words, 0.15, budget, TOKENS, rng, do_whole_word_mask=True
        )
        counts.append(len(chosen))
    return np.array(counts)


def test_whole_words_follow_the_originals_greedy_rule(vocab):
    instances = _instances(300, seed=4)
    ids, mask = _batch(instances)
    noise = _noise(len(instances), seed=5)
    out = dynamic_masking.mask_batch(ids, mask, noise, vocab, 0.15, PREDS, do_whole_word_mask=True)
    scores = noise[:, 0].numpy()
    positions = out["masked_lm_positions"].numpy()
    weights = out["masked_lm_weights"].numpy()
    for row, tokens in enumerate(instances):
        # The original's grouping: a ## piece joins the previous candidate group.
        groups = []
        for p, t in enumerate(tokens):
            if t in (CLS, SEP):
                continue
            if groups and TOKENS[t].startswith("##"):
                groups[-1].append(p)
            else:
                groups.append([p])
        order = sorted(range(len(groups)), key=lambda g: -scores[row][g])
        budget = _python_budget(len(tokens), 0.15, PREDS)
        chosen = []
        for g in order:
            if len(chosen) >= budget:
                break
            if len(chosen) + len(groups[g]) <= budget:
                chosen += groups[g]
        count = int(weights[row].sum())
        assert positions[row][:count].tolist() == sorted(chosen)


def test_whole_word_count_distribution_matches_the_reference(vocab):
    # One instance drawn 2000 times each way: the count of predictions per sequence (which the
    # greedy skip rule makes vary) has the same distribution as the reference's.
    tokens = _instances(1, seed=6)[0]
    trials = 2000
    ids, mask = _batch([tokens] * trials)
    noise = _noise(trials, seed=11)
    out = dynamic_masking.mask_batch(ids, mask, noise, vocab, 0.15, PREDS, do_whole_word_mask=True)
    ours = out["masked_lm_weights"].numpy().sum(1)
    reference = _python_whole_word_counts(tokens, PREDS, trials, seed=12)
    spread = np.sqrt(ours.var() / trials + reference.var() / trials) + 1e-9
    assert abs(ours.mean() - reference.mean()) < 5 * spread
    for value in np.union1d(ours, reference):
        p = (np.mean(ours == value) + np.mean(reference == value)) / 2
        sigma = np.sqrt(2 * p * (1 - p) / trials) + 1e-9
        assert abs(np.mean(ours == value) - np.mean(reference == value)) < 5 * sigma


def test_unmask_restores_the_static_masks():
    features = {
        "input_ids": tf.constant([[2, 4, 11, 4, 3, 0], [2, 12, 4, 3, 0, 0]], tf.int32),
        "masked_lm_positions": tf.constant([[1, 3, 0], [2, 0, 0]], tf.int32),
        "masked_lm_ids": tf.constant([[10, 12, 0], [13, 0, 0]], tf.int32),
        "masked_lm_weights": tf.constant([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]]),
    }
    assert dynamic_masking.unmask(features).numpy().tolist() == [
        [2, 10, 11, 12, 3, 0],
        [2, 12, 13, 3, 0, 0],
    ]


def _write_records(folder, files=2, per_file=12):
    """Files of records whose first token after [CLS] names the record (file * 100 + index)."""
    paths = []
    for f in range(files):
        examples = []
        for i in range(per_file):
            tokens = [CLS, 5 + f, 5 + (i % 90)] + [5 + (j * 7 + i) % 100 for j in range(20)] + [SEP]
            tokens += [5 + (j * 3 + f) % 100 for j in range(10)] + [SEP]
            # A static mask at position 3, which dynamic masking must undo first.
            original = tokens[3]
            masked = list(tokens)
            masked[3] = MASK
            examples.append(
                {
                    "input_ids": masked + [0] * (SEQ - len(tokens)),
                    "input_mask": [1] * len(tokens) + [0] * (SEQ - len(tokens)),
                    "segment_ids": [0] * 23 + [1] * (SEQ - 23),
                    "masked_lm_positions": [3] + [0] * (PREDS - 1),
                    "masked_lm_ids": [original] + [0] * (PREDS - 1),
                    "masked_lm_weights": [1.0] + [0.0] * (PREDS - 1),
                    "next_sentence_labels": [0],
                }
            )
        path = str(folder / f"part-{f}.tfrecord")
        records.write_examples([path], examples)
        paths.append(path)
    return paths


def _rows(dataset, batches):
    """(masked input_ids, masked_lm_positions) of every row of the first `batches` batches."""
    out = []
    for batch in dataset.take(batches):
        for ids, positions in zip(batch["input_ids"].numpy(), batch["masked_lm_positions"].numpy()):
            out.append((tuple(ids), tuple(positions)))
    return out


def _expected(files, masker, epochs):
    """Each record's masks in each epoch, made from its (epoch, file, index) outside the reader."""
    spec = records.pretraining_feature_spec(SEQ, PREDS)
    keys, serialized = [], []
    for file_index, path in enumerate(files):
        for index, record in enumerate(tf.data.TFRecordDataset(path)):
            for epoch in range(epochs):
                keys.append((file_index, index, epoch))
                serialized.append(record)
    columns = [tf.constant([key[j] for key in keys], tf.int64) for j in (2, 0, 1)]
    made = tf.data.Dataset.from_tensor_slices((*columns, tf.stack(serialized))).map(
        lambda e, f, i, r: masker.prepare(records.decode_record(r, spec), e, f, i)
    )
    batch = masker.mask(next(iter(made.batch(len(keys)))))
    rows = zip(batch["input_ids"].numpy(), batch["masked_lm_positions"].numpy())
    # The static mask at position 3 was undone first: [MASK] there only where chosen anew.
    for ids, positions in zip(batch["input_ids"].numpy(), batch["masked_lm_positions"].numpy()):
        assert ids[3] != MASK or 3 in positions
    return {key: (tuple(ids), tuple(positions)) for key, (ids, positions) in zip(keys, rows)}


def test_masks_depend_only_on_seed_epoch_and_record(tmp_path, vocab):
    files = _write_records(tmp_path)
    masker = DynamicMasker(vocab, 0.15, PREDS, seed=99)
    # The shuffle buffer (100 records) holds about 4 epochs of these 24 records.
    expected = _expected(files, masker, epochs=7)
    where = {row: key for key, row in expected.items()}
    assert len(where) == len(expected)  # every (record, epoch) has masks of its own

    # Two training readings in different orders (another shuffle seed and thread count): every
    # row is the masks of one (record, epoch), and no (record, epoch) comes twice.
    for shuffle_seed, threads in ((1, 1), (2, 2)):
        dataset = records.pretraining_dataset(
            files,
            4,
            SEQ,
            PREDS,
            is_training=True,
            seed=shuffle_seed,
            num_cpu_threads=threads,
            deterministic=False,
            masker=masker,
        )
        rows = _rows(dataset, 12)
        keys = [where.get(row) for row in rows]
        assert None not in keys and len(set(keys)) == len(keys)
    # The evaluation reading (files in order, then again as epoch 1) gives exactly those masks.
    dataset = records.pretraining_dataset(files, 4, SEQ, PREDS, is_training=False, masker=masker)
    order = [(f, i, e) for e in range(2) for f in range(2) for i in range(12)]
    assert _rows(dataset, 12) == [expected[key] for key in order]
    # Epochs differ, and so do seeds.
    assert (
        sum(expected[(f, i, 0)] != expected[(f, i, 1)] for f in range(2) for i in range(12)) >= 22
    )
    other = DynamicMasker(vocab, 0.15, PREDS, seed=98)
    evaluation = _rows(
        records.pretraining_dataset(files, 4, SEQ, PREDS, is_training=False, masker=other), 6
    )
    assert sum(row != expected[key] for row, key in zip(evaluation, order)) >= 22


def test_restored_input_pipeline_continues_with_the_same_masks(tmp_path, vocab):
    # What a resumed run relies on: the reader's iterator, saved in a checkpoint part-way and
    # restored into a new pipeline, yields the batches (and masks) the first one went on with.
    files = _write_records(tmp_path)
    masker = DynamicMasker(vocab, 0.15, PREDS, seed=5, do_whole_word_mask=True)

    def dataset():
        return records.pretraining_dataset(
            files, 4, SEQ, PREDS, is_training=True, seed=3, deterministic=True, masker=masker
        )

    iterator = iter(dataset())
    for _ in range(7):  # Past the first epoch (24 records).
        next(iterator)
    checkpoint = tf.train.Checkpoint(iterator=iterator)
    path = checkpoint.write(str(tmp_path / "ckpt" / "input"))
    uninterrupted = [next(iterator) for _ in range(6)]

    resumed = iter(dataset())
    tf.train.Checkpoint(iterator=resumed).read(path).assert_consumed()
    for expected in uninterrupted:
        got = next(resumed)
        for name in ("input_ids", "masked_lm_positions", "masked_lm_ids", "masked_lm_weights"):
            np.testing.assert_array_equal(got[name].numpy(), expected[name].numpy())
