"""Genome layout: the named, ordered map between a flat ES vector and structured genes.

A genome is one flat vector of length ``size``; a population of genomes is ``[P, size]``. The
layout cuts it into blocks, one per (layer, gene kind), in a fixed order: layers in network order,
genes in the rule's order. Each block has the shape its granularity gives:

| granularity | block shape per agent |
|-------------|-----------------------|
| synapse     | ``(n_in, n_out)``     |
| post        | ``(1, n_out)``        |
| layer       | ``(1, 1)``            |

so every block broadcasts against the layer's weights ``[P, n_in, n_out]``. The direct-weight rule
``none`` has one block ``W`` of shape ``(n_in, n_out)`` per layer. Each layer has the genes of its
own rule (``rule.layers``, else ``rule.name``); a rule's ``layer_level`` genes are ``(1, 1)``.

Example: PDLF's ant_dir network (28 inputs, 128 hidden, 8 actions, per synapse) has
``5 * (28*128 + 128*8) = 23,040`` genes.

Extra direct blocks (``extra_blocks``, e.g. the weights of the hybrid agent's GRU branch,
`pdlf.snn.gru`) follow the rule's blocks, in the order given, each ``(layer, gene, shape)``. They
are evolved directly: initial value 0, unbounded, whatever the rule's ``init`` and ``bounds`` say.
Without extra blocks a layout is exactly the rule's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import Tensor

from pdlf.errors import ConfigError, GenomeShapeError
from pdlf.plasticity.catalog import RuleConfig
from pdlf.registry import did_you_mean


@dataclass(frozen=True)
class LayerShape:
    """A weight matrix of the network: ``name`` and its ``[n_in, n_out]`` size."""

    name: str
    n_in: int
    n_out: int


@dataclass(frozen=True)
class GeneBlock:
    """One (layer, gene kind) slice of the flat genome: ``flat[offset : offset + size]``."""

    layer: str
    gene: str
    shape: tuple[int, int]
    offset: int

    @property
    def size(self) -> int:
        return self.shape[0] * self.shape[1]

    @property
    def name(self) -> str:
        return f"{self.layer}.{self.gene}"


def _block_shape(layer: LayerShape, granularity: str) -> tuple[int, int]:
    return {"synapse": (layer.n_in, layer.n_out), "post": (1, layer.n_out), "layer": (1, 1)}[granularity]


class GenomeLayout:
    """Maps flat genomes ``[P, size]`` to ``{layer: {gene: [P, *block_shape]}}`` and back.

    Args:
        layers: the network's weight matrices, in network order.
        rule: the plasticity rule (its genes per layer).
        extra_blocks: direct blocks ``(layer, gene, (rows, cols))`` after the rule's blocks
            (module docstring); their layer names must differ from ``layers``' names.
    """

    def __init__(
        self, layers: list[LayerShape], rule: RuleConfig, extra_blocks: Sequence[tuple[str, str, tuple[int, int]]] = ()
    ) -> None:
        rule.validate()
        self.layers = list(layers)
        self.rule = rule
        self.genes = rule.evolved_genes()
        names = {layer.name for layer in self.layers}
        for name in rule.layers:
            if name not in names:
                raise ConfigError(f"rule.layers has layer {name!r}, which this network lacks: "
                                  f"{did_you_mean(str(name), tuple(l.name for l in self.layers))}")
        blocks: list[GeneBlock] = []
        offset = 0
        for layer in self.layers:
            spec = rule.layer_spec(layer.name)
            direct = spec.family == "none"
            for gene in rule.layer_genes(layer.name):
                if direct:
                    granularity = "synapse"
                elif gene in spec.layer_level:
                    granularity = "layer"
                elif gene == "eta" and rule.eta_granularity:
                    granularity = rule.eta_granularity
                else:
                    granularity = rule.granularity
                block = GeneBlock(layer.name, gene, _block_shape(layer, granularity), offset)
                blocks.append(block)
                offset += block.size
        self.rule_blocks = blocks  # `blocks` is these, then `extra_blocks`
        self.extra_blocks: list[GeneBlock] = []
        for layer_name, gene, shape in extra_blocks:
            shape = tuple(int(n) for n in shape)
            if len(shape) != 2 or min(shape) < 1:
                raise GenomeShapeError(f"extra gene block {layer_name}.{gene}: shape {shape} is not two positive sizes")
            if layer_name in names or any(b.name == f"{layer_name}.{gene}" for b in self.extra_blocks):
                raise GenomeShapeError(f"extra gene block {layer_name}.{gene} clashes with another block of the layout")
            block = GeneBlock(str(layer_name), str(gene), shape, offset)
            self.extra_blocks.append(block)
            offset += block.size
        self.blocks = blocks + self.extra_blocks
        self.size = offset

    def __repr__(self) -> str:
        extra = f", extra={[b.name for b in self.extra_blocks]}" if self.extra_blocks else ""
        return f"GenomeLayout(rule={self.rule.name!r}, genes={self.genes}{extra}, size={self.size})"

    def _extra_text(self) -> str:
        if not self.extra_blocks:
            return ""
        return " + direct " + ", ".join(f"{b.name} {b.shape[0]}x{b.shape[1]}" for b in self.extra_blocks)

    def check(self, genomes: Tensor) -> Tensor:
        """Return ``genomes`` as ``[P, size]`` or raise `GenomeShapeError` naming both sizes."""
        if genomes.ndim == 1:
            genomes = genomes.unsqueeze(0)
        if genomes.ndim != 2 or genomes.shape[1] != self.size:
            raise GenomeShapeError(
                f"genome has shape {tuple(genomes.shape)}, expected [P, {self.size}] for rule "
                f"{self.rule.name!r} ({'/'.join(self.genes)}, {self.rule.granularity}) on layers "
                + ", ".join(f"{l.name} {l.n_in}x{l.n_out}" for l in self.layers)
                + self._extra_text()
                + "; build genomes with this layout (layout.size) or fix the network/rule config"
            )
        return genomes

    def split(self, genomes: Tensor) -> dict[str, dict[str, Tensor]]:
        """``[P, size]`` → ``{layer: {gene: [P, *shape]}}`` (views into ``genomes``)."""
        genomes = self.check(genomes)
        pop = genomes.shape[0]
        out: dict[str, dict[str, Tensor]] = {layer.name: {} for layer in self.layers}
        out.update({b.layer: {} for b in self.extra_blocks})
        for b in self.blocks:
            out[b.layer][b.gene] = genomes[:, b.offset : b.offset + b.size].reshape(pop, *b.shape)
        return out

    def join(self, structured: dict[str, dict[str, Tensor]]) -> Tensor:
        """Inverse of `split`: ``{layer: {gene: [P, *shape]}}`` → ``[P, size]``."""
        parts = []
        for b in self.blocks:
            t = structured[b.layer][b.gene]
            if tuple(t.shape[1:]) != b.shape:
                raise GenomeShapeError(f"gene block {b.name} has shape {tuple(t.shape[1:])}, expected {b.shape}")
            parts.append(t.reshape(t.shape[0], b.size))
        return torch.cat(parts, dim=1)

    def initial(self, dtype: torch.dtype = torch.float32) -> Tensor:
        """The initial genome ``[size]``: each rule block filled with its gene kind's ``rule.init``;
        extra blocks 0."""
        vec = torch.zeros(self.size, dtype=dtype)
        for b in self.rule_blocks:
            vec[b.offset : b.offset + b.size] = float(self.rule.init.get(b.gene, 0.0))
        return vec

    def bounds(self, dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor] | None:
        """Lower and upper bounds ``[size]`` from ``rule.bounds`` (±inf where unbounded, and on
        every extra block), or None if the rule has no bounds."""
        if not self.rule.bounds:
            return None
        lo = torch.full((self.size,), -math.inf, dtype=dtype)
        hi = torch.full((self.size,), math.inf, dtype=dtype)
        for b in self.rule_blocks:
            if b.gene in self.rule.bounds:
                low, high = self.rule.bounds[b.gene]
                lo[b.offset : b.offset + b.size] = float(low)
                hi[b.offset : b.offset + b.size] = float(high)
        return lo, hi

    def describe(self) -> list[dict]:
        """One row per block (name, shape, offset, size), for logs and ``--json`` outputs."""
        return [{"name": b.name, "shape": list(b.shape), "offset": b.offset, "size": b.size} for b in self.blocks]
