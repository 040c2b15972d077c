"""Run configuration: one frozen dataclass per section, loaded from YAML with dotted overrides.

    cfg = load_config("configs/halfcheetah_vel.yaml", ["es.popsize=32", "ray.workers=0"])

Sections: ``env`` (task and episodes), ``agent`` (network), ``rule`` (plasticity), ``es``
(search), ``ray`` (workers), ``log`` and ``checkpoint``. Defaults live in the dataclasses; a YAML
file may ``include`` another (path relative to the including file) and override its values.
Every mistake (unknown key, wrong type, value out of range) raises one `ConfigError` naming the
dotted key, what was wrong, and the closest valid key where there is one.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib.util
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pdlf.errors import ConfigError
from pdlf.plasticity.catalog import RuleConfig
from pdlf.registry import did_you_mean
from pdlf.snn.network import DEVICE_NAME, AgentConfig

BACKENDS = ("mujoco", "mjwarp")
FRICTION_CONES = ("pyramidal", "elliptic")
MJWARP_TASKS = ("ant_dir", "swimmer_dir", "halfcheetah_vel", "hopper_vel", "fetch", "ur5e")  # tasks MuJoCo Warp simulates
SEARCHERS = ("pgpe", "snes", "xnes", "cem", "cmaes", "openai_es")
OPTIMIZERS = ("adam", "clipup", "sgd")


@dataclass(frozen=True)
class EnvConfig:
    """The task and how a genome is scored on it.

    Attributes:
        name: task name (``pdlf envs`` lists them).
        goals: goals for fitness; empty = the task's 8-goal training grid.
        repeats: episodes per goal per generation, each with a fresh env seed (PDLF: 8).
        episode_steps: steps per episode (0 = the task's own, 1000).
        normalize_obs: normalise observations with running statistics (goal columns stay raw).
        obs_clip: clip normalised observations to ``±obs_clip``.
        extrapolate: allow goals outside the task's range.
        params: the task's own settings (``pdlf envs`` lists each task's), e.g. the copy task's
            ``{length: 8, delay: 16}``; empty for the locomotion tasks.
        backend: physics engine: ``mujoco`` (C MuJoCo, the reference) or ``mjwarp`` (MuJoCo
            Warp, one world per episode on ``device``; the optional extra ``pip install -e
            '.[gpu]'``; ant_dir, swimmer_dir, halfcheetah_vel, hopper_vel, fetch and ur5e).
        device: where ``mjwarp`` simulates: ``cpu``, ``cuda`` or ``cuda:N`` (``mujoco``: cpu only).
        friction_cone: MuJoCo's contact friction cone, set on the model in either backend:
            ``pyramidal`` (the models' own) or ``elliptic`` (the two engines agree under it on
            contact tasks such as ant_dir).
        mirror_pairs: the repeats of a goal come in mirrored twins (repeat ``2k + 1`` is repeat
            ``2k``'s episode with every correct answer flipped; the cognitive tasks): an output
            bias cancels exactly in the fitness, and training logs how much of the fitness spread
            is learning and how much bias (`pdlf.es.generation.fitness_parts`). Needs even repeats.
    """

    name: str = "halfcheetah_vel"
    goals: tuple[float, ...] = ()
    repeats: int = 1
    episode_steps: int = 0
    normalize_obs: bool = True
    obs_clip: float = 5.0
    extrapolate: bool = False
    params: dict[str, Any] = field(default_factory=dict)
    backend: str = "mujoco"
    device: str = "cpu"
    friction_cone: str = "pyramidal"
    mirror_pairs: bool = False

    def validate(self) -> None:
        if self.repeats < 1:
            raise ConfigError(f"env.repeats={self.repeats}: must be >= 1")
        if self.episode_steps < 0:
            raise ConfigError(f"env.episode_steps={self.episode_steps}: must be >= 0 (0 = the task's own)")
        if self.obs_clip <= 0:
            raise ConfigError(f"env.obs_clip={self.obs_clip}: must be > 0")
        if self.backend not in BACKENDS:
            raise ConfigError(f"env.backend={self.backend!r}: {did_you_mean(self.backend, BACKENDS)}")
        if self.friction_cone not in FRICTION_CONES:
            raise ConfigError(
                f"env.friction_cone={self.friction_cone!r}: {did_you_mean(self.friction_cone, FRICTION_CONES)}"
            )
        if not DEVICE_NAME.fullmatch(self.device):
            raise ConfigError(f"env.device={self.device!r}: give cpu, cuda or cuda:N (N = 0, 1, ...)")
        if self.backend == "mujoco" and self.device != "cpu":
            raise ConfigError(
                f"env.device={self.device!r} with env.backend=mujoco: C MuJoCo runs on the cpu only;"
                " set env.backend=mjwarp to simulate on a GPU"
            )
        if self.backend == "mjwarp":
            check_mjwarp(self.name)

    def physics(self) -> dict[str, str]:
        """The keyword arguments ``make_batched`` takes from this section: ``backend``,
        ``device`` and ``friction_cone``."""
        return {"backend": self.backend, "device": self.device, "friction_cone": self.friction_cone}


def check_mjwarp(task: str) -> None:
    """`ConfigError` unless MuJoCo Warp is installed and simulates ``task`` (`MJWARP_TASKS`).

    Looks the packages up without importing them (importing warp takes seconds).
    """
    from pdlf.envs import get_task

    get_task(task)  # an unknown name fails with its own "did you mean" first
    missing = [name for name in ("warp", "mujoco_warp") if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigError(
            f"env.backend=mjwarp needs MuJoCo Warp ({' and '.join(missing)} not installed):"
            " pip install -e '.[gpu]'"
        )
    if task not in MJWARP_TASKS:
        raise ConfigError(
            f"env.backend=mjwarp simulates {', '.join(MJWARP_TASKS)}; task {task!r} runs on"
            " env.backend=mujoco only"
        )


@dataclass(frozen=True)
class ESConfig:
    """The evolution strategy (PDLF's PGPE settings by default).

    Attributes:
        searcher: pgpe, snes, xnes, cem, cmaes or openai_es (pdlf/es/strategies/).
        popsize: population size per generation (even for the antithetic PGPE and OpenAI-ES).
        generations: generations to run.
        seed: master seed of the search (sampling, env seeds).
        sigma_init: initial per-parameter search standard deviation (OpenAI-ES: its fixed sigma).
        center_lr: learning rate of the centre's optimiser (PGPE, OpenAI-ES) or of the centre's
            natural-gradient step (SNES, XNES); unused by CEM and CMA-ES.
        sigma_lr: learning rate of sigma (PGPE, SNES, XNES); >= 0.
        max_sigma_change: bound on sigma's relative change per generation (PGPE and CEM: 0.2;
            0 = unbounded); in [0, 1).
        optimizer: centre optimiser for PGPE: adam, clipup or sgd (OpenAI-ES always uses adam).
        clipup_max_speed: ClipUp's maximum speed (0 = 2 * center_lr).
        parents: fraction of the population used as parents (CEM; at least 2 parents).
        weight_decay: L2 weight decay on the centre (OpenAI-ES): ``weight_decay * center`` is
            subtracted from the gradient before Adam; >= 0, 0 = off.
        eval_center: evaluate the distribution's centre every generation (reported as "center").
    """

    searcher: str = "pgpe"
    popsize: int = 64
    generations: int = 100
    seed: int = 0
    sigma_init: float = 0.04
    center_lr: float = 0.01
    sigma_lr: float = 0.07
    max_sigma_change: float = 0.2
    optimizer: str = "adam"
    clipup_max_speed: float = 0.0
    parents: float = 0.5
    weight_decay: float = 0.0
    eval_center: bool = True

    def validate(self) -> None:
        if self.searcher not in SEARCHERS:
            raise ConfigError(f"es.searcher={self.searcher!r}: {did_you_mean(self.searcher, SEARCHERS)}")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"es.optimizer={self.optimizer!r}: {did_you_mean(self.optimizer, OPTIMIZERS)}")
        if self.popsize < 2:
            raise ConfigError(f"es.popsize={self.popsize}: must be >= 2")
        if self.searcher in ("pgpe", "openai_es") and self.popsize % 2:
            name = "PGPE" if self.searcher == "pgpe" else "OpenAI-ES"
            raise ConfigError(f"es.popsize={self.popsize}: {name} samples antithetic pairs, use an even number")
        if self.generations < 1:
            raise ConfigError(f"es.generations={self.generations}: must be >= 1")
        for key in ("sigma_init", "center_lr"):
            if getattr(self, key) <= 0:
                raise ConfigError(f"es.{key}={getattr(self, key)}: must be > 0")
        if not 0 < self.parents <= 1:
            raise ConfigError(f"es.parents={self.parents}: must be in (0, 1]")
        if self.sigma_lr < 0:
            raise ConfigError(f"es.sigma_lr={self.sigma_lr}: must be >= 0")
        if not 0 <= self.max_sigma_change < 1:
            raise ConfigError(f"es.max_sigma_change={self.max_sigma_change}: must be in [0, 1) (0 = unbounded)")
        if self.clipup_max_speed < 0:
            raise ConfigError(f"es.clipup_max_speed={self.clipup_max_speed}: must be >= 0 (0 = 2 * center_lr)")
        if self.weight_decay < 0:
            raise ConfigError(f"es.weight_decay={self.weight_decay}: must be >= 0 (0 = off)")


@dataclass(frozen=True)
class RayConfig:
    """Where rollouts run.

    Attributes:
        workers: Ray worker actors (0 = evaluate in this process).
        address: an existing Ray cluster's address; empty = start a local Ray on 127.0.0.1.
        cpus_per_worker: CPUs Ray reserves per worker.
        gpus_per_worker: GPUs Ray reserves per worker (for ``agent.device: cuda``).
        max_retries: times a slice of work is re-run after its worker died, before giving up.
        max_batch: rollouts a worker steps together in one batch (bounds its memory).
        connect_timeout_s: seconds to reach the cluster at ``address`` (TCP connect, then a
            gRPC handshake with its GCS) before failing with one line; default 10.
        start_timeout_s: seconds to wait for the workers to start (import torch and MuJoCo)
            before going on with those that did; default 120.
        first_slice_timeout_s: a slice's deadline (seconds) before any slice time has been
            measured (the first generation pays for warm-up); default 600.
        slice_timeout_floor_s: the least deadline (seconds) of a slice once times are measured;
            default 30.
        slice_timeout_factor: a slice's deadline is ``max(slice_timeout_floor_s, factor x the
            slowest slice of the last two generations)``; past it the slice is re-run on another
            worker and the late worker is restarted; default 5.
    """

    workers: int = 2
    address: str = ""
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0
    max_retries: int = 3
    max_batch: int = 128
    connect_timeout_s: float = 10.0
    start_timeout_s: float = 120.0
    first_slice_timeout_s: float = 600.0
    slice_timeout_floor_s: float = 30.0
    slice_timeout_factor: float = 5.0

    def validate(self) -> None:
        if self.workers < 0:
            raise ConfigError(f"ray.workers={self.workers}: must be >= 0 (0 = in-process)")
        if self.cpus_per_worker <= 0:
            raise ConfigError(f"ray.cpus_per_worker={self.cpus_per_worker}: must be > 0")
        if self.max_retries < 0:
            raise ConfigError(f"ray.max_retries={self.max_retries}: must be >= 0")
        if self.max_batch < 1:
            raise ConfigError(f"ray.max_batch={self.max_batch}: must be >= 1")
        for key in ("connect_timeout_s", "start_timeout_s", "first_slice_timeout_s", "slice_timeout_floor_s"):
            if getattr(self, key) <= 0:
                raise ConfigError(f"ray.{key}={getattr(self, key)}: must be > 0 seconds")
        if self.slice_timeout_factor < 1:
            raise ConfigError(
                f"ray.slice_timeout_factor={self.slice_timeout_factor}: must be >= 1 (a multiple of the slowest slice)"
            )


@dataclass(frozen=True)
class LogConfig:
    """Where and how a run reports.

    Attributes:
        root: directory under which run directories are made.
        name: run directory name (empty = ``{task}__{rule}__s{seed}__{timestamp}``).
        tensorboard: write TensorBoard event files.
        progress: show a progress bar on stderr.
    """

    root: str = "runs"
    name: str = ""
    tensorboard: bool = True
    progress: bool = True


@dataclass(frozen=True)
class CheckpointConfig:
    """Checkpoints: every ``every`` generations and at the end (0 = only at the end)."""

    every: int = 10

    def validate(self) -> None:
        if self.every < 0:
            raise ConfigError(f"checkpoint.every={self.every}: must be >= 0")


@dataclass(frozen=True)
class RunConfig:
    """A whole run: every section with its defaults."""

    env: EnvConfig = field(default_factory=EnvConfig)
    agent: AgentConfig = field(default_factory=AgentConfig)
    rule: RuleConfig = field(default_factory=RuleConfig)
    es: ESConfig = field(default_factory=ESConfig)
    ray: RayConfig = field(default_factory=RayConfig)
    log: LogConfig = field(default_factory=LogConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)

    def validate(self) -> "RunConfig":
        from pdlf.envs import get_task  # task names resolve through the env registry

        for f in dataclasses.fields(self):
            section = getattr(self, f.name)
            if hasattr(section, "validate"):
                section.validate()
        spec = get_task(self.env.name)
        spec.check_params(self.env.params)
        if self.env.mirror_pairs and not spec.mirror_bit:
            raise ConfigError(f"env.mirror_pairs=true: task {self.env.name} has no mirrored twins (dms, ctx_dms, gng_dr2"
                              " and gng_dr4 do); set env.mirror_pairs=false")
        if self.env.mirror_pairs and self.env.repeats % 2:
            raise ConfigError(f"env.mirror_pairs=true with env.repeats={self.env.repeats}: twins come in pairs;"
                              " make env.repeats even")
        share = self.agent.weight_sharing
        if share > 1 and self.env.repeats % share:
            raise ConfigError(
                f"agent.weight_sharing={share} with env.repeats={self.env.repeats}: a shared fast-weight set"
                f" needs {share} sequences of one goal; make env.repeats a multiple of {share}"
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        return _plain(dataclasses.asdict(self))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


# ------------------------------------------------------------------------------------ loading
def _coerce(value: Any, hint: Any, key: str) -> Any:
    """Convert a YAML value to the field's type, or raise `ConfigError` naming ``key``."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        return _coerce(value, options[0], key)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            value = [value]
        return tuple(_coerce(v, args[0], f"{key}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}={value!r}: expected a mapping")
        return {str(k): _coerce(v, args[1], f"{key}.{k}") for k, v in value.items()}
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}={value!r}: expected a list")
        return [_coerce(v, args[0], f"{key}[{i}]") for i, v in enumerate(value)]
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}={value!r}: expected true or false")
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(f"{key}={value!r}: expected an integer")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}={value!r}: expected a number")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}={value!r}: expected a string")
        return value
    return value


