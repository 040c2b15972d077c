"""Working memory through the one training path: copy-task runs, membrane reset, `pdlf wm`."""

from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from pdlf.cli import main
from pdlf.config import load_config
from pdlf.envs import make_batched
from pdlf.errors import ConfigError
from pdlf.rollout import rollout
from pdlf.snn.network import PlasticSNN, genome_layout
from pdlf.wm import COPY_CONFIG, TASK_CONFIGS, kind_config, recall_accuracy, train

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def one_thread():
    """Spiking rollouts are chaotic: pin the thread count so the float sums are reproducible."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _small(kind: str, *overrides: str):
    return kind_config(COPY_CONFIG, kind, ["env.params.length=3", "env.params.delay=2", "agent.hidden=[8]",
                                           *overrides], gru_hidden=4)


def _agent_and_genomes(cfg, pop: int, scale: float, seed: int = 0):
    agent = PlasticSNN(3, 1, cfg.agent, cfg.rule)
    genomes = torch.randn(pop, agent.layout.size, generator=torch.Generator().manual_seed(seed)) * scale
    return agent, genomes


@pytest.mark.parametrize("task", ["copy", "assoc"])
def test_task_yaml_is_the_wm_default(task):
    assert load_config(ROOT / "configs" / f"{task}.yaml") == kind_config(TASK_CONFIGS[task], "plastic")


@pytest.mark.parametrize("kind", ["plastic", "direct", "hybrid"])
def test_copy_rollout_rows_do_not_depend_on_the_batch(kind):
    cfg = _small(kind)
    agent, genomes = _agent_and_genomes(cfg, 3, 0.5)
    seeds = np.array([11, 12, 13, 14])
    rows = np.repeat(np.arange(3), 4)  # member-major, as the workers lay rollouts out
    env = make_batched("copy", 12, params=cfg.env.params)
    batch = rollout(agent, env, genomes[rows], np.full(12, 0.5), np.tile(seeds, 3), record_rewards=True)
    assert batch.rewards.sum() > 0  # the genomes answer something: the comparison is not 0 == 0
    for r in range(12):
        one = rollout(agent, make_batched("copy", 1, params=cfg.env.params), genomes[rows[r : r + 1]],
                      np.full(1, 0.5), np.tile(seeds, 3)[r : r + 1], record_rewards=True)
        np.testing.assert_array_equal(one.rewards[:, 0], batch.rewards[:, r])


@pytest.mark.parametrize("kind", ["plastic", "hybrid"])
def test_membrane_reset_zeroes_state_and_keeps_weights(kind):
    seen: dict[str, dict] = {}

    class Probe:
        """Records weights and states just before the first silent step runs (after any reset)."""

        def __init__(self, name: str) -> None:
            self.name = name

        def before_step(self, step, agent, obs):
            if step == 4:  # L = 3: steps 4..6 are silent
                seen[self.name] = {
                    "weights": {k: w.clone() for k, w in agent.weights.items()},
                    "states": [s.clone() for st in agent.hidden_states for s in st if s is not None],
                    "gru": agent.gru_state.clone() if kind == "hybrid" else None,
                }

        def after_step(self, step, agent, reward):
            return None

    for name, reset in (("intact", "false"), ("reset", "true")):
        cfg = _small(kind, f"env.params.membrane_reset={reset}")
        agent, genomes = _agent_and_genomes(cfg, 2, 0.5, seed=1)
        env = make_batched("copy", 2, params=cfg.env.params)
        rollout(agent, env, genomes, np.full(2, 0.5), np.array([5, 6]), perturbations=[Probe(name)])
    intact, reset = seen["intact"], seen["reset"]
    assert set(intact["weights"]) == {"l0", "rec0", "out"}
    for name, w in intact["weights"].items():
        assert w.abs().sum() > 0
        assert torch.equal(w, reset["weights"][name]), name
    assert any(s.abs().sum() > 0 for s in intact["states"])  # there was state to erase
    assert all(torch.count_nonzero(s) == 0 for s in reset["states"])
    if kind == "hybrid":
        assert intact["gru"].abs().sum() > 0
        assert torch.count_nonzero(reset["gru"]) == 0


def test_direct_agent_falls_to_chance_with_membrane_reset():
    # with no state left and silent inputs, a fixed-weight net gives every sequence the same recall
    cfg = _small("direct", "env.params.delay=1", "env.params.membrane_reset=true")
    agent, genomes = _agent_and_genomes(cfg, 1, 1.0, seed=2)
    env = make_batched("copy", 16, params=cfg.env.params)
    res = rollout(agent, env, genomes.expand(16, -1), np.full(16, 0.5), np.arange(16), record_rewards=True)
    recall = res.rewards[-4:-1]  # [L, B]: 1 where the sequence's bit was matched (then the end step)
    items = env.items.astype(int)  # [B, L]
    # the same output bit for every sequence: reward is 1 exactly where the target equals that bit
    bit = np.where(recall[:, 0] == 1, items[0], 1 - items[0])
    np.testing.assert_array_equal(recall, (items == bit[None, :]).T.astype(float))


def test_plastic_agent_learns_tiny_copy_task(tmp_path, one_thread):
    cfg = kind_config(COPY_CONFIG, "plastic", ["env.params.length=2", "env.params.delay=0", "agent.hidden=[8]",
                                               "es.popsize=64", "es.generations=30", "es.seed=1",
                                               "log.progress=false", "log.tensorboard=false"])
    result = train(cfg, tmp_path / "run")
    curve = result.train_curve
    assert len(curve) == 30 and len(result.population_accuracy) == 30
    assert statistics.mean(curve[-5:]) > statistics.mean(curve[:5]) + 0.1
    assert recall_accuracy(cfg, result.center, 128) > 0.65
    assert result.center.shape == (genome_layout(3, 1, cfg.agent, cfg.rule).size,)


def test_pdlf_train_copy_yaml_checkpoints_and_resumes_bit_identically(tmp_path, capsys):
    tiny = ["es.popsize=8", "es.generations=4", "env.repeats=4", "env.params.length=3", "env.params.delay=2",
            "log.progress=false", "checkpoint.every=0"]
    assert main(["train", str(ROOT / "configs" / "copy.yaml"), "--run-dir", str(tmp_path / "full"), *tiny]) == 0
    assert main(["train", str(ROOT / "configs" / "copy.yaml"), "--run-dir", str(tmp_path / "half"), *tiny,
                 "es.generations=2"]) == 0
    assert main(["train", "--resume", str(tmp_path / "half"), "es.generations=4"]) == 0
    capsys.readouterr()

    def rows(name):
        with open(tmp_path / name / "metrics.csv", newline="") as fh:
            return [{k: v for k, v in r.items() if not k.startswith("perf/")} for r in csv.DictReader(fh)]

    assert rows("half") == rows("full") and len(rows("full")) == 4
    assert 0 <= float(rows("full")[-1]["fitness/center"]) <= 3  # recall bits right out of L = 3
    assert any((tmp_path / "full" / "tb").glob("events.out.tfevents.*"))
    saved = yaml.safe_load((tmp_path / "full" / "config.yaml").read_text())
    assert saved["env"]["params"]["length"] == 3 and saved["env"]["name"] == "copy"


@pytest.mark.parametrize(
    "override, key",
    [
        ("es.popsize=7", "es.popsize"),
        ("env.params.length=0", "env.params.length"),
        ("es.sigma_init=0", "es.sigma_init"),
        ("env.params.reward=acc", "env.params.reward"),
        ("env.params.lenght=3", "env.params.lenght"),
        ("env.repeats=2.5", "env.repeats"),
    ],
)
def test_bad_config_names_the_key(override, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        kind_config(COPY_CONFIG, "plastic", [override])


def test_kind_errors():
    with pytest.raises(ConfigError, match="did you mean 'plastic'"):
        kind_config(COPY_CONFIG, "plastc")
    with pytest.raises(ConfigError, match="needs a plasticity rule"):
        kind_config(COPY_CONFIG, "hybrid", ["rule.name=none"])


def test_cli_single_writes_json_pngs_and_run_dirs(tmp_path, capsys):
    out = tmp_path / "wm"
    rc = main(["wm", "--quick", "--L", "3", "--D", "2", "--kinds", "plastic", "direct", "hybrid", "--json",
               "--out", str(out)])
    assert rc == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["L"], report["D"]) == (3, 2)
    assert set(report["kinds"]) == {"plastic", "direct", "hybrid"}
    sizes = {kind: s["genome_size"] for kind, s in report["kinds"].items()}
    assert sizes["direct"] < sizes["plastic"] < sizes["hybrid"]  # only the hybrid carries a GRU
    for kind, s in report["kinds"].items():
        assert len(s["train_curve"]) == 3
        for key in ("accuracy", "accuracy_membrane_reset"):
            assert 0.0 <= s[key] <= 1.0
        assert (Path(s["run_dir"]) / "checkpoints" / "last.pkl").is_file()
    assert report["budget"]["agent_steps"] == 8 * 3 * 4 * (2 * 3 + 2 + 1)
    assert len(report["pngs"]) == 2
    for png in report["pngs"]:
        assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / "result.json").read_text()) == report
    assert (out / "center_plastic.pt").is_file()


def test_cli_sweep_grid_and_heatmaps(tmp_path, capsys):
    out = tmp_path / "sweep"
    rc = main(["wm", "--sweep", "--quick", "--lengths", "2", "3", "--delays", "0", "4", "--generations", "2",
               "--json", "--out", str(out)])
    assert rc == 0
    report = json.loads(capsys.readouterr().out)
    assert report["mode"] == "sweep" and report["L"] == [2, 3] and report["D"] == [0, 4]
    for kind in ("plastic", "direct"):
        for key in ("accuracy", "accuracy_membrane_reset"):
            grid = report["grid"][kind][key]
            assert len(grid) == 2 and all(len(row) == 2 for row in grid)
    assert sorted(p.rsplit("/", 1)[-1] for p in report["pngs"]) == ["heatmap_direct.png", "heatmap_plastic.png"]


def test_cli_refuses_to_overwrite_results(tmp_path, capsys):
    out = tmp_path / "wm"
    assert main(["wm", "--quick", "--L", "2", "--D", "0", "--kinds", "direct", "--out", str(out)]) == 0
    before = (out / "result.json").read_bytes()
    capsys.readouterr()
    assert main(["wm", "--quick", "--L", "2", "--D", "0", "--kinds", "direct", "--seed", "5", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--force" in err and "--out" in err
    assert (out / "result.json").read_bytes() == before
    assert main(["wm", "--quick", "--L", "2", "--D", "0", "--kinds", "direct", "--seed", "5", "--out", str(out),
                 "--force"]) == 0
    assert (out / "result.json").read_bytes() != before


def test_cli_bad_flag_is_one_line_error(tmp_path, capsys):
    assert main(["wm", "--quick", "--popsize", "7", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "es.popsize" in err
    assert not (tmp_path / "x").exists()  # validated before the directory is made


def test_cli_assoc_task_trains_both_kinds_and_the_direct_one_is_at_chance_with_the_reset(tmp_path, capsys):
    out = tmp_path / "assoc"
    rc = main(["wm", "--task", "assoc", "--quick", "--L", "3", "--D", "2", "--json", "--out", str(out)])
    assert rc == 0
    report = json.loads(capsys.readouterr().out)
    assert report["task"] == "assoc" and report["config"]["env"]["params"]["membrane_reset"] is True
    direct = report["kinds"]["direct"]
    assert 0.35 < direct["accuracy_membrane_reset"] < 0.65  # no memory survives the delay: chance
    assert report["kinds"]["plastic"]["genome_size"] > direct["genome_size"] > 0


@pytest.mark.parametrize("model, size, shared", [("pdlf-hybrid", 53_505, 4), ("pdlf-gru", 50_945, 1)])
def test_cli_pdlf_models_train_and_print_one_object(tmp_path, capsys, model, size, shared):
    out = tmp_path / model
    rc = main(["wm", "--model", model, "--quick", "--L", "3", "--D", "2", "--json", "--out", str(out)])
    assert rc == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["model"], report["task"], report["genome_size"], report["generations"]) == (model, "copy", size, 3)
    assert 0.0 <= report["accuracy"] <= 1.0 and 0.0 <= report["accuracy_reset"] <= 1.0
    assert report["config"]["agent"]["weight_sharing"] == shared  # --quick: 4 sequences share one set


def test_bench_wm_times_every_model_against_the_gru(capsys):
    argv = ["bench", "wm", "--popsize", "8", "--generations", "1", "--L", "3", "--D", "2", "--json",
            "--models", "plastic", "pdlf-hybrid", "pdlf-gru"]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    models = result["models"]
    assert set(models) == {"plastic", "pdlf-hybrid", "pdlf-gru"} and models["pdlf-gru"]["ratio_to_gru"] == 1.0
    for entry in models.values():
        assert entry["seconds_per_generation"] > 0 and entry["agent_steps_per_second"] > 0
        assert entry["ratio_to_gru"] == round(entry["seconds_per_generation"] / models["pdlf-gru"]["seconds_per_generation"], 3)
    assert models["pdlf-hybrid"]["weight_sharing"] == models["pdlf-hybrid"]["sequences_per_generation"] == 32
    assert main(["bench", "wm", "--models", "pdlf-hybird"]) == 2
    assert "pdlf-hybrid" in capsys.readouterr().err


def test_a_signal_during_a_memory_run_stops_the_command(tmp_path, monkeypatch, capsys):
    from pdlf.es.trainer import Trainer

    def interrupted_run(self):
        return {"interrupted": "SIGTERM", "generations": 1}

    monkeypatch.setattr(Trainer, "run", interrupted_run)
    rc = main(["wm", "--quick", "--L", "2", "--D", "1", "--out", str(tmp_path / "wm")])
    assert rc == 128 + 15  # the shell's status for SIGTERM, and no second kind was trained
    err = capsys.readouterr().err
    assert "stopped by SIGTERM" in err and "re-run the same command" in err
    assert not (tmp_path / "wm" / "runs" / "direct").exists()
