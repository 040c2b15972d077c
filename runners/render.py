"""``pdlf render RUN_DIR --out FILE``: a video (MP4 or GIF) of one episode of a run's agent, headless.

    pdlf render RUN_DIR --out cheetah.mp4                                   # first training goal, 1000 steps
    pdlf render RUN_DIR --goal-schedule 1:1.0,334:2.5,667:0.5 --out switch.mp4
    pdlf render RUN_DIR --goal 5.5 --injury temporary --out erasure.gif     # fast weights erased at 501-549

The episode runs through the rollout loop with the run's normaliser; a goal schedule switches the
env's goal (reward and observation) at each given step (1-based). ``--injury temporary`` is
`pdlf injury`'s ``erasure`` condition: every fast weight set to 0 after each step of ``--window``.
Each frame shows the goal (m/s for velocity tasks, degrees for direction tasks, with an arrow in the
scene), the step, the time, the return so far and the injury window. The file's extension picks
the format: ``.gif`` (Pillow) or ``.mp4`` (PyAV: ``pip install 'pdlf[video]'``). OpenGL is headless:
``MUJOCO_GL`` if set, else EGL, else OSMesa (`pdlf.render`). An existing file is never replaced
without ``--force``.
"""

from __future__ import annotations

import argparse

from pdlf.render import FORMATS, INJURIES
from pdlf.runs import DEVICE_HELP


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a directory made by `pdlf train`")
    parser.add_argument("--out", required=True, metavar="FILE", help=f"the video to write ({' or '.join(FORMATS)})")
    goals = parser.add_mutually_exclusive_group()
    goals.add_argument("--goal", type=float, metavar="G",
                       help="the episode's goal in the task's units (default: the run's first training goal)")
    goals.add_argument("--goal-schedule", metavar="STEP:GOAL,...",
                       help="goal switches: first-step:goal pairs from step 1, e.g. 1:1.0,334:2.5,667:0.5")
    parser.add_argument("--injury", choices=INJURIES, help="temporary: erase every fast weight during --window")
    parser.add_argument("--window", type=int, nargs=2, default=(501, 549), metavar=("START", "STOP"),
                        help="injured steps, 1-based, inclusive (default 501 549)")
    parser.add_argument("--genome", choices=("best", "center"), default="center", help="which genome (default center)")
    parser.add_argument("--steps", "--episode-steps", dest="steps", type=int, default=1000, metavar="N",
                        help="episode length (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="env and agent seed (default 0)")
    parser.add_argument("--fps", type=int, default=None, help="frame rate (default: real time, at most 50)")
    parser.add_argument("--width", type=int, default=480, help="frame width in pixels (default 480)")
    parser.add_argument("--height", type=int, default=360, help="frame height in pixels (default 360)")
    parser.add_argument("--force", action="store_true", help="replace an existing FILE")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--device", metavar="DEV", help=DEVICE_HELP)


def run(args: argparse.Namespace) -> int:
    from pdlf.evaluation import check_positive
    from pdlf.outputs import print_result
    from pdlf.render import check_output, parse_goal_schedule, render_run
    from pdlf.runs import load_run

    # every argument is checked before the episode starts
    check_positive(steps=args.steps, fps=args.fps, width=args.width, height=args.height)
    check_output(args.out, args.force, args.width, args.height)
    loaded = load_run(args.run_dir, device=args.device)
    schedule = parse_goal_schedule(args.goal_schedule, loaded.spec, args.steps) if args.goal_schedule else None
    result = render_run(loaded, args.out, genome=args.genome, goal=args.goal, schedule=schedule,
                        injury=args.injury, window=tuple(args.window), steps=args.steps, seed=args.seed,
                        fps=args.fps, width=args.width, height=args.height, force=args.force)
    print_result(result, args.json, _print_summary)
    return 0


def _print_summary(result: dict) -> None:
    window = result["window"]
    injury = f", {result['injury']} injury at steps {window[0]}-{window[1]}" if result["injury"] else ""
    goals = ", ".join(f"{g:g} from step {s}" for s, g in result["schedule"])
    print(f"{result['task']} ({result['kind']}, {result['genome']} genome): goal {goals}{injury};"
          f" return {result['return']:.1f}")
    print(f"  wrote {result['out']}: {result['frames']} frames, {result['width']}x{result['height']},"
          f" {result['fps']} fps ({result['backend']})")
