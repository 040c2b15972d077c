"""`PlasticityProblem`: pdlf's fitness as an evotorch `Problem`, for evotorch's stock searchers.

    import evotorch.algorithms
    from pdlf.config import config_from_dict
    from pdlf.es.problem import PlasticityProblem

    cfg = config_from_dict({"env": {"name": "halfcheetah_vel"}, "ray": {"workers": 2}})
    problem = PlasticityProblem(cfg)       # solution_length = the genome layout's size
    try:
        searcher = evotorch.algorithms.SNES(problem, stdev_init=0.04)
        searcher.run(3)
        print(searcher.status["best_eval"], problem.last_per_goal.shape)   # [popsize, G]
    finally:
        problem.close()                    # kills the workers (and Ray, if the problem started it)

A genome's fitness is the same as in `pdlf train`, computed by the same function
(`pdlf.es.generation.generation_fitness`): the sum over the goals (``env.goals``, or the task's 8
training goals) of its mean return over ``env.repeats`` episodes. Every call of `_evaluate_batch`
is one "generation": all solutions of the batch share its goals, env seeds (common random
numbers) and frozen observation normaliser; the normaliser is updated from the batch's
observations afterwards. NaN/inf returns get a fitness below every finite one.

Parallelism is pdlf's own: the batch goes to an `Evaluator` (in this process with
``ray.workers: 0``, else that many Ray rollout workers), so the problem is built with evotorch's
``num_actors`` left at 0 and evotorch never starts actors of its own. ``rule.bounds`` means what
it means on every path: a genome is evaluated clipped to the bounds (evotorch's Gaussian searchers
refuse strictly bounded problems, so its searcher's own values are left as they are).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from evotorch import Problem, SolutionBatch

from pdlf.config import RunConfig
from pdlf.es.evaluator import Evaluator
from pdlf.es.generation import generation_fitness, new_normalizer, training_goals
from pdlf.es.searchers import ExplicitPopulation
from pdlf.snn.network import task_layout


class PlasticityProblem(Problem):
    """Maximise pdlf fitness over flat genomes ``[L]`` (float32, ``L = layout.size``).

    Attributes:
        cfg: the run configuration (task, agent, rule, episodes, workers, seed).
        layout: the genome layout (`GenomeLayout`) of ``cfg.agent`` × ``cfg.rule`` on the task.
        goals: ``[G]`` goals every solution is scored on.
        normalizer: running observation statistics, frozen for each batch.
        generation: batches evaluated so far (the next batch's generation index).
        env_steps: env steps taken by all evaluations so far.
        last_per_goal: ``[N, G]`` float64 mean return per goal of the last batch's solutions
            (NaN where a solution diverged), or None before the first batch.
        last_diverged: solutions of the last batch whose returns were NaN/inf.
    """

    def __init__(self, cfg: RunConfig) -> None:
        from pdlf.envs import get_task

        cfg.validate()
        self.cfg = cfg
        self.spec = get_task(cfg.env.name)
        self.layout = task_layout(self.spec, cfg.agent, cfg.rule)
        self.goals = training_goals(cfg)
        self.normalizer = new_normalizer(cfg)
        self.generation = 0
        self.env_steps = 0
        self.last_per_goal: np.ndarray | None = None
        self.last_diverged = 0
        self._bounds = self.layout.bounds()
        self._evaluator: Evaluator | None = None
        super().__init__(
            "max",
            solution_length=self.layout.size,
            dtype=torch.float32,
            seed=cfg.es.seed,
            num_actors=None,  # 0 evotorch actors: the Evaluator is the parallelism
        )

    # ------------------------------------------------------------------ evotorch seams
    @property
    def _nonserialized_attribs(self) -> list[str]:
        return ["_evaluator"]  # Ray actor handles; a clone of the problem makes its own

    def _fill(self, values: torch.Tensor) -> None:
        """New solutions ``[n, L]`` start at the rule's initial genome (``rule.init``)."""
        values[:] = self.layout.initial(values.dtype).to(values.device)

    def _evaluate_batch(self, batch: SolutionBatch) -> None:
        genomes = batch.values.detach().to("cpu", torch.float32).clone()  # [N, L]
        population = ExplicitPopulation(self.generation, genomes.shape[0], 0, genomes, bounds=self._bounds)
        scored = generation_fitness(self.evaluator(), self.cfg, population, self.goals, self.normalizer)
        self.last_per_goal = scored.per_goal
        self.last_diverged = scored.n_diverged
        self.env_steps += scored.env_steps
        self.generation += 1
        batch.set_evals(scored.fitness.to(device=batch.device, dtype=self.eval_dtype))

    # ------------------------------------------------------------------------- workers
    def evaluator(self) -> Evaluator:
        """The `Evaluator` (started on first use: in-process or ``ray.workers`` Ray actors)."""
        if self._evaluator is None:
            self._evaluator = Evaluator(self.cfg)
        return self._evaluator

    def close(self) -> None:
        """Stop the workers; shut Ray down if they started it. Safe to call twice."""
        if self._evaluator is not None:
            self._evaluator.close()
            self._evaluator = None

    def __enter__(self) -> "PlasticityProblem":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


__all__ = ["PlasticityProblem"]
