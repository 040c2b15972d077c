"""Shared fixtures: Ray on loopback only, shut down after each test that uses it."""

from __future__ import annotations

import os

os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # before any `import ray`: loopback only

import pytest  # noqa: E402


@pytest.fixture
def local_ray():
    """A local Ray with 2 CPUs on 127.0.0.1, no dashboard; shut down afterwards."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
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
