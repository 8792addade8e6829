"""What every top-level script shares: running `main` so bad input ends in a message, not a trace."""

from __future__ import annotations

import sys
from collections.abc import Callable

import tensorflow as tf
from absl import app, logging

from bert_tf.modeling import BertConfig

# Errors that mean "the input or the flags are wrong": reported as one line, exit status 1.
USER_ERRORS = (ValueError, FileNotFoundError, tf.errors.NotFoundError, UnicodeDecodeError)


def run(main: Callable[[list[str]], None]) -> None:
    """`absl.app.run(main)`, turning user errors into a one-line message and exit status 1."""

    def guarded(argv):
        try:
            main(argv)
        except USER_ERRORS as e:
            message = getattr(e, "message", None) or str(e)
            logging.error("%s", message)
            print(f"error: {message}", file=sys.stderr)
            sys.exit(1)

    app.run(guarded)


def require_file(path: str | None, flag: str) -> str:
    """Checks that the file named by `--flag` exists and is not empty."""
    if not path:
        raise ValueError(f"--{flag} is required")
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(f"--{flag}: no such file: {path}")
    if not tf.io.gfile.isdir(path) and tf.io.gfile.stat(path).length == 0:
        raise ValueError(f"--{flag}: file is empty: {path}")
    return path


def check_max_seq_length(config: BertConfig, max_seq_length: int) -> None:
    """The original's check: positions beyond the embedding table cannot be encoded."""
    if max_seq_length > config.max_position_embeddings:
        raise ValueError(
            f"--max_seq_length={max_seq_length} is longer than the model's "
            f"max_position_embeddings={config.max_position_embeddings} (bert_config_file)"
        )
    if max_seq_length < 3:
        raise ValueError(f"--max_seq_length={max_seq_length} leaves no room for [CLS] and [SEP]")
