"""pdlf tasks: goal-conditioned MuJoCo environments as gymnasium ids, and batched stepping.

Importing this package registers every task's `TaskSpec` and its gymnasium id.
"""

from pdlf.envs.tasks import TASKS, TaskSpec, describe_tasks, get_task, register_task
from pdlf.envs import ant_dir, halfcheetah_vel, hopper_vel, swimmer_dir  # noqa: F401  (registers)
from pdlf.envs import copy_task, fetch, ur5e  # noqa: F401  (registers)
from pdlf.envs.vector import BatchedEnv, make_batched
from pdlf.envs import copy_batched  # noqa: F401,E402  (registers the copy task's BatchedEnv)
from pdlf.envs import assoc_task  # noqa: F401,E402  (registers assoc: spec, gym id, BatchedEnv)
from pdlf.envs import cognitive  # noqa: F401,E402  (registers dms, ctx_dms, gng_dr2, gng_dr4: specs, gym ids, BatchedEnvs)

__all__ = [
    "TASKS",
    "BatchedEnv",
    "TaskSpec",
    "describe_tasks",
    "get_task",
    "make_batched",
    "register_task",
]
