# KillrVideo on Nameko. `make run` and `make test` are the two commands a newcomer needs;
# both install what they need first. See README.md.
# The interpreter the venv is built from (PYTHON=... chooses another): the distribution's CPython
# 3.11 when it has one that can make a venv, else the first python3.11 on PATH. A distribution's
# CPython is built optimized, as the official images docker/ deploys on are (profile-guided and
# link-time optimization); pyenv's default build is not, and on it every call of the stack costs
# more CPU (GetVideo p50: 3.04 to 3.15 ms on pyenv's 3.11.7, 2.89 to 2.91 on Debian's 3.11.2,
# alternating on one machine, same code; docs/performance.md).
DISTRIBUTION_PYTHON := /usr/bin/python3.11
ifeq ($(origin PYTHON),undefined)
PYTHON := $(shell $(DISTRIBUTION_PYTHON) -c "import ensurepip, venv" 2>/dev/null \
	&& echo $(DISTRIBUTION_PYTHON) || echo python3.11)
endif
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-from-lock

.PHONY: help venv lock protos lint format test test-fast faults bench run stop rabbitmq prometheus \
	schema shell clean dead-letters reconcile-ratings migrate-queues

help:
	@echo "make run      the whole system on this machine (LOG_FORMAT=json for JSON logs)"
	@echo "make stop     stop what make run started (from another shell)"
	@echo "make test     every test (installs the venv, starts RabbitMQ if needed)"
	@echo "make test-fast  lint and the unit tier: seconds, no broker or database"
	@echo "make faults   the fault tests that restart this machine's RabbitMQ or kill cluster nodes"
	@echo "make lint     ruff check + format check"
	@echo "make format   ruff format + autofix"
	@echo "make protos   regenerate Python code from protos/"
	@echo "make bench    run the benchmarks in benchmarks/"
	@echo "make lock     re-resolve requirements.lock from pyproject.toml"
	@echo "make schema   apply every service's CQL schema (idempotent)"
	@echo "make shell    nameko shell with the project config (password masked in its banner)"
	@echo "make dead-letters ARGS=\"list\"        events the handlers gave up on (list, show, replay, discard)"
	@echo "make migrate-queues  move an earlier version's classic queues into quorum queues (--dry-run: list)"
	@echo "make reconcile-ratings ARGS=\"VIDEO_ID\"  a video's rating counters from its rating rows"

venv: $(STAMP)

# The venv is rebuilt only when the lock changes (or after `make clean`); every package is pinned
# and hash-checked.
# A line per step: the install is a minute or two of pip, quiet otherwise.
$(STAMP): requirements.lock
	@echo "make: building $(VENV) from requirements.lock (once, until the lock changes)"
	@echo "make: [1/3] creating $(VENV) with $(PYTHON)"
	$(PYTHON) -m venv $(VENV)
	@echo "make: [2/3] installing $$(grep -c '^[A-Za-z]' requirements.lock) pinned, hash-checked packages (a minute or two)"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check \
		--require-hashes --no-deps -r requirements.lock
	@echo "make: [3/3] linking the project into $(VENV)"
	$(BIN)/python scripts/link_project.py
	touch $@
	@echo "make: $(VENV) is ready"

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

# nameko shell, with a banner that does not print the broker's password (scripts/shell.py).
shell: venv rabbitmq
	$(BIN)/python -m scripts.shell

rabbitmq:
	$(PYTHON) scripts/ensure_rabbitmq.py

# The monitoring tests start a Prometheus of their own (tests/e2e/test_monitoring.py).
prometheus:
	$(PYTHON) scripts/ensure_prometheus.py

# Operator commands, run with the venv's Python from any shell in the checkout.
dead-letters: venv
	$(BIN)/python -m services.common.dead_letters $(ARGS)

reconcile-ratings: venv
	$(BIN)/python -m services.ratings.reconcile $(ARGS)

migrate-queues: venv
	$(BIN)/python -m services.common.queue_migration $(ARGS)

# The services' tests need eventlet's monkey patch (tests/eventlet_monkey_patch.py); the
# end-to-end tests drive the running stack with grpcio, which must not be patched; then the API's
# end-to-end tests and the gateway's RPC clients' tests once more on the libraries' stock code,
# without the speed-ups (docs/internals.md).
test: venv lint rabbitmq prometheus
	$(BIN)/python -m pytest --ignore=tests/e2e
	$(BIN)/python -m pytest -p no:tests.eventlet_monkey_patch tests/e2e
	KILLRVIDEO_STOCK_TRANSPORT=1 $(BIN)/python -m pytest -p no:tests.eventlet_monkey_patch \
		tests/e2e/test_*_api.py tests/e2e/test_gateway.py
	KILLRVIDEO_STOCK_TRANSPORT=1 $(BIN)/python -m pytest tests/services/test_gateway_downstream.py

# The fast tier: pure logic and each service's orchestration (nameko's worker_factory with fake
# dependencies, tests/unit/fakes.py); no broker, no database.
test-fast: venv lint
	$(BIN)/python -m pytest tests/unit

# Restarts this machine's RabbitMQ under load, and takes nodes of a 3-node RabbitMQ cluster of
# its own down (two minutes more), so it is not part of `make test`; CI runs both. The gateway's
# request channel on such a cluster is tested in-process (eventlet's monkey patch).
faults: venv rabbitmq
	KILLRVIDEO_FAULTS=1 $(BIN)/python -m pytest -p no:tests.eventlet_monkey_patch \
		tests/e2e/test_broker_restart.py tests/e2e/test_rabbitmq_cluster.py
	KILLRVIDEO_FAULTS=1 $(BIN)/python -m pytest tests/services/test_gateway_on_a_cluster.py

bench: venv rabbitmq
	$(BIN)/python -m benchmarks

run: venv rabbitmq
	$(BIN)/python -m scripts.run $(if $(LOG_FORMAT),--log-format $(LOG_FORMAT))

stop: venv
	$(BIN)/python -m scripts.run --stop

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
