"""SavedModel export for TF Serving, and a predictor that keeps an export loaded.

An export is a folder ``export_dir/<version>/`` (the layout TF Serving watches: it serves the
highest integer) holding a SavedModel with three signatures:

=====================  =================================================  ====================
signature              inputs                                             what it does
=====================  =================================================  ====================
``serving_default``    ``text_a`` (and ``text_b`` for pairs): string      tokenizes in the
                       ``[batch]``; the tagger: ``text`` ``[batch]``;     graph, packs, runs
                       multiple choice: ``context`` ``[batch]`` and
                       ``endings`` ``[batch, num_choices]``
``serve_token_ids``    ``input_ids``, ``input_mask``, ``segment_ids``:    runs the model
                       int32 ``[batch, seq]`` (multiple choice:
                       ``[batch, num_choices, seq]``)
``serve_examples``     ``examples``: serialized ``tf.Example``s           parses Google's
                       ``[batch]``                                        features, runs
=====================  =================================================  ====================

The raw-text path uses `text_graph.GraphTokenizer` (the ids of `FullTokenizer`, exactly) and
truncates and packs as the training data was (`text_graph.pack_pairs`), so a served model sees
what it was trained on. The SavedModel needs only `tensorflow` and `tensorflow_text` to load
(the ops TF Serving must carry); `vocab.txt`, `labels.txt`, `bert_config.json` and
`export_config.json` travel with it as assets.

Each model type is one row of `MODEL_TYPES`: how to build its Keras model and how to name its
outputs. A new head is a new row.

The ``tagger`` (run_ner.py's model) labels every token. Its ``serving_default`` takes one
sentence per row (``text``), splits it into words at whitespace as the CoNLL reader does, and
tokenizes each word on its own as `tasks.conll` does (a word WordPiece turns into nothing is one
``[UNK]``), so a word's label is read at its first piece. It returns the per-token ``logits``,
``probabilities``, ``predictions`` (label id) and ``labels`` (label string) of all three
signatures, plus ``word_ids`` (for each token, the index of the word whose first piece it is;
-1 at ``[CLS]``, ``[SEP]``, padding and later pieces) and ``word_labels`` (``[batch,
max_words]``: each word's label, "" past the sentence's words). A sentence longer than
``max_seq_length - 2`` pieces is cut: the serving path predicts its first window only, and the
words that start past it get "". run_ner.py's overlapping windows (every word predicted once,
with context on both sides) are for offline prediction. A checkpoint of the feature-based recipe
(``lstm_0/...`` variables) is exported as `heads.BertFeatureTagger`, its sizes read from the
checkpoint.

The ``encoder`` adds ``sentence_embedding`` ``[batch, hidden]`` to ``pooled_output`` and
``sequence_output`` in all three signatures: the last layer pooled over the positions the
input mask keeps, with the pooling chosen at export (``mean`` by default, ``max`` or ``cls``,
optionally L2-normalised; `bert_tf.embeddings.pool`, recorded in ``export_config.json``).

A ``classifier`` exported with ``doc_stride`` (run_classifier.py ``--doc_stride``) reads long
texts as it was trained and evaluated: ``serving_default`` cuts every row into the windows of
`bert_tf.tasks.windows` in the graph (single texts and pairs, the longer text of a pair
windowed), runs each window and combines a row's window logits by ``window_pooling`` (mean or
max); ``probabilities`` are the softmax of the combined logits, and ``num_windows`` says how
many windows each row took. ``serve_token_ids`` and ``serve_examples`` take packed features,
one window each, and return that window's outputs.

The ``multiple_choice`` model (run_swag.py's `heads.BertMultipleChoice`) scores candidate
endings. Its ``serving_default`` takes ``context`` (string ``[batch]``, text A: SWAG's
``sent1``) and ``endings`` (string ``[batch, num_choices]``, each candidate's whole text B).
As `tasks.swag` trains on ``sent2`` followed by the ending as text B, a client passes
``sent2 + " " + ending`` per choice (tokenizing the two apart and joining the pieces, as
training does, gives the same ids: WordPiece never crosses whitespace). Each candidate is
packed as ``[CLS] context [SEP] ending [SEP]`` (`text_graph.pack_pairs`, as training), and all
three signatures return ``logits`` and ``probabilities`` ``[batch, num_choices]`` and
``predictions`` (the index of the best ending). ``serve_examples`` parses run_swag.py's records
(`records.multiple_choice_feature_spec`, the choices flattened), so it takes the export's
``num_choices`` (4, SWAG's) per example; the other two take any number of choices.

Example:
    >>> path = export_saved_model(
    ...     model_type="classifier", bert_config=config, init_checkpoint=ckpt,
    ...     vocab_file="vocab.txt", do_lower_case=True, max_seq_length=128,
    ...     export_dir="/tmp/sst2", labels=["0", "1"])
    >>> predictor = load("/tmp/sst2")  # the newest version
    >>> predictor(["a lovely film"])["probabilities"]
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence

import keras
import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text

from bert_tf import checkpoints, embeddings, heads, records, text_graph
from bert_tf.configuration import BertConfig
from bert_tf.modeling import BertModel
from bert_tf.tasks import windows

__all__ = [
    "EXAMPLES_KEY",
    "MODEL_TYPES",
    "SIGNATURE_EXAMPLES",
    "SIGNATURE_TEXT",
    "SIGNATURE_TOKEN_IDS",
    "ModelType",
    "Predictor",
    "build_serving_module",
    "export_onnx",
    "export_saved_model",
    "glue_task_inputs",
    "latest_version",
    "load",
    "window_features",
    "write_saved_model",
]

SIGNATURE_TEXT = "serving_default"
SIGNATURE_TOKEN_IDS = "serve_token_ids"
SIGNATURE_EXAMPLES = "serve_examples"
# Input key of `serve_examples` (the name Estimator's parsing receivers used).
EXAMPLES_KEY = "examples"
# Whitespace that separates SQuAD context words (as `bert_tf.tasks.squad.is_squad_whitespace`).
_SQUAD_WHITESPACE = "[ \\t\\r\\n\\x{202F}]+"
# Whitespace that separates CoNLL words: Python's `str.split()` (the characters `str.isspace`).
_WORD_WHITESPACE = (
    "[\\t-\\r\\x{1C}-\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}"
    "\\x{205F}\\x{3000}]+"
)
_CONFIG_ASSET = "export_config.json"


@dataclasses.dataclass(frozen=True)
class ModelType:
    """How one kind of model is built and served.

    Attributes:
        build: `(config, num_labels, checkpoint_shapes) -> keras.Model` taking a dict of
            ``input_ids``, ``input_mask``, ``segment_ids`` and returning a dict of tensors; its
            variables carry Google's checkpoint names. `checkpoint_shapes` ({name: shape} of
            the checkpoint to be loaded) decides the architecture where the flags that trained
            it did (the tagger's feature-based BiLSTM).
        outputs: `(model outputs, label strings) -> {output name: tensor}`, the signature
            outputs (every tensor has the batch as first dimension).
        text: How `serving_default` reads text: ``"pair"`` (``text_a``, optional per-row
            ``text_b`` when the export takes pairs) or ``"squad"`` (``text_a`` the question,
            ``text_b`` the context; adds context offsets to the outputs) or ``"words"``
            (``text``, one sentence per row, split into words at whitespace; adds
            ``word_ids`` and ``word_labels`` to the outputs) or ``"choices"`` (``context``
            ``[batch]`` and ``endings`` ``[batch, num_choices]``; features and outputs have a
            choice dimension after the batch).
    """

    build: Callable[[BertConfig, int, Mapping[str, tuple]], keras.Model]
    outputs: Callable[[Mapping[str, tf.Tensor], tf.Tensor], dict]
    text: str = "pair"


def _classifier_outputs(outputs: Mapping[str, tf.Tensor], label_strings: tf.Tensor) -> dict:
    logits = outputs["logits"]
    if "probabilities" not in outputs:  # a regression (STS-B): the score is the prediction
        return {"logits": logits, "predictions": outputs["predictions"]}
    predictions = tf.argmax(logits, axis=-1, output_type=tf.int32)
    return {
        "logits": logits,
        "probabilities": outputs["probabilities"],
        "predictions": predictions,
        "labels": tf.gather(label_strings, predictions),
    }


def _tagger_outputs(outputs: Mapping[str, tf.Tensor], label_strings: tf.Tensor) -> dict:
    # Every position gets a label; only a word's first piece was trained (see word_ids).
    predictions = tf.argmax(outputs["logits"], axis=-1, output_type=tf.int32)
    return {
        "logits": outputs["logits"],
        "probabilities": outputs["probabilities"],
        "predictions": predictions,
        "labels": tf.gather(label_strings, predictions),
    }


def _build_tagger(
    config: BertConfig, num_labels: int, checkpoint_shapes: Mapping[str, tuple]
) -> keras.Model:
    """run_ner.py's model: `BertFeatureTagger` if the checkpoint has its BiLSTM, else the
    fine-tuned `BertTokenClassifier`."""
    kernel = "lstm_{}/forward/lstm_cell/kernel"
    if kernel.format(0) not in checkpoint_shapes:
        return heads.BertTokenClassifier(config, num_labels)
    num_lstm_layers = 0
    while kernel.format(num_lstm_layers) in checkpoint_shapes:
        num_lstm_layers += 1
    width, gates = checkpoint_shapes[kernel.format(0)]
    num_feature_layers, rest = divmod(int(width), config.hidden_size)
    if rest or not 1 <= num_feature_layers <= config.num_hidden_layers:
        raise ValueError(
            f"Checkpoint variable {kernel.format(0)} has shape {(width, gates)}: its input width "
            f"{width} is not a whole number (1 to num_hidden_layers={config.num_hidden_layers}) "
            f"of encoder layers of hidden_size={config.hidden_size}; is bert_config_file the "
            "checkpoint's config?"
        )
    return heads.BertFeatureTagger(
        config,
        num_labels,
        lstm_size=int(gates) // 4,  # the four LSTM gates side by side
        num_lstm_layers=num_lstm_layers,
        num_feature_layers=num_feature_layers,
    )


def _multiple_choice_outputs(outputs: Mapping[str, tf.Tensor], label_strings: tf.Tensor) -> dict:
    del label_strings  # the prediction is the index of an ending
    return {
        "logits": outputs["logits"],
        "probabilities": outputs["probabilities"],
        "predictions": tf.argmax(outputs["logits"], axis=-1, output_type=tf.int32),
    }


def _span_outputs(outputs: Mapping[str, tf.Tensor], label_strings: tf.Tensor) -> dict:
    del label_strings  # spans have no labels
    return {"start_logits": outputs["start_logits"], "end_logits": outputs["end_logits"]}


def _encoder_outputs(outputs: Mapping[str, tf.Tensor], label_strings: tf.Tensor) -> dict:
    del label_strings
    return {
        "pooled_output": tf.cast(outputs["pooled_output"], tf.float32),
        "sequence_output": tf.cast(outputs["sequence_output"], tf.float32),
    }


MODEL_TYPES: dict[str, ModelType] = {
    "classifier": ModelType(
        build=lambda config, num_labels, shapes: heads.BertClassifier(config, num_labels),
        outputs=_classifier_outputs,
    ),
    "squad": ModelType(
        build=lambda config, num_labels, shapes: heads.BertSpanLabeler(config),
        outputs=_span_outputs,
        text="squad",
    ),
    "encoder": ModelType(
        build=lambda config, num_labels, shapes: BertModel(config, name="bert"),
        outputs=_encoder_outputs,
    ),
    "tagger": ModelType(build=_build_tagger, outputs=_tagger_outputs, text="words"),
    "multiple_choice": ModelType(
        build=lambda config, num_labels, shapes: heads.BertMultipleChoice(config),
        outputs=_multiple_choice_outputs,
        text="choices",
    ),
}


def _model_type(name: str) -> ModelType:
    if name not in MODEL_TYPES:
        raise ValueError(f"model_type={name!r} is not one of {', '.join(sorted(MODEL_TYPES))}")
    return MODEL_TYPES[name]


class _ServingModule(tf.Module):
    """The object a SavedModel export holds: the model, the tokenizer, assets, signatures."""

    def __init__(
        self,
        model: keras.Model,
        model_type: str,
        tokenizer: text_graph.GraphTokenizer,
        max_seq_length: int,
        labels: Sequence[str],
        pair_input: bool,
        max_query_length: int,
        asset_paths: Mapping[str, str],
        num_choices: int = 4,
        pooling: str = "mean",
        normalize: bool = False,
        doc_stride: int = 0,
        window_pooling: str = "mean",
    ) -> None:
        super().__init__(name="bert_serving")
        self.doc_stride = int(doc_stride)
        self._window_pooling = window_pooling
        # The encoder's sentence_embedding output (None: no such output, as for other types).
        self._pooling = None
        if model_type == "encoder" and pooling not in (None, "none"):
            self._pooling = embeddings.check_pooling(pooling)
        self._normalize = bool(normalize)
        # The Keras model is held out of tracking: only the tf.Variables the signatures read are
        # saved (below), as keras.export does. Saved as a tracked Keras model, its variables are
        # restored by tf.saved_model.load but not by the session-based loader of TF Serving and
        # saved_model_cli ("Resource ... does not exist").
        self._model = _Untracked(model)
        self.tokenizer = tokenizer
        self._type_name = model_type
        self.max_seq_length = int(max_seq_length)
        self.max_query_length = int(max_query_length)
        self.pair_input = bool(pair_input)
        # One entry at least: tf.gather on an empty table would fail to trace.
        self.label_strings = tf.constant(list(labels) or [""])
        for token in ("[CLS]", "[SEP]"):
            if token not in tokenizer.vocab:
                raise ValueError(f"The vocabulary has no {token} token; BERT inputs need it.")
        self._cls_id = tokenizer.vocab["[CLS]"]
        self._sep_id = tokenizer.vocab["[SEP]"]
        self._example_spec = records.feature_spec(
            {name: self.max_seq_length for name in records.SEQUENCE_FEATURES}
        )
        choices = _model_type(model_type).text == "choices"
        self._example_shape = None
        if choices:
            # run_swag.py's records, the choices flattened; the label is not needed to serve.
            spec = records.multiple_choice_feature_spec(self.max_seq_length, int(num_choices))
            self._example_spec = {name: spec[name] for name in records.SEQUENCE_FEATURES}
            self._example_shape = [-1, int(num_choices), self.max_seq_length]
        for key, path in asset_paths.items():
            setattr(self, key, tf.saved_model.Asset(path))

        text = tf.TensorSpec([None], tf.string)
        ids = tf.TensorSpec([None, None, None] if choices else [None, None], tf.int32)
        if choices:
            self.serve_text = tf.function(
                self._serve_choices,
                input_signature=[text, tf.TensorSpec([None, None], tf.string)],
            )
        elif _model_type(model_type).text == "squad":
            self.serve_text = tf.function(self._serve_question_context, input_signature=[text] * 2)
        elif _model_type(model_type).text == "words":
            self.serve_text = tf.function(self._serve_words, input_signature=[text])
        elif self.pair_input:
            self.serve_text = tf.function(self._serve_pair, input_signature=[text] * 2)
        else:
            self.serve_text = tf.function(self._serve_single, input_signature=[text])
        self.serve_token_ids = tf.function(self._serve_token_ids, input_signature=[ids] * 3)
        self.serve_examples = tf.function(self._serve_examples, input_signature=[text])
        concrete = self.signatures()
        used = {}
        for function in concrete.values():
            for variable in function.variables:
                used.setdefault(id(variable), variable)
        self.model_variables = list(used.values())

    def signatures(self) -> dict:
        """The concrete functions to save as signatures, by signature name."""
        return {
            SIGNATURE_TEXT: self.serve_text.get_concrete_function(),
            SIGNATURE_TOKEN_IDS: self.serve_token_ids.get_concrete_function(),
            SIGNATURE_EXAMPLES: self.serve_examples.get_concrete_function(),
        }

    def _run(self, features: Mapping[str, tf.Tensor]) -> dict:
        outputs = self._model.value(dict(features), training=False)
        result = _model_type(self._type_name).outputs(outputs, self.label_strings)
        if self._pooling:
            result["sentence_embedding"] = embeddings.pool(
                outputs["sequence_output"], features["input_mask"], self._pooling, self._normalize
            )
        return result

    def _serve_token_ids(self, input_ids, input_mask, segment_ids):
        return self._run(
            {"input_ids": input_ids, "input_mask": input_mask, "segment_ids": segment_ids}
        )

    def _serve_examples(self, examples):
        parsed = tf.io.parse_example(examples, self._example_spec)
        features = {name: tf.cast(parsed[name], tf.int32) for name in self._example_spec}
        if self._example_shape is not None:
            features = {name: tf.reshape(v, self._example_shape) for name, v in features.items()}
        return self._run(features)

    def _serve_choices(self, context, endings):
        """Multiple choice: ``[CLS] context [SEP] ending [SEP]`` for every ending of a row."""
        shape = tf.shape(endings)
        same_batch = tf.debugging.assert_equal(
            tf.size(context),
            shape[0],
            message="context and endings must hold the same number of rows",
        )
        with tf.control_dependencies([same_batch]):
            shape = tf.identity(shape)
        row = tf.repeat(tf.range(shape[0]), shape[1])  # the context of each candidate
        ids_a = tf.gather(self.tokenizer.tokenize(context), row)
        ids_b = self.tokenizer.tokenize(tf.reshape(endings, [-1]))
        features = text_graph.pack_pairs(
            ids_a, ids_b, self.max_seq_length, self._cls_id, self._sep_id
        )
        return self._run(
            {
                name: tf.reshape(value, [shape[0], shape[1], self.max_seq_length])
                for name, value in features.items()
            }
        )

    def _serve_single(self, text_a):
        if self.doc_stride:
            return self._serve_windows(self.tokenizer.tokenize(text_a), None)
        features = text_graph.pack_pairs(
            self.tokenizer.tokenize(text_a), None, self.max_seq_length, self._cls_id, self._sep_id
        )
        return self._run(features)

    def _serve_pair(self, text_a, text_b):
        with tf.control_dependencies([_same_batch(text_a, text_b)]):
            ids_a = self.tokenizer.tokenize(text_a)
        if self.doc_stride:
            return self._serve_windows(ids_a, self.tokenizer.tokenize(text_b))
        features = text_graph.pack_pairs(
            ids_a, self.tokenizer.tokenize(text_b), self.max_seq_length, self._cls_id, self._sep_id
        )
        return self._run(features)

    def _serve_windows(self, ids_a, ids_b):
        """A classifier over long texts: every window run, the logits combined per row."""
        features, row, count = window_features(
            ids_a, ids_b, self.max_seq_length, self.doc_stride, self._cls_id, self._sep_id
        )
        per_window = self._model.value(features, training=False)
        combine = tf.math.segment_max if self._window_pooling == "max" else tf.math.segment_mean
        logits = combine(per_window["logits"], row)
        if "probabilities" in per_window:
            combined = {"logits": logits, "probabilities": tf.nn.softmax(logits, axis=-1)}
        else:  # a regression (STS-B): the combined score is the prediction
            combined = {"logits": logits, "predictions": logits[:, 0]}
        outputs = _classifier_outputs(combined, self.label_strings)
        outputs["num_windows"] = tf.cast(count, tf.int32)
        return outputs

    def _serve_question_context(self, text_a, text_b):
        """SQuAD: the question (cut to max_query_length) and the context's first window."""
        with tf.control_dependencies([_same_batch(text_a, text_b)]):
            question = self.tokenizer.tokenize(text_a).with_row_splits_dtype(tf.int64)
        question = text_graph.take_first(
            question, tf.minimum(question.row_lengths(), self.max_query_length)
        )
        # As the original: the context is cut into whitespace-separated words, each tokenized
        # on its own, so every token knows the word (and so the bytes) it came from.
        words, starts, ends = tf_text.regex_split_with_offsets(text_b, _SQUAD_WHITESPACE)
        words = words.with_row_splits_dtype(tf.int64)
        pieces = self.tokenizer.tokenize(words.flat_values).with_row_splits_dtype(tf.int64)
        token_splits = tf.gather(pieces.row_splits, words.row_splits)
        word_of_token = pieces.value_rowids()
        context = tf.RaggedTensor.from_row_splits(pieces.flat_values, token_splits, validate=False)
        room = self.max_seq_length - 3 - question.row_lengths()
        keep = tf.minimum(context.row_lengths(), room)
        context = text_graph.take_first(context, keep)

        def offsets(word_offsets: tf.RaggedTensor) -> tf.Tensor:
            per_token = tf.RaggedTensor.from_row_splits(
                tf.gather(word_offsets.flat_values, word_of_token), token_splits, validate=False
            )
            none = tf.RaggedTensor.from_row_lengths(
                tf.fill([tf.reduce_sum(question.row_lengths())], tf.constant(-1, tf.int64)),
                question.row_lengths(),
                validate=False,
            )
            packed, _, _ = text_graph.pack_inputs(
                none,
                text_graph.take_first(per_token, keep),
                self.max_seq_length,
                -1,
                -1,
                -1,
                is_pair=tf.ones_like(keep, tf.bool),
            )
            return packed

        input_ids, input_mask, segment_ids = text_graph.pack_inputs(
            question,
            context,
            self.max_seq_length,
            self._cls_id,
            self._sep_id,
            is_pair=tf.ones_like(keep, tf.bool),
        )
        outputs = self._run(
            {
                "input_ids": tf.cast(input_ids, tf.int32),
                "input_mask": input_mask,
                "segment_ids": segment_ids,
            }
        )
        outputs["start_offsets"] = offsets(starts.with_row_splits_dtype(tf.int64))
        outputs["end_offsets"] = offsets(ends.with_row_splits_dtype(tf.int64))
        return outputs

    def _serve_words(self, text):
        """NER: one sentence per row, cut into words; the first window of their pieces."""
        words = tf_text.regex_split(text, _WORD_WHITESPACE).with_row_splits_dtype(tf.int64)
        pieces = self.tokenizer.tokenize(words.flat_values).with_row_splits_dtype(tf.int64)
        # As tasks.conll: a word that WordPiece turns into nothing (a lone control character)
        # is one [UNK], so that it still gets a label.
        empty = tf.cast(pieces.row_lengths() == 0, tf.int64)
        unk = tf.fill([tf.reduce_sum(empty)], tf.cast(self.tokenizer.unk_id, pieces.dtype))
        pieces = tf.concat(
            [pieces, tf.RaggedTensor.from_row_lengths(unk, empty, validate=False)], axis=1
        )
        word_row = words.value_rowids()  # the sentence of each word
        token_word = pieces.value_rowids()  # the word of each token
        token_splits = tf.gather(pieces.row_splits, words.row_splits)
        tokens = tf.RaggedTensor.from_row_splits(pieces.flat_values, token_splits, validate=False)
        keep = tf.minimum(tokens.row_lengths(), self.max_seq_length - 2)
        # Per word: its index in the sentence and the position of its first piece after [CLS]
        # (-1 when it starts past the window).
        word_index = tf.range(tf.size(word_row, out_type=tf.int64)) - tf.gather(
            words.row_splits, word_row
        )
        first_piece = pieces.row_splits[:-1] - tf.gather(token_splits, word_row)
        position = tf.where(first_piece < tf.gather(keep, word_row), first_piece + 1, -1)
        # Per token: the index of the word it begins, -1 for a later piece.
        is_first = tf.range(tf.size(token_word, out_type=tf.int64)) == tf.gather(
            pieces.row_splits, token_word
        )
        token_word_ids = tf.RaggedTensor.from_row_splits(
            tf.where(is_first, tf.gather(word_index, token_word), -1), token_splits, validate=False
        )
        no_second = tf.RaggedTensor.from_row_lengths(
            tf.zeros([0], tf.int64), tf.zeros_like(keep), validate=False
        )
        word_ids, _, _ = text_graph.pack_inputs(
            text_graph.take_first(token_word_ids, keep), no_second, self.max_seq_length, -1, -1, -1
        )
        outputs = self._run(
            text_graph.pack_pairs(tokens, None, self.max_seq_length, self._cls_id, self._sep_id)
        )
        positions = tf.RaggedTensor.from_row_splits(
            position, words.row_splits, validate=False
        ).to_tensor(default_value=-1)
        outputs["word_ids"] = tf.cast(word_ids, tf.int32)
        outputs["word_labels"] = tf.where(
            positions >= 0,
            tf.gather(outputs["labels"], tf.maximum(positions, 0), batch_dims=1),
            tf.constant(""),
        )
        return outputs


def window_features(
    ids_a: tf.RaggedTensor,
    ids_b: tf.RaggedTensor | None,
    max_seq_length: int,
    doc_stride: int,
    cls_id: int,
    sep_id: int,
) -> tuple[dict, tf.Tensor, tf.Tensor]:
    """`tasks.windows.example_windows` in the graph, for a batch of token ids.

    Args:
        ids_a: `tf.RaggedTensor` of ids ``[batch, (n)]``, text A of each row.
        ids_b: `tf.RaggedTensor` ``[batch, (m)]``, text B (empty rows: single texts), or None.
        max_seq_length: Positions per window.
        doc_stride: WordPieces between the starts of consecutive windows.
        cls_id: Id of ``[CLS]``.
        sep_id: Id of ``[SEP]``.

    Returns:
        (features: int32 ``input_ids``, ``input_mask``, ``segment_ids`` ``[windows,
        max_seq_length]``, the windows of a row consecutive; row: int64 ``[windows]``, the
        row of each window; count: int64 ``[batch]``, the windows of each row).
    """
    ids_a, ids_b, length_a, length_b = text_graph.ragged_pair(ids_a, ids_b)
    is_pair = length_b > 0
    window_b = is_pair & (length_b >= length_a)  # the longer text, B on a tie
    pair_room = max_seq_length - 3
    longer = tf.where(window_b, length_b, length_a)
    shorter = tf.where(
        is_pair, tf.minimum(tf.where(window_b, length_a, length_b), pair_room // 2), 0
    )
    room = tf.where(is_pair, pair_room - shorter, max_seq_length - 2)
    step = tf.minimum(tf.constant(doc_stride, tf.int64), room)
    # squad.doc_spans_for: windows start 0, step, 2 step, ... until one reaches the end.
    count = 1 + (tf.maximum(longer - room, 0) + step - 1) // step
    row = tf.repeat(tf.range(tf.size(count, out_type=tf.int64)), count)
    start = tf.ragged.range(count).flat_values * tf.gather(step, row)
    piece = tf.minimum(tf.gather(room, row), tf.gather(longer, row) - start)
    in_b, kept = tf.gather(window_b, row), tf.gather(shorter, row)

    def cut(ids: tf.RaggedTensor, starts: tf.Tensor, lengths: tf.Tensor) -> tf.RaggedTensor:
        offsets = tf.gather(ids.row_splits, row) + starts
        positions = tf.ragged.range(offsets, offsets + lengths)
        values = tf.gather(ids.flat_values, positions.flat_values)
        return tf.RaggedTensor.from_row_splits(values, positions.row_splits, validate=False)

    zero = tf.zeros_like(start)
    segment_a = cut(ids_a, tf.where(in_b, zero, start), tf.where(in_b, kept, piece))
    segment_b = cut(ids_b, tf.where(in_b, start, zero), tf.where(in_b, piece, kept))
    input_ids, input_mask, segment_ids = text_graph.pack_inputs(
        segment_a, segment_b, max_seq_length, cls_id, sep_id
    )
    features = {
        "input_ids": tf.cast(input_ids, tf.int32),
        "input_mask": input_mask,
        "segment_ids": segment_ids,
    }
    return features, row, count


class _Untracked:
    """Holds an object that `tf.Module` must not track."""

    def __init__(self, value: object) -> None:
        self.value = value


def _same_batch(text_a: tf.Tensor, text_b: tf.Tensor) -> tf.Operation:
    return tf.debugging.assert_equal(
        tf.size(text_a),
        tf.size(text_b),
        message="text_a and text_b must hold the same number of texts (use an empty text_b "
        "for a row without a second text)",
    )


def build_serving_module(
    model: keras.Model,
    model_type: str,
    vocab_file: str,
    do_lower_case: bool,
    max_seq_length: int,
    bert_config: BertConfig,
    labels: Sequence[str] = (),
    pair_input: bool = False,
    max_query_length: int = 64,
    work_dir: str | None = None,
    num_choices: int = 4,
    pooling: str = "mean",
    normalize: bool = False,
    doc_stride: int = 0,
    window_pooling: str = "mean",
) -> _ServingModule:
    """Wraps a built, loaded Keras model into the module `write_saved_model` saves.

    Args:
        model: The model of `model_type` (`MODEL_TYPES[model_type].build`), weights loaded.
        model_type: A key of `MODEL_TYPES`: ``classifier``, ``squad``, ``encoder``, ``tagger``
            or ``multiple_choice``.
        vocab_file: The vocab.txt the model was trained with.
        do_lower_case: Whether training lower-cased the text.
        max_seq_length: Length raw text is packed to (as in training).
        bert_config: The model's configuration (bundled as ``bert_config.json``).
        labels: Label strings in id order (classifier, tagger); empty otherwise or for a
            regression.
        pair_input: Whether `serving_default` takes ``text_b`` too (classifier, encoder).
        max_query_length: SQuAD: question tokens kept.
        work_dir: Folder for the asset files written here (labels, configs); must live until
            the module is saved. A fresh temporary folder when None.
        num_choices: Multiple choice: endings per record that ``serve_examples`` parses.
        pooling: Encoder: how ``sentence_embedding`` pools the last layer (``mean``, ``max``,
            ``cls``; see `bert_tf.embeddings.pool`); ``none`` leaves that output out.
        normalize: Encoder: whether ``sentence_embedding`` has unit L2 norm.
        doc_stride: Classifier: 0 truncates long texts; N > 0 cuts them into windows whose
            starts are N WordPieces apart (run_classifier.py ``--doc_stride``).
        window_pooling: Classifier with windows: ``mean`` or ``max`` of the window logits.

    Returns:
        The module; its `signatures()` are what `write_saved_model` exports.
    """
    _check_settings(model_type, bert_config, max_seq_length, max_query_length, labels, pair_input)
    _check_windows(model_type, doc_stride, window_pooling)
    work_dir = work_dir or tempfile.mkdtemp(prefix="bert_export_")
    labels = [str(label) for label in labels]
    export_config = {
        "model_type": model_type,
        "do_lower_case": bool(do_lower_case),
        "max_seq_length": int(max_seq_length),
        "max_query_length": int(max_query_length),
        "pair_input": bool(pair_input or MODEL_TYPES[model_type].text in ("squad", "choices")),
        "labels": labels,
        **({"num_choices": int(num_choices)} if MODEL_TYPES[model_type].text == "choices" else {}),
        **(
            {"pooling": pooling or "none", "normalize": bool(normalize)}
            if model_type == "encoder"
            else {}
        ),
        **(
            {"doc_stride": int(doc_stride), "window_pooling": window_pooling}
            if model_type == "classifier"
            else {}
        ),
        "signatures": [SIGNATURE_TEXT, SIGNATURE_TOKEN_IDS, SIGNATURE_EXAMPLES],
    }
    written = {
        "labels_file": ("labels.txt", "".join(label + "\n" for label in labels)),
        "bert_config_file": ("bert_config.json", bert_config.to_json_string()),
        "export_config_file": (_CONFIG_ASSET, json.dumps(export_config, indent=2) + "\n"),
    }
    asset_paths = {"vocab_file": _vocab_asset(vocab_file, work_dir)}
    for key, (name, text) in written.items():
        asset_paths[key] = os.path.join(work_dir, name)
        with open(asset_paths[key], "w", encoding="utf-8") as f:
            f.write(text)
    tokenizer = text_graph.GraphTokenizer(vocab_file, do_lower_case=do_lower_case)
    return _ServingModule(
        model,
        model_type,
        tokenizer,
        max_seq_length,
        labels,
        export_config["pair_input"],
        max_query_length,
        asset_paths,
        num_choices=num_choices,
        pooling=pooling,
        normalize=normalize,
        doc_stride=doc_stride,
        window_pooling=window_pooling,
    )


def _check_windows(model_type: str, doc_stride: int, window_pooling: str) -> None:
    if doc_stride < 0:
        raise ValueError(f"doc_stride must be 0 (truncate) or positive, got {doc_stride}")
    if doc_stride and model_type != "classifier":
        raise ValueError(
            f"doc_stride={doc_stride}: windows over long texts are for model_type=classifier "
            f"(run_classifier.py --doc_stride), not {model_type}"
        )
    if window_pooling not in windows.WINDOW_POOLINGS:
        raise ValueError(
            f"window_pooling={window_pooling!r} is not one of {', '.join(windows.WINDOW_POOLINGS)}"
        )


def _check_settings(
    model_type: str,
    bert_config: BertConfig,
    max_seq_length: int,
    max_query_length: int,
    labels: Sequence[str],
    pair_input: bool,
) -> None:
    if _model_type(model_type).text == "words":
        if len(labels) < 2:
            raise ValueError(
                f"model_type={model_type} needs the run's label list (at least 2 labels, in id "
                f"order, e.g. tasks.conll.get_labels(entity_types)); got {list(labels)}"
            )
        if pair_input:
            raise ValueError(f"model_type={model_type} takes single sentences: pair_input=False")
    if _model_type(model_type).text == "choices" and labels:
        raise ValueError(
            f"model_type={model_type} predicts the index of an ending: no labels, got {list(labels)}"
        )
    if max_seq_length < 3 or max_seq_length > bert_config.max_position_embeddings:
        raise ValueError(
            f"max_seq_length={max_seq_length} must be in [3, max_position_embeddings="
            f"{bert_config.max_position_embeddings}]"
        )
    if model_type == "squad" and max_seq_length - max_query_length <= 3:
        raise ValueError(
            f"max_seq_length={max_seq_length} must exceed max_query_length={max_query_length} "
            "+ 3, to leave room for the context"
        )


def _vocab_asset(vocab_file: str, work_dir: str) -> str:
    """The vocabulary, copied so that the asset is named vocab.txt whatever its source name."""
    if not tf.io.gfile.exists(vocab_file):
        raise FileNotFoundError(f"vocab_file: no such file: {vocab_file}")
    path = os.path.join(work_dir, "vocab.txt")
    tf.io.gfile.copy(vocab_file, path, overwrite=True)
    return path


def latest_version(export_dir: str) -> int | None:
    """The highest integer-named version folder in `export_dir` (None when there is none)."""
    if not tf.io.gfile.isdir(export_dir):
        return None
    versions = [
        int(name.rstrip("/"))
        for name in tf.io.gfile.listdir(export_dir)
        if re.fullmatch(r"\d+/?", name)
    ]
    return max(versions) if versions else None


def _new_version_path(export_dir: str, version: int | None) -> str:
    """The version folder an export will take; it must not exist yet."""
    if version is None:
        version = (latest_version(export_dir) or 0) + 1
    if int(version) < 0:
        raise ValueError(f"export version must be a non-negative integer, got {version}")
    final = os.path.join(export_dir, str(int(version)))
    if tf.io.gfile.exists(final):
        raise ValueError(
            f"{final} exists already; pass another version or remove it (TF Serving serves "
            "the highest version in the folder)"
        )
    return final


def write_saved_model(module: _ServingModule, export_dir: str, version: int | None = None) -> str:
    """Saves `module` as ``export_dir/<version>/``, all at once.

    The SavedModel is written into a hidden folder beside the version and renamed when
    complete, so a TF Serving watching `export_dir` never loads half an export.

    Args:
        module: From `build_serving_module`.
        export_dir: The folder TF Serving watches (created if needed).
        version: Integer version; None: one above the highest present (1 for a new folder).

    Returns:
        The path of the version folder.

    Raises:
        ValueError: If `version` is negative or already exported.
    """
    final = _new_version_path(export_dir, version)
    version = int(os.path.basename(final))
    tf.io.gfile.makedirs(export_dir)
    staging = os.path.join(export_dir, f".tmp-{int(version)}")
    if tf.io.gfile.exists(staging):
        tf.io.gfile.rmtree(staging)
    tf.saved_model.save(module, staging, signatures=module.signatures())
    tf.io.gfile.rename(staging, final)
    return final


def export_saved_model(
    *,
    model_type: str,
    bert_config: BertConfig,
    init_checkpoint: str,
    vocab_file: str,
    do_lower_case: bool,
    max_seq_length: int,
    export_dir: str,
    labels: Sequence[str] = (),
    pair_input: bool = False,
    max_query_length: int = 64,
    version: int | None = None,
    num_choices: int = 4,
    pooling: str = "mean",
    normalize: bool = False,
    doc_stride: int = 0,
    window_pooling: str = "mean",
) -> str:
    """Builds the model of `model_type`, loads a checkpoint into it and exports it.

    Args:
        model_type: ``classifier``, ``squad``, ``encoder``, ``tagger`` or ``multiple_choice``
            (a key of `MODEL_TYPES`).
        bert_config: The model's configuration.
        init_checkpoint: A checkpoint prefix or folder in Google's names: Google's
            ``bert_model.ckpt`` (encoder) or a fine-tuned ``model.ckpt-STEP`` (optimizer slots
            and ``global_step`` are skipped). Every model variable must be in it. For the
            tagger, a run_ner.py checkpoint, fine-tuned or feature-based (detected); for
            multiple choice, a run_swag.py checkpoint.
        vocab_file: The vocab.txt the model was trained with.
        do_lower_case: Whether training lower-cased the text.
        max_seq_length: Length raw text is packed to.
        export_dir: The folder TF Serving watches; the export goes to a new version in it.
        labels: Label strings in id order (classifier, empty for a regression; tagger, as
            run_ner.py's ``tasks.conll.get_labels(entity_types)``).
        pair_input: Whether `serving_default` takes ``text_b`` too (classifier, encoder).
        max_query_length: SQuAD: question tokens kept.
        version: See `write_saved_model`.
        num_choices: Multiple choice: endings per record ``serve_examples`` parses (SWAG: 4).
        pooling: Encoder: the pooling of ``sentence_embedding`` (``mean``, ``max``, ``cls``;
            ``none``: no such output).
        normalize: Encoder: unit-length ``sentence_embedding``.
        doc_stride: Classifier: windows over long texts in ``serving_default`` (0: truncate).
        window_pooling: Classifier with windows: how window logits combine (mean, max).

    Returns:
        The path of the version folder written.

    Raises:
        ValueError: If the model type is unknown or the checkpoint does not fit the model.
        FileNotFoundError: If the checkpoint or vocabulary is missing.
    """
    kind = _model_type(model_type)
    _check_settings(model_type, bert_config, max_seq_length, max_query_length, labels, pair_input)
    _check_windows(model_type, doc_stride, window_pooling)
    _new_version_path(export_dir, version)  # fails before the slow part
    num_labels = max(len(labels), 1)
    model = kind.build(bert_config, num_labels, checkpoints.list_checkpoint(init_checkpoint))
    # build() rather than a call on dummy inputs: Keras would save a signature of their dtype.
    model.build()
    checkpoints.load_google_checkpoint(model, init_checkpoint)
    with tempfile.TemporaryDirectory(prefix="bert_export_") as work_dir:
        module = build_serving_module(
            model,
            model_type,
            vocab_file,
            do_lower_case,
            max_seq_length,
            bert_config,
            labels=labels,
            pair_input=pair_input,
            max_query_length=max_query_length,
            work_dir=work_dir,
            num_choices=num_choices,
            pooling=pooling,
            normalize=normalize,
            doc_stride=doc_stride,
            window_pooling=window_pooling,
        )
        return write_saved_model(module, export_dir, version)


def glue_task_inputs(processor) -> tuple[list, bool]:
    """The label strings and whether texts come in pairs, for a `glue.GlueProcessor`."""
    pair_input = any(layout.text_b is not None for layout in processor.layouts.values())
    return processor.get_labels(), pair_input


def export_onnx(
    path: str, output_file: str, signature: str = SIGNATURE_TOKEN_IDS, opset: int = 17
) -> str:
    """Converts one signature of an export to ONNX with tf2onnx (an optional extra).

    Only the token-id and tf.Example signatures convert: `serving_default` tokenizes with
    tensorflow-text kernels, which ONNX has no operators for. tf2onnx runs in a subprocess
    (it rewrites the graph with process-wide state) that registers tensorflow-text's ops first.

    Args:
        path: An export folder (its newest version) or one version folder.
        output_file: Where the ``.onnx`` model is written.
        signature: ``serve_token_ids`` (default) or ``serve_examples``.
        opset: The ONNX opset to target.

    Returns:
        `output_file`.

    Raises:
        ValueError: For `serving_default` or an unknown signature.
        ImportError: If tf2onnx is not installed (see requirements-onnx.txt).
        RuntimeError: If the conversion fails (tf2onnx's last lines are in the message).
    """
    if signature == SIGNATURE_TEXT:
        raise ValueError(
            f"{SIGNATURE_TEXT} tokenizes with tensorflow-text kernels, which ONNX lacks; convert "
            f"{SIGNATURE_TOKEN_IDS} (or {SIGNATURE_EXAMPLES}) and tokenize outside the model"
        )
    if signature not in (SIGNATURE_TOKEN_IDS, SIGNATURE_EXAMPLES):
        raise ValueError(f"signature={signature!r} is not one of this export's signatures")
    if importlib.util.find_spec("tf2onnx") is None:
        raise ImportError("tf2onnx is not installed: pip install -r requirements-onnx.txt")
    arguments = [
        "tf2onnx.convert",
        "--saved-model",
        _version_path(path),
        "--tag",
        "serve",
        "--signature_def",
        signature,
        "--opset",
        str(int(opset)),
        "--output",
        output_file,
    ]
    code = (
        "import runpy, sys, tensorflow_text; "
        f"sys.argv = {arguments!r}; "
        "runpy.run_module('tf2onnx.convert', run_name='__main__')"
    )
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True)
    if done.returncode != 0 or not os.path.exists(output_file):
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise RuntimeError(f"tf2onnx could not convert {signature} of {path}:\n{tail}")
    return output_file


def _version_path(path: str) -> str:
    """A version folder as given, or the newest version inside an export folder."""
    if tf.io.gfile.exists(os.path.join(path, "saved_model.pb")):
        return path
    version = latest_version(path)
    if version is None:
        raise FileNotFoundError(
            f"No SavedModel at {path}: expected saved_model.pb or integer version folders"
        )
    return os.path.join(path, str(version))


class Predictor:
    """Loads an export once and predicts many times, without a server.

    The SavedModel's own signatures do the work, so this gives exactly what TF Serving gives.

    Example:
        >>> predictor = Predictor("/tmp/mrpc_export")  # newest version, or a version folder
        >>> out = predictor(["The cat sat."], ["A cat was sitting."])
        >>> out["probabilities"], out["labels"]
        >>> Predictor("/tmp/ner_export")(["John lives in Paris ."])["word_labels"]

    Attributes:
        path: The version folder loaded.
        config: The export's settings (``export_config.json``: model_type, labels, ...).
    """

    def __init__(self, path: str) -> None:
        self.path = _version_path(path)
        self._loaded = tf.saved_model.load(self.path)
        self._signatures = {name: self._loaded.signatures[name] for name in self._signature_names()}
        config_path = self._loaded.export_config_file.asset_path.numpy().decode("utf-8")
        with tf.io.gfile.GFile(config_path) as f:
            self.config = json.load(f)

    def _signature_names(self) -> list:
        return [SIGNATURE_TEXT, SIGNATURE_TOKEN_IDS, SIGNATURE_EXAMPLES]

    @property
    def labels(self) -> list:
        """Label strings in id order (empty unless a classifier or a tagger)."""
        return list(self.config["labels"])

    def __call__(
        self, text_a: Sequence[str], text_b: Sequence[str] | None = None
    ) -> dict[str, np.ndarray]:
        """Predicts raw texts through `serving_default`.

        Args:
            text_a: The first (or only) texts; for SQuAD the questions; for the tagger the
                sentences (``text``); for multiple choice the contexts.
            text_b: The second texts (pair exports; "" for a row without one); for SQuAD the
                contexts; for multiple choice a list of endings per row (``endings``).

        Returns:
            {output name: numpy array}, batch first.

        Raises:
            ValueError: If `text_b` is given to an export of single texts, or missing for one
                that needs it.
        """
        text = MODEL_TYPES.get(self.config["model_type"], MODEL_TYPES["classifier"]).text
        if text == "choices":
            if text_b is None:
                raise ValueError("A multiple-choice export needs text_b: the endings of each row.")
            if isinstance(text_b, (str, bytes)):
                raise TypeError("text_b must be a list of rows, each a list of endings")
            endings = [_strings(row, f"text_b[{i}]") for i, row in enumerate(text_b)]
            if not endings or len({int(row.shape[0]) for row in endings}) != 1:
                raise ValueError("text_b must give every row the same number of endings (>= 1).")
            return _numpy(
                self._signatures[SIGNATURE_TEXT](
                    context=_strings(text_a), endings=tf.stack(endings)
                )
            )
        if text == "words":
            if text_b is not None:
                raise ValueError(f"This export ({self.path}) tags single sentences: no text_b.")
            return _numpy(self._signatures[SIGNATURE_TEXT](text=_strings(text_a)))
        inputs = {"text_a": _strings(text_a)}
        if self.config["pair_input"]:
            if text_b is None:
                if self.config["model_type"] == "squad":
                    raise ValueError("A SQuAD export needs text_b: the contexts.")
                text_b = [""] * len(inputs["text_a"])
            inputs["text_b"] = _strings(text_b, "text_b")
            if inputs["text_b"].shape[0] != inputs["text_a"].shape[0]:
                raise ValueError(
                    f"text_a has {inputs['text_a'].shape[0]} texts but text_b has "
                    f"{inputs['text_b'].shape[0]}: give one text_b per text_a ('' for none)"
                )
        elif text_b is not None:
            raise ValueError(
                f"This export ({self.path}) takes single texts: pass text_a only, or export "
                "with pair input"
            )
        return _numpy(self._signatures[SIGNATURE_TEXT](**inputs))

    def predict_token_ids(self, input_ids, input_mask, segment_ids) -> dict[str, np.ndarray]:
        """Predicts packed features (int [batch, seq] each) through `serve_token_ids`.

        Raises:
            TypeError: an input is not integers.
            ValueError: the three inputs differ in shape, their shape is not the export's
                ([batch, max_seq_length], or [batch, num_choices, max_seq_length]), or
                `input_mask` holds values other than 0 and 1.
        """
        arrays = {"input_ids": input_ids, "input_mask": input_mask, "segment_ids": segment_ids}
        return _numpy(self._signatures[SIGNATURE_TOKEN_IDS](**self._token_id_tensors(arrays)))

    def _token_id_tensors(self, arrays: Mapping[str, object]) -> dict[str, tf.Tensor]:
        """Checks token-id inputs against the signature before the model sees them."""
        specs = self._signatures[SIGNATURE_TOKEN_IDS].structured_input_signature[1]
        checked = {}
        for name, value in arrays.items():
            array = np.asarray(value)
            if array.dtype.kind not in "iu" and not (array.size == 0 and array.dtype.kind == "f"):
                raise TypeError(f"{name} must hold integers, got {array.dtype} values")
            wanted = specs[name].shape
            if array.ndim != wanted.rank or any(
                w is not None and w != got for w, got in zip(wanted.as_list(), array.shape)
            ):
                shape = ", ".join("batch" if w is None else str(w) for w in wanted.as_list())
                raise ValueError(
                    f"{name} has shape {list(array.shape)}; this export takes [{shape}]"
                )
            checked[name] = array
        shapes = {name: array.shape for name, array in checked.items()}
        if len(set(shapes.values())) != 1:
            raise ValueError(
                "input_ids, input_mask and segment_ids must have one shape (one row per "
                f"example), got {', '.join(f'{k} {list(v)}' for k, v in shapes.items())}"
            )
        longest = self.config.get("max_seq_length")
        if longest and checked["input_ids"].shape[-1] > longest:
            raise ValueError(
                f"input_ids has {checked['input_ids'].shape[-1]} positions; this export takes at "
                f"most max_seq_length={longest}"
            )
        mask = checked["input_mask"]
        if mask.size and not np.isin(mask, (0, 1)).all():
            raise ValueError("input_mask must hold only 0 (padding) and 1 (token)")
        if checked["input_ids"].size and checked["input_ids"].min() < 0:
            raise ValueError("input_ids must not be negative")
        return {name: tf.constant(array.astype(np.int32)) for name, array in checked.items()}

    def predict_examples(self, serialized: Sequence[bytes]) -> dict[str, np.ndarray]:
        """Predicts serialized ``tf.Example`` records through `serve_examples`."""
        return _numpy(
            self._signatures[SIGNATURE_EXAMPLES](**{EXAMPLES_KEY: tf.constant(list(serialized))})
        )


def load(path: str) -> Predictor:
    """A `Predictor` for an export folder (its newest version) or one version folder."""
    return Predictor(path)


def _strings(texts, what: str = "text_a") -> tf.Tensor:
    """A batch of texts as a string tensor; anything but a list of str/bytes is a TypeError."""
    if isinstance(texts, (str, bytes)):
        raise TypeError("Pass a list of texts (a batch), not one string.")
    if isinstance(texts, np.ndarray) and texts.dtype.kind in "US":
        texts = texts.tolist()
    try:
        texts = list(texts)
    except TypeError:
        raise TypeError(f"{what} must be a list of texts, got {type(texts).__name__}") from None
    for i, text in enumerate(texts):
        if not isinstance(text, (str, bytes)):
            raise TypeError(
                f"{what}[{i}] is {type(text).__name__} {text!r:.40}: this export takes texts "
                "(str or UTF-8 bytes); use predict_token_ids for token ids"
            )
    return tf.constant(
        [text.encode("utf-8") if isinstance(text, str) else bytes(text) for text in texts],
        dtype=tf.string,
        shape=[len(texts)],
    )


def _numpy(outputs: Mapping[str, tf.Tensor]) -> dict[str, np.ndarray]:
    return {name: value.numpy() for name, value in outputs.items()}
