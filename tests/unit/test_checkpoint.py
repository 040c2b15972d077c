"""Checkpoints: plain data only, software versions recorded, clear errors and warnings on load."""

from __future__ import annotations

import logging
import pickle

import numpy as np
import pytest
import torch

from pdlf.checkpoint import FORMAT, VERSION, load_checkpoint, save_checkpoint, software_versions
from pdlf.errors import CheckpointError


def _state():
    return {"generation": 3, "searcher": {"center": torch.zeros(4), "moments": [np.ones(2), 1.5]}, "name": "x"}


def test_round_trip_records_the_software_versions(tmp_path):
    save_checkpoint(tmp_path / "c.pkl", _state())
    loaded = load_checkpoint(tmp_path / "c.pkl")
    assert loaded["generation"] == 3 and torch.equal(loaded["searcher"]["center"], torch.zeros(4))
    assert loaded["versions"] == software_versions()
    assert set(loaded["versions"]) >= {"python", "torch", "evotorch", "mujoco", "ray", "numpy", "pdlf"}


def test_library_objects_are_refused_and_nothing_is_written(tmp_path):
    class Optimiser:  # stands for a library object whose pickle ties the file to that library
        pass

    path = tmp_path / "c.pkl"
    save_checkpoint(path, _state())
    before = path.read_bytes()
    with pytest.raises(TypeError, match=r"state\['searcher'\]\['opt'\].*Optimiser"):
        save_checkpoint(path, {**_state(), "searcher": {"opt": Optimiser()}})
    assert path.read_bytes() == before  # the earlier checkpoint is intact


def test_resuming_under_other_versions_warns(tmp_path, caplog):
    path = tmp_path / "c.pkl"
    save_checkpoint(path, _state())
    payload = pickle.loads(path.read_bytes())
    payload["versions"]["torch"] = "0.0.1"
    path.write_bytes(pickle.dumps(payload))
    with caplog.at_level(logging.WARNING, logger="pdlf.checkpoint"):
        load_checkpoint(path)
    assert "torch 0.0.1 -> " in caplog.text
    caplog.clear()
    save_checkpoint(path, _state())
    with caplog.at_level(logging.WARNING, logger="pdlf.checkpoint"):
        load_checkpoint(path)
    assert caplog.text == ""  # same versions: no warning


def test_old_format_and_garbage_are_one_line_errors(tmp_path):
    old = tmp_path / "old.pkl"
    old.write_bytes(pickle.dumps({"format": FORMAT, "version": VERSION - 1}))
    with pytest.raises(CheckpointError, match="format version 1.*start a new run"):
        load_checkpoint(old)
    junk = tmp_path / "junk.pkl"
    junk.write_bytes(b"\x80\x05not a pickle")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(junk)
