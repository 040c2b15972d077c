"""The working-memory copy task: tensor rollouts, ES training, membrane reset, `pdlf wm`."""

from __future__ import annotations

import json
import statistics

import pytest
import torch

from pdlf.cli import main
from pdlf.envs.copy_task import CopyBatch
from pdlf.errors import ConfigError
from pdlf.wm import WMAgent, WMConfig, delay_reset, evaluate, run_sequences, sequences, train_wm, wm_config_from_dict

pytestmark = pytest.mark.integration


@pytest.fixture
def one_thread():
    """Spiking rollouts are chaotic: pin the thread count so the float sums are reproducible."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _genomes(agent: WMAgent, pop: int, scale: float, seed: int = 0) -> torch.Tensor:
    return torch.randn(pop, agent.size, generator=torch.Generator().manual_seed(seed)) * scale


def _one_sequence(batch: CopyBatch, b: int) -> CopyBatch:
    return CopyBatch(batch.cfg, batch.inputs[:, b : b + 1], batch.targets[:, b : b + 1], batch.recall_mask,
                     batch.items[b : b + 1])


@pytest.mark.parametrize("kind", ["plastic", "direct", "hybrid"])
def test_batched_population_equals_per_sequence(kind):
    cfg = WMConfig(kind=kind, length=3, delay=2, hidden=8, gru_hidden=4)
    agent = WMAgent(cfg)
    genomes = _genomes(agent, 3, 0.5)
    batch = sequences(cfg, purpose=7, size=4)
    hooks = [delay_reset(cfg.task)]
    out = run_sequences(agent, genomes, batch, hooks)  # [P, T, B]
    assert out.shape == (3, cfg.task.steps, 4)
    assert out.abs().sum() > 0  # the genomes drive the readout: the comparison is not 0 == 0
    for p in range(3):
        for b in range(4):
            single = run_sequences(agent, genomes[p : p + 1], _one_sequence(batch, b), hooks)
            torch.testing.assert_close(single[0, :, 0], out[p, :, b], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", ["plastic", "hybrid"])
def test_membrane_reset_zeroes_state_and_keeps_weights(kind):
    cfg = WMConfig(kind=kind, length=3, delay=2, hidden=8, gru_hidden=4)
    task = cfg.task
    first_reset = task.length  # 0-based step of the first silent step
    seen: dict[str, dict] = {}

    class Probe:
        """Records weights and states just before step ``first_reset`` runs (after any reset)."""

        def __init__(self, name: str) -> None:
            self.name = name

        def before_step(self, t, agent, x):
            if t == first_reset:
                seen[self.name] = {
                    "weights": {k: w.clone() for k, w in agent.weights.items()},
                    "states": [s.clone() for st in agent.snn.hidden_states for s in st],
                    "gru": None if agent.gru is None else agent.gru.h.clone(),
                }

        def after_step(self, t, agent, reward):
            return None

    agent = WMAgent(cfg)
    genomes = _genomes(agent, 2, 0.5, seed=1)
    batch = sequences(cfg, purpose=7, size=5)
    run_sequences(agent, genomes, batch, [Probe("intact")])
    run_sequences(agent, genomes, batch, [delay_reset(task), Probe("reset")])
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
    cfg = WMConfig(kind="direct", length=3, delay=1, hidden=8)
    agent = WMAgent(cfg)
    batch = sequences(cfg, purpose=7, size=16)
    out = run_sequences(agent, _genomes(agent, 2, 1.0, seed=2), batch, [delay_reset(cfg.task)])
    recall = out[:, cfg.task.recall_start :]
    assert torch.equal(recall, recall[:, :, :1].expand_as(recall))


def test_plastic_agent_learns_tiny_copy_task(one_thread):
    cfg = WMConfig(kind="plastic", length=2, delay=0, hidden=8, popsize=64, generations=30, batch=32,
                   eval_batch=128, seed=1)
    result = train_wm(cfg)
    curve = result.train_curve
    assert len(curve) == 30 and len(result.population_accuracy) == 30
    assert statistics.mean(curve[-5:]) > statistics.mean(curve[:5]) + 0.1
    assert evaluate(cfg, result.center) > 0.65
    assert result.center.shape == (WMAgent(cfg).size,)


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"popsize": 7}, "wm.popsize"),
        ({"length": 0}, "wm.length"),
        ({"sigma": 0.0}, "wm.sigma"),
        ({"kind": "plastc"}, "wm.kind"),
        ({"fitness": "acc"}, "wm.fitness"),
        ({"rule": "none"}, "wm.rule"),
        ({"batch": 2.5}, "wm.batch"),
        ({"lenght": 3}, "'lenght'"),
    ],
)
def test_bad_config_names_the_field(changes, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        wm_config_from_dict(changes)


def test_unknown_rule_hint():
    with pytest.raises(ConfigError, match="did you mean 'pdlf'"):
        WMConfig(rule="pdfl")


def test_cli_single_writes_json_and_pngs(tmp_path, capsys):
    out = tmp_path / "wm"
    rc = main(["wm", "--quick", "--L", "3", "--D", "2", "--json", "--out", str(out)])
    assert rc == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["L"], report["D"]) == (3, 2)
    assert set(report["kinds"]) == {"plastic", "direct"}
    for kind in ("plastic", "direct"):
        s = report["kinds"][kind]
        assert len(s["train_curve"]) == 3
        for key in ("accuracy", "accuracy_membrane_reset"):
            assert 0.0 <= s[key] <= 1.0
    assert report["budget"]["agent_steps"] == 8 * 3 * 4 * (2 * 3 + 2 + 1)
    assert len(report["pngs"]) == 2
    for png in report["pngs"]:
        assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / "result.json").read_text()) == report
    assert (out / "center_plastic.pt").is_file()


def test_cli_sweep_grid_and_heatmaps(tmp_path, capsys):
    out = tmp_path / "sweep"
    rc = main(["wm", "--sweep", "--quick", "--lengths", "2", "3", "--delays", "0", "1", "4", "--generations", "2",
               "--json", "--out", str(out)])
    assert rc == 0
    report = json.loads(capsys.readouterr().out)
    assert report["mode"] == "sweep" and report["L"] == [2, 3] and report["D"] == [0, 1, 4]
    for kind in ("plastic", "direct"):
        for key in ("accuracy", "accuracy_membrane_reset"):
            grid = report["grid"][kind][key]
            assert len(grid) == 2 and all(len(row) == 3 for row in grid)
    assert sorted(p.rsplit("/", 1)[-1] for p in report["pngs"]) == ["heatmap_direct.png", "heatmap_plastic.png"]
    for png in report["pngs"]:
        assert open(png, "rb").read(4) == b"\x89PNG"


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
    assert err.count("\n") == 0 and "wm.popsize" in err
    assert not (tmp_path / "x").exists()  # validated before the directory is made
