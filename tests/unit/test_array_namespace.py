"""The locomotion kernels give the same numbers on torch tensors as on numpy arrays
(`pdlf.array_namespace`): MuJoCo Warp's device-resident path runs them on tensors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pdlf.array_namespace import NUMPY_NAMES, namespace, torch_namespace
from pdlf.envs.vector import KERNEL_ENVS


def test_namespace_picks_numpy_or_torch():
    assert namespace(np.zeros(2)) is np and namespace([1.0]) is np
    assert namespace(torch.zeros(2)) is torch_namespace
    assert all(hasattr(np, n) and hasattr(torch_namespace, n) for n in NUMPY_NAMES)
    z = torch_namespace.zeros_like(torch.ones(3), dtype=bool)
    assert z.dtype == torch.bool and not z.any()


@pytest.mark.parametrize("task", sorted(KERNEL_ENVS))
def test_kernels_agree_on_numpy_and_torch(task):
    env_cls = KERNEL_ENVS[task]
    kernel, model = env_cls.kernel, env_cls().model
    rng = np.random.default_rng(0)
    B = 7
    qpos = rng.normal(0, 0.5, (B, model.nq))
    qvel = rng.normal(0, 3.0, (B, model.nv))
    qpos[:, 1:3] = rng.uniform(-0.5, 1.2, (B, 2))  # heights and angles on both sides of the healthy bounds
    qvel[0, 0] = np.inf  # a non-finite state
    goal = rng.uniform(env_cls.task.goal_low, env_cls.task.goal_high, B)
    action = rng.uniform(-1.5, 1.5, (B, model.nu))
    vel = rng.normal(0, 2, (B, kernel.track_batch(type("S", (), {"qpos": qpos, "subtree_com": np.zeros((B, model.nbody, 3))})).shape[1]))
    cfrc = rng.normal(0, 1.0, (B, model.nbody, 6)) if kernel.needs_cfrc else None
    t = {k: None if v is None else torch.from_numpy(v) for k, v in
         dict(qpos=qpos, qvel=qvel, goal=goal, action=action, vel=vel, cfrc=cfrc).items()}
    np.testing.assert_allclose(kernel.observe(t["qpos"], t["qvel"], t["goal"]).numpy(), kernel.observe(qpos, qvel, goal), rtol=1e-15)
    r_np, terms_np = kernel.reward(vel, action, goal, qpos, qvel, cfrc)
    r_t, terms_t = kernel.reward(t["vel"], t["action"], t["goal"], t["qpos"], t["qvel"], t["cfrc"])
    np.testing.assert_allclose(r_t.numpy(), r_np, rtol=1e-12, atol=1e-12)
    assert terms_t.keys() == terms_np.keys()
    done_np = kernel.terminated(qpos, qvel)
    done_t = kernel.terminated(t["qpos"], t["qvel"])
    assert done_t.dtype == torch.bool and done_t.numpy().tolist() == done_np.tolist()
