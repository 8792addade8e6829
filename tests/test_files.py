"""bert_tf.files: the final name holds a complete output or nothing new."""

import os

import pytest

from bert_tf import files


def test_complete_write_is_renamed_into_place(tmp_path):
    path = str(tmp_path / "sub" / "eval_results.txt")
    with files.atomic_open(path) as f:
        f.write("a = 1\n")
        assert not os.path.exists(path)
        assert os.path.exists(files.incomplete_name(path))
    assert open(path).read() == "a = 1\n"
    assert not os.path.exists(files.incomplete_name(path))


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = str(tmp_path / "out.txt")
    with open(path, "w") as f:
        f.write("old\n")
    with pytest.raises(RuntimeError):
        with files.atomic_open(path) as f:
            f.write("half")
            raise RuntimeError("killed")
    assert open(path).read() == "old\n"
    assert os.listdir(tmp_path) == ["out.txt"]


def test_leftover_of_a_killed_run_is_removed(tmp_path):
    path = str(tmp_path / "x.tf_record")
    with open(files.incomplete_name(path), "wb") as f:
        f.write(b"truncated")
    with files.atomic_open(path, "wb") as f:
        f.write(b"full")
    assert sorted(os.listdir(tmp_path)) == ["x.tf_record"]
    assert open(path, "rb").read() == b"full"


def test_folder_replaces_an_existing_folder(tmp_path):
    path = str(tmp_path / "export")
    os.makedirs(path)
    open(os.path.join(path, "stale"), "w").close()
    with files.atomic_path(path) as tmp:
        os.makedirs(tmp)
        open(os.path.join(tmp, "saved_model.pb"), "w").close()
    assert os.listdir(path) == ["saved_model.pb"]


def test_read_mode_is_refused(tmp_path):
    with pytest.raises(ValueError, match="mode"):
        with files.atomic_open(str(tmp_path / "x"), "r"):
            pass
