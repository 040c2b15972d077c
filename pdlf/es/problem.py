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

A genome's fitness is the same as in `pdlf train`: the sum over the goals (``env.goals``, or the
task's 8 training goals) of its mean return over ``env.repeats`` episodes. Every call of
`_evaluate_batch` is one "generation": all solutions of the batch share its goals, env seeds
(`env_seeds_for`, common random numbers) and frozen observation normaliser; the normaliser is
updated from the batch's observations afterwards. NaN/inf returns get a fitness below every finite
one (`sanitize_fitness`).

Parallelism is pdlf's own: the batch goes to an `Evaluator` (in this process with
``ray.workers: 0``, else that many Ray rollout workers), so the problem is built with evotorch's
``num_actors`` left at 0 and evotorch never starts actors of its own. Gaussian searchers in
evotorch refuse strictly bounded problems, so ``rule.bounds`` is applied by evaluating each
solution clipped to the bounds (the searcher's own values are left as they are).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from evotorch import Problem, SolutionBatch

from pdlf.config import RunConfig
from pdlf.es.evaluator import Evaluator
from pdlf.es.searchers import ExplicitPopulation, sanitize_fitness
from pdlf.es.trainer import env_seeds_for
from pdlf.normalizer import ObsNormalizer
from pdlf.plasticity.genome import GenomeLayout
from pdlf.snn.network import network_layers
from pdlf.workers import GenerationTask, init_ray


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
        self.layout = GenomeLayout(network_layers(self.spec.obs_dim, self.spec.act_dim, cfg.agent), cfg.rule)
        self.goals = np.asarray(cfg.env.goals or self.spec.train_goals(), dtype=np.float64)
        for g in self.goals:
            self.spec.check_goal(g, cfg.env.extrapolate)
        self.normalizer = ObsNormalizer(self.spec.obs_dim, self.spec.goal_dim, cfg.env.obs_clip, cfg.env.normalize_obs)
        self.generation = 0
        self.env_steps = 0
        self.last_per_goal: np.ndarray | None = None
        self.last_diverged = 0
        self._clip = self.layout.bounds()
        self._evaluator: Evaluator | None = None
        self._started_ray = False
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
        if self._clip is not None:
            genomes = torch.maximum(torch.minimum(genomes, self._clip[1]), self._clip[0])
        n = genomes.shape[0]
        g = self.generation
        task = GenerationTask(
            generation=g,
            population=ExplicitPopulation(g, n, 0, genomes),
            center=None,
            goals=self.goals,
            env_seeds=env_seeds_for(self.cfg, g, len(self.goals)),
            norm=self.normalizer.freeze(),
        )
        members = list(range(n))
        result = self.evaluator().evaluate(task, members, include_center=False)
        per_goal = result.per_goal(members)  # [N, G]
        fitness, n_bad = sanitize_fitness(torch.as_tensor(per_goal.sum(axis=1)))
        if result.obs_stats is not None:
            self.normalizer.update(result.obs_stats)
        self.last_per_goal = per_goal
        self.last_diverged = n_bad
        self.env_steps += result.env_steps
        self.generation += 1
        batch.set_evals(fitness.to(device=batch.device, dtype=self.eval_dtype))

    # ------------------------------------------------------------------------- workers
    def evaluator(self) -> Evaluator:
        """The `Evaluator` (started on first use: in-process or ``ray.workers`` Ray actors)."""
        if self._evaluator is None:
            if self.cfg.ray.workers > 0:
                import ray

                if not ray.is_initialized():
                    init_ray(self.cfg.ray.address)
                    self._started_ray = True
            self._evaluator = Evaluator(self.cfg)
        return self._evaluator

    def close(self) -> None:
        """Stop the workers; shut Ray down if this problem started it. Safe to call twice."""
        if self._evaluator is not None:
            self._evaluator.close()
            self._evaluator = None
        if self._started_ray:
            import ray

            ray.shutdown()
            self._started_ray = False

    def __enter__(self) -> "PlasticityProblem":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


__all__ = ["PlasticityProblem"]
