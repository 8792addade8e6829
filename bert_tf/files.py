"""Outputs that are complete or absent: every file a script writes goes through here.

A writer fills ``<path>.incomplete`` and renames it to ``<path>`` only when the block that wrote it
finished without an exception, so the final name never holds a truncated file. A run that was
killed leaves at most the ``.incomplete`` file, and the next run that writes the same path removes
it first. Paths go through ``tf.io.gfile``, so ``gs://`` outputs work too (there a rename is a copy
and a delete, which still never exposes a partial object under the final name).

Example:

    with atomic_open("/tmp/out/eval_results.txt") as f:
        f.write("eval_accuracy = 0.9\\n")

    with atomic_path("/tmp/out/train.tf_record") as tmp:
        with tf.io.TFRecordWriter(tmp) as writer:
            ...
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import tensorflow as tf

INCOMPLETE_SUFFIX = ".incomplete"


def incomplete_name(path: str) -> str:
    """The temporary name `path` is written under until it is complete."""
    return path + INCOMPLETE_SUFFIX


def _remove(path: str) -> None:
    if tf.io.gfile.isdir(path):
        tf.io.gfile.rmtree(path)
    elif tf.io.gfile.exists(path):
        tf.io.gfile.remove(path)


@contextlib.contextmanager
def atomic_path(path: str) -> Iterator[str]:
    """Yields a temporary path to write `path`'s content to; renames it into place on success.

    The content may be a file or a folder (a SavedModel). A leftover of an earlier killed run is
    removed first, the parent folder is created, and if the block raises (or is interrupted) the
    temporary is removed and `path` keeps whatever it held before.

    Args:
        path: the final name.

    Yields:
        The temporary name, ``path + ".incomplete"``.
    """
    tmp = incomplete_name(path)
    folder = os.path.dirname(path)
    if folder:
        tf.io.gfile.makedirs(folder)
    _remove(tmp)
    try:
        yield tmp
    except BaseException:
        _remove(tmp)
        raise
    if tf.io.gfile.isdir(tmp):
        _remove(path)  # a folder cannot be renamed over an existing one
        tf.io.gfile.rename(tmp, path)
    else:
        tf.io.gfile.rename(tmp, path, overwrite=True)


@contextlib.contextmanager
def atomic_open(path: str, mode: str = "w") -> Iterator[tf.io.gfile.GFile]:
    """`tf.io.gfile.GFile` over `atomic_path(path)`: text (``"w"``) or bytes (``"wb"``)."""
    if not mode.startswith("w"):
        raise ValueError(f"atomic_open writes a new file; mode must be 'w' or 'wb', got {mode!r}")
    with atomic_path(path) as tmp:
        with tf.io.gfile.GFile(tmp, mode) as f:
            yield f
