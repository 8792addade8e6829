"""Masked-LM positions drawn in the input pipeline (dynamic masking), by the original's rules.

Google's `create_pretraining_data.py` masks once, on disk, and repeats the corpus `dupe_factor`
times to show the model several masks of one sentence. Here the records are read unmasked and
every epoch draws new masks in `tf.data` (RoBERTa's dynamic masking), with the rules of
:func:`bert_tf.pretraining_data.create_masked_lm_predictions`:

- the number of predictions is ``min(max_predictions_per_seq, max(1, round(n * masked_lm_prob)))``
  for an instance of ``n`` tokens, rounded as Python 3's ``round`` (half to even) rounds the
  float64 product, which is what `tf.round` does;
- [CLS] and [SEP] (and padding) are never chosen; every other position is equally likely;
- with whole-word masking a ``##`` piece belongs to the candidate before it (even across a
  [SEP], as in the original), words are visited in random order and a word is taken only when
  all its pieces still fit in the budget (a word that does not fit is skipped, later smaller
  words may still be taken);
- each chosen position becomes [MASK] with probability 0.8, stays as it is with probability
  0.1 and becomes a token drawn uniformly from the whole vocabulary otherwise;
- positions are sorted, then padded with position 0, id 0 and weight 0.0 up to
  ``max_predictions_per_seq``.

The random numbers are a pure function of ``(random_seed, epoch, file index, record index)``
(stateless Philox draws, :func:`example_seed`): the same record in the same epoch always gets the
same masks, whatever order the files were shuffled into, however many threads read them and
whatever restored the input pipeline after a restart. Records written with static masks are
unmasked first (the `masked_lm_ids` put back at their `masked_lm_positions`), so any pre-training
record file can be read this way; ``create_pretraining_data.py --dupe_factor=1`` writes the
smallest such files.

tensorflow-text's `RandomItemSelector` is not used: it selects ``ceil(rate * selectable items)``
in float32 (the original rounds ``rate * all tokens``, [CLS] and [SEP] included) and, over
words, counts words where the original counts pieces, so its counts differ.

Example:

    vocab = MaskingVocab.from_vocab_file("vocab.txt")
    masker = DynamicMasker(vocab, masked_lm_prob=0.15, max_predictions_per_seq=20, seed=12345)
    dataset = records.pretraining_dataset(files, 32, 128, 20, is_training=True, masker=masker)
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf

from bert_tf import tokenization

CLS = "[CLS]"
SEP = "[SEP]"
MASK = "[MASK]"

# The share of chosen positions that become [MASK], and that stay as they are; the rest become
# a random vocabulary token.
MASK_SHARE = 0.8
KEEP_SHARE = 0.1

_ALG = "philox"  # Named, not "auto_select", so that every device draws the same numbers.


@dataclasses.dataclass(frozen=True)
class MaskingVocab:
    """The vocabulary facts masking needs.

    Attributes:
        vocab_size: Tokens in the vocabulary (random replacements are drawn from all of them, as
            in the original).
        cls_id, sep_id, mask_id: Ids of [CLS], [SEP] and [MASK].
        is_subword: For every id, whether its token starts with ``##``.
    """

    vocab_size: int
    cls_id: int
    sep_id: int
    mask_id: int
    is_subword: tuple[bool, ...]

    @classmethod
    def from_vocab_file(cls, vocab_file: str) -> MaskingVocab:
        """Reads a WordPiece vocab.txt.

        Raises:
            ValueError: If [CLS], [SEP] or [MASK] is missing.
        """
        vocab = tokenization.load_vocab(vocab_file)
        missing = [token for token in (CLS, SEP, MASK) if token not in vocab]
        if missing:
            raise ValueError(
                f"--vocab_file={vocab_file} lacks {', '.join(missing)}, which dynamic masking needs"
            )
        by_id = sorted(vocab.items(), key=lambda item: item[1])
        return cls(
            vocab_size=len(by_id),
            cls_id=vocab[CLS],
            sep_id=vocab[SEP],
            mask_id=vocab[MASK],
            is_subword=tuple(token.startswith("##") for token, _ in by_id),
        )


def masking_budget(
    lengths: tf.Tensor, masked_lm_prob: float, max_predictions_per_seq: int
) -> tf.Tensor:
    """``min(max_predictions_per_seq, max(1, round(lengths * masked_lm_prob)))``, as int32.

    Args:
        lengths: int Tensor of instance lengths (tokens, [CLS] and [SEP] included).
        masked_lm_prob: Share of tokens to mask.
        max_predictions_per_seq: Most predictions.

    Returns:
        int32 Tensor of the same shape.
    """
    product = tf.cast(lengths, tf.float64) * tf.constant(masked_lm_prob, tf.float64)
    rounded = tf.cast(tf.round(product), tf.int32)  # Half to even, as Python 3's round.
    return tf.minimum(max_predictions_per_seq, tf.maximum(1, rounded))


def example_seed(seed: int, epoch, file_index, record_index) -> tf.Tensor:
    """The stateless seed of one record in one epoch.

    ``(seed, epoch)`` is the Philox seed, into which ``file_index * 2**32 + record_index`` is
    folded: distinct for files of fewer than 2**32 records.

    Returns:
        int64 Tensor of shape [2], for the `tf.random.stateless_*` ops.
    """
    key = tf.stack([tf.constant(seed, tf.int64), tf.cast(epoch, tf.int64)])
    record = tf.cast(file_index, tf.int64) * (1 << 32) + tf.cast(record_index, tf.int64)
    return tf.random.experimental.stateless_fold_in(key, record, alg=_ALG)


def draw_noise(key: tf.Tensor, seq_length: int) -> tf.Tensor:
    """The random numbers masking one record takes, drawn from `key` in one op.

    Returns:
        float64 Tensor of shape [3, seq_length], uniform in [0, 1): per word slot, the order
        words are visited in (highest first); per position, the action (< 0.8 [MASK], < 0.9
        unchanged, else a random token); per position, which random token (scaled by the
        vocabulary size; float64, so that all ids are equally likely to about 1e-12).
    """
    return tf.random.stateless_uniform([3, seq_length], key, dtype=tf.float64, alg=_ALG)


def unmask(features: dict[str, tf.Tensor]) -> tf.Tensor:
    """The `input_ids` of a batch of parsed records with their static masks undone.

    Every position with a positive `masked_lm_weights` gets back its `masked_lm_ids` label.

    Returns:
        int32 Tensor of shape [batch_size, seq_length].
    """
    input_ids = features["input_ids"]
    positions = features["masked_lm_positions"]
    current = tf.gather(input_ids, positions, batch_dims=1)
    labels = tf.where(
        features["masked_lm_weights"] > 0,
        tf.cast(features["masked_lm_ids"], input_ids.dtype),
        current,  # Padding slots (position 0) write back what is there.
    )
    rows = tf.broadcast_to(tf.range(tf.shape(positions)[0])[:, None], tf.shape(positions))
    return tf.tensor_scatter_nd_update(input_ids, tf.stack([rows, positions], axis=-1), labels)


def _greedy_fill(sizes: tf.Tensor, budget: tf.Tensor) -> tf.Tensor:
    """Which words the original takes, visiting them in order: those that still fit.

    Args:
        sizes: int32 [batch, words], pieces of each word in visiting order (0 for no word).
        budget: int32 [batch].

    Returns:
        bool [batch, words].
    """
    words = tf.shape(sizes)[1]
    columns = tf.range(words)

    def body(index, total, taken):
        size = sizes[:, index]
        take = (size > 0) & (total + size <= budget)
        total += tf.where(take, size, 0)
        taken |= take[:, None] & (columns[None, :] == index)
        return index + 1, total, taken

    def more(index, total, taken):
        del taken
        return (index < words) & tf.reduce_any(total < budget)

    _, _, taken = tf.while_loop(
        more,
        body,
        (tf.constant(0), tf.zeros_like(budget), tf.zeros_like(sizes, tf.bool)),
    )
    return taken


def mask_batch(
    input_ids: tf.Tensor,
    input_mask: tf.Tensor,
    noise: dict[str, tf.Tensor],
    vocab: MaskingVocab,
    masked_lm_prob: float,
    max_predictions_per_seq: int,
    do_whole_word_mask: bool = False,
) -> dict[str, tf.Tensor]:
    """Masks a batch of unmasked instances with the given random numbers (see the module doc).

    Args:
        input_ids: int32 Tensor of shape [batch_size, seq_length], unmasked.
        input_mask: int32 Tensor of shape [batch_size, seq_length], 1 on real tokens.
        noise: :func:`draw_noise`'s tensor of every instance, float64 of shape
            [batch_size, 3, seq_length].
        vocab: Special ids, vocabulary size and ``##`` pieces.
        masked_lm_prob: Share of tokens to mask.
        max_predictions_per_seq: Most predictions per instance.
        do_whole_word_mask: Mask all pieces of a word together.

    Returns:
        `input_ids` (masked) of shape [batch_size, seq_length] and `masked_lm_positions`,
        `masked_lm_ids` (int32), `masked_lm_weights` (float32) of shape
        [batch_size, max_predictions_per_seq].
    """
    input_ids = tf.convert_to_tensor(input_ids, tf.int32)
    batch_size, seq_length = tf.shape(input_ids)[0], input_ids.shape[1]
    budget = masking_budget(
        tf.reduce_sum(input_mask, axis=1), masked_lm_prob, max_predictions_per_seq
    )
    candidate = (input_mask > 0) & (input_ids != vocab.cls_id) & (input_ids != vocab.sep_id)
    if do_whole_word_mask:
        subword = tf.gather(tf.constant(np.array(vocab.is_subword, bool)), input_ids)
        first = candidate & (tf.cumsum(tf.cast(candidate, tf.int32), axis=1) == 1)
        starts = candidate & (~subword | first)
    else:
        starts = candidate
    # Words are numbered in text order; position slot `seq_length` collects non-candidates.
    word_ids = tf.where(candidate, tf.cumsum(tf.cast(starts, tf.int32), axis=1) - 1, seq_length)
    rows = tf.range(batch_size)[:, None] * (seq_length + 1)
    sizes = tf.math.unsorted_segment_sum(
        tf.ones_like(word_ids), word_ids + rows, batch_size * (seq_length + 1)
    )
    sizes = tf.reshape(sizes, [batch_size, seq_length + 1])[:, :seq_length]
    # Word k is visited in the order of its score (a random permutation of the words).
    word_scores, actions, random_draws = tf.unstack(noise, axis=1)
    order = tf.argsort(
        tf.where(sizes > 0, word_scores, -1.0), axis=1, direction="DESCENDING", stable=True
    )
    visited_sizes = tf.gather(sizes, order, batch_dims=1)
    if do_whole_word_mask:
        taken_visited = _greedy_fill(visited_sizes, budget)
    else:  # Every word is one piece: the first `budget` visited are taken.
        taken_visited = (visited_sizes > 0) & (tf.range(seq_length)[None, :] < budget[:, None])
    taken_words = tf.gather(taken_visited, tf.argsort(order, axis=1), batch_dims=1)
    taken_words = tf.pad(taken_words, [[0, 0], [0, 1]])  # The non-candidate slot.
    chosen = tf.gather(taken_words, word_ids, batch_dims=1)

    random_ids = tf.cast(tf.floor(random_draws * vocab.vocab_size), tf.int32)
    replacement = tf.where(
        actions < MASK_SHARE,
        vocab.mask_id,
        tf.where(actions < MASK_SHARE + KEEP_SHARE, input_ids, random_ids),
    )
    masked_ids = tf.where(chosen, replacement, input_ids)

    # Chosen positions first, in ascending order; then the others (dropped as padding).
    positions = tf.range(seq_length)[None, :]
    keys = tf.sort(tf.where(chosen, positions, positions + seq_length), axis=1)
    if max_predictions_per_seq > seq_length:
        keys = tf.pad(
            keys,
            [[0, 0], [0, max_predictions_per_seq - seq_length]],
            constant_values=2 * seq_length,
        )
    keys = keys[:, :max_predictions_per_seq]
    real = keys < seq_length
    masked_positions = tf.where(real, keys, 0)
    labels = tf.where(real, tf.gather(input_ids, masked_positions, batch_dims=1), 0)
    return {
        "input_ids": masked_ids,
        "masked_lm_positions": masked_positions,
        "masked_lm_ids": labels,
        "masked_lm_weights": tf.cast(real, tf.float32),
    }


@dataclasses.dataclass(frozen=True)
class DynamicMasker:
    """Masks pre-training records in `tf.data`: noise per record, then masks per batch.

    `records.pretraining_dataset(..., masker=masker)` calls :meth:`prepare` on every parsed
    record (with the epoch, file index and record index it came from) and :meth:`mask` on every
    batch.

    Attributes:
        vocab: See :class:`MaskingVocab`.
        masked_lm_prob: Share of tokens to mask.
        max_predictions_per_seq: Most predictions per instance.
        seed: The run's seed (`--random_seed`).
        do_whole_word_mask: Mask all pieces of a word together.
    """

    vocab: MaskingVocab
    masked_lm_prob: float = 0.15
    max_predictions_per_seq: int = 20
    seed: int = 12345
    do_whole_word_mask: bool = False

    def prepare(self, features: dict, epoch, file_index, record_index) -> dict:
        """One parsed record with its random numbers (`masking_noise`) added."""
        features = dict(features)
        key = example_seed(self.seed, epoch, file_index, record_index)
        features["masking_noise"] = draw_noise(key, features["input_ids"].shape[0])
        return features

    def mask(self, batch: dict) -> dict:
        """A batch of prepared records: static masks undone, masked anew, noise dropped."""
        batch = dict(batch)
        noise = batch.pop("masking_noise")
        batch.update(
            mask_batch(
                unmask(batch),
                batch["input_mask"],
                noise,
                self.vocab,
                self.masked_lm_prob,
                self.max_predictions_per_seq,
                self.do_whole_word_mask,
            )
        )
        return batch
