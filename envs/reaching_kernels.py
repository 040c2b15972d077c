"""Batched observations and rewards of the target-reaching tasks (fetch, ur5e), for numpy or torch.

The gymnasium envs (`pdlf.envs.fetch.FetchEnv`, `pdlf.envs.ur5e.UR5eEnv`) call these with one
world (``B = 1``, views of their `MjData`); MuJoCo Warp (`pdlf.envs.mjwarp_reaching`) calls them
with all its worlds, as torch tensors on the device. The functions use only
``xp = pdlf.array_namespace.namespace(x)``, so both run the same code.

A *state* is any object with the simulator's arrays, world axis first (`MjData` fields with a
leading axis added, or MuJoCo Warp's): ``qpos [B, nq]``, ``qvel [B, nv]``, ``xpos [B, nbody, 3]``,
``xmat [B, nbody, 9]`` (or ``[B, nbody, 3, 3]``), ``cvel [B, nbody, 6]``, ``subtree_com
[B, nbody, 3]``, ``site_xpos [B, nsite, 3]``, ``site_xmat [B, nsite, 9]`` (or 3×3) and
``sensordata [B, nsensordata]``: positions in m, velocities in m/s and rad/s, all after the
step's kinematics refresh (`pdlf.envs.target_reaching.TargetReachEnv._refresh`).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import mujoco
import numpy as np

from pdlf.array_namespace import namespace

STATE_FIELDS = ("qpos", "qvel", "xpos", "xmat", "cvel", "subtree_com", "site_xpos", "site_xmat", "sensordata")


def one_world(data: mujoco.MjData) -> SimpleNamespace:
    """The state of one `MjData` as a batch of one world (views, ``B = 1``)."""
    return SimpleNamespace(**{f: getattr(data, f)[None] for f in STATE_FIELDS})


def rotations(xmat: Any) -> Any:
    """``[..., 9]`` or ``[..., 3, 3]`` row-major rotation matrices as ``[..., 3, 3]``."""
    return xmat if xmat.shape[-1] == 3 else xmat.reshape(*xmat.shape[:-1], 3, 3)


def linear_velocities(state: Any, ids: np.ndarray, root_ids: np.ndarray) -> Any:
    """World-frame linear velocity of each body's frame origin, ``[B, len(ids), 3]`` (m/s).

    As `mujoco.mj_objectVelocity` (``mjOBJ_XBODY``, world orientation): ``cvel`` holds (angular,
    linear) velocity about the subtree centre of mass of the body's root (``root_ids``).
    """
    xp = namespace(state.cvel)
    cvel = state.cvel[:, ids]
    offset = state.xpos[:, ids] - state.subtree_com[:, root_ids]
    w = cvel[..., :3]
    cross = xp.stack(
        [w[..., 1] * offset[..., 2] - w[..., 2] * offset[..., 1],
         w[..., 2] * offset[..., 0] - w[..., 0] * offset[..., 2],
         w[..., 0] * offset[..., 1] - w[..., 1] * offset[..., 0]],
        axis=-1,
    )
    return cvel[..., 3:] + cross


def distance_and_direction(offset: Any) -> tuple[Any, Any]:
    """``(|offset| [B], offset / max(|offset|, 1e-9) [B, 3])`` of offsets ``[B, 3]``."""
    xp = namespace(offset)
    distance = xp.sqrt(xp.sum(offset * offset, axis=-1))
    return distance, offset / xp.clip(distance, 1e-9, None)[:, None]


def to_frame(rot: Any, v: Any) -> Any:
    """``rot^T v`` per world: vectors ``v [B, 3]`` (or ``[B, n, 3]``) in the frame of ``rot [B, 3, 3]``."""
    xp = namespace(v)
    if v.ndim == 2:
        return xp.einsum("bji,bj->bi", rot, v)
    return xp.einsum("bji,bnj->bni", rot, v)


class ReachKernel:
    """Point, target offset, observation and reward terms of one target-reaching task.

    Made from the task's `MjModel` (it reads the body, site and sensor ids once).

    Attributes:
        needs_cfrc: False (no contact-force reward: MuJoCo Warp need not run rne_postconstraint).
        needs_refresh: True: observations read the kinematics of the state after the step.
    """

    needs_cfrc = False
    needs_refresh = True

    def point(self, state: Any) -> Any:
        """``[B, 3]`` world position of the point that reaches (m)."""
        raise NotImplementedError

    def target_offset(self, point: Any, target: Any) -> Any:
        """``[B, 3]`` offset from ``point`` to ``target`` that the distance and direction use."""
        raise NotImplementedError

    def observe(self, state: Any, target: Any) -> Any:
        """``[B, obs_dim]`` observations for targets ``target [B, 3]``."""
        raise NotImplementedError

    def reward_terms(self, state: Any, delta: Any, direction: Any, hit: Any) -> dict[str, Any]:
        """Reward terms ``[B]`` each: ``delta [B, 3]`` the point's displacement over the step,
        ``direction [B, 3]`` the unit vector to the target, ``hit [B]`` bool."""
        raise NotImplementedError


class FetchKernel(ReachKernel):
    """fetch (`pdlf.envs.fetch`): the dog's torso runs to targets on the floor."""

    def __init__(self, model: mujoco.MjModel, limb_bodies: tuple[str, ...], feet: tuple[str, ...], dt: float) -> None:
        self.torso = model.body("torso").id
        self.limbs = np.array([model.body(n).id for n in limb_bodies])
        self.all = np.concatenate([[self.torso], self.limbs])
        self.roots = model.body_rootid[self.all]
        self.touch = np.concatenate([model.sensor(n).adr for n in feet])
        self.dt = float(dt)

    def rotation(self, state: Any) -> Any:
        return rotations(state.xmat[:, self.torso])

    def point(self, state):
        return state.xpos[:, self.torso]

    def target_offset(self, point, target):
        offset = target - point
        xp = namespace(offset)
        return xp.concatenate([offset[:, :2], xp.zeros_like(offset[:, 2:])], axis=1)  # on the floor: horizontal

    def observe(self, state, target):
        xp = namespace(state.xpos)
        rot = self.rotation(state)
        torso = state.xpos[:, self.torso]
        distance, direction = distance_and_direction(self.target_offset(torso, target))
        limbs = to_frame(rot, state.xpos[:, self.limbs] - torso[:, None])
        velocities = to_frame(rot, linear_velocities(state, self.all, self.roots))
        angular = to_frame(rot, state.cvel[:, self.torso, :3])
        contacts = (state.sensordata[:, self.touch] > 0.0) * 1.0
        B = torso.shape[0]
        return xp.concatenate(
            [rot[:, :, 0], rot[:, :, 2], distance[:, None], to_frame(rot, direction),
             limbs.reshape(B, -1), velocities.reshape(B, -1), angular, contacts],
            axis=1,
        )

    def reward_terms(self, state, delta, direction, hit):
        xp = namespace(delta)
        rot = self.rotation(state)
        return {
            "reward_height": 0.1 * self.dt * state.xpos[:, self.torso, 2],
            "reward_move": 0.1 * xp.sum(delta * direction, axis=-1),
            "reward_upright": 0.1 * self.dt * rot[:, 2, 2],
            "reward_hit": xp.where(hit, xp.sum(rot[:, :, 0] * direction, axis=-1), 0.0),
        }


