"""Genome layout: sizes, round trips for every rule and granularity, clear shape errors."""

import pytest
import torch

from pdlf.errors import ConfigError, GenomeShapeError, UnknownNameError
from pdlf.plasticity.catalog import GRANULARITIES, RULES, RuleConfig
from pdlf.plasticity.genome import GenomeLayout, LayerShape
from pdlf.snn.network import AgentConfig, network_layers


def test_pdlf_ant_dir_genome_size_matches_the_spec():
    layout = GenomeLayout(network_layers(28, 8, AgentConfig()), RuleConfig())
    assert layout.size == 23_040


@pytest.mark.parametrize(
    "granularity, expected",
    [("synapse", 5 * (28 * 128 + 128 * 8)), ("post", 5 * (128 + 8)), ("layer", 5 * 2)],
)
def test_size_per_granularity(granularity, expected):
    layout = GenomeLayout(network_layers(28, 8, AgentConfig()), RuleConfig(granularity=granularity))
    assert layout.size == expected


def test_direct_weight_genome_is_the_weights():
    layout = GenomeLayout(network_layers(18, 6, AgentConfig()), RuleConfig(name="none"))
    assert layout.size == 18 * 128 + 128 * 6
    assert [b.name for b in layout.blocks] == ["l0.W", "out.W"]


def test_ablations_have_fewer_genes():
    layers = network_layers(18, 6, AgentConfig())
    syn = 18 * 128 + 128 * 6
    assert GenomeLayout(layers, RuleConfig(name="scp")).size == 3 * syn
    assert GenomeLayout(layers, RuleConfig(name="pdp")).size == 3 * syn
    assert GenomeLayout(layers, RuleConfig(name="pdlf", genes=("eta", "A", "C", "D"))).size == 4 * syn


def test_eta_granularity_override():
    layers = [LayerShape("l0", 3, 4)]
    layout = GenomeLayout(layers, RuleConfig(name="hebb_abcd", eta_granularity="layer"))
    assert layout.size == 1 + 4 * 12


@pytest.mark.parametrize("rule", RULES.names())
@pytest.mark.parametrize("granularity", GRANULARITIES)
@pytest.mark.parametrize("recurrent", [False, True])
def test_round_trip_flat_structured_flat(rule, granularity, recurrent):
    layers = network_layers(5, 3, AgentConfig(hidden=(7, 4), recurrent=recurrent))
    layout = GenomeLayout(layers, RuleConfig(name=rule, granularity=granularity))
    flat = torch.randn(3, layout.size)
    structured = layout.split(flat)
    assert torch.equal(layout.join(structured), flat)
    # blocks tile the vector exactly once, in order
    assert sum(b.size for b in layout.blocks) == layout.size
    assert [b.offset for b in layout.blocks] == sorted(b.offset for b in layout.blocks)


def test_split_puts_each_value_in_its_named_block():
    layout = GenomeLayout([LayerShape("l0", 2, 3)], RuleConfig(name="pdp"))
    flat = torch.arange(layout.size, dtype=torch.float32).unsqueeze(0)
    s = layout.split(flat)["l0"]
    assert torch.equal(s["eta"][0], torch.arange(6.0).reshape(2, 3))
    assert torch.equal(s["B"][0], torch.arange(6.0, 12.0).reshape(2, 3))
    assert torch.equal(s["D"][0], torch.arange(12.0, 18.0).reshape(2, 3))


def test_wrong_length_names_expected_and_actual():
    layout = GenomeLayout(network_layers(28, 8, AgentConfig()), RuleConfig())
    with pytest.raises(GenomeShapeError, match=r"\(4, 100\).*\[P, 23040\]"):
        layout.split(torch.zeros(4, 100))


def test_initial_values_and_bounds_per_gene_kind():
    rule = RuleConfig(name="pdp", init={"eta": 0.5}, bounds={"D": [-1.0, 1.0]})
    layout = GenomeLayout([LayerShape("l0", 2, 2)], rule)
    init = layout.split(layout.initial().unsqueeze(0))["l0"]
    assert torch.all(init["eta"] == 0.5) and torch.all(init["B"] == 0.0)
    lo, hi = layout.bounds()
    lo_s, hi_s = layout.split(lo.unsqueeze(0))["l0"], layout.split(hi.unsqueeze(0))["l0"]
    assert torch.all(lo_s["D"] == -1.0) and torch.all(hi_s["D"] == 1.0)
    assert torch.all(torch.isinf(lo_s["eta"]))
    assert GenomeLayout([LayerShape("l0", 2, 2)], RuleConfig()).bounds() is None


def test_bad_rule_configs_give_one_clear_error():
    with pytest.raises(UnknownNameError, match="did you mean 'pdlf'"):
        RuleConfig(name="pdfl").validate()
    with pytest.raises(ConfigError, match="rule.granularity='synapses'.*'synapse'"):
        RuleConfig(granularity="synapses").validate()
    with pytest.raises(ConfigError, match="rule.genes has 'E'"):
        RuleConfig(genes=("eta", "E")).validate()
    with pytest.raises(ConfigError, match=r"rule.bounds.A"):
        RuleConfig(bounds={"A": [1.0, -1.0]}).validate()
