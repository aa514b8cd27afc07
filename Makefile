# Two commands matter: `make demo` and `make test`. Everything else is a step they share.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
export TORCH_HOME := $(CURDIR)/.torch_home
export OMP_WAIT_POLICY ?= PASSIVE
STAMP := $(VENV)/.installed

.PHONY: demo test env lint unit e2e bench clean

env: $(STAMP)

$(STAMP): pyproject.toml scripts/setup_env.sh
	bash scripts/setup_env.sh $(PY) $(VENV)
	touch $(STAMP)

demo: env
	$(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 --ServerApp.token= --ServerApp.password= notebooks/01_quickstart.ipynb

test: env
	bash scripts/run_tests.sh $(BIN)

lint: env
	$(BIN)/ruff check featviz_widgets tests benchmarks

bench: env
	$(BIN)/python benchmarks/capture.py
	$(BIN)/python benchmarks/render.py

clean:
	rm -rf $(VENV) .torch_home
