"""pdlf tasks: goal-conditioned MuJoCo environments as gymnasium ids, and batched stepping.

Importing this package registers every task's `TaskSpec` and its gymnasium id.
"""

from pdlf.envs.tasks import TASKS, TaskSpec, describe_tasks, get_task, register_task

__all__ = ["TASKS", "TaskSpec", "describe_tasks", "get_task", "register_task"]
