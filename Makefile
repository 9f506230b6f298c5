# The two commands: `make run` and `make test`. Both create .venv and install the pinned
# requirements on first use, and start an embedded Valkey when REDIS_URL is unset.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)

.PHONY: install run chat call staff test check bench audit clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/python scripts/embedded_redis.py --serve $(BIN)/python scripts/devstack.py

# Text the running service from a second terminal (joins the Valkey that `make run` started).
chat: install
	$(BIN)/python scripts/embedded_redis.py --join $(BIN)/flask --app wsgi chat --from $(or $(FROM),+15555550123)

call: install
	$(BIN)/python scripts/embedded_redis.py --join $(BIN)/flask --app wsgi call --from $(or $(FROM),+15555550123)

# Console accounts on the running service: make staff ARGS="add ada --role admin" (docs/console.md).
staff: install
	$(BIN)/python scripts/embedded_redis.py --join $(BIN)/flask --app wsgi staff $(ARGS)

test: install
	$(BIN)/python scripts/embedded_redis.py $(BIN)/python -m pytest -q -rs $(PYTEST_ARGS)

check: install
	SIGNATURE_CHECK=off $(BIN)/python scripts/embedded_redis.py sh -c '$(BIN)/flask --app wsgi flows check && $(BIN)/flask --app wsgi content check'

bench: install
	@command -v wrk >/dev/null || (echo "installing wrk (Debian package) for the load test"; \
	  (apt-get install -y -qq wrk || (apt-get update -qq && apt-get install -y -qq wrk)) >/dev/null)
	$(BIN)/python -m bench.run

# pip-audit asks PyPI's vulnerability data; it lives in its own venv so the app does not ship it.
audit:
	test -x .venv-audit/bin/pip-audit || ($(PYTHON) -m venv .venv-audit && .venv-audit/bin/pip install --quiet pip-audit==2.10.1)
	.venv-audit/bin/pip-audit --strict --requirement requirements.txt

clean:
	rm -rf $(VENV) .venv-audit var .pytest_cache
