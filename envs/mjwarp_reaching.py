"""The target-reaching tasks (fetch, ur5e) on MuJoCo Warp: `MjWarpBatchedEnv`'s worlds, graph and
device-resident stepping, with targets that are hit and drawn again on the device.

``make_batched("fetch" | "ur5e", B, backend="mjwarp", device=...)`` builds a `MjWarpReachEnv`.
Each world is one member; the captured step runs the ``frame_skip`` physics steps and then the
kinematics refresh the observation reads (``kinematics``, ``com_pos``, ``com_vel``, as the
gymnasium env's `_refresh`). Observations and rewards come from the task's
`pdlf.envs.reaching_kernels.ReachKernel`, the code the gymnasium env runs on its one world.

Targets: the C path draws a new target from the member's ``np_random`` at every hit (an angle, then
a distance). Nothing else draws from that generator during an episode, so `reset` draws, per
member, the first target, the initial state and then as many further targets as the episode has
steps (at most one hit per step), in the C path's order, and uploads them: on the device a hit
advances the member's index into its own sequence. The targets are therefore the C path's, to
float32 rounding, without a host round trip.

Both contracts are served: `reset_tensors` / `step_tensors` (tensors on the device, used by the
rollout loop with ``on_device=True``) and `reset` / `step` (numpy, through a copy of the device
results). Goals cannot be switched within an episode (as on the C path), and done members are
frozen and their worlds reset, as in `MjWarpBatchedEnv`.
"""

from __future__ import annotations

import numpy as np
import torch
from gymnasium.utils import seeding

from pdlf.envs.mjwarp_batched import MjWarpBatchedEnv
from pdlf.envs.reaching_kernels import STATE_FIELDS, distance_and_direction
from pdlf.envs.target_reaching import TWO_PI, TargetReachEnv
from pdlf.envs.vector import BatchedEnv


class MjWarpReachEnv(MjWarpBatchedEnv):
    """`B` members of fetch or ur5e on MuJoCo Warp (see the module docstring).

    Args:
        env_cls: the task's gymnasium env class (`pdlf.envs.fetch.FetchEnv`,
            `pdlf.envs.ur5e.UR5eEnv`); its instance supplies the model, kernel and draws.
        batch_size, max_steps, extrapolate, device, friction_cone, capture, capacity: as
            `MjWarpBatchedEnv`.
    """

    STATE_FIELDS = tuple(dict.fromkeys((*MjWarpBatchedEnv.STATE_FIELDS, *STATE_FIELDS)))

    def __init__(self, env_cls: type[TargetReachEnv], batch_size: int, max_steps: int | None = None,
                 extrapolate: bool = False, **kwargs) -> None:
        super().__init__(env_cls, batch_size, max_steps, extrapolate, **kwargs)
        self._hit_radius = float(env_cls.hit_radius)
        self._drawn_targets: np.ndarray | None = None  # [B, max_steps + 1, 3], drawn at reset
        self._targets_t: torch.Tensor | None = None  # the same on the device: each member's targets in order
        self._hits_t = self._target_t = self._point_t = None

    # ------------------------------------------------------------------------- episode start
    def _initial_states(self, goals: np.ndarray, seeds: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """``(qpos0 [B, nq], qvel0 [B, nv])``, drawn from each member's ``np_random`` in the C
        path's order: first target, initial state, then the target after each possible hit (an
        angle U[0, 2 pi), then a distance); the targets wait in `_drawn_targets` ``[B, K + 1, 3]``."""
        t = self._template
        B, K = self.batch_size, self.max_steps
        m = t.model
        qpos0, qvel0 = np.zeros((B, m.nq)), np.zeros((B, m.nv))
        targets = np.zeros((B, K + 1, 3))
        d_min, d_span = t.target_distance
        for b, seed in enumerate(seeds):
            rng, _ = seeding.np_random(seed)
            targets[b, 0] = t._draw_target(float(goals[b]), rng)
            qpos0[b], qvel0[b] = t._initial_state(rng)
            u = rng.random(2 * K)  # the scalar draws of K hits, in order: (angle, distance) pairs
            angle, dist = TWO_PI * u[0::2], d_min + d_span * u[1::2]
            targets[b, 1:] = np.stack([dist * np.cos(angle), dist * np.sin(angle), np.full(K, t.target_height)], axis=1)
        self._drawn_targets = targets
        return qpos0, qvel0

    # -------------------------------------------------------------------- device-resident path
    def _first_device_obs(self) -> torch.Tensor:
        self._targets_t = torch.as_tensor(self._drawn_targets, dtype=torch.float32, device=self.torch_device)
        self._hits_t = torch.zeros(self.batch_size, dtype=torch.int64, device=self.torch_device)
        self._target_t = self._targets_t[:, 0].clone()
        self._point_t = self._kernel.point(self.state).clone()
        return self._kernel.observe(self.state, self._target_t)

    def _device_outcome(self, actions: torch.Tensor, live: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """A member whose point comes within the hit radius is paid the hit term and its next
        target is placed at once (the observation already shows it); reaching never ends early."""
        s, kernel = self.state, self._kernel
        point = kernel.point(s)
        delta = point - self._point_t
        self._point_t.copy_(point)
        distance, direction = distance_and_direction(kernel.target_offset(point, self._target_t))
        hit = live & (distance < self._hit_radius)
        reward = sum(kernel.reward_terms(s, delta, direction, hit).values())
        self._hits_t += hit
        rows = torch.arange(self.batch_size, device=self.torch_device)
        self._target_t = torch.where(hit[:, None], self._targets_t[rows, self._hits_t], self._target_t)
        return kernel.observe(s, self._target_t), reward, torch.zeros_like(live)

    @property
    def targets(self) -> torch.Tensor:
        """``[B, 3]`` the members' current targets (m, world frame; on the device)."""
        return self._target_t

    @property
    def hits(self) -> torch.Tensor:
        """``[B]`` hits of each member this episode (on the device)."""
        return self._hits_t

    # ------------------------------------------------------------------------ numpy contract
    def _reset(self, goals: np.ndarray, seeds: list[int]) -> np.ndarray:
        obs = self.reset_tensors(goals, np.asarray(seeds, dtype=np.int64))
        return obs.to("cpu", torch.float64).numpy()

    def _step(self, actions, active):
        obs, reward, _ = self.step_tensors(torch.from_numpy(actions))
        self.check_capacity()
        terminated = np.zeros(self.batch_size, dtype=bool)  # reaching never ends early
        return obs.to("cpu", torch.float64).numpy(), reward.to("cpu", torch.float64).numpy(), terminated

    def _set_goals(self, goals: np.ndarray) -> None:
        BatchedEnv._set_goals(self, goals)  # the goal is the first target only: nothing to switch
