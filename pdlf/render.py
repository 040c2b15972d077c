"""Videos of a trained agent (``pdlf render``): one episode, rendered headless, with an overlay.

    loaded = load_run("runs/halfcheetah_vel__pdlf__s0__...")
    schedule = parse_goal_schedule("1:1.0,334:2.5,667:0.5", loaded.spec, steps=1000)
    render_run(loaded, "cheetah.mp4", schedule=schedule, injury="temporary")

The episode is one `pdlf.evaluation.evaluate_genome` rollout of batch size 1 with hooks: a `pdlf.perturb.GoalSwitch`
bound to the env (a schedule switches the env's goal, so the reward and the observation follow),
the injury's damage (``temporary``: `pdlf.injury.temporary_damage` ``erasure``, every fast weight
set to 0 after each step of the window, default 501–549) and a `FrameRecorder`. After every step
``k = 1 .. T`` the recorder renders member 0's MuJoCo data (``env.physics(0)``; always C MuJoCo,
with the run's ``env.friction_cone``, also for a run trained on MuJoCo Warp) with
`mujoco.Renderer` from the model's tracking camera, draws a goal arrow for direction tasks and the
overlay (goal in the task's units, step, time, return so far, the injury window) and appends the
frame: a video of ``T`` frames, frame ``k`` showing the state after action ``k``.

OpenGL is headless: ``MUJOCO_GL`` if the user set it (``egl``, ``osmesa`` or ``glfw``), else the
first of ``egl`` and ``osmesa`` that can create a context, probed in a subprocess (a failed EGL
import would pin PyOpenGL's platform in this process). A missing backend is one `RenderSetupError`
line naming the Debian packages (``libegl1 libegl-mesa0`` or ``libosmesa6``).

The file's extension picks the format: ``.gif`` (Pillow, always installed) or ``.mp4`` (H.264 via
PyAV, the ``video`` extra: ``pip install 'pdlf[video]'``). The video is written to a hidden
partial file beside ``out`` and renamed when complete; an existing ``out`` is replaced only with
``force``.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import math
import os
import subprocess
import sys
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from pdlf.errors import ConfigError, PdlfError, RunDirError

FORMATS = (".gif", ".mp4")
GL_BACKENDS = ("egl", "osmesa")  # tried in this order when MUJOCO_GL is unset
GL_MODULES = {"egl": "mujoco.egl", "osmesa": "mujoco.osmesa", "glfw": "mujoco.glfw"}
GL_PACKAGES = {"egl": "libegl1 libegl-mesa0", "osmesa": "libosmesa6", "glfw": "libglfw3"}  # Debian names
INJURIES = ("temporary",)
MAX_DEFAULT_FPS = 50  # GIF viewers slow down frames shorter than 20 ms
OVERLAY_BG = (24, 24, 24)
TEXT = (240, 240, 240)
DIM = (150, 150, 150)
ALERT = (255, 80, 64)
ARROW_RGBA = np.array([1.0, 0.55, 0.0, 1.0], dtype=np.float32)


class RenderSetupError(PdlfError, RuntimeError):
    """This machine cannot render or encode: no headless OpenGL, or the MP4 encoder is missing."""


# ---------------------------------------------------------------------------------- OpenGL
_PROBE = "import importlib, sys; c = importlib.import_module(sys.argv[1]).GLContext(8, 8); c.make_current(); c.free()"


def _probe(backend: str) -> str | None:
    """None if ``backend`` creates an OpenGL context in a fresh Python, else the error's last line."""
    env = {**os.environ, "MUJOCO_GL": backend}
    try:
        proc = subprocess.run([sys.executable, "-c", _PROBE, GL_MODULES[backend]], env=env,
                              capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        return "timed out creating a context"
    if proc.returncode == 0:
        return None
    lines = [line.strip() for line in proc.stderr.splitlines() if line.strip()]
    return (lines[-1] if lines else f"exit status {proc.returncode}")[:160]


@functools.lru_cache(maxsize=None)
def gl_backend() -> str:
    """The OpenGL backend to render with: ``MUJOCO_GL`` if set, else ``egl`` or ``osmesa``.

    Raises `RenderSetupError` (one line, naming the packages to install) if none works.
    """
    user = os.environ.get("MUJOCO_GL", "").strip().lower()
    if user and user not in GL_MODULES:
        raise RenderSetupError(f"MUJOCO_GL={user} cannot render off-screen; set MUJOCO_GL to one of"
                               f" {', '.join(GL_MODULES)}, or unset it to let pdlf pick egl or osmesa")
    failures = {}
    for backend in (user,) if user else GL_BACKENDS:
        reason = _probe(backend)
        if reason is None:
            return backend
        failures[backend] = reason
    if user:
        raise RenderSetupError(f"MUJOCO_GL={user} cannot create an OpenGL context ({failures[user]}); install it"
                               f" (apt-get install {GL_PACKAGES[user]}), or unset MUJOCO_GL to let pdlf try egl"
                               " and osmesa")
    tried = "; ".join(f"{b}: {r}" for b, r in failures.items())
    raise RenderSetupError(f"no headless OpenGL for rendering ({tried}); install EGL (apt-get install"
                           f" {GL_PACKAGES['egl']}) or OSMesa (apt-get install {GL_PACKAGES['osmesa']})")


def open_renderer(model, width: int, height: int):
    """A `mujoco.Renderer` of ``model`` drawing ``height × width`` RGB frames with `gl_backend`.

    MuJoCo chooses its context class once, from ``MUJOCO_GL``, when it is first imported (by then
    usually without a headless choice), so the chosen class is put in place only while the
    renderer is created. The model's off-screen buffer is enlarged to the frame if needed (a
    visual setting only: physics is unchanged).
    """
    import mujoco

    backend = gl_backend()
    os.environ.setdefault("MUJOCO_GL", backend)  # for a MuJoCo imported after this
    try:
        context_cls = importlib.import_module(GL_MODULES[backend]).GLContext
    except Exception as err:  # PyOpenGL fixed on another platform, a library that fails to load
        raise RenderSetupError(f"cannot load MuJoCo's {backend} OpenGL backend here ({err}); run pdlf render in a"
                               f" fresh process, or install {GL_PACKAGES[backend]}") from None
    glob = model.vis.global_
    glob.offwidth, glob.offheight = max(glob.offwidth, width), max(glob.offheight, height)
    gl_context = getattr(sys.modules[mujoco.Renderer.__module__], "gl_context", None)
    saved = getattr(gl_context, "GLContext", None)
    try:
        if gl_context is not None:
            gl_context.GLContext = context_cls
        return mujoco.Renderer(model, height=height, width=width)
    except Exception as err:
        raise RenderSetupError(f"MuJoCo's {backend} renderer failed to start ({err}); install"
                               f" {GL_PACKAGES[backend]}") from None
    finally:
        if gl_context is not None:
            gl_context.GLContext = saved


def tracking_camera(model):
    """The model's camera ``track`` (the locomotion tasks' camera following the body), else a free
    camera tracking body 1 (the root) from the side at 3 model extents."""
    import mujoco

    cam = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, "track")
    if cam >= 0:
        return cam
    free = mujoco.MjvCamera()
    free.type = mujoco.mjtCamera.mjCAMERA_TRACKING
    free.trackbodyid = min(1, model.nbody - 1)
    free.distance, free.elevation, free.azimuth = 3.0 * model.stat.extent, -20.0, 90.0
    return free


