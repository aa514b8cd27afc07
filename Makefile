# Two commands matter: `make demo` and `make test`. Everything else is a step they share.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
export TORCH_HOME := $(CURDIR)/.torch_home
export OMP_WAIT_POLICY ?= PASSIVE
STAMP := $(VENV)/.installed

.PHONY: demo test env lint bench clean

env: $(STAMP)

$(STAMP): pyproject.toml scripts/setup_env.sh
	bash scripts/setup_env.sh $(PY) $(VENV)
	touch $(STAMP)

# Loopback only, no token; news and update checks off so nothing reaches for the network.
demo: env
	$(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 --ServerApp.token= --ServerApp.password= \
		--LabApp.news_url=None --LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate \
		$(if $(filter 0,$(shell id -u)),--allow-root) \
		notebooks/01_quickstart.ipynb

test: env
	bash scripts/run_tests.sh $(BIN)

lint: env
	$(BIN)/ruff check featviz_widgets tests benchmarks scripts

# Benchmarks compare side by side with torchlens and torch-lucent 0.1.8; lucent and the kornia it
# needs are installed without dependencies so they cannot replace the pinned torch.
bench: env
	$(BIN)/python -m pip install -q "torchlens" "tqdm" "decorator" "torch==2.14.1" "torchvision==0.29.1"
	$(BIN)/python -m pip install -q --no-deps "torch-lucent==0.1.8" "kornia==0.4.1"
	$(BIN)/python benchmarks/capture.py
	$(BIN)/python benchmarks/render.py
	$(BIN)/python benchmarks/explorer.py
	$(BIN)/python benchmarks/optvis.py
	$(BIN)/python benchmarks/browser_latency.py
	$(BIN)/python benchmarks/versions.py

clean:
	rm -rf $(VENV) .torch_home
