"""pdlf: evolution strategies over the plasticity rules of spiking neural network agents."""

__version__ = "0.1.0"
