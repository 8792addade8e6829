"""Sentence embeddings: one vector per text, pooled from the encoder's last layer.

Three poolings, over the positions the input mask keeps (``[CLS]`` and ``[SEP]`` included,
padding never):

* ``mean``: the average of the kept positions' vectors, as sentence-transformers' ``Pooling``
  module computes it (all-MiniLM-L6-v2 was trained with it);
* ``max``: the per-dimension maximum over the kept positions;
* ``cls``: the ``[CLS]`` position's vector of the last encoder layer (not ``pooled_output``: the
  pooler's tanh dense layer was trained for next-sentence prediction only, and
  sentence-transformers' ``cls`` mode reads the final hidden states too).

``normalize`` then scales each vector to unit L2 norm (sentence-transformers' ``Normalize``),
so a dot product is a cosine similarity.

`pool` is the one implementation: `SentenceEncoder`, ``extract_features.py --pooling`` and the
encoder export's ``sentence_embedding`` output all call it.

Example:
    >>> encoder = SentenceEncoder.from_folder("all-MiniLM-L6-v2")  # or a Google folder
    >>> vectors = encoder.encode(["A man is eating.", "Someone eats food."])
    >>> float(vectors[0] @ vectors[1])  # cosine similarity
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from bert_tf import checkpoints, tokenization
from bert_tf.configuration import BertConfig
from bert_tf.modeling import BertModel
from bert_tf.tasks.common import pack_tokens

POOLINGS = ("mean", "max", "cls")


def check_pooling(pooling: str) -> str:
    """Returns `pooling` if it is one of `POOLINGS`; raises a ValueError naming them otherwise."""
    if pooling not in POOLINGS:
        raise ValueError(f"pooling={pooling!r} is not one of {', '.join(POOLINGS)}")
    return pooling


def pool(
    sequence_output: tf.Tensor, input_mask: tf.Tensor, pooling: str, normalize: bool = False
) -> tf.Tensor:
    """Pools token vectors into one vector per sequence.

    Args:
        sequence_output: float Tensor of shape [batch_size, seq_length, hidden_size].
        input_mask: int Tensor of shape [batch_size, seq_length], 1 at the positions to pool.
        pooling: ``mean``, ``max`` or ``cls`` (see the module docstring).
        normalize: Scale every vector to unit L2 norm.

    Returns:
        float32 Tensor of shape [batch_size, hidden_size].
    """
    check_pooling(pooling)
    hidden = tf.cast(sequence_output, tf.float32)
    keep = tf.cast(input_mask, tf.float32)[:, :, None]
    if pooling == "mean":
        # sentence-transformers clamps the count at 1e-9: an all-padding row gives zeros.
        vectors = tf.reduce_sum(hidden * keep, axis=1) / tf.maximum(
            tf.reduce_sum(keep, axis=1), 1e-9
        )
    elif pooling == "max":
        vectors = tf.reduce_max(tf.where(keep > 0, hidden, tf.float32.min), axis=1)
    else:
        vectors = hidden[:, 0]
    if normalize:
        # x / max(|x|, 1e-12), as torch.nn.functional.normalize.
        vectors = tf.math.l2_normalize(vectors, axis=-1, epsilon=1e-24)
    return vectors


class SentenceEncoder:
    """A BERT encoder and its tokenizer that turn lists of texts into embeddings.

    Texts are tokenized (`FullTokenizer`), cut to ``max_seq_length - 2`` WordPieces and packed
    as ``[CLS] text [SEP]``; they are encoded in batches of texts of similar length (sorted by
    WordPiece count, each batch padded to its longest text rounded up to 8 positions), and the
    vectors come back in the order of the input.

    Example:
        >>> encoder = SentenceEncoder.from_folder("uncased_L-12_H-768_A-12", pooling="cls")
        >>> encoder.encode(["hello world"] * 3, batch_size=64).shape
        (3, 768)

    Args:
        model: A `BertModel` with its weights loaded.
        tokenizer: The model's `FullTokenizer`.
        max_seq_length: Positions per text, ``[CLS]`` and ``[SEP]`` included.
        pooling: ``mean`` (default), ``max`` or ``cls``.
        normalize: Unit-length vectors (default True, as all-MiniLM-L6-v2 is used).
    """

    def __init__(
        self,
        model: BertModel,
        tokenizer: tokenization.FullTokenizer,
        max_seq_length: int = 128,
        pooling: str = "mean",
        normalize: bool = True,
    ) -> None:
        limit = model.config.max_position_embeddings
        if not 2 < max_seq_length <= limit:
            raise ValueError(
                f"max_seq_length={max_seq_length} must be in [3, max_position_embeddings={limit}]"
            )
        self.model = model
        self.tokenizer = tokenizer
        self.max_seq_length = int(max_seq_length)
        self.pooling = check_pooling(pooling)
        self.normalize = bool(normalize)
        self._encode = tf.function(self._encode_batch, reduce_retracing=True)

    @classmethod
    def from_folder(
        cls,
        folder: str,
        do_lower_case: bool | None = None,
        dtype: str | None = None,
        **kwargs,
    ) -> SentenceEncoder:
        """Builds an encoder from a model folder.

        Args:
            folder: A Google folder (``bert_config.json``, ``vocab.txt``, ``bert_model.ckpt``)
                or a Hugging Face one (``config.json``, ``vocab.txt``, ``model.safetensors``).
            do_lower_case: None: from the Hugging Face ``tokenizer_config.json``, else from the
                folder name (``cased`` in it means False), else True.
            dtype: A Keras dtype policy for the model, e.g. ``"mixed_bfloat16"``.
            **kwargs: ``max_seq_length`` (default: a sentence-transformers folder's
                ``sentence_bert_config.json`` value, else 128), ``pooling``, ``normalize``
                (see the class).

        Raises:
            FileNotFoundError: If the folder holds neither layout.
        """
        vocab = os.path.join(folder, "vocab.txt")
        if not os.path.exists(vocab):
            raise FileNotFoundError(f"No vocab.txt in {folder}")
        if os.path.exists(os.path.join(folder, "bert_config.json")):
            config = BertConfig.from_json_file(os.path.join(folder, "bert_config.json"))
            model = BertModel(config, dtype=dtype)
            checkpoints.load_google_checkpoint(model, os.path.join(folder, "bert_model.ckpt"))
        elif os.path.exists(os.path.join(folder, "config.json")):
            with open(os.path.join(folder, "config.json"), encoding="utf-8") as f:
                config = checkpoints.config_from_hf(json.load(f), source=f.name)
            model = BertModel(config, dtype=dtype)
            checkpoints.load_hf_weights(model, folder)
        else:
            raise FileNotFoundError(
                f"{folder} holds neither bert_config.json (a Google folder) nor config.json "
                "(a Hugging Face folder)"
            )
        if do_lower_case is None:
            do_lower_case = _folder_lower_case(folder)
        sentence_config = os.path.join(folder, "sentence_bert_config.json")
        if "max_seq_length" not in kwargs and os.path.exists(sentence_config):
            with open(sentence_config, encoding="utf-8") as f:  # sentence-transformers' length
                kwargs["max_seq_length"] = int(json.load(f).get("max_seq_length", 128))
        return cls(model, tokenization.FullTokenizer(vocab, do_lower_case), **kwargs)

    def token_ids(self, text: str) -> list[int]:
        """The packed ids of one text: ``[CLS]``, its first WordPieces, ``[SEP]``."""
        tokens, _ = pack_tokens(self.tokenizer.tokenize(text), None, self.max_seq_length)
        return self.tokenizer.convert_tokens_to_ids(tokens)

    def _encode_batch(self, input_ids, input_mask):
        outputs = self.model(
            {
                "input_ids": input_ids,
                "input_mask": input_mask,
                "segment_ids": tf.zeros_like(input_ids),
            },
            training=False,
        )
        return pool(outputs["sequence_output"], input_mask, self.pooling, self.normalize)

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Embeds `texts`.

        Args:
            texts: The texts, a list (not one string).
            batch_size: Texts per model call.

        Returns:
            float32 array of shape [len(texts), hidden_size], row i for texts[i].
        """
        if isinstance(texts, (str, bytes)):
            raise TypeError("Pass a list of texts, not one string.")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        ids = [self.token_ids(text) for text in texts]
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
        result = np.zeros([len(ids), self.model.config.hidden_size], np.float32)
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            width = -(-len(ids[rows[0]]) // 8) * 8  # the longest of the batch, rounded up
            width = min(width, self.max_seq_length)
            input_ids = np.zeros([len(rows), width], np.int32)
            input_mask = np.zeros_like(input_ids)
            for row, index in enumerate(rows):
                input_ids[row, : len(ids[index])] = ids[index]
                input_mask[row, : len(ids[index])] = 1
            result[rows] = self._encode(tf.constant(input_ids), tf.constant(input_mask)).numpy()
        return result


def _folder_lower_case(folder: str) -> bool:
    path = os.path.join(folder, "tokenizer_config.json")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            return bool(json.load(f).get("do_lower_case", True))
    return "cased" not in os.path.basename(os.path.normpath(folder)).replace("uncased", "")


def encode(texts: Sequence[str], folder: str, batch_size: int = 32, **kwargs) -> np.ndarray:
    """One-call form: ``SentenceEncoder.from_folder(folder, **kwargs).encode(texts, batch_size)``.

    Loads the model on every call; keep a `SentenceEncoder` to embed many lists.
    """
    return SentenceEncoder.from_folder(folder, **kwargs).encode(texts, batch_size)
