"""``pdlf bench agent``: the agent's cost per agent-step against the task's physics, one run.

Prints one JSON object (``--json``) with ``agent_us_per_agent_step`` (population of ``--pop`` in
one tensor), ``single_agent_us_per_step`` (one agent per call), ``physics_us_per_step``
(``mj_step`` × frame_skip on the task's MuJoCo model, one ``MjData``) and ``ratio`` =
agent / physics. Everything runs on one thread so the figures compare like with like; agent and physics timings are
interleaved ``--repeats`` times and the fastest of each is reported.
"""

from __future__ import annotations

import argparse
import time

import torch

from pdlf.plasticity.catalog import RuleConfig
from pdlf.snn.network import AgentConfig, PlasticSNN


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env", default="halfcheetah_vel", help="task whose sizes and physics to use")
    parser.add_argument("--pop", type=int, default=64, help="agents in one tensor")
    parser.add_argument("--rule", default="pdlf", help="plasticity rule (none = direct weights)")
    parser.add_argument("--hidden", type=int, nargs="+", default=[128], help="hidden layer sizes")
    parser.add_argument("--steps", type=int, default=1000, help="agent steps to time")
    parser.add_argument("--device", default="cpu", help="torch device of the agents")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats; the fastest of each is reported")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def time_agent(
    obs_dim: int, act_dim: int, pop: int, steps: int, agent: AgentConfig, rule: RuleConfig, blocks: int = 3
) -> float:
    """Seconds per ``act`` call for ``pop`` agents (the fastest of ``blocks`` timed blocks)."""
    net = PlasticSNN(obs_dim, act_dim, agent, rule)
    gen = torch.Generator().manual_seed(0)
    genomes = torch.randn(pop, net.layout.size, generator=gen) * 0.1
    obs = torch.randn(64, pop, obs_dim, generator=gen)
    net.reset(genomes, 0)
    sync = torch.cuda.synchronize if net.device.type == "cuda" else (lambda: None)
    for t in range(20):
        net.act(obs[t % 64].to(net.device))
    obs = obs.to(net.device)
    times = []
    for _ in range(blocks):
        sync()
        t0 = time.perf_counter()
        for t in range(steps):
            net.act(obs[t % 64])
        sync()
        times.append((time.perf_counter() - t0) / steps)
    return float(min(times))


def run(args: argparse.Namespace) -> int:
    from pdlf.benchmarks import time_physics
    from pdlf.outputs import print_result
    from pdlf.envs import get_task

    spec = get_task(args.env)
    torch.set_num_threads(1)
    agent = AgentConfig(hidden=tuple(args.hidden), device=args.device)
    rule = RuleConfig(name=args.rule)
    rule.validate()
    # interleaved repeats, fastest of each: other load on the machine only ever slows a block down
    pop_s = one_s = phys_s = float("inf")
    for _ in range(args.repeats):
        pop_s = min(pop_s, time_agent(spec.obs_dim, spec.act_dim, args.pop, args.steps, agent, rule))
        one_s = min(one_s, time_agent(spec.obs_dim, spec.act_dim, 1, max(args.steps // 4, 100), agent, rule, 1))
        t, frame_skip = time_physics(spec.gym_id, max(args.steps, 2000))
        phys_s = min(phys_s, t)
    agent_us = pop_s * 1e6 / args.pop
    result = {
        "benchmark": "agent",
        "env": spec.name,
        "network": [spec.obs_dim, *args.hidden, spec.act_dim],
        "rule": args.rule,
        "pop": args.pop,
        "device": args.device,
        "threads": torch.get_num_threads(),
        "agent_us_per_agent_step": round(agent_us, 3),
        "agent_us_per_pop_step": round(pop_s * 1e6, 2),
        "single_agent_us_per_step": round(one_s * 1e6, 2),
        "physics_us_per_step": round(phys_s * 1e6, 2),
        "frame_skip": frame_skip,
        "ratio": round(agent_us / (phys_s * 1e6), 4),
        "single_agent_ratio": round(one_s / phys_s, 4),
        "torch": torch.__version__,
    }
    print_result(result, args.json)
    return 0
