"""Config loading: defaults, include, overrides, and one clear error per mistake."""

from pathlib import Path

import pytest

from pdlf.config import RunConfig, config_from_dict, load_config, save_config
from pdlf.errors import ConfigError, GoalRangeError, UnknownNameError

CONFIGS = sorted(Path(__file__).resolve().parents[2].joinpath("configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_shipped_config_loads(path):
    cfg = load_config(path)
    assert isinstance(cfg, RunConfig)


def test_direct_configs_differ_from_plastic_only_in_the_rule():
    for plastic in (p for p in CONFIGS if p.name.endswith(".yaml") and not p.stem.endswith("_direct") and p.stem != "smoke"):
        direct = plastic.with_name(plastic.stem + "_direct.yaml")
        a, b = load_config(plastic).to_dict(), load_config(direct).to_dict()
        assert b["rule"]["name"] == "none" and a["rule"]["name"] == "pdlf"
        a.pop("rule"), b.pop("rule")
        assert a == b, plastic.name


def test_overrides_are_typed_and_nested():
    cfg = config_from_dict({}, ["es.popsize=32", "agent.hidden=[64, 32]", "rule.name=scp", "env.goals=[1.0, 2.5]"])
    assert cfg.es.popsize == 32 and cfg.agent.hidden == (64, 32) and cfg.rule.name == "scp"
    assert cfg.env.goals == (1.0, 2.5)


def test_include_is_relative_and_overridable(tmp_path):
    (tmp_path / "base.yaml").write_text("es:\n  popsize: 10\n  seed: 4\n")
    (tmp_path / "top.yaml").write_text("include: base.yaml\nes:\n  popsize: 12\n")
    cfg = load_config(tmp_path / "top.yaml")
    assert cfg.es.popsize == 12 and cfg.es.seed == 4


def test_saved_config_round_trips(tmp_path):
    cfg = config_from_dict({}, ["rule.name=hebb_abcd", "rule.init={eta: 0.1}", "agent.recurrent=true"])
    save_config(cfg, tmp_path / "c.yaml")
    assert load_config(tmp_path / "c.yaml") == cfg


@pytest.mark.parametrize(
    "data, overrides, error, pattern",
    [
        ({"es": {"popsiz": 8}}, [], ConfigError, r"unknown config key 'es.popsiz': did you mean 'es.popsize'"),
        ({"agnet": {}}, [], ConfigError, r"unknown config key 'agnet': did you mean 'agent'"),
        ({}, ["es.popsize=many"], ConfigError, r"es.popsize='many': expected an integer"),
        ({}, ["env.normalize_obs=3"], ConfigError, r"env.normalize_obs=3: expected true or false"),
        ({}, ["es.popsize=7"], ConfigError, r"es.popsize=7: PGPE samples antithetic pairs"),
        ({}, ["es.searcher=pgep"], ConfigError, r"did you mean 'pgpe'"),
        ({}, ["ray.workers=-1"], ConfigError, r"ray.workers=-1"),
        ({}, ["env.name=halfcheeta_vel"], UnknownNameError, r"unknown task 'halfcheeta_vel': did you mean 'halfcheetah_vel'"),
        ({}, ["rule.name=hebbian"], UnknownNameError, r"unknown plasticity rule 'hebbian'"),
        ({"es": 5}, [], ConfigError, r"es must be a section"),
        ({}, ["popsize"], ConfigError, r"not KEY=VALUE"),
        ({}, ["agent.device=gpu"], ConfigError, r"agent.device='gpu': give cpu, cuda or cuda:N"),
    ],
)
def test_each_mistake_gets_one_clear_error(data, overrides, error, pattern):
    with pytest.raises(error, match=pattern):
        config_from_dict(data, overrides)


def test_missing_and_invalid_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("es: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    for text in ("", "# only a comment\n"):
        empty = tmp_path / "empty.yaml"
        empty.write_text(text)
        with pytest.raises(ConfigError, match="is empty") as err:
            load_config(empty)
        assert "\n" not in str(err.value)


def test_overrides_leave_the_callers_mapping_alone():
    data = {"es": {"popsize": 8}, "env": {"params": {}}}
    config_from_dict(data, ["es.popsize=16", "es.seed=3"])
    assert data == {"es": {"popsize": 8}, "env": {"params": {}}}


def test_task_params_are_checked_at_load():
    with pytest.raises(ConfigError, match="env.params.length.*takes no env.params"):
        config_from_dict({}, ["env.params.length=3"])  # halfcheetah_vel has none
    with pytest.raises(ConfigError, match="env.params.lenght.*did you mean 'length'"):
        config_from_dict({"env": {"name": "copy"}}, ["env.params.lenght=3"])


def test_goals_outside_the_range_need_extrapolate(tmp_path):
    from pdlf.es.trainer import Trainer

    cfg = config_from_dict({}, ["env.goals=[12.0]", "ray.workers=0"])
    with pytest.raises(GoalRangeError, match="extrapolate"):
        Trainer(cfg, tmp_path)


def test_pdlf_direct_baseline_config_differs_in_rule_and_neuron_only():
    from pdlf.snn.network import PDLF_DIRECT_AGENT

    root = Path(__file__).resolve().parents[2] / "configs"
    ours, theirs = (load_config(root / name).to_dict() for name in ("halfcheetah_vel.yaml", "halfcheetah_vel_pdlf_direct.yaml"))
    assert theirs["rule"]["name"] == "none"
    assert {k: theirs["agent"][k] for k in PDLF_DIRECT_AGENT} == PDLF_DIRECT_AGENT
    for cfg in (ours, theirs):
        cfg.pop("rule")
        for k in PDLF_DIRECT_AGENT:
            cfg["agent"].pop(k)
    assert ours == theirs
