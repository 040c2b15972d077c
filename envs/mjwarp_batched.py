"""The locomotion tasks on MuJoCo Warp: `B` worlds of one model stepped together on a device.

``make_batched(task, B, backend="mjwarp", device=...)`` (a run config's ``env.backend: mjwarp``)
builds a `MjWarpBatchedEnv`: the `BatchedEnv` contract of `pdlf.envs.vector` (goals and seeds in,
``[B, act_dim]`` actions in, float64 ``obs``/``reward`` and bool ``done`` out, members frozen once
done) for ant_dir, swimmer_dir, halfcheetah_vel and hopper_vel, simulated by MuJoCo Warp
(``mujoco_warp``, on NVIDIA Warp) on ``device`` (``cpu``, ``cuda``, ``cuda:N``). Its subclass
`pdlf.envs.mjwarp_reaching.MjWarpReachEnv` does the same for fetch and ur5e.

How it runs:

- One world per batch member, in one ``mjw.Data`` of ``B`` worlds. The state lives on the device;
  torch tensors made with ``wp.to_torch`` share its memory (``qpos [B, nq]``, ``qvel [B, nv]``,
  ``ctrl [B, nu]``, ``subtree_com [B, nbody, 3]``, ``cfrc_ext [B, nbody, 6]``), so actions go in
  and the state comes out without staging copies.
- The ``frame_skip`` physics steps of one env step, plus ``rne_postconstraint`` where the reward
  reads ``cfrc_ext`` (ant_dir), are captured once as a graph (a CUDA graph on a GPU; Warp
  replays it on the CPU too) and launched once per env step.
- Observations, rewards and terminations come from the task's own `LocomotionKernel` (the same
  functions the C path and the gymnasium env call; they take numpy arrays and torch tensors
  alike). Two ways to step share the physics:

  - the `BatchedEnv` contract (`reset`, `step`: numpy in and out), on one float64 host copy of
    the state per step (one device-to-host transfer of ``B × (nq + nv + k + 6·nbody)`` floats on
    a GPU): what evaluation, injury and analysis use, with their hooks on numpy arrays;
  - the device-resident one (`reset_tensors`, `step_tensors`; ``resident = True``): actions in,
    float32 observations and rewards and bool ``done`` out as torch tensors on the device,
    computed there by the same kernels, with done members frozen by `torch.where`. Nothing is
    copied to the host during an episode and nothing waits on the device: capacity overflows
    are gathered on the device and checked once, by `check_capacity`, after the episode. The
    rollout loop uses it with ``on_device=True`` (training: `pdlf.workers.RolloutEngine`).
- A member that is done is reset on the device (``mjw.reset_data`` with a mask, inside the
  captured step) at the next step and driven with zero control from then on, so a done world
  cannot wander off and crowd the contact buffers the live worlds share; its observation stays
  frozen, and `state` shows its terminal state until that next step.
- Initial states are drawn exactly as the C path draws them (``gymnasium.utils.seeding`` with the
  member's seed, the kernel's ``reset_state``), then rounded to float32: the same seed starts
  both backends within float32 rounding of each other.

Differences from C MuJoCo (``BACKENDS.md``, ``tests/envs/test_mjwarp.py``): float32 throughout.
From the same state and actions, swimmer, hopper and half-cheetah keep qpos within 1e-4 of C
MuJoCo over 100 env steps (measured 1e-5, 6e-7, 1e-6) wherever C MuJoCo itself is not chaotic;
ant_dir agrees only under ``friction_cone="elliptic"`` (6e-6 over 12 steps at full torque, 4e-4
over 100 steps standing; the engines pick different contact frames for the default pyramidal
cone, 0.4 standing, where only statistics agree). Contact and constraint capacities are not read
from the XML: `CAPACITY` sets them per task, and a world that overflows them raises
`RuntimeError` rather than silently dropping contacts. On Warp's CPU device the physics runs 3-10x
slower than C MuJoCo (for tests and small runs); the speed is for GPUs.

Warp and MuJoCo Warp are imported when the first env is made (`load_warp`), never on
``import pdlf.envs``; compiled kernels are cached under ``$WARP_CACHE_PATH`` (default
``~/.cache/pdlf-warp``), so only the first run on a machine compiles (~20 s on the CPU).
"""

