"""bert_tf.startup: TensorFlow's start-up notices go, everything else TensorFlow prints stays."""

import pytest

from bert_tf import startup

# Lines as TensorFlow 2.21 writes them when imported on a machine without a GPU (from `make demo`).
ABSL = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
ONEDNN = (
    "I0000 00:00:1796561491.474898    5979 port.cc:153] oneDNN custom operations are on. You may "
    "see slightly different numerical results due to floating-point round-off errors from "
    "different computation orders. To turn them off, set the environment variable "
    "`TF_ENABLE_ONEDNN_OPTS=0`.\n"
)
NO_DRIVER = (
    "I0000 00:00:1796561491.475354    5979 cudart_stub.cc:31] Could not find cuda drivers on your "
    "machine, GPU will not be used.\n"
)
CUINIT = (
    "E0000 00:00:1796561493.517232    5979 cuda_platform.cc:52] failed call to cuInit: INTERNAL: "
    "CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)\n"
)
INT64_FALLBACK = (
    "E0000 00:00:1796563062.666327   30022 util.cc:131] oneDNN supports DT_INT64 only on "
    "platforms with AVX-512. Falling back to the default Eigen-based implementation if present.\n"
)
OTHER_ERROR = "E0000 00:00:1796561493.6    5979 op_kernel.cc:1830] OP_REQUIRES failed at x.cc:1\n"
PYTHON_WARNING = "/site-packages/keras/src/x.py:12: UserWarning: something to act on\n"


def test_start_up_notices_are_dropped_and_other_lines_kept():
    text = ABSL + ONEDNN + NO_DRIVER + ABSL + ONEDNN + NO_DRIVER + CUINIT + INT64_FALLBACK
    text += OTHER_ERROR
    assert startup.startup_noise_filtered(text + PYTHON_WARNING) == OTHER_ERROR + PYTHON_WARNING


def test_cuinit_failure_shows_when_a_driver_was_found():
    # Without TensorFlow's "no driver" notice, a failing cuInit is a real problem: it stays.
    assert startup.startup_noise_filtered(ABSL + ONEDNN + CUINIT) == CUINIT


@pytest.mark.parametrize(
    "argv, environ, everything",
    [
        ([], {}, False),
        (["--verbosity=-1"], {}, False),
        (["--verbosity", "0"], {}, False),
        (["--verbosity=1"], {}, True),
        (["-v", "2"], {}, True),
        (["--verbosity=debug"], {}, True),
        ([], {"TF_CPP_MIN_LOG_LEVEL": "0"}, True),
        ([], {"TF_CPP_MIN_LOG_LEVEL": "2"}, False),
    ],
)
def test_verbosity_or_tf_log_level_zero_keeps_everything(argv, environ, everything):
    assert startup._wants_everything(argv, environ) is everything
