"""The effective STDP window of an evolved plasticity rule (``pdlf analyze``'s ``stdp.png``).

    window = stdp_window(coeffs)                  # [L, n_in, n_out] summed dW per lag
    summary = stdp_summary(cfg, genome, obs_dim, act_dim)

A lag is ``t_post - t_pre`` in steps, relative to the pre spike (at time 0): not an episode step.
"""

from __future__ import annotations

import numpy as np
import torch

from pdlf.outputs import rounded
from pdlf.plasticity.rules import RuleCoefficients, plasticity_delta
from pdlf.snn.lif import TRACE_DECAY

STDP_LAGS = np.arange(-10, 11)
STDP_TAIL = 40  # steps simulated after the later spike: the traces have decayed by e^-40 by then
N_SYNAPSES_SHOWN = 4


def stdp_window(coeffs: RuleCoefficients, lags: np.ndarray = STDP_LAGS, tail: int = STDP_TAIL) -> np.ndarray:
    """Weight change of every synapse of a layer for one pre spike at step 0 and one post spike
    at step ``lag``.

    Both sides are modelled as the trace a single +1 spike leaves in an LIF neuron,
    ``z_t = z_{t-1}/e + s_t (1 - 1/e)`` (what the rule sees as post activity of a hidden layer and
    as pre activity of the next layer), and the rule's per-step ``dW`` is summed over every step
    until both traces have decayed. The spike-independent drift ``K_0`` is left out (it adds
    ``K_0`` per step whatever the spikes do), and so is the max-|W| normalisation (a layer-wide
    rescaling, not a property of one synapse).

    Args:
        coeffs: the layer's canonical coefficients, each broadcastable to ``[1, n_in, n_out]``.
        lags: ``[L]`` post-minus-pre spike lags in steps.
        tail: steps simulated after the later of the two spikes.

    Returns:
        ``[L, n_in, n_out]`` float64 summed ``dW``.
    """
    lags = np.asarray(lags, dtype=np.int64)
    shapes = [c.shape for c in coeffs if c is not None]
    if not shapes:
        raise ValueError("stdp_window needs a rule with at least one coefficient")
    n_in = max(s[1] for s in shapes)
    n_out = max(s[2] for s in shapes)
    spiking = RuleCoefficients(*(None if c is None else c.detach().to("cpu", torch.float64) for c in coeffs[:3]), None)
    n_lags = len(lags)
    start, stop = min(0, int(lags.min())), max(0, int(lags.max())) + tail
    lag = torch.as_tensor(lags)
    z_pre = torch.zeros(n_lags, n_in, dtype=torch.float64)
    z_post = torch.zeros(n_lags, n_out, dtype=torch.float64)
    total = torch.zeros(n_lags, n_in, n_out, dtype=torch.float64)
    for t in range(start, stop + 1):
        s_pre = torch.full((n_lags, 1), float(t == 0), dtype=torch.float64)
        s_post = (lag == t).to(torch.float64).unsqueeze(1)
        z_pre = torch.lerp(s_pre.expand_as(z_pre), z_pre, TRACE_DECAY)
        z_post = torch.lerp(s_post.expand_as(z_post), z_post, TRACE_DECAY)
        total += plasticity_delta(z_pre, z_post, spiking)
    return total.numpy()


def stdp_summary(cfg, genome: torch.Tensor, obs_dim: int, act_dim: int) -> dict:
    """The STDP window of every layer of a plastic run's genome, summarised for JSON.

    The headline layer is a hidden→hidden layer if the network has one, else hidden→readout:
    their presynaptic activity is a hidden trace (the first layer's is the raw input).
    """
    from pdlf.envs import get_task
    from pdlf.snn.network import genome_layout, network_layers

    # the SNN's two-factor layers (a GRU branch, direct and three-factor layers have no window)
    layers = [l for l in network_layers(obs_dim, act_dim, cfg.agent) if cfg.rule.layer_spec(l.name).coefficients]
    if not layers:
        return {"skipped": "no layer has a two-factor rule (direct or three-factor layers only), so no STDP window",
                "lags": [], "mean_dw": []}
    layout = genome_layout(obs_dim, act_dim, cfg.agent, cfg.rule, len(get_task(cfg.env.name).feedback_channels))
    genes = layout.split(genome.reshape(1, -1).to(torch.float64))
    windows, drift = {}, {}
    for layer in layers:
        coeffs = cfg.rule.layer_spec(layer.name).coefficients(genes[layer.name])
        windows[layer.name] = stdp_window(coeffs)
        drift[layer.name] = 0.0 if coeffs.k_0 is None else float(coeffs.k_0.mean())
    names = [l.name for l in layers]
    head = "l1" if "l1" in names else ("out" if "out" in names else names[-1])
    w = windows[head].reshape(len(STDP_LAGS), -1)  # [L, n_in * n_out]
    score = np.ptp(w, axis=0) if np.ptp(w, axis=0).max() > 0 else np.abs(w[0])
    picked = np.argsort(-score, kind="stable")[:N_SYNAPSES_SHOWN]
    n_out = windows[head].shape[2]
    return {
        "skipped": None,
        "layer": head,
        "lags": STDP_LAGS.tolist(),
        "mean_dw": rounded(w.mean(1)),
        "layers": {name: rounded(win.reshape(len(STDP_LAGS), -1).mean(1)) for name, win in windows.items()},
        "synapses": [{"pre": int(i // n_out), "post": int(i % n_out), "dw": rounded(w[:, i])} for i in picked],
        "drift_per_step": {k: float(f"{v:.6g}") for k, v in drift.items()},
        "definition": "summed dW for a pre spike at step 0 and a post spike at step lag, both as LIF traces; "
                      "drift K_0 and max-|W| normalisation left out",
    }
