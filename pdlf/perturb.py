"""Perturbations: hooks that `pdlf.rollout.rollout` calls around every step.

Damage is defined by what it does to synapses and neurons, so the same object applies the same
damage to a plastic agent and to a direct-weight agent (spec §5):

- `WeightErasure`: every fast weight set to 0 after each step of a window (PDLF's temporary
  injury: steps 501–549). Plastic weights regrow afterwards; direct weights stay 0.
- `Silencing`: transmission blocked during a window, weights kept (and plasticity paused).
- `NeuronLoss`: a fraction of hidden neurons blocked from the first step (synapses 0 and frozen).
- `SynapseErasure`: PDLF's permanent mode, a fresh random fraction of one layer's synapses
  erased after every step, drawn from a seed so both agent kinds get the same schedule.
- `MembraneReset`: membranes, spikes and traces zeroed during a window (working-memory test).
- `GoalSwitch`: the goal switched on a schedule: the observation's goal columns and, given
  the env, the env's own goal (so the reward follows).

Steps are counted from 1 (step ``k`` is the ``k``-th action of the episode), as in the papers, and
every hook receives that number (`pdlf.rollout.Perturbation`); windows are inclusive.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch

from pdlf.snn.network import PlasticSNN

if TYPE_CHECKING:
    from pdlf.envs.vector import BatchedEnv


class _Hook:
    """Default no-op hook methods."""

    def before_step(self, step: int, agent: PlasticSNN, obs: np.ndarray) -> np.ndarray | None:
        return None

    def after_step(self, step: int, agent: PlasticSNN, reward: np.ndarray) -> None:
        return None


@dataclass
class WeightErasure(_Hook):
    """Erase every fast weight after each of steps ``start..stop`` (inclusive, 1-based)."""

    start: int = 501
    stop: int = 549

    def after_step(self, step: int, agent: PlasticSNN, reward: np.ndarray) -> None:
        if self.start <= step <= self.stop:
            agent.erase_weights()


@dataclass
class Silencing(_Hook):
    """Block all transmission during steps ``start..stop`` (1-based, inclusive); weights kept."""

    start: int = 501
    stop: int = 549

    def before_step(self, step: int, agent: PlasticSNN, obs: np.ndarray) -> None:
        agent.silenced = self.start <= step <= self.stop


@dataclass
class NeuronLoss(_Hook):
    """Block ``round(fraction * n)`` hidden neurons of ``layer`` from the first step.

    The blocked set is drawn from ``seed`` alone: every agent in the batch, plastic or direct,
    loses the same neurons.
    """

    fraction: float
    seed: int = 0
    layer: int = 0

    def mask(self, n: int) -> torch.Tensor:
        k = int(round(self.fraction * n))
        order = torch.randperm(n, generator=torch.Generator().manual_seed(int(self.seed)))
        blocked = torch.zeros(n, dtype=torch.bool)
        blocked[order[:k]] = True
        return blocked

    def before_step(self, step: int, agent: PlasticSNN, obs: np.ndarray) -> None:
        if step == 1 and self.fraction > 0:
            agent.block_neurons(self.layer, self.mask(agent.cfg.hidden[self.layer]))


@dataclass
class SynapseErasure(_Hook):
    """After every step, erase a fresh random ``fraction`` of layer ``layer_name``'s synapses.

    The schedule comes from ``seed`` (one generator per episode), the same for every agent.
    """

    fraction: float
    seed: int = 0
    layer_name: str = "out"
    _gen: torch.Generator | None = field(default=None, repr=False)

    def after_step(self, step: int, agent: PlasticSNN, reward: np.ndarray) -> None:
        if self.fraction <= 0:
            return
        if step == 1 or self._gen is None:
            self._gen = torch.Generator().manual_seed(int(self.seed))
        layer = next(l for l in agent.layers if l.name == self.layer_name)
        erased = torch.rand(layer.n_in, layer.n_out, generator=self._gen) < self.fraction
        agent.erase_synapses(self.layer_name, erased)


@dataclass
class MembraneReset(_Hook):
    """Zero membranes, spikes and traces before each of steps ``start..stop`` (1-based)."""

    start: int
    stop: int

    def before_step(self, step: int, agent: PlasticSNN, obs: np.ndarray) -> None:
        if self.start <= step <= self.stop:
            agent.reset_membranes()


@dataclass
class GoalSwitch(_Hook):
    """Switch the goal on a schedule ``[(first_step, goal), ...]`` (steps 1-based, goals in the task's units).

    From step ``first_step`` on (until the next entry), the observation's last ``goal_dim`` columns
    read ``goal`` before the agent acts. Without ``env`` only what the agent sees changes; with
    ``env`` (the rollout's `pdlf.envs.BatchedEnv`) the env's own goal switches too, at each
    ``first_step`` (``env.set_goals``), so the reward and every later observation follow it.
    """

    schedule: list[tuple[int, float]]
    goal_dim: int = 1
    env: BatchedEnv | None = field(default=None, repr=False, compare=False)

    def goal_at(self, step: int) -> float | None:
        """The scheduled goal of step ``step``, or None before the first entry."""
        current = None
        for first, goal in sorted(self.schedule):
            if step >= first:
                current = goal
        return current

    def before_step(self, step: int, agent: PlasticSNN, obs: np.ndarray) -> np.ndarray | None:
        current = self.goal_at(step)
        if current is None:
            return None
        if self.env is not None and any(first == step for first, _ in self.schedule):
            self.env.set_goals(np.full(obs.shape[0], current, dtype=np.float64))
        if self.goal_dim < 1:
            return None
        obs = obs.copy()
        obs[:, -self.goal_dim :] = current
        return obs
