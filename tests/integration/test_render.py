"""`pdlf render` on a tiny run: the video's frames and overlay, goal switching in the env, errors.

Rendering tests skip (with the reason) only where no headless OpenGL context can be created; the
goal-switch and error tests need no OpenGL.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch

from pdlf import render
from pdlf.cli import main
from pdlf.envs import make_batched
from pdlf.errors import ConfigError, GoalRangeError
from pdlf.perturb import GoalSwitch
from pdlf.plasticity.catalog import RuleConfig
from pdlf.rollout import rollout
from pdlf.snn.network import AgentConfig, PlasticSNN

pytestmark = pytest.mark.integration

W, H, STEPS = 96, 72, 20


@pytest.fixture(scope="module")
def gl():
    """The OpenGL backend, or a skip naming why none works here."""
    try:
        return render.gl_backend()
    except render.RenderSetupError as err:
        pytest.skip(f"no headless OpenGL: {err}")


def _frames(path) -> list[np.ndarray]:
    """Every frame of a GIF (Pillow) or MP4 (PyAV) as ``[H, W, 3]`` uint8."""
    if str(path).endswith(".gif"):
        from PIL import Image, ImageSequence

        with Image.open(path) as im:
            return [np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(im)]
    av = pytest.importorskip("av")
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def _render(capsys, run_dir, out, *extra: str) -> dict:
    argv = ["render", str(run_dir), "--steps", str(STEPS), "--width", str(W), "--height", str(H),
            "--out", str(out), "--json", *extra]
    assert main(argv) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("pdlf: error: "), err
    return err


def _region(frame: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    x0, y0, x1, y1 = box
    return frame[y0:y1, x0:x1].astype(np.int16)


def _changed(a: np.ndarray, b: np.ndarray) -> int:
    """Pixels whose colour differs clearly (text drawn or gone; GIF palette noise is far smaller)."""
    return int((np.abs(a - b).max(axis=-1) > 60).sum())


# ------------------------------------------------------------------------------------- videos
def test_gif_frames_show_the_episode_and_the_switched_goal(tiny_runs, tmp_path, capsys, gl):
    out = tmp_path / "switch.gif"
    res = _render(capsys, tiny_runs["plastic"], out, "--goal-schedule", "1:2,11:6")
    assert res["frames"] == STEPS and res["backend"] == gl and res["schedule"] == [[1, 2.0], [11, 6.0]]
    assert res["fps"] == 20  # halfcheetah: dt = 0.05 s, real time
    frames = _frames(out)
    assert len(frames) == STEPS and all(f.shape == (H, W, 3) for f in frames)
    overlay = render.Overlay(W, H, lines=2)
    scene_top = overlay.line_box(1)[3] + overlay.pad
    scenes = [f[scene_top:].astype(np.int16) for f in frames]
    assert all(s.std() > 10 and s.mean() > 20 for s in scenes)  # not black, not blank
    assert np.abs(scenes[-1] - scenes[0]).mean() > 1  # the body moves
    goal = [_region(f, overlay.line_box(0)) for f in frames]  # frame k - 1 shows step k
    assert _changed(goal[0], goal[9]) == 0 and _changed(goal[10], goal[-1]) == 0  # goal 2, then goal 6
    assert _changed(goal[9], goal[10]) > 5  # "2.00" became "6.00" at step 11
    step = [_region(f, overlay.line_box(1)) for f in frames]
    assert _changed(step[0], step[1]) > 0  # the step counter changes every frame


def test_injury_window_is_flagged_on_its_frames(tiny_runs, tmp_path, capsys, gl):
    out = tmp_path / "injury.gif"
    res = _render(capsys, tiny_runs["direct"], out, "--goal", "3", "--injury", "temporary", "--window", "5", "9")
    assert res["injury"] == "temporary" and res["window"] == [5, 9] and res["kind"] == "direct"
    frames = _frames(out)
    flag = render.Overlay(W, H, lines=3).line_box(2)
    red = [(r - g).max() for r, g in ((_region(f, flag)[..., 0], _region(f, flag)[..., 1]) for f in frames)]
    injured = [k for k in range(1, STEPS + 1) if red[k - 1] > 80]
    assert injured == [5, 6, 7, 8, 9]


def test_mp4(tiny_runs, tmp_path, capsys, gl):
    pytest.importorskip("av", reason="MP4 needs the video extra (pip install 'pdlf[video]')")
    out = tmp_path / "agent.mp4"
    res = _render(capsys, tiny_runs["plastic"], out, "--fps", "10")
    frames = _frames(out)
    assert res["frames"] == len(frames) == STEPS and frames[0].shape == (H, W, 3) and res["fps"] == 10
    assert frames[STEPS // 2].std() > 10


def test_existing_video_is_kept_without_force(tiny_runs, tmp_path, capsys, gl):
    out = tmp_path / "once.gif"
    out.write_bytes(b"earlier")
    argv = ["render", str(tiny_runs["plastic"]), "--steps", "3", "--width", "32", "--height", "32", "--out", str(out)]
    assert main(argv) == 2
    err = _error_line(capsys)
    assert str(out) in err and "--force" in err and out.read_bytes() == b"earlier"
    assert main(argv + ["--force"]) == 0 and len(_frames(out)) == 3
    assert [p.name for p in tmp_path.iterdir()] == ["once.gif"]  # no partial file left


# ------------------------------------------------------------------------------------- errors
@pytest.mark.parametrize("extra, words", [
    (["--out", "{tmp}/v.avi"], ["'.avi'", ".gif or .mp4"]),
    (["--out", "{tmp}/v.gif", "--goal-schedule", "1:2,x"], ["--goal-schedule", "'x' is not STEP:GOAL"]),
    (["--out", "{tmp}/v.gif", "--goal-schedule", "5:2"], ["first entry must be for step 1"]),
    (["--out", "{tmp}/v.gif", "--goal-schedule", "1:2,9:3,4:5"], ["steps must increase"]),
    (["--out", "{tmp}/v.gif", "--goal-schedule", "1:2,1500:3"], ["step 1500 is after", "1000"]),
    (["--out", "{tmp}/v.gif", "--injury", "temporary", "--steps", "100"], ["--window 501 549", "100 steps"]),
    (["--out", "{tmp}/v.gif", "--steps", "0"], ["--steps 0"]),
    (["--out", "{tmp}/v.mp4", "--width", "101"], ["even"]),
])
def test_bad_input_is_one_error_line(tiny_runs, tmp_path, capsys, extra, words):
    argv = ["render", str(tiny_runs["plastic"]), *(a.replace("{tmp}", str(tmp_path)) for a in extra)]
    assert main(argv) == 2
    err = _error_line(capsys)
    assert all(w in err for w in words), err
    assert not list(tmp_path.iterdir())


def test_not_a_run_dir(tmp_path, capsys):
    assert main(["render", str(tmp_path), "--out", str(tmp_path / "v.gif")]) == 2
    assert "is not a pdlf run" in _error_line(capsys)


def test_goal_and_schedule_exclude_each_other(tiny_runs, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["render", str(tiny_runs["plastic"]), "--goal", "2", "--goal-schedule", "1:2",
              "--out", str(tmp_path / "v.gif")])
    assert "not allowed with argument" in capsys.readouterr().err


def test_missing_mp4_encoder_names_the_install(tiny_runs, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "av", None)  # `import av` now fails
    assert main(["render", str(tiny_runs["plastic"]), "--out", str(tmp_path / "v.mp4")]) == 2
    assert "pip install 'pdlf[video]'" in _error_line(capsys)


def test_missing_gl_names_the_packages(monkeypatch):
    render.gl_backend.cache_clear()
    try:
        monkeypatch.delenv("MUJOCO_GL", raising=False)
        monkeypatch.setattr(render, "_probe", lambda backend: f"lib{backend} not found")
        with pytest.raises(render.RenderSetupError) as err:
            render.gl_backend()
        msg = str(err.value)
        assert "\n" not in msg and "libegl1 libegl-mesa0" in msg and "libosmesa6" in msg and "libegl not found" in msg
        render.gl_backend.cache_clear()
        monkeypatch.setenv("MUJOCO_GL", "osmesa")
        with pytest.raises(render.RenderSetupError, match="MUJOCO_GL=osmesa .*libosmesa6"):
            render.gl_backend()
        render.gl_backend.cache_clear()
        monkeypatch.setenv("MUJOCO_GL", "wgl")
        with pytest.raises(render.RenderSetupError, match="MUJOCO_GL=wgl cannot render"):
            render.gl_backend()
    finally:
        render.gl_backend.cache_clear()


# ------------------------------------------------------------------------------ goal switching
def _episode(goal: float, schedule, bind: bool, steps: int = 30) -> np.ndarray:
    """Per-step rewards ``[steps]`` of one halfcheetah_vel episode of a fixed random plastic agent."""
    env = make_batched("halfcheetah_vel", 1, max_steps=steps)
    agent = PlasticSNN(env.obs_dim, env.act_dim, AgentConfig(hidden=(16,)), RuleConfig(name="pdlf"))
    genome = torch.randn(1, agent.layout.size, generator=torch.Generator().manual_seed(3)) * 0.5
    switch = GoalSwitch(schedule, env.goal_dim, env=env if bind else None)
    res = rollout(agent, env, genome, np.array([goal]), np.array([7]), agent_seeds=7,
                  perturbations=[switch], record_rewards=True)
    return res.rewards[:, 0]


def test_goal_switch_reaches_the_reward():
    # the agent sees goal 2 for steps 1-10 and 6 from step 11 in all three episodes, so it acts the
    # same; only the goal the env rewards differs
    switched = _episode(2.0, [(1, 2.0), (11, 6.0)], bind=True)
    seen_only = _episode(2.0, [(1, 2.0), (11, 6.0)], bind=False)  # env keeps goal 2
    always_6 = _episode(6.0, [(1, 2.0), (11, 6.0)], bind=False)  # env has goal 6 from the start
    np.testing.assert_array_equal(switched[:10], seen_only[:10])
    np.testing.assert_array_equal(switched[10:], always_6[10:])
    assert np.abs(switched[10:] - seen_only[10:]).min() > 0  # the reward did change


def test_set_goals_switches_reward_and_observation():
    # halfcheetah_vel: reward = -|v - goal| - 0.01 |a|²; the goal does not touch the physics
    actions = np.random.default_rng(0).uniform(-1, 1, size=(12, 1, 6))
    envs = [make_batched("halfcheetah_vel", 1) for _ in range(3)]
    for env, goal in zip(envs, (2.0, 2.0, 5.0)):
        env.reset(np.array([goal]), np.array([4]))
    out = [[env.step(a) for a in actions[:6]] for env in envs]
    envs[0].set_goals(np.array([5.0]))
    out = [o + [env.step(a) for a in actions[6:]] for o, env in zip(out, envs)]
    rewards = np.array([[r[0] for _, r, _ in o] for o in out])  # [env, step]
    np.testing.assert_array_equal(rewards[0, :6], rewards[1, :6])
    np.testing.assert_array_equal(rewards[0, 6:], rewards[2, 6:])
    assert out[0][-1][0][0, -1] == 5.0 and out[1][-1][0][0, -1] == 2.0  # goal column of the observation
    with pytest.raises(GoalRangeError):
        envs[0].set_goals(np.array([12.0]))
    model, data = envs[0].physics(0)
    assert data.time > 0 and model.nq == data.qpos.size
    with pytest.raises(ConfigError, match="cannot switch its goal"):
        copy = make_batched("copy", 1)  # a task without goal switching
        copy.reset(np.array([0.0]), np.array([0]))
        copy.set_goals(np.array([0.0]))
