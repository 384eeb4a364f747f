# KillrVideo on Nameko. `make run` and `make test` are the two commands a newcomer needs;
# both install what they need first. See README.md.
# The interpreter the venv is built from (PYTHON=... chooses another): the distribution's CPython
# 3.11 when it has one that can make a venv, else the first python3.11 on PATH. A distribution's
# CPython is built optimized, as the official images docker/ deploys on are (profile-guided and
# link-time optimization); pyenv's default build is not, and on it every call of the stack costs
# more CPU (GetVideo p50: 3.04 to 3.15 ms on pyenv's 3.11.7, 2.89 to 2.91 on Debian's 3.11.2,
# alternating on one machine, same code; README.md).
DISTRIBUTION_PYTHON := /usr/bin/python3.11
ifeq ($(origin PYTHON),undefined)
PYTHON := $(shell $(DISTRIBUTION_PYTHON) -c "import ensurepip, venv" 2>/dev/null \
	&& echo $(DISTRIBUTION_PYTHON) || echo python3.11)
endif
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-from-lock

.PHONY: help venv lock protos lint format test faults bench run stop rabbitmq schema shell clean

help:
	@echo "make run      the whole system on this machine (LOG_FORMAT=json for JSON logs)"
	@echo "make stop     stop what make run started (from another shell)"
	@echo "make test     every test (installs the venv, starts RabbitMQ if needed)"
	@echo "make faults   the fault tests that restart this machine's RabbitMQ"
	@echo "make lint     ruff check + format check"
	@echo "make format   ruff format + autofix"
	@echo "make protos   regenerate Python code from protos/"
	@echo "make bench    run the benchmarks in benchmarks/"
	@echo "make lock     re-resolve requirements.lock from pyproject.toml"
	@echo "make schema   apply every service's CQL schema (idempotent)"
	@echo "make shell    nameko shell with the project config (password masked in its banner)"

venv: $(STAMP)

# The venv is rebuilt only when the lock changes (or after `make clean`); every package is pinned
# and hash-checked.
$(STAMP): requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check \
		--require-hashes --no-deps -r requirements.lock
	$(BIN)/python scripts/link_project.py
	touch $@

lock: venv
	$(BIN)/uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 \
		--prerelease=if-necessary-or-explicit -o requirements.lock

protos: venv
	$(BIN)/python scripts/generate_protos.py

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

schema: venv
	$(BIN)/python -m services.common.schema

shell: venv rabbitmq
	$(BIN)/python -m scripts.shell

rabbitmq:
	$(PYTHON) scripts/ensure_rabbitmq.py

# Two runs: the services' tests need eventlet's monkey patch (tests/eventlet_monkey_patch.py);
# the end-to-end tests drive the running stack with grpcio, which must not be patched.
test: venv lint rabbitmq
	$(BIN)/python -m pytest --ignore=tests/e2e
	$(BIN)/python -m pytest -p no:tests.eventlet_monkey_patch tests/e2e

# Restarts this machine's RabbitMQ under load, so it is not part of `make test`; CI runs both.
faults: venv rabbitmq
	KILLRVIDEO_FAULTS=1 $(BIN)/python -m pytest -p no:tests.eventlet_monkey_patch \
		tests/e2e/test_broker_restart.py

bench: venv rabbitmq
	$(BIN)/python -m benchmarks

# The services and the launcher are not built yet (see the README's status section).
run: venv rabbitmq
	$(BIN)/python -m scripts.run $(if $(LOG_FORMAT),--log-format $(LOG_FORMAT))

stop: venv
	$(BIN)/python -m scripts.run --stop

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
