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

.PHONY: install run test bench clean

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

clean:
	rm -rf $(VENV) build *.egg-info