def _build(cls: type, data: dict[str, Any], prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if key not in names:
            hint = did_you_mean(str(key), names)
            for n in names:  # name the suggestions by their full dotted keys
                hint = hint.replace(f"'{n}'", f"'{prefix}{n}'")
            raise ConfigError(f"unknown config key {dotted!r}: {hint}")
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            if not isinstance(value, dict):
                raise ConfigError(f"{dotted} must be a section (a mapping), got {value!r}")
            kwargs[key] = _build(hint, value, f"{dotted}.")
        else:
            kwargs[key] = _coerce(value, hint, dotted)
    return cls(**kwargs)


def _merge(base: dict, top: dict) -> dict:
    out = dict(base)
    for k, v in top.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _read_yaml(path: Path, seen: tuple[Path, ...] = ()) -> dict:
    path = path.resolve()
    if path in seen:
        raise ConfigError(f"config {path} includes itself")
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist: give a path to a YAML file (see configs/)")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"config file {path} is not valid YAML: {str(err).splitlines()[0]}") from None
    if data is None:  # an empty file is almost always a mistake (wrong path, unsaved editor buffer)
        raise ConfigError(
            f"config file {path} is empty; give at least one section (e.g. `env: {{name: halfcheetah_vel}}`),"
            " or `include: smoke.yaml`"
        )
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of sections, got {type(data).__name__}")
    include = data.pop("include", None)
    if include:
        base = _read_yaml(path.parent / str(include), seen + (path,))
        data = _merge(base, data)
    return data


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"es.popsize=32"`` → ``(["es", "popsize"], 32)``; the value is parsed as YAML."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} is not KEY=VALUE (e.g. es.popsize=32)")
    key, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.strip().split("."), value


def config_from_dict(data: dict[str, Any], overrides: list[str] | tuple[str, ...] = ()) -> RunConfig:
    """Build and validate a `RunConfig` from nested dicts plus dotted ``key=value`` overrides."""
    data = copy.deepcopy(dict(data))  # overrides write into nested sections: never the caller's
    for text in overrides:
        path, value = parse_override(text)
        node = data
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {text!r}: {part!r} is not a section")
        node[path[-1]] = value
    return _build(RunConfig, data, "").validate()


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> RunConfig:
    """Read a YAML config (with ``include``), apply overrides, validate; see the module docstring."""
    return config_from_dict(_read_yaml(Path(path)), overrides)


def save_config(cfg: RunConfig, path: str | Path) -> None:
    """Write the fully resolved config as YAML (every default spelled out)."""
    Path(path).write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