from __future__ import annotations

import contextlib
import os
import warnings
from types import ModuleType, SimpleNamespace
from typing import Any, Iterator

import numpy as np
import torch
from gymnasium.utils import seeding

from pdlf.envs.locomotion import GoalEnvMixin, set_friction_cone
from pdlf.envs.vector import BatchedEnv
from pdlf.errors import ConfigError, ShapeError

INSTALL = "pip install -e '.[gpu]'"
DEFAULT_CACHE = "~/.cache/pdlf-warp"  # kernel cache when WARP_CACHE_PATH is not set

# per-world contact (nconmax) and constraint-row (njmax) capacities. Largest seen in C MuJoCo over
# 4 x 1000 steps of random actions up to 3x the actuator range (ncon, nefc): swimmer 0/2,
# hopper 5/18, half-cheetah 7/31, ant 5/25, fetch 5/25, ur5e 0/1; these leave 2x or more headroom.
CAPACITY: dict[str, tuple[int, int]] = {
    "swimmer_dir": (8, 16),
    "hopper_vel": (16, 64),
    "halfcheetah_vel": (16, 64),
    "ant_dir": (16, 64),
    "fetch": (16, 64),  # C MuJoCo: 5 / 25
    "ur5e": (4, 16),  # C MuJoCo: 0 / 1 (no contacts; a joint limit)
}
# overflow bits that mean lost contacts or constraints (not: solver iteration limits)
_CAPACITY_BITS = ("NEFC", "NJMAX_NNZ", "BROADPHASE", "NARROWPHASE", "CCD")
_WARP_READY = False  # load_warp has configured and initialised Warp in this process


def load_warp() -> tuple[ModuleType, ModuleType]:
    """``(warp, mujoco_warp)``, imported and initialised once per process.

    Warp's informational log is silenced (warnings still print) and its kernel cache goes to
    ``$WARP_CACHE_PATH`` or `DEFAULT_CACHE`. Missing packages raise `ConfigError` naming
    `INSTALL`.
    """
    try:
        import warp as wp
        import mujoco_warp as mjw
    except ImportError as err:
        raise ConfigError(f"env.backend=mjwarp needs MuJoCo Warp ({err.name} not installed): {INSTALL}") from None
    global _WARP_READY
    if not _WARP_READY:  # settings read by wp.init; harmless if someone initialised Warp already
        if wp.config.log_level < wp.LOG_WARNING:
            wp.config.log_level = wp.LOG_WARNING
        if wp.config.kernel_cache_dir is None and "WARP_CACHE_PATH" not in os.environ:
            wp.config.kernel_cache_dir = os.path.expanduser(DEFAULT_CACHE)
        wp.init()
        _WARP_READY = True
    return wp, mjw


def warp_device(wp: ModuleType, device: str) -> Any:
    """The Warp device called ``device`` (``cpu``, ``cuda``, ``cuda:N``); `ConfigError` if it is
    absent, or if torch (whose tensors share the state) cannot reach it."""
    if device.startswith("cuda") and not wp.is_cuda_available():
        raise ConfigError(f"env.device={device!r}: Warp finds no CUDA device here; use env.device=cpu"
                          " (evaluating a run: --device cpu)")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"env.device={device!r}: this torch ({torch.__version__}) has no CUDA; install a CUDA build of torch"
        )
    try:
        return wp.get_device(device)
    except (RuntimeError, ValueError) as err:
        available = ", ".join(str(d) for d in wp.get_devices())
        raise ConfigError(f"env.device={device!r}: {err} (Warp's devices: {available})") from None


