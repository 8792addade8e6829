"""Imports TensorFlow without its start-up notices; every script imports this module first.

Importing TensorFlow 2.21 on a machine without a GPU writes, before any flag is parsed:

- ``WARNING: All log messages before absl::InitializeLog() is called are written to STDERR``
  (absl's C++ logging, once per TensorFlow library that logs before it is set up),
- ``I... port.cc] oneDNN custom operations are on ...`` and
  ``I... cudart_stub.cc] Could not find cuda drivers on your machine, GPU will not be used.``
  (INFO lines logged while the libraries load, which ``TF_CPP_MIN_LOG_LEVEL`` does not reach),
- ``E... cuda_platform.cc] failed call to cuInit: ... UNKNOWN ERROR (303)`` when the devices are
  listed: the consequence of the missing driver just reported, logged as an error.

A newcomer reads these as failures. This module imports TensorFlow and lists its devices with
stderr captured, then writes back every captured line except those notices, so a real error at
start-up still shows; the cuInit line is dropped only when TensorFlow also said it found no CUDA
driver. It also sets ``TF_CPP_MIN_LOG_LEVEL=1`` unless set (TensorFlow's C++ INFO lines off,
warnings and errors on). ``--verbosity=1`` (or ``-v 1``, "debug", or more) on the command
line, or ``TF_CPP_MIN_LOG_LEVEL=0`` in the environment, keeps everything TensorFlow prints.

`default_verbosity` is each script's first line in ``main``: INFO (progress and results) unless
``--verbosity`` was given, so that flag works both ways.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile

_NOTICES = re.compile(
    r"^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR$"
    r"|^I\d{4} [\d:. ]+\d+ port\.cc:\d+\] oneDNN custom operations are on\."
    r"|^I\d{4} [\d:. ]+\d+ cudart_stub\.cc:\d+\] Could not find cuda drivers on your machine"
    # Logged as an error the first time an int64 op runs on a CPU without AVX-512, yet it only
    # says that TensorFlow's own kernel is used instead of oneDNN's.
    r"|^E\d{4} [\d:. ]+\d+ util\.cc:\d+\] oneDNN supports DT_INT64 only on platforms with AVX-512"
)
_NO_DRIVER = re.compile(r"cudart_stub\.cc:\d+\] Could not find cuda drivers on your machine")
_CUINIT = re.compile(r"^E\d{4} [\d:. ]+\d+ cuda_platform\.cc:\d+\] failed call to cuInit: ")


def _wants_everything(argv: list[str], environ) -> bool:
    """True for ``--verbosity``/``-v`` of 1 ("debug") or more, or TF_CPP_MIN_LOG_LEVEL=0."""
    for i, arg in enumerate(argv):
        name, _, value = arg.partition("=")
        if name in ("-v", "--verbosity"):
            value = value or (argv[i + 1] if i + 1 < len(argv) else "")
            if value.lower() == "debug" or (value.lstrip("-").isdigit() and int(value) >= 1):
                return True
    return environ.get("TF_CPP_MIN_LOG_LEVEL") == "0"


def startup_noise_filtered(text: str) -> str:
    """`text` (captured stderr) without TensorFlow's start-up notices; other lines unchanged."""
    lines = text.splitlines(keepends=True)
    no_driver = any(_NO_DRIVER.search(line) for line in lines)
    kept = [
        line
        for line in lines
        if not _NOTICES.match(line) and not (no_driver and _CUINIT.match(line))
    ]
    return "".join(kept)


def default_verbosity() -> None:
    """Logs at INFO unless the command line set ``--verbosity``."""
    from absl import flags, logging

    if not flags.FLAGS["verbosity"].present:
        logging.set_verbosity(logging.INFO)


def import_tensorflow_quietly() -> None:
    """Imports tensorflow and lists its devices with the start-up notices filtered out."""
    if "tensorflow" in sys.modules or _wants_everything(sys.argv[1:], os.environ):
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow as tf

            # Listing the devices is what loads the CUDA plugin (and logs the cuInit failure);
            # TensorFlow would do it at the first op anyway.
            tf.config.list_physical_devices()
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            sys.stderr.write(startup_noise_filtered(captured.read().decode(errors="replace")))
            sys.stderr.flush()


import_tensorflow_quietly()
