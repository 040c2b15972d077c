"""`pdlf.outputs.prepare_output_dir`: refuses without force (touching nothing), replaces with it."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from pdlf.errors import RunDirError
from pdlf.outputs import jsonable, prepare_output_dir, write_json

OURS = ["eval_all.json", "eval_all.png", "tb"]


def _tree(path):
    return {p.relative_to(path).as_posix(): (p.read_bytes() if p.is_file() else None) for p in sorted(path.rglob("*"))}


def test_a_new_directory_is_created_with_its_parents(tmp_path):
    out = prepare_output_dir(tmp_path / "a" / "b", OURS)
    assert out.is_dir() and out == tmp_path / "a" / "b"


def test_refuses_without_force_and_leaves_every_file_untouched(tmp_path):
    (tmp_path / "eval_all.json").write_text("old results")
    (tmp_path / "tb").mkdir()
    (tmp_path / "tb" / "events.out.tfevents.1").write_bytes(b"\x00\x01")
    (tmp_path / "notes.txt").write_text("mine")
    before = _tree(tmp_path)
    with pytest.raises(RunDirError) as err:
        prepare_output_dir(tmp_path, OURS, force=False)
    msg = str(err.value)
    assert "\n" not in msg and str(tmp_path) in msg and "--force" in msg and "eval_all.json" in msg
    assert _tree(tmp_path) == before


def test_other_files_do_not_count_as_results(tmp_path):
    (tmp_path / "eval_train.json").write_text("another goal set's results")
    prepare_output_dir(tmp_path, OURS, force=False)
    assert (tmp_path / "eval_train.json").read_text() == "another goal set's results"


def test_force_replaces_our_results_and_keeps_the_rest(tmp_path):
    (tmp_path / "eval_all.json").write_text("old results")
    (tmp_path / "tb").mkdir()
    (tmp_path / "tb" / "events.out.tfevents.1").write_bytes(b"\x00")
    (tmp_path / "notes.txt").write_text("mine")
    prepare_output_dir(tmp_path, OURS, force=True)
    assert _tree(tmp_path) == {"notes.txt": b"mine"}


def test_without_patterns_any_entry_counts_and_force_replaces_the_directory(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "anything").write_text("x")
    with pytest.raises(RunDirError):
        prepare_output_dir(out, None)
    assert (out / "anything").read_text() == "x"
    prepare_output_dir(out, None, force=True)
    assert out.is_dir() and not any(out.iterdir())


def test_a_file_in_the_way_is_refused_even_with_force(tmp_path):
    (tmp_path / "out").write_text("a file")
    with pytest.raises(RunDirError, match="not a directory"):
        prepare_output_dir(tmp_path / "out", OURS, force=True)
    assert (tmp_path / "out").read_text() == "a file"


def test_json_is_safe_for_nan_and_numpy(tmp_path):
    obj = {"a": np.array([1.0, np.nan]), "b": np.int64(3), "c": (np.bool_(True), math.inf), 1: np.float32(0.5)}
    assert jsonable(obj) == {"a": [1.0, None], "b": 3, "c": [True, None], "1": 0.5}
    assert json.loads(write_json(tmp_path / "x.json", obj).read_text()) == jsonable(obj)