class MjWarpBatchedEnv(BatchedEnv):
    """`B` members of a locomotion task on MuJoCo Warp (see the module docstring).

    Args:
        env_cls: the task's gymnasium env class (it carries the kernel, model and reset noise).
        batch_size, max_steps, extrapolate: as `BatchedEnv`.
        device: Warp device, ``cpu``, ``cuda`` or ``cuda:N``.
        friction_cone: ``pyramidal`` or ``elliptic``, set on the model before it is copied to
            the device.
        capture: replay the env step as one captured graph (False: launch every kernel each step;
            the same numbers, slower).
        capacity: ``(nconmax, njmax)`` per world; default `CAPACITY` of the task.

    Attributes:
        device: the Warp device; ``torch_device`` the torch device of the state tensors.
        state: the state tensors (sharing memory with the simulator): ``qpos [B, nq]``,
            ``qvel [B, nv]``, ``ctrl [B, nu]``, ``subtree_com [B, nbody, 3]``,
            ``cfrc_ext [B, nbody, 6]``, float32, world ``b`` = member ``b``.
    """

    # the simulator arrays shared as torch tensors (`state`); subclasses add what their kernels read
    STATE_FIELDS: tuple[str, ...] = ("qpos", "qvel", "ctrl", "subtree_com", "cfrc_ext")

    def __init__(
        self,
        env_cls: type[GoalEnvMixin],
        batch_size: int,
        max_steps: int | None = None,
        extrapolate: bool = False,
        *,
        device: str = "cpu",
        friction_cone: str = "pyramidal",
        capture: bool = True,
        capacity: tuple[int, int] | None = None,
    ) -> None:
        super().__init__(env_cls.task, batch_size, max_steps, extrapolate)
        wp, mjw = load_warp()
        self._wp, self._mjw = wp, mjw
        self._template = env_cls()
        self._kernel = self._template.kernel
        mjm = self._template.model
        set_friction_cone(mjm, friction_cone)
        self._dt = self._template.dt
        self._frame_skip = self._template.frame_skip
        self._noise = self._template._reset_noise_scale
        self.device = warp_device(wp, device)
        nconmax, njmax = capacity or CAPACITY[self.spec.name]
        B = self.batch_size
        with wp.ScopedDevice(self.device):
            self._m = mjw.put_model(mjm)
            self._d = mjw.make_data(mjm, nworld=B, nconmax=nconmax, njmax=njmax)
            self._reset_mask = wp.zeros(B, dtype=bool)
        d = self._d
        self.state = SimpleNamespace(**{name: wp.to_torch(getattr(d, name)) for name in self.STATE_FIELDS})
        self._overflow = wp.to_torch(d.overflow)
        self._mask_t = wp.to_torch(self._reset_mask)
        self.torch_device = self.state.qpos.device
        # torch work on the state runs on Warp's stream of the device, so both stay in order
        self._torch_stream = (
            torch.cuda.ExternalStream(wp.get_stream(self.device).cuda_stream, device=self.torch_device)
            if self.device.is_cuda else None
        )
        self._capacity_bits = sum(int(getattr(mjw.OverflowType, name)) for name in _CAPACITY_BITS)
        self._goals = np.zeros(B, dtype=np.float64)
        self._parked = np.zeros(B, dtype=bool)  # done worlds already reset (see `_step`)
        self._track: np.ndarray | None = None  # host path: `track` after the last step (`_reset`)
        with self.device_scope():
            self._goals_t = torch.zeros(B, dtype=torch.float32, device=self.torch_device)
        # device-resident episode state (`reset_tensors`): set there
        self._done_t: torch.Tensor | None = None
        self._parked_t = self._overflowed_t = self._obs_t = self._track_t = None
        self._device_steps = 0
        self._graph = None
        self._reset_in_graph = True  # the captured step begins with the masked reset (`_warm_up`)
        self._warm_up(capture)

    # ----------------------------------------------------------------------------- device work
    @contextlib.contextmanager
    def device_scope(self) -> Iterator[None]:
        """Warp launches on `device`, and torch work on Warp's CUDA stream there, so both run in
        one order. The rollout loop runs a whole device-resident episode, the agents' work
        included, in this scope: one stream, no hand-offs between streams."""
        with self._wp.ScopedDevice(self.device):
            if self._torch_stream is not None:
                with torch.cuda.stream(self._torch_stream):
                    yield
            else:
                yield

    def _env_step_kernels(self, reset: bool = True) -> None:
        """One env step: reset the worlds flagged in the reset mask (members done since the last
        step; ``reset=False``: not), then ``frame_skip`` physics steps, then ``cfrc_ext`` if the
        reward reads it."""
        if reset:
            self._mjw.reset_data(self._m, self._d, reset=self._reset_mask)
        for _ in range(self._frame_skip):
            self._mjw.step(self._m, self._d)
        if self._kernel.needs_cfrc:  # as gymnasium's MujocoEnv: mj_rnePostConstraint after the step
            self._mjw.rne_postconstraint(self._m, self._d)
        if getattr(self._kernel, "needs_refresh", False):  # kinematics of the state after the step
            self._mjw.kinematics(self._m, self._d)
            self._mjw.com_pos(self._m, self._d)
            self._mjw.com_vel(self._m, self._d)

    def _warm_up(self, capture: bool) -> None:
        """Compile (or load from the cache) every kernel the env uses, then capture the step.

        MuJoCo Warp defines its kernels on first use, so one eager env step (with its masked
        reset) runs before the capture; the state it leaves is discarded by the next `reset`.
        """
        wp, mjw = self._wp, self._mjw
        with self.device_scope():
            mjw.reset_data(self._m, self._d)
            mjw.forward(self._m, self._d)
            self._env_step_kernels()
            if capture:
                try:
                    with wp.ScopedCapture() as cap:
                        self._env_step_kernels()
                except Exception as err:  # the masked reset will not capture here: run it eagerly
                    warnings.warn(f"MuJoCo Warp: the masked reset could not join the captured step ({err});"
                                  " it runs as separate launches", RuntimeWarning, stacklevel=2)
                    with wp.ScopedCapture() as cap:
                        self._env_step_kernels(reset=False)
                    self._reset_in_graph = False
                self._graph = cap.graph
            wp.synchronize_device(self.device)

    def _advance(self, park: np.ndarray | torch.Tensor) -> None:
        """One env step of every world, first resetting the worlds flagged in ``park [B]`` (bool,
        host or device): the captured graph, or the kernels one by one."""
        with self.device_scope():
            self._mask_t.copy_(torch.as_tensor(park))
            if self._graph is None:
                self._env_step_kernels()
                return
            if not self._reset_in_graph:
                self._mjw.reset_data(self._m, self._d, reset=self._reset_mask)
            self._wp.capture_launch(self._graph)

    def _read_state(self, live: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        """Host float64 copies ``(qpos [B, nq], qvel [B, nv], track [B, k], cfrc [B, nbody, 6] or
        None)`` in one device-to-host transfer; `RuntimeError` if a world flagged in ``live [B]``
        overflowed its capacity."""
        s, B = self.state, self.batch_size
        parts = [s.qpos, s.qvel, self._kernel.track_batch(s)]
        if self._kernel.needs_cfrc:
            parts.append(s.cfrc_ext.reshape(B, -1))
        with self.device_scope():
            flat = torch.cat(parts, dim=1).to("cpu", torch.float64).numpy()
            overflow = self._overflow.to("cpu").numpy()
        self._check_overflow(overflow, live)
        sizes = np.cumsum([p.shape[1] for p in parts])[:-1]
        pieces = np.split(flat, sizes, axis=1)
        cfrc = pieces[3].reshape(B, -1, 6) if self._kernel.needs_cfrc else None
        return pieces[0], pieces[1], pieces[2], cfrc

    def _check_overflow(self, overflow: np.ndarray, live: np.ndarray) -> None:
        bad = np.flatnonzero((overflow & self._capacity_bits).astype(bool) & live)
        if bad.size:
            flags = self._mjw.OverflowType(int(overflow[bad[0]]))
            raise RuntimeError(
                f"MuJoCo Warp overflowed its capacity in {bad.size} world(s) of {self.spec.name}"
                f" (world {bad[0]}: {flags!r}); contacts or constraints were dropped. Pass a larger"
                f" capacity=(nconmax, njmax) than {CAPACITY[self.spec.name]} to MjWarpBatchedEnv"
            )

    # ------------------------------------------------------------------------------ contract
    def _reset(self, goals: np.ndarray, seeds: list[int]) -> np.ndarray:
        self._start_episode(goals, seeds)
        qpos, qvel, track, _ = self._read_state(np.ones(self.batch_size, dtype=bool))
        self._track = track.copy()
        self._goals[:] = goals
        self._parked[:] = False
        return self._kernel.observe(qpos, qvel, self._goals)

    def _initial_states(self, goals: np.ndarray, seeds: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """``(qpos0 [B, nq], qvel0 [B, nv])``: each member's initial state, drawn on the host from
        its seed as the C path draws it (subclasses may draw more per member, in its order)."""
        m, kernel, B = self._template.model, self._kernel, self.batch_size
        qpos0 = np.zeros((B, m.nq), dtype=np.float64)
        qvel0 = np.zeros((B, m.nv), dtype=np.float64)
        init_qpos, init_qvel = self._template.init_qpos, self._template.init_qvel
        for b, seed in enumerate(seeds):  # the C path's draws, member by member
            rng, _ = seeding.np_random(seed)
            qpos0[b], qvel0[b] = kernel.reset_state(rng, init_qpos, init_qvel, self._noise)
        return qpos0, qvel0

    def _start_episode(self, goals: np.ndarray, seeds: list[int]) -> None:
        """Every world to its member's initial state (`_initial_states`), and the goals to the
        device; ``mj_forward`` fills the derived state (``subtree_com``, ``xpos``, ...)."""
        qpos0, qvel0 = self._initial_states(goals, seeds)
        s = self.state
        with self.device_scope():
            self._mjw.reset_data(self._m, self._d)
            s.qpos.copy_(torch.from_numpy(qpos0))
            s.qvel.copy_(torch.from_numpy(qvel0))
            self._mjw.forward(self._m, self._d)
            self._goals_t.copy_(torch.from_numpy(goals))

    def _set_goals(self, goals: np.ndarray) -> None:
        self._goals[:] = goals  # the kernel reads them for every later reward and observation
        with self.device_scope():
            self._goals_t.copy_(torch.from_numpy(goals))

    def _step(self, actions, active):
        live = np.zeros(self.batch_size, dtype=bool)
        live[active] = True
        park = ~live & ~self._parked  # done since the last step: back to the initial state
        self._parked |= park
        ctrl = np.where(live[:, None], actions, 0.0)  # parked worlds idle with zero control
        with self.device_scope():
            self.state.ctrl.copy_(torch.from_numpy(ctrl))
        self._advance(park)
        before = self._track.copy()
        qpos, qvel, track, cfrc = self._read_state(live)
        self._track[:] = track
        kernel = self._kernel
        vel = (track - before) / self._dt
        reward, _ = kernel.reward(vel, actions, self._goals, qpos, qvel, cfrc)
        terminated = kernel.terminated(qpos, qvel)
        return kernel.observe(qpos, qvel, self._goals), reward, terminated

    # ------------------------------------------------------------------- device-resident path
    resident = True  # `reset_tensors` / `step_tensors` keep an episode on the device

    def reset_tensors(self, goals: np.ndarray, seeds: np.ndarray) -> torch.Tensor:
        """`reset`, with the observations left on the device.

        Args:
            goals, seeds: ``[B]`` each, checked as `reset` checks them.

        Returns:
            ``[B, obs_dim]`` float32 observations on `torch_device`. From here on use only
            `step_tensors` (and `check_capacity`) until the next reset: the numpy contract's
            ``done`` and ``steps`` are not kept up to date on this path.
        """
        goals = self._checked_goals(goals)
        seeds = np.asarray(seeds)
        if seeds.shape != (self.batch_size,) or not np.issubdtype(seeds.dtype, np.integer):
            raise ShapeError(f"seeds must be {self.batch_size} integers, got shape {seeds.shape}, dtype {seeds.dtype}")
        self._start_episode(goals, [int(x) for x in seeds])
        self._goals[:] = goals
        with self.device_scope():
            self._obs_t = self._first_device_obs()
            self._done_t = torch.zeros(self.batch_size, dtype=torch.bool, device=self.torch_device)
            self._parked_t = torch.zeros_like(self._done_t)
            self._overflowed_t = torch.zeros_like(self._overflow)  # capacity bits seen, per world
        self._device_steps = 0
        self._was_reset = True
        self.done[:] = False
        return self._obs_t.clone()

    def step_tensors(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """`step` on the device: nothing is copied to the host and nothing waits on the device.

        Args:
            actions: ``[B, act_dim]`` tensor (any float dtype; moved to `torch_device` if it is
                elsewhere), unclipped as in `step`.

        Returns:
            ``obs [B, obs_dim]`` float32, ``reward [B]`` float32 (0 for members already done
            before this step), ``done [B]`` bool: tensors on `torch_device`. Members done before
            this step keep their observation; a step after every member is done changes nothing.
        """
        if self._done_t is None:
            raise RuntimeError("call reset_tensors(goals, seeds) before step_tensors()")
        if tuple(actions.shape) != (self.batch_size, self.act_dim):
            raise ShapeError(f"actions must have shape ({self.batch_size}, {self.act_dim}), got {tuple(actions.shape)}")
        with self.device_scope():
            actions = actions.to(self.torch_device, torch.float32)
            live = ~self._done_t
            park = self._done_t & ~self._parked_t  # done since the last step: back to the initial state
            self._parked_t |= park
            self.state.ctrl.copy_(torch.where(live[:, None], actions, 0.0))  # parked worlds idle with zero control
        self._advance(park)
        with self.device_scope():
            obs, reward, terminated = self._device_outcome(actions, live)
            self._obs_t = torch.where(live[:, None], obs, self._obs_t)
            self._overflowed_t |= torch.where(live, self._overflow & self._capacity_bits, 0)
            self._done_t = self._done_t | (live & terminated)
            self._device_steps += 1
            if self._device_steps >= self.max_steps:
                self._done_t = torch.ones_like(self._done_t)
            return self._obs_t.clone(), torch.where(live, reward, 0.0), self._done_t.clone()

    def _first_device_obs(self) -> torch.Tensor:
        """``[B, obs_dim]`` observations of the state `_start_episode` left (on the device)."""
        s = self.state
        self._track_t = self._kernel.track_batch(s).clone()
        return self._kernel.observe(s.qpos, s.qvel, self._goals_t)

    def _device_outcome(self, actions: torch.Tensor, live: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(obs [B, obs_dim], reward [B], terminated [B])`` of the step just simulated, for every
        world (`step_tensors` masks the members in ``live [B]``); ``actions [B, act_dim]`` float32."""
        s, kernel = self.state, self._kernel
        track = kernel.track_batch(s)
        vel = (track - self._track_t) / self._dt
        self._track_t.copy_(track)
        cfrc = s.cfrc_ext if kernel.needs_cfrc else None
        reward, _ = kernel.reward(vel, actions, self._goals_t, s.qpos, s.qvel, cfrc)
        return kernel.observe(s.qpos, s.qvel, self._goals_t), reward, kernel.terminated(s.qpos, s.qvel)

    def check_capacity(self) -> None:
        """`RuntimeError` if a live world overflowed its contact or constraint capacity during
        the device-resident episode (one small device-to-host copy)."""
        if self._overflowed_t is None:
            return
        with self.device_scope():
            seen = self._overflowed_t.to("cpu").numpy()
        self._check_overflow(seen, np.ones(self.batch_size, dtype=bool))
