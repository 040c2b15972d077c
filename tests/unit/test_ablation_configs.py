"""configs/ablations/: every ablation loads as a training config, and the ablations of one task
differ in the rule alone (same task, agent, search and budget)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from pdlf.config import load_config

ABLATIONS = Path(__file__).resolve().parents[2] / "configs" / "ablations"
RULES = {"pdlf", "scp", "pdp", "hebb_abcd", "none"}
REQUIRED_TASKS = {"halfcheetah_vel", "ant_dir"}
FILES = sorted(ABLATIONS.glob("*__*.yaml"))


def _by_task() -> dict[str, dict[str, Path]]:
    tasks: dict[str, dict[str, Path]] = defaultdict(dict)
    for path in FILES:
        task, rule = path.stem.split("__")
        tasks[task][rule] = path
    return tasks


def test_every_required_task_has_every_ablation():
    tasks = _by_task()
    assert REQUIRED_TASKS <= set(tasks)
    for task, rules in tasks.items():
        assert set(rules) == RULES, task


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_ablation_loads_with_its_task_and_rule(path):
    task, rule = path.stem.split("__")
    cfg = load_config(path)
    assert cfg.env.name == task
    assert cfg.rule.name == rule
    assert cfg.rule == type(cfg.rule)(name=rule)  # no other rule setting differs from the defaults


@pytest.mark.parametrize("task", sorted(_by_task()))
def test_ablations_of_a_task_differ_only_in_the_rule(task):
    dicts = {rule: load_config(path).to_dict() for rule, path in _by_task()[task].items()}
    for d in dicts.values():
        d.pop("rule")
    reference = dicts["pdlf"]
    for rule, d in dicts.items():
        assert d == reference, f"{task}__{rule} differs from {task}__pdlf outside the rule section"
    # the budget is spelled out, not left to the defaults that may change
    assert reference["es"]["popsize"] == 32 and reference["es"]["generations"] == 100
    assert reference["env"]["episode_steps"] == 1000 and reference["env"]["repeats"] == 1


IP2 = Path(__file__).resolve().parents[2] / "configs" / "ip2"
IP2_FAMILIES = ("dms", "ctx_dms", "gng_dr2", "gng_dr4")
IP2_CONDITIONS = ("tf_delta", "tf_hebb", "tf_rpe", "tf_np", "tf_ip", "syn", "none", "gru")


@pytest.mark.parametrize("family", IP2_FAMILIES)
def test_ip2_conditions_load_and_differ_only_in_their_plasticity(family):
    from pdlf.envs import get_task
    from pdlf.snn.network import task_layout

    cfgs = {c: load_config(IP2 / f"{family}__{c}.yaml") for c in IP2_CONDITIONS}
    # condition -> (readout rule, modulator, intrinsic properties, spiking)
    expected = {"tf_delta": ("tf_delta", "feedback", 0, True), "tf_hebb": ("tf_hebb", "feedback", 0, True),
                "tf_rpe": ("tf_hebb", "reward", 0, True), "tf_np": ("tf_hebb", "perturbation", 0, True),
                "tf_ip": ("none", "feedback", 3, True), "syn": ("pdlf", "feedback", 0, True),
                "none": ("none", "feedback", 0, True), "gru": ("none", "feedback", 0, False)}
    for c, cfg in cfgs.items():
        got = (cfg.rule.layer_spec("out").name, cfg.rule.modulator, len(cfg.agent.intrinsic), cfg.agent.spiking)
        assert got == expected[c], c
        assert cfg.rule.name == "none" and cfg.env.name == family and cfg.env.mirror_pairs
        assert task_layout(get_task(family), cfg.agent, cfg.rule).size > 0
    plain = [cfgs[c].to_dict() for c in IP2_CONDITIONS]
    for d in plain:
        d.pop("rule")
        for k in ("intrinsic", "intrinsic_rule", "spiking", "gru_hidden"):
            d["agent"].pop(k)
    assert all(d == plain[0] for d in plain)
