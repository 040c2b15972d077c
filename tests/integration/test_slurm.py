"""docker/slurm/pdlf.sbatch on a real SLURM: train, stop on SIGTERM, resume to the same numbers.

Needs a running SLURM whose node has 2 CPUs, e.g. the one-node cluster at 127.0.0.1 that
`docker/slurm/local-cluster.sh` (root) installs and starts; CI runs it before `make test`.
Without `sbatch`, or with no controller answering, these tests are skipped with the reason.
Every job runs with PDLF_NODE_IP=127.0.0.1, so Ray stays on loopback.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pdlf.loggers import TIMING_KEYS

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "docker" / "slurm" / "pdlf.sbatch"
CONFIG = ROOT / "configs" / "smoke.yaml"  # the project's smallest real run
TINY = ["env.episode_steps=20", "agent.hidden=[8]", "log.progress=false"]
JOB_DEADLINE_S = 180  # one tiny job takes ~20 s on 2 busy cores


def _slurm_unavailable() -> str | None:
    if shutil.which("sbatch") is None:
        return "SLURM is not installed (no sbatch); `sudo docker/slurm/local-cluster.sh` sets up a one-node cluster"
    ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=30)
    if ping.returncode != 0 or "UP" not in ping.stdout:
        return "no SLURM controller answers `scontrol ping`; start one with `sudo docker/slurm/local-cluster.sh`"
    cpus = subprocess.run(["sinfo", "-h", "-o", "%c"], capture_output=True, text=True, timeout=30).stdout.split()
    if not cpus or max(int(re.sub(r"\D", "", c) or 0) for c in cpus) < 2:
        return f"the SLURM nodes have fewer than 2 CPUs ({cpus})"
    return None


@pytest.fixture(scope="module")
def slurm():
    reason = _slurm_unavailable()
    if reason:
        pytest.skip(reason)
    jobs: list[str] = []
    yield jobs
    for job in jobs:  # nothing a failed test submitted keeps running
        subprocess.run(["scancel", job], capture_output=True, timeout=30)


def submit(jobs: list[str], tmp_path: Path, run_dir: Path, *overrides: str) -> str:
    env = {
        **os.environ,
        "PDLF_RUN_DIR": str(run_dir),
        "PDLF_NODE_IP": "127.0.0.1",
        "PDLF_VENV": sys.prefix,
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    }
    out = subprocess.run(
        ["sbatch", "--parsable", "--nodes=1", "--cpus-per-task=2", f"--output={tmp_path}/job-%j.out",
         str(SCRIPT), str(CONFIG), *TINY, *overrides],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    job = out.stdout.strip().split(";")[0]
    jobs.append(job)
    return job


def job_info(job: str) -> dict[str, str]:
    out = subprocess.run(["scontrol", "show", "job", job], capture_output=True, text=True, timeout=30).stdout
    return dict(re.findall(r"(\w+)=(\S+)", out))


def wait_for_job(job: str, tmp_path: Path, deadline_s: float = JOB_DEADLINE_S) -> tuple[str, str]:
    """Wait until the job has ended; return (its exit code as SLURM reports it, its output)."""
    deadline = time.monotonic() + deadline_s
    log = tmp_path / f"job-{job}.out"
    while True:
        info = job_info(job)
        if info.get("JobState") not in ("PENDING", "RUNNING", "CONFIGURING", "COMPLETING", None):
            return info.get("ExitCode", "?"), log.read_text() if log.exists() else ""
        if time.monotonic() > deadline:
            subprocess.run(["scancel", job], capture_output=True, timeout=30)
            text = log.read_text() if log.exists() else "(no output)"
            pytest.fail(f"job {job} still {info.get('JobState')} after {deadline_s:.0f}s ({info.get('Reason')}):\n{text}")
        time.sleep(0.5)


def wait_for_rows(run_dir: Path, rows: int, job: str, deadline_s: float = 120) -> None:
    deadline = time.monotonic() + deadline_s
    metrics = run_dir / "metrics.csv"
    while not (metrics.is_file() and len(metrics.read_text().splitlines()) > rows):
        if job_info(job).get("JobState") not in ("PENDING", "RUNNING", "CONFIGURING"):
            pytest.fail(f"job {job} ended before writing {rows} generations")
        if time.monotonic() > deadline:
            pytest.fail(f"job {job} wrote fewer than {rows} generations in {deadline_s:.0f}s")
        time.sleep(0.2)


def read_metrics(run_dir: Path) -> list[dict]:
    with open(run_dir / "metrics.csv", newline="") as fh:
        return [{k: v for k, v in row.items() if k not in TIMING_KEYS} for row in csv.DictReader(fh)]


def leftover_processes(job: str) -> list[str]:
    """Processes still running with this job's private Ray directory on their command line."""
    mark = f"pdlf-job-{job}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmd = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            if mark in cmd:
                found.append(cmd.replace(b"\0", b" ").decode(errors="replace")[:200])
    return found


@pytest.mark.timeout(400)
def test_job_trains_on_the_ray_it_starts_and_stops_it(slurm, tmp_path):
    run_dir = tmp_path / "run"
    job = submit(slurm, tmp_path, run_dir, "es.generations=3")
    code, out = wait_for_job(job, tmp_path)
    assert code == "0:0", out
    assert "all 1 node(s) joined: 2 CPUs; 2 rollout workers" in out, out
    assert "--ray-address 127.0.0.1:" in out and "--workers 2" in out, out
    assert (run_dir / "config.yaml").is_file() and (run_dir / "checkpoints" / "last.pkl").is_file()
    assert (run_dir / "best.pt").is_file() and (run_dir / "center.pt").is_file()
    rows = read_metrics(run_dir)
    assert [int(r["generation"]) for r in rows] == [0, 1, 2]
    assert int(rows[-1]["health/workers_alive"]) == 2
    assert "Ray stopped on 1 node(s)" in out, out
    assert leftover_processes(job) == []


@pytest.mark.timeout(600)
def test_sigterm_checkpoints_and_resubmitting_resumes_to_the_same_metrics(slurm, tmp_path):
    run_dir = tmp_path / "run"
    job = submit(slurm, tmp_path, run_dir, "es.generations=400")
    wait_for_rows(run_dir, 2, job)
    subprocess.run(["scancel", "--signal=TERM", job], check=True, timeout=30)
    code, out = wait_for_job(job, tmp_path)
    assert code == "143:0", out  # pdlf train's status after a SIGTERM: 128 + 15
    assert "stopping after the current generation" in out, out
    assert "abandoned" not in out, out  # one signal reached pdlf train, not two
    assert (run_dir / "checkpoints" / "last.pkl").is_file()
    stopped = len(read_metrics(run_dir))
    assert 2 <= stopped < 400
    assert leftover_processes(job) == []

    n = stopped + 2
    again = submit(slurm, tmp_path, run_dir, f"es.generations={n}")  # the same command, a larger budget
    code, out = wait_for_job(again, tmp_path)
    assert code == "0:0", out
    assert f"resuming {run_dir}" in out, out

    reference = tmp_path / "reference"
    ref_job = submit(slurm, tmp_path, reference, f"es.generations={n}")
    code, ref_out = wait_for_job(ref_job, tmp_path)
    assert code == "0:0", ref_out
    resumed = read_metrics(run_dir)
    assert len(resumed) == n
    assert resumed == read_metrics(reference)
