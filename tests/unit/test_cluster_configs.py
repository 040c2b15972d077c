"""docker/ray-cluster*.yaml load with Ray's own cluster-config schema, as `ray up` loads them.

No network: the cluster launcher is only asked to fill in its defaults and validate, and any
attempt to open a connection fails the test.
"""

from __future__ import annotations

import copy
import json
import os
import socket
from pathlib import Path

import pytest
import yaml

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

jsonschema = pytest.importorskip("jsonschema")
import ray  # noqa: E402
from ray.autoscaler._private.util import prepare_config, validate_config  # noqa: E402

DOCKER = Path(__file__).resolve().parents[2] / "docker"
CONFIGS = sorted(DOCKER.glob("ray-cluster*.yaml"))
SCHEMA = json.loads((Path(ray.__file__).parent / "autoscaler" / "ray-schema.json").read_text())


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"a cluster-config check tried to open a connection: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def test_there_is_an_on_premises_and_a_cloud_config():
    providers = {load(p)["provider"]["type"] for p in CONFIGS}
    assert "local" in providers and providers - {"local"}, CONFIGS


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_config_validates_with_rays_schema_as_ray_up_prepares_it(path):
    config = load(path)
    jsonschema.validate(config, SCHEMA)  # the file as written
    prepared = prepare_config(copy.deepcopy(config))  # what `ray up` does before validating
    validate_config(prepared)
    assert prepared["head_node_type"] in prepared["available_node_types"]


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_nodes_install_pdlf_the_readme_way_and_start_ray_without_dashboard(path):
    config = load(path)
    setup = "\n".join(config["setup_commands"])
    assert "pip install --quiet torch==2.13.0" in setup
    assert setup.index("torch==2.13.0") < setup.index("pip install --quiet -e .")  # torch first
    assert config["file_mounts"] == {"~/pdlf": "."}
    head = " ".join(config["head_start_ray_commands"])
    assert "ray start --head" in head and "--include-dashboard=false" in head
    assert all("ray start --address=$RAY_HEAD_IP:6379" in c or "ray stop" in c
               for c in config["worker_start_ray_commands"])


def test_a_misspelt_key_is_refused():
    config = load(CONFIGS[0])
    config["setup_comands"] = config.pop("setup_commands")
    with pytest.raises(jsonschema.ValidationError, match="setup_comands"):
        validate_config(prepare_config(config))
