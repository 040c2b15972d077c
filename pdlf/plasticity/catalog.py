"""The catalogue of plasticity rules a config can name, and the rule section of a run config.

| name        | family    | evolved genes per synapse (or neuron / layer) |
|-------------|-----------|-----------------------------------------------|
| pdlf        | pdlf      | eta, A, B, C, D  (SCP + PDP; PDLF's default)   |
| scp         | pdlf      | eta, A, C        (SCP only: B = D = 0)         |
| pdp         | pdlf      | eta, B, D        (PDP only, the authors' "BD") |
| pdlf_acd    | pdlf      | eta, A, C, D     (the authors' "ACD" variant)  |
| hebb_abcd   | hebb_abcd | eta, A, B, C, D  (Najarro & Risi)              |
| hebb_abc    | hebb_abcd | eta, A, B, C                                    |
| hebb_ad     | hebb_abcd | eta, A, D                                       |
| hebb_a      | hebb_abcd | eta, A                                          |
| tf_hebb     | three_factor | eta, decay  (eligibility of centred pre x post, ΔW = η M e) |
| tf_delta    | three_factor | eta, decay  (normalised delta rule toward the feedback's target, rate in (0, 2)) |
| none        | none      | W (the weights themselves: direct-weight baseline) |

Genes left out of a rule are fixed at 0 (``eta`` at 1 where it is left out). ``RuleConfig.genes``
overrides a two-factor rule's gene set, so another assignment of terms to SCP and PDP can run
without code. The three-factor rules (`pdlf.plasticity.three_factor`) take their third factor from
``rule.modulator`` (`pdlf.plasticity.modulators`: ``feedback``, ``reward`` or ``perturbation``).
``rule.layers`` gives single layers another rule than ``rule.name`` (e.g. a plastic readout on
directly evolved hidden layers: ``{name: none, layers: {out: tf_delta}}``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from pdlf.errors import ConfigError
from pdlf.plasticity.modulators import MODULATORS
from pdlf.plasticity.rules import Genes, RuleCoefficients, hebb_abcd_coefficients, pdlf_coefficients
from pdlf.registry import Registry, did_you_mean

GRANULARITIES = ("synapse", "post", "layer")
RULE_GENE_NAMES = ("eta", "A", "B", "C", "D", "decay")
TWO_FACTOR_GENES = ("eta", "A", "B", "C", "D")  # what rule.genes may name
THREE_FACTOR = "three_factor"  # family of the rules with a modulator


@dataclass(frozen=True)
class RuleSpec:
    """A named rule: its family's coefficient function, default genes and normalisation."""

    name: str
    family: str
    genes: tuple[str, ...]
    coefficients: Callable[[Genes], RuleCoefficients] | None
    normalize: bool
    description: str
    layer_level: tuple[str, ...] = ()  # genes that are one per layer whatever rule.granularity says


RULES: Registry[RuleSpec] = Registry("plasticity rule")
for _spec in (
    RuleSpec("pdlf", "pdlf", ("eta", "A", "B", "C", "D"), pdlf_coefficients, True, "SCP + PDP (PDLF)"),
    RuleSpec("scp", "pdlf", ("eta", "A", "C"), pdlf_coefficients, True, "SCP only (ablation)"),
    RuleSpec("pdp", "pdlf", ("eta", "B", "D"), pdlf_coefficients, True, "PDP only (ablation, 'BD')"),
    RuleSpec("pdlf_acd", "pdlf", ("eta", "A", "C", "D"), pdlf_coefficients, True, "PDLF 'ACD' variant"),
    RuleSpec("hebb_abcd", "hebb_abcd", ("eta", "A", "B", "C", "D"), hebb_abcd_coefficients, True, "Najarro & Risi ABCD"),
    RuleSpec("hebb_abc", "hebb_abcd", ("eta", "A", "B", "C"), hebb_abcd_coefficients, True, "Najarro & Risi ABC"),
    RuleSpec("hebb_ad", "hebb_abcd", ("eta", "A", "D"), hebb_abcd_coefficients, True, "Najarro & Risi AD"),
    RuleSpec("hebb_a", "hebb_abcd", ("eta", "A"), hebb_abcd_coefficients, True, "Najarro & Risi A (plain Hebb)"),
    RuleSpec("tf_hebb", THREE_FACTOR, ("eta", "decay"), None, False, "three-factor Hebbian: eligibility x modulator"),
    RuleSpec("tf_delta", THREE_FACTOR, ("eta", "decay"), None, False, "three-factor delta rule toward the feedback",
             layer_level=("decay",)),
    RuleSpec("none", "none", ("W",), None, False, "no plasticity: the genome is the weights"),
):
    RULES.register(_spec.name, _spec)


