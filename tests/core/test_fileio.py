"""write_text_atomic: complete UTF-8 content, no temporary file left, custom temp names."""

import os

from slimcls.core.fileio import TMP_SUFFIX, write_text_atomic


def test_writes_utf8_and_replaces_without_leftovers(tmp_path):
    path = str(tmp_path / "labels.txt")
    write_text_atomic(path, "0:old\n")
    write_text_atomic(path, "0:啊\n1:阿\n")
    assert open(path, encoding="utf-8").read() == "0:啊\n1:阿\n"
    assert os.listdir(tmp_path) == ["labels.txt"]
    assert not os.path.exists(path + TMP_SUFFIX)


def test_custom_temp_path_is_renamed_away(tmp_path):
    path = str(tmp_path / "checkpoint")
    write_text_atomic(path, "x\n", temp_path=str(tmp_path / "checkpoint_temp_1"))
    assert os.listdir(tmp_path) == ["checkpoint"]
