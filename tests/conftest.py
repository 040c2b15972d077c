"""Shared fixtures: Ray on loopback only, shut down after each test that uses it."""

from __future__ import annotations

import os

os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # before any `import ray`: loopback only

import pytest  # noqa: E402


@pytest.fixture
def restore_affinity():
    """The bench commands pin their process to one CPU; give pytest its CPUs back afterwards."""
    cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    yield
    if cpus is not None:
        os.sched_setaffinity(0, cpus)


@pytest.fixture
def local_ray():
    """A local Ray with 2 CPUs on 127.0.0.1, no dashboard; shut down afterwards."""
    import ray

    # address="local": a new Ray even when another one runs on this machine (a SLURM job, a report)
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.fixture
def two_node_cluster():
    """A 2-node Ray cluster on this machine (1 CPU per node), connected; torn down afterwards."""
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    worker_node = cluster.add_node(num_cpus=1)
    try:
        ray.init(address=cluster.address, log_to_driver=False)
        cluster.wait_for_nodes()
        yield cluster, worker_node
    finally:
        ray.shutdown()
        cluster.shutdown()


def _tiny_run(root, rule: str):
    from pdlf.config import config_from_dict
    from pdlf.es.trainer import Trainer

    cfg = config_from_dict(
        {
            "env": {"name": "halfcheetah_vel", "episode_steps": 30},
            "agent": {"hidden": [16]},
            "rule": {"name": rule},
            "es": {"popsize": 4, "generations": 2, "seed": 1},
            "ray": {"workers": 0},
            "log": {"progress": False, "tensorboard": False},
        }
    )
    run_dir = root / f"tiny_{rule}"
    Trainer.create(cfg, run_dir).run()
    return run_dir


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory):
    """Two tiny finished runs made by `pdlf train`'s Trainer in-process: {"plastic": dir, "direct": dir}.

    halfcheetah_vel, hidden [16], popsize 4, 2 generations of 30-step episodes; runners evaluate
    them with their own episode length.
    """
    root = tmp_path_factory.mktemp("runs")
    return {"plastic": _tiny_run(root, "pdlf"), "direct": _tiny_run(root, "none")}
