"""Learning to learn (`pdlf.l2l`, `pdlf l2l`): the criterion, the slope, state carried over, failures."""

import json

import numpy as np
import pytest
import torch

from pdlf.cli import main
from pdlf.config import config_from_dict
from pdlf.errors import ConfigError
from pdlf.l2l import evaluate_l2l, learning_slope, trials_to_threshold


def test_trials_to_threshold_by_hand():
    correct = np.array([0] * 10 + [1] * 30, dtype=bool)
    # the window ending at trial t holds max(0, 30 - t) of the first ten misses: <= 2 first at t = 28
    assert trials_to_threshold(correct, 0.9, 20) == 28
    assert trials_to_threshold(np.ones(20, dtype=bool), 0.9, 20) == 20
    assert trials_to_threshold(np.ones(19, dtype=bool), 0.9, 20) is None  # fewer trials than the window
    assert trials_to_threshold(np.array([1, 0] * 30, dtype=bool), 0.9, 20) is None
    assert trials_to_threshold(np.array([1, 0] * 30, dtype=bool), 0.5, 20) == 20


def test_learning_slope_by_hand():
    assert learning_slope([30, 20, None], 100) == pytest.approx(35.0)  # y = 30, 20, 100 over x = 0, 1, 2
    assert learning_slope([50, 40, 30, 20], 100) == pytest.approx(-10.0)
    assert learning_slope([7], 100) == 0.0


class FeedbackLearner:
    """A scripted gng agent: remembers each stimulus's correct response from the feedback channels
    (its "fast weights", kept across tasks), answers from that memory (default no-go), or the
    opposite with ``inverted``. Within-trial activity (the stimulus seen) is cleared by
    ``reset_membranes``."""

    def __init__(self, n_stimuli: int, inverted: bool = False):
        self.n, self.inverted = n_stimuli, inverted
        self.resets = self.membrane_resets = 0

    def reset(self, genomes, seeds=0, rows_per_genome=1):
        self.resets += 1
        self.pop = genomes.shape[0] * rows_per_genome
        self.memory = np.zeros((self.pop, self.n))
        self.stimulus = np.full(self.pop, -1)

    def reset_membranes(self):
        self.membrane_resets += 1
        self.stimulus[:] = -1

    def act(self, obs, reward=None):
        x = obs.numpy()
        n = self.n
        shown = x[:, :n].max(axis=1) > 0.5
        self.stimulus[shown] = x[shown, :n].argmax(axis=1)
        feedback = x[:, n + 2 : n + 4]
        for b in np.flatnonzero(feedback.max(axis=1) > 0.5):
            self.memory[b, self.stimulus[b]] = feedback[b].argmax()
        answer = self.memory[np.arange(self.pop), np.maximum(self.stimulus, 0)]
        if self.inverted:
            answer = 1.0 - answer
        return torch.from_numpy(answer[:, None].astype(np.float32))


@pytest.mark.parametrize("inverted", [False, True])
def test_state_is_carried_across_tasks_and_failures_are_counted(monkeypatch, inverted):
    import pdlf.snn.network

    cfg = config_from_dict({"env": {"name": "gng_dr4", "params": {"noise": 0.0, "trial_reset": True}}, "agent": {"hidden": [4]}})
    agents = []

    def scripted(*args, **kwargs):
        agents.append(FeedbackLearner(4, inverted))
        return agents[-1]

    monkeypatch.setattr(pdlf.snn.network, "PlasticSNN", scripted)
    res = evaluate_l2l(cfg, torch.zeros(1), tasks=5, trials=30, sequences=3, seed=1)
    (agent,) = agents
    assert agent.resets == 1  # one agent reset for the whole sequence: memory carried from task to task
    assert agent.membrane_resets == 5 * 29 + 4  # before trials 2..30 of each task, and between tasks
    flat = [t for row in res.trials_to_threshold for t in row]
    if inverted:
        assert res.failures == 15 and all(t is None for t in flat) and res.slope == pytest.approx(0.0, abs=1e-9)
    else:  # one miss per stimulus the old memory got wrong: within 2 misses of 20 in every task
        assert res.failures == 0 and all(20 <= t <= 30 for t in flat)
        assert all(a > 0.85 for row in res.accuracy for a in row)


def test_cli_l2l_on_a_trained_run(tmp_path, capsys):
    from pdlf.es.trainer import Trainer

    cfg = config_from_dict({"env": {"name": "gng_dr2", "goals": [0.5], "repeats": 2, "params": {"n_trials": 3}},
                            "agent": {"hidden": [6], "intrinsic": ["theta"]}, "es": {"popsize": 4, "generations": 1},
                            "ray": {"workers": 0}, "log": {"progress": False}})
    Trainer.create(cfg, tmp_path / "run").run()
    argv = ["l2l", str(tmp_path / "run"), "--tasks", "3", "--trials", "25", "--sequences", "2", "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["family"], out["tasks"]) == ("gng_dr2", 3) and len(out["trials_to_threshold"]) == 2
    assert out["failures"] == sum(t is None for row in out["trials_to_threshold"] for t in row)
    assert isinstance(out["slope"], float) and len(out["mean_trials"]) == 3
    assert (tmp_path / "run" / "l2l" / "l2l.png").stat().st_size > 1000
    assert main(argv) == 2  # results exist: kept unless --force
    assert "--force" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="task family"):
        evaluate_l2l(config_from_dict({"env": {"name": "copy"}}), torch.zeros(1), tasks=1)


def test_several_genomes_in_one_rollout_equal_each_alone():
    from pdlf.l2l import evaluate_l2l_genomes
    from pdlf.snn.network import genome_layout
    from pdlf.envs import get_task

    cfg = config_from_dict({"env": {"name": "gng_dr2", "params": {"noise": 0.0}},
                            "agent": {"hidden": [6], "intrinsic": ["theta"]}, "rule": {"name": "pdlf"}})
    spec = get_task("gng_dr2")
    size = genome_layout(spec.obs_dim, spec.act_dim, cfg.agent, cfg.rule).size
    genomes = torch.randn(2, size, generator=torch.Generator().manual_seed(0))
    together = evaluate_l2l_genomes(cfg, genomes, tasks=3, trials=25, sequences=2, threshold=0.5, window=5, seed=2)
    for g in range(2):
        alone = evaluate_l2l(cfg, genomes[g], tasks=3, trials=25, sequences=2, threshold=0.5, window=5, seed=2)
        assert together[g].accuracy == alone.accuracy and together[g].trials_to_threshold == alone.trials_to_threshold
    assert together[0].accuracy != together[1].accuracy  # the genomes differ, and so do their rows
