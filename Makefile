# Two entry points: `make demo` and `make test`. Both create .venv and install what
# they need; re-running is cheap (a stamp file keyed on the dependency files).
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
DEPS   := pyproject.toml $(wildcard plugins/*/pyproject.toml) $(wildcard pipelines/*/pyproject.toml)
STAMP  := $(VENV)/.stamp-$(shell cat $(DEPS) 2>/dev/null | sha1sum | cut -c1-12)
LOCAL_PACKAGES := $(foreach d,$(wildcard plugins/*/pyproject.toml pipelines/*/pyproject.toml),-e $(dir $(d)))

CHROMIUM ?= /usr/bin/chromium
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test setup clean postgresql

$(STAMP): $(DEPS)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -e '.[dev]' $(LOCAL_PACKAGES)
	rm -f $(VENV)/.stamp-* && touch $@

setup: $(STAMP)
	$(BIN)/lakeloom setup

demo: setup
	$(BIN)/lakeloom run pipelines/retail/jobs/daily.job.yml
	@$(BIN)/lakeloom tables
	@echo "Run history: $(BIN)/lakeloom runs list  ·  task logs: .lakeloom/logs/<run_id>/<task_key>/"
	@echo "Dashboard: $(BIN)/lakeloom serve, then http://127.0.0.1:8080/dashboards/retail  ·  or: $(BIN)/lakeloom dashboards export retail --html retail.html"

# The dashboard tests drive Debian's chromium; it is installed from Debian, never downloaded by a test tool.
$(CHROMIUM):
	$(SUDO) apt-get update -qq
	$(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

# The PostgreSQL store tests start a throwaway cluster with Debian's initdb/pg_ctl; installed when missing.
postgresql:
	@ls /usr/lib/postgresql/*/bin/initdb /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || { \
	  $(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; }

# Import layers first: a broken contract stops `make test` before the suite starts.
test: setup $(CHROMIUM) postgresql
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

clean:
	rm -rf .lakeloom spark-warehouse metastore_db derby.log test-artifacts