@dataclass(frozen=True)
class RuleConfig:
    """Which plasticity rule the agents use and how its genes are shared.

    Attributes:
        name: a rule from the catalogue (module docstring).
        granularity: ``synapse`` (one gene set per synapse, PDLF), ``post`` (per postsynaptic
            neuron) or ``layer`` (one shared rule per layer).
        genes: override of the rule's evolved genes (subset of eta, A, B, C, D); () = the rule's.
        eta_granularity: granularity of ``eta`` alone ("" = same as ``granularity``); Najarro &
            Risi's "without per-synapse eta" is ``layer``.
        normalize: divide W by max|W| per layer and agent after every update (None = the rule's
            default: on for every plastic rule).
        init: initial value per gene kind (e.g. ``{eta: 0.0}``); unnamed kinds start at 0.
        bounds: ``[low, high]`` per gene kind; unnamed kinds are unbounded. Every evaluated genome is
            clipped to [low, high], the searcher's centre is kept inside [low, high] after every
            tell, and the searcher's update uses the unclipped samples.
        modulator: the third factor of the three-factor rules and intrinsic rules:
            ``feedback``, ``reward`` or ``perturbation`` (`pdlf.plasticity.modulators`).
        layers: per-layer rule names that replace ``name`` on those layers (``l0``, ``rec0``,
            ``out``, ...); the other layers use ``name``.
    """

    name: str = "pdlf"
    granularity: str = "synapse"
    genes: tuple[str, ...] = ()
    eta_granularity: str = ""
    normalize: bool | None = None
    init: dict[str, float] = field(default_factory=dict)
    bounds: dict[str, list[float]] = field(default_factory=dict)
    modulator: str = "feedback"
    layers: dict[str, str] = field(default_factory=dict)

    def spec(self) -> RuleSpec:
        return RULES.get(self.name)

    def layer_spec(self, layer: str) -> RuleSpec:
        """The rule of weight matrix ``layer`` (``rule.layers`` or else ``rule.name``)."""
        return RULES.get(self.layers.get(layer, self.name))

    def evolved_genes(self) -> tuple[str, ...]:
        spec = self.spec()
        return tuple(self.genes) if self.genes and spec.family not in ("none", THREE_FACTOR) else spec.genes

    def layer_genes(self, layer: str) -> tuple[str, ...]:
        """The evolved genes of ``layer``: `evolved_genes` where it uses ``name``, else its rule's own."""
        return self.evolved_genes() if layer not in self.layers else self.layer_spec(layer).genes

    def families(self) -> set[str]:
        """Every rule family the rule's layers use."""
        return {self.spec().family} | {RULES.get(r).family for r in self.layers.values()}

    def normalizes(self) -> bool:
        return self.spec().normalize if self.normalize is None else bool(self.normalize)

    def validate(self) -> None:
        """Raise `ConfigError` naming the first bad field."""
        spec = self.spec()  # unknown name -> UnknownNameError with a hint
        for label, value in (("granularity", self.granularity), ("eta_granularity", self.eta_granularity or "synapse")):
            if value not in GRANULARITIES:
                raise ConfigError(f"rule.{label}={value!r}: {did_you_mean(value, GRANULARITIES)}")
        for g in self.genes:
            if g not in TWO_FACTOR_GENES:
                raise ConfigError(f"rule.genes has {g!r}: {did_you_mean(g, TWO_FACTOR_GENES)}")
        if self.modulator not in MODULATORS:
            raise ConfigError(f"rule.modulator={self.modulator!r}: {did_you_mean(self.modulator, MODULATORS)}")
        for layer, name in self.layers.items():
            if name not in RULES:
                raise ConfigError(f"rule.layers.{layer}={name!r}: {did_you_mean(str(name), tuple(RULES))}")
        for name in {self.name, *self.layers.values()}:
            if name == "tf_delta" and self.modulator != "feedback":
                raise ConfigError(f"rule tf_delta with rule.modulator={self.modulator!r}: the delta rule corrects toward"
                                  " a target, which only the feedback modulator reads; set rule.modulator=feedback"
                                  " (or use tf_hebb)")
        families = self.families()
        kinds = tuple(dict.fromkeys((*(RULE_GENE_NAMES if families - {"none"} else ()),
                                     *(("W",) if "none" in families else ()))))
        for label, table in (("init", self.init), ("bounds", self.bounds)):
            for k in table:
                if k not in kinds:
                    raise ConfigError(f"rule.{label} has gene kind {k!r}: {did_you_mean(k, kinds)}")
        for k, b in self.bounds.items():
            if len(b) != 2 or not float(b[0]) < float(b[1]):
                raise ConfigError(f"rule.bounds.{k}={b!r}: give [low, high] with low < high")