def add_direction_arrow(scene, model, data, direction: float) -> None:
    """Append to ``scene`` a 1 m arrow from 0.3 m above the root body's centre of mass along
    ``direction`` (rad, 0 = +x, in the ground plane); nothing if the scene is full."""
    import mujoco

    if scene.ngeom >= scene.maxgeom:
        return
    start = data.subtree_com[min(1, model.nbody - 1)] + np.array([0.0, 0.0, 0.3])
    end = start + np.array([math.cos(direction), math.sin(direction), 0.0])
    geom = scene.geoms[scene.ngeom]
    mujoco.mjv_initGeom(geom, mujoco.mjtGeom.mjGEOM_ARROW, np.zeros(3), np.zeros(3), np.zeros(9), ARROW_RGBA)
    mujoco.mjv_connector(geom, mujoco.mjtGeom.mjGEOM_ARROW, 0.03, start, end)
    scene.ngeom += 1


# ---------------------------------------------------------------------------------- overlay
@dataclass(frozen=True)
class Overlay:
    """Text lines in an opaque band across the top of a ``height × width`` frame.

    Line ``i`` lies in the band's rows `line_box` ``(i)``; a line's pixels depend on its text alone.
    """

    width: int
    height: int
    lines: int

    @property
    def font_size(self) -> int:
        return max(11, self.height // 20)

    @property
    def line_height(self) -> int:
        return int(round(1.4 * self.font_size))

    @property
    def pad(self) -> int:
        return max(2, self.font_size // 3)

    def line_box(self, i: int) -> tuple[int, int, int, int]:
        """``(x0, y0, x1, y1)`` pixel box of line ``i`` (exclusive ends)."""
        y0 = self.pad + i * self.line_height
        return 0, y0, self.width, min(self.height, y0 + self.line_height)

    @functools.cached_property
    def font(self):
        from PIL import ImageFont

        try:
            return ImageFont.load_default(size=self.font_size)
        except TypeError:  # Pillow < 10.1: one bitmap size
            return ImageFont.load_default()

    def draw(self, frame: np.ndarray, texts: Sequence[tuple[str, tuple[int, int, int]]]) -> np.ndarray:
        """``frame`` ``[H, W, 3]`` uint8 with the band and ``texts`` (``(text, rgb)`` per line) drawn."""
        from PIL import Image, ImageDraw

        image = Image.fromarray(frame)
        pen = ImageDraw.Draw(image)
        bottom = min(self.height, 2 * self.pad + self.lines * self.line_height)
        pen.rectangle((0, 0, self.width - 1, bottom - 1), fill=OVERLAY_BG)
        for i, (text, color) in enumerate(texts[: self.lines]):
            pen.text((self.pad * 2, self.line_box(i)[1]), text, fill=color, font=self.font)
        return np.asarray(image)


def goal_text(spec, goal: float) -> str:
    """The goal as the overlay shows it: a speed in m/s, a direction in degrees (rad goals), else
    the value in the task's units; ``(outside the task's range)`` where extrapolated."""
    if spec.goal_units == "rad":
        text = f"goal direction {math.degrees(goal):+.0f}° ({goal:+.2f} rad)"
    elif spec.goal_units == "m/s":
        text = f"goal speed {goal:.2f} m/s"
    else:
        text = f"goal {goal:g} {spec.goal_units}"
    outside = not spec.goal_low <= goal <= spec.goal_high
    return text + (" (outside the task's range)" if outside else "")


# ---------------------------------------------------------------------------------- videos
class GifWriter:
    """Frames quantised to 256 colours each and saved as one looping GIF on `close`."""

    def __init__(self, path: Path, fps: int) -> None:
        self.path, self.fps, self._frames = path, fps, []

    def append(self, frame: np.ndarray) -> None:
        from PIL import Image

        self._frames.append(Image.fromarray(frame).quantize(colors=256))

    def close(self) -> None:
        if self._frames:
            first, *rest = self._frames
            first.save(self.path, format="GIF", save_all=True, append_images=rest, loop=0,
                       duration=max(10, int(round(1000 / self.fps))), optimize=False)
        self._frames = []


class Mp4Writer:
    """H.264 (yuv420p) MP4 written frame by frame with PyAV (the ``video`` extra)."""

    CODECS = ("libx264", "h264", "mpeg4")  # the first one PyAV's FFmpeg can encode

    def __init__(self, path: Path, fps: int, width: int, height: int) -> None:
        av = import_av()
        codec = next((c for c in self.CODECS if c in av.codecs_available), None)
        if codec is None:
            raise RenderSetupError(f"this PyAV ({av.__version__}) has no H.264 or MPEG-4 encoder;"
                                   " reinstall it with pip install --force-reinstall av, or write a .gif")
        self._av, self._container = av, av.open(str(path), mode="w")
        self._stream = self._container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
        self._stream.width, self._stream.height, self._stream.pix_fmt = width, height, "yuv420p"

    def append(self, frame: np.ndarray) -> None:
        for packet in self._stream.encode(self._av.VideoFrame.from_ndarray(frame, format="rgb24")):
            self._container.mux(packet)

    def close(self) -> None:
        for packet in self._stream.encode():  # flush
            self._container.mux(packet)
        self._container.close()


def import_av():
    """The ``av`` module; `RenderSetupError` naming the install command if it is missing."""
    try:
        return importlib.import_module("av")
    except ImportError:
        raise RenderSetupError("writing MP4 needs PyAV: pip install 'pdlf[video]' (or pip install av),"
                               " or give --out FILE.gif") from None


def check_output(out: str | Path, force: bool, width: int, height: int) -> Path:
    """``out`` as a `Path`, checked: a ``.gif`` or ``.mp4`` name (`ConfigError`), not an existing file
    unless ``force`` (`RunDirError`), even sizes and PyAV present for MP4."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in FORMATS:
        raise ConfigError(f"--out {out}: unknown video format {suffix or '(no extension)'!r}; end the name with"
                          f" {' or '.join(FORMATS)}")
    if out.is_dir():
        raise RunDirError(f"--out {out} is a directory; give a file name ending in {suffix}")
    if out.exists() and not force:
        raise RunDirError(f"{out} already exists; pass --force to replace it, or give another --out")
    if suffix == ".mp4":
        if width % 2 or height % 2:
            raise ConfigError(f"--width {width} --height {height}: MP4 (yuv420p) needs even sizes")
        import_av()
    return out


def open_writer(path: Path, fps: int, width: int, height: int):
    """A `GifWriter` or `Mp4Writer` for ``path`` (by its extension)."""
    if path.suffix.lower() == ".gif":
        return GifWriter(path, fps)
    return Mp4Writer(path, fps, width, height)


# ---------------------------------------------------------------------------------- episode
def parse_goal_schedule(text: str, spec, steps: int) -> list[tuple[int, float]]:
    """``"1:1.0,334:2.5,667:0.5"`` → ``[(1, 1.0), (334, 2.5), (667, 0.5)]``: ``first_step:goal``
    pairs in the task's units, first step 1, strictly increasing, all within ``1 .. steps``."""
    flag = f"--goal-schedule {text!r}"
    schedule = []
    for part in (p.strip() for p in text.split(",")):
        step, sep, goal = part.partition(":")
        try:
            if not sep:
                raise ValueError
            schedule.append((int(step), float(goal)))
        except ValueError:
            raise ConfigError(f"{flag}: {part!r} is not STEP:GOAL; give first-step:goal pairs, e.g."
                              f" 1:{spec.train_goals()[0]:g},{steps // 2 + 1}:{spec.train_goals()[-1]:g}") from None
    firsts = [s for s, _ in schedule]
    if firsts[0] != 1:
        raise ConfigError(f"{flag}: the first entry must be for step 1 (steps are 1-based)")
    if any(b <= a for a, b in zip(firsts, firsts[1:])):
        raise ConfigError(f"{flag}: steps must increase")
    if firsts[-1] > steps:
        raise ConfigError(f"{flag}: step {firsts[-1]} is after the episode's last step {steps}")
    if not all(math.isfinite(g) for _, g in schedule):
        raise ConfigError(f"{flag}: goals must be finite numbers")
    return schedule


class FrameRecorder:
    """A rollout hook (`pdlf.rollout.Perturbation`) that renders member 0 after every step.

    Frame ``k`` (after env step ``k``): the scene from `tracking_camera`, a goal arrow for
    direction tasks, and the overlay lines ``describe(step, time_s, return_so_far)``. The writer
    is opened at the first frame, once the env's step duration is known (``data.time`` after step
    1) and with it the default frame rate (real time, at most `MAX_DEFAULT_FPS`).
    """

    def __init__(self, env, renderer, overlay: Overlay, out: Path, fps: int | None,
                 goal_at: Callable[[int], float], direction_goal: bool,
                 describe: Callable[[int, float, float], list[tuple[str, tuple[int, int, int]]]]) -> None:
        self.env, self.renderer, self.overlay, self.out = env, renderer, overlay, out
        self.fps, self.goal_at, self.direction_goal, self.describe = fps, goal_at, direction_goal, describe
        self.camera = tracking_camera(env.physics(0)[0])
        self.frames, self.total, self.writer = 0, 0.0, None

    def before_step(self, step: int, agent, obs: np.ndarray) -> None:
        return None

    def after_step(self, step: int, agent, reward: np.ndarray) -> None:
        model, data = self.env.physics(0)
        self.total += float(reward[0])
        if self.writer is None:
            if self.fps is None:
                self.fps = int(min(MAX_DEFAULT_FPS, max(1, round(1.0 / data.time)))) if data.time > 0 else 20
            self.writer = open_writer(self.out, self.fps, self.overlay.width, self.overlay.height)
        self.renderer.update_scene(data, self.camera)
        if self.direction_goal:
            add_direction_arrow(self.renderer.scene, model, data, self.goal_at(step))
        frame = self.overlay.draw(self.renderer.render(), self.describe(step, float(data.time), self.total))
        self.writer.append(frame)
        self.frames += 1

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def render_run(
    loaded,
    out: str | Path,
    *,
    genome: str = "center",
    goal: float | None = None,
    schedule: Sequence[tuple[int, float]] | None = None,
    injury: str | None = None,
    window: tuple[int, int] = (501, 549),
    steps: int = 1000,
    seed: int = 0,
    fps: int | None = None,
    width: int = 480,
    height: int = 360,
    force: bool = False,
) -> dict:
    """Render one episode of ``loaded``'s (`pdlf.runs.LoadedRun`) ``genome`` to ``out``.

    Args:
        goal: the goal of the whole episode (default: the run's first training goal).
        schedule: ``[(first_step, goal), ...]`` from step 1 instead of ``goal`` (`parse_goal_schedule`).
        injury: None, or ``temporary``: every fast weight erased after each step of ``window``
            (1-based, inclusive; must end before the last step).
        steps: episode length ``T`` (frames: ``T``, fewer if the episode terminates).
        seed: env and agent seed.
        fps: frame rate (default: real time, ``1 / dt``, at most 50).
        width, height: frame size in pixels.
        force: replace an existing ``out``.

    Returns:
        ``{"out", "frames", "fps", "width", "height", "backend", "return", "task", "kind",
        "genome", "schedule", "injury", "window"}`` (``return``: the episode's return).
    """
    from pdlf.evaluation import check_positive, evaluate_genome
    from pdlf.injury import check_window, temporary_damage
    from pdlf.perturb import GoalSwitch

    check_positive(steps=steps, fps=fps)
    if width < 16 or height < 16:
        raise ConfigError(f"--width {width} --height {height}: frames must be at least 16 × 16 pixels")
    if injury is not None and injury not in INJURIES:
        raise ConfigError(f"--injury {injury!r}: choose one of {', '.join(INJURIES)}")
    if goal is not None and schedule:
        raise ConfigError("give either --goal or --goal-schedule, not both")
    if goal is not None and not math.isfinite(goal):
        raise ConfigError(f"--goal {goal}: give a finite number in the task's units")
    window = check_window(window, steps) if injury else None
    out = check_output(out, force, width, height)
    spec = loaded.spec
    schedule = list(schedule) if schedule else [(1, float(loaded.train_goals()[0] if goal is None else goal))]
    weights = loaded.genome(genome)
    backend = gl_backend()

    # C MuJoCo whatever env.backend the run trained on (rendering reads its MjData), with the run's cone
    cfg = dataclasses.replace(loaded.cfg, env=dataclasses.replace(loaded.cfg.env, backend="mujoco", device="cpu"))
    goal_at = GoalSwitch(schedule, spec.goal_dim).goal_at
    overlay = Overlay(width, height, lines=3 if injury else 2)

    def describe(step: int, time_s: float, total: float) -> list[tuple[str, tuple[int, int, int]]]:
        texts = [(goal_text(spec, goal_at(step)), TEXT),
                 (f"step {step} / {steps}   t = {time_s:.2f} s   return {total:.1f}", TEXT)]
        if window is not None:
            hurt = window[0] <= step <= window[1]
            texts.append((f"INJURED: fast weights erased (steps {window[0]}-{window[1]})", ALERT) if hurt
                         else (f"injury: fast weights erased at steps {window[0]}-{window[1]}", DIM))
        return texts

    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.stem}.partial{out.suffix}")
    damage = temporary_damage("erasure", window) if window else []
    made: dict = {}  # what the env hooks opened, closed below

    def env_hooks(env):  # the env-bound goal switch and the frame recorder, after the damage
        made["renderer"] = open_renderer(env.physics(0)[0], width, height)
        made["recorder"] = FrameRecorder(env, made["renderer"], overlay, partial, fps, goal_at,
                                         spec.goal_units == "rad", describe)
        return [GoalSwitch(schedule, spec.goal_dim, env=env), made["recorder"]]

    try:
        ev = evaluate_genome(cfg, weights, [schedule[0][1]], [seed], loaded.norm, perturbations=damage,
                             episode_steps=steps, env_hooks=env_hooks)
        recorder = made["recorder"]
        recorder.close()
        partial.replace(out)
    finally:
        if "renderer" in made:
            made["renderer"].close()
        partial.unlink(missing_ok=True)
    return {
        "out": str(out), "frames": recorder.frames, "fps": recorder.fps, "width": width, "height": height,
        "backend": backend, "return": float(ev.returns[0, 0]), "task": spec.name, "kind": loaded.kind,
        "genome": genome, "schedule": [list(s) for s in schedule], "injury": injury,
        "window": list(window) if window else None,
    }
