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


# ---------------------------------------------------------------------------------------------
# One run per output folder.

LOCK_NAME = ".lock"


class OutputDirInUseError(RuntimeError):
    """Another process holds the output folder's lock."""


# Folders this process holds, with how many `output_dir_lock` blocks hold each (a script's
# `main` may be entered again in the same process, e.g. by tests).
_held: dict[str, list] = {}


def _describe_process() -> str:
    import socket
    import sys

    command = " ".join([os.path.basename(sys.argv[0])] + sys.argv[1:]) if sys.argv else "python"
    return f"pid {os.getpid()} on {socket.gethostname()}: {command[:300]}"


@contextlib.contextmanager
def output_dir_lock(output_dir: str) -> Iterator[None]:
    """Holds an advisory lock on `output_dir` for the block: one run per output folder.

    The lock is `fcntl.flock` on ``output_dir/.lock``, which also records who holds it. The
    operating system drops it when the process ends in any way (exit, crash, kill -9), so a
    stale lock never blocks the next run. Folders that are not local (``gs://...``) cannot be
    locked this way and are used unlocked, with a warning.

    Raises:
        OutputDirInUseError: another process holds the lock; the message names it (pid, host,
            command).
        OSError: the folder cannot be created or written.
    """
    import fcntl

    from absl import logging

    if "://" in output_dir:
        logging.warning(
            "--output_dir=%s is not local: it is not locked against a second run", output_dir
        )
        yield
        return
    key = os.path.realpath(output_dir)
    if key in _held:
        _held[key][1] += 1
        try:
            yield
        finally:
            _held[key][1] -= 1
        return
    os.makedirs(output_dir, exist_ok=True)
    path = os.path.join(output_dir, LOCK_NAME)
    handle = open(path, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise OutputDirInUseError(
            f"--output_dir={output_dir} is in use by {holder}; wait for it to finish or choose "
            "another --output_dir"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(_describe_process() + "\n")
    handle.flush()
    _held[key] = [handle, 1]
    try:
        yield
    finally:
        _held[key][1] -= 1
        if _held[key][1] == 0:
            del _held[key]
            handle.close()  # releases the lock; the file stays (removing it would race)
