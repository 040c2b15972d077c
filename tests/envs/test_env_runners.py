"""`pdlf envs` and `pdlf bench envs` on tiny budgets."""

from __future__ import annotations

import json

import pytest

from pdlf.cli import main


def test_pdlf_envs_json_lists_every_task(capsys):
    assert main(["envs", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert {"ant_dir", "swimmer_dir", "halfcheetah_vel", "hopper_vel"} <= set(rows)
    assert rows["hopper_vel"]["id"] == "pdlf/HopperVel-v0"
    assert rows["hopper_vel"]["goal_range"] == [0.0, 2.1]


def test_pdlf_envs_table(capsys):
    assert main(["envs"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:2] == ["task", "gym"]
    assert "pdlf/AntDir-v0" in out and "[1, 10) m/s" in out


@pytest.mark.parametrize("task", ["hopper_vel", "swimmer_dir"])
def test_bench_envs_prints_one_json_object(task, capsys, restore_affinity):
    args = ["bench", "envs", "--env", task, "--batch", "2", "--steps", "20", "--repeats", "1"]
    assert main([*args, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["env"] == task and report["batch"] == 2 and report["path"] == "kernel"
    assert report["member_steps"] >= 40
    for key in ("batched_steps_per_s", "gym_steps_per_s", "raw_physics_steps_per_s"):
        assert report[key] > 0
    ratio = report["batched_steps_per_s"] / report["raw_physics_steps_per_s"]
    assert report["ratio_to_raw_physics"] == pytest.approx(ratio, abs=1e-3)
    assert report["gym_id"] == {"hopper_vel": "Hopper-v5", "swimmer_dir": "Swimmer-v5"}[task]
    assert report["mujoco"] and report["gymnasium"] and "torch" in report


def test_bench_envs_table_and_unknown_env(capsys, restore_affinity):
    assert main(["bench", "envs", "--env", "halfcheetah_vel", "--batch", "2", "--steps", "10",
                 "--repeats", "1"]) == 0
    assert "batched / raw physics" in capsys.readouterr().out
    assert main(["bench", "envs", "--env", "halfcheeta_vel"]) == 2
    assert "did you mean 'halfcheetah_vel'" in capsys.readouterr().err
