# Two commands set everything up on a fresh machine:
#   make run    a small real training run on the embedded local Ray
#   make test   the test suite
# Both create .venv if missing and install torch==2.13.0 (the CPU build on these machines)
# before the project, so no CUDA build of torch is pulled in. The `gpu` extra (MuJoCo Warp,
# env.backend: mjwarp) comes too, its parity tests running on Warp's CPU device, and the `video`
# extra (PyAV, for `pdlf render --out FILE.mp4`).

VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.pdlf-installed

.PHONY: install run test bench bench-device clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -c "import torch" 2>/dev/null || $(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -e '.[dev,gpu,video]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(VENV)/bin/pdlf train configs/smoke.yaml

test: install
	$(PY) -m pytest -q

bench: install
	$(VENV)/bin/pdlf bench agent --env halfcheetah_vel --pop 64 --json
	$(VENV)/bin/pdlf bench envs --env halfcheetah_vel --batch 64 --json

# The physics-on-device checks in one command, at the sizes of issue 11's targets: MuJoCo Warp
# stepping (`bench envs`), the whole ES generation on the device (`bench train`: popsize
# WORLDS/8 x 8 goals, plus the centre, in one batch), the agent step alone (`bench agent`), each
# as JSON in BENCH_OUT, then the MuJoCo Warp parity tests on DEVICE. On a GPU machine:
#   make bench-device                       (DEVICE=cuda WORLDS=2048 AGENTS=4096)
# Small, anywhere: make bench-device DEVICE=cpu WORLDS=64 AGENTS=256
DEVICE ?= cuda
WORLDS ?= 2048
AGENTS ?= 4096
BENCH_OUT ?= runs/bench-$(DEVICE)

bench-device: install
	mkdir -p $(BENCH_OUT)
	$(VENV)/bin/pdlf bench envs --env halfcheetah_vel --backend mjwarp --device $(DEVICE) \
		--batch $(WORLDS) --steps 200 --json > $(BENCH_OUT)/envs_halfcheetah_vel.json
	$(VENV)/bin/pdlf bench train --env halfcheetah_vel --backend mjwarp --device $(DEVICE) --workers 0 \
		--no-gymne --popsize $$(( $(WORLDS) / 8 )) --max-batch $$(( $(WORLDS) + 8 )) --json \
		> $(BENCH_OUT)/train_halfcheetah_vel.json
	$(VENV)/bin/pdlf bench agent --env halfcheetah_vel --device $(DEVICE) --pop $(AGENTS) --json \
		> $(BENCH_OUT)/agent_halfcheetah_vel.json
	PDLF_TEST_MJWARP_DEVICE=$(DEVICE) $(PY) -m pytest -q tests/envs/test_mjwarp.py \
		tests/envs/test_mjwarp_resident.py tests/envs/test_mjwarp_reaching.py
	@echo "bench-device: JSON in $(BENCH_OUT)/"

clean:
	rm -rf $(VENV) build *.egg-info