class UR5eKernel(ReachKernel):
    """ur5e (`pdlf.envs.ur5e`): the arm's wrist reaches targets in the air."""

    def __init__(self, model: mujoco.MjModel, links: tuple[str, ...]) -> None:
        self.wrist = model.site("wrist").id
        self.links = np.array([model.body(n).id for n in links])
        self.roots = model.body_rootid[self.links]

    def rotation(self, state: Any) -> Any:
        return rotations(state.site_xmat[:, self.wrist])

    def point(self, state):
        return state.site_xpos[:, self.wrist]

    def target_offset(self, point, target):
        return target - point

    def observe(self, state, target):
        xp = namespace(state.xpos)
        rot = self.rotation(state)
        distance, direction = distance_and_direction(self.target_offset(self.point(state), target))
        B = rot.shape[0]
        return xp.concatenate(
            [rot[:, :, 1], rot[:, :, 2], distance[:, None], to_frame(rot, direction),
             state.xpos[:, self.links].reshape(B, -1),
             linear_velocities(state, self.links, self.roots).reshape(B, -1),
             state.qpos, state.qvel],
            axis=1,
        )

    def reward_terms(self, state, delta, direction, hit):
        xp = namespace(delta)
        return {
            "reward_move": 0.1 * xp.sum(delta * direction, axis=-1),
            "reward_hit": xp.where(hit, 1.0, 0.0 * delta[:, 0]),
        }
