# vega-observability: the two commands that matter are `make up` and `make test`.
SHELL := /bin/bash
STACK ?= dev
OUT ?= build/$(STACK)
VENV ?= .venv
PY := $(VENV)/bin/python
STATE_DIR ?= $(CURDIR)/.pulumi-state
# Upstream binaries from `make tools` come before any on PATH (tests/support/upstream.py too).
export PATH := $(CURDIR)/.tools/bin:$(PATH)

# Local defaults: state in .pulumi-state/ (no Pulumi account), and a passphrase for the
# stack's secrets kept in .pulumi-state/passphrase unless you bring your own.
export PULUMI_BACKEND_URL ?= file://$(STATE_DIR)
ifeq ($(origin PULUMI_CONFIG_PASSPHRASE),undefined)
ifeq ($(origin PULUMI_CONFIG_PASSPHRASE_FILE),undefined)
export PULUMI_CONFIG_PASSPHRASE_FILE := $(STATE_DIR)/passphrase
endif
endif

.PHONY: help venv tools check-tools stack-ready config docs new-alert up preview destroy render test lint checkov-venv bench smoke clean

help:
	@echo "make up        create the venv and run 'pulumi up' for STACK (default dev) on local state"
	@echo "make preview   'pulumi preview' for STACK"
	@echo "make destroy   'pulumi destroy' for STACK"
	@echo "make config    'pulumi config' on STACK's state: make config ARGS='set --secret grafanaAdminPassword'"
	@echo "make new-alert rule, runbook section and promtool test of a new alert: make new-alert NAME=QueueBacklogHigh SEVERITY=warning"
	@echo "make docs      regenerate the tables of alerts in README.md and docs/runbooks.md"
	@echo "make render    offline render of STACK into OUT (no CLI, no Docker): make render STACK=dev OUT=d"
	@echo "make test      lint, type-check and the whole test suite"
	@echo "make tools     Prometheus/promtool and Alertmanager/amtool from Debian unstable into .tools/bin (for test, bench)"
	@echo "make smoke     check a running STACK: targets, rules, Alertmanager, Loki, Jaeger, Grafana (needs the CLI)"
	@echo "make bench     dashboard refresh benchmark: recording rules vs raw series (real Prometheus, ~8 min)"

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

venv: $(VENV)/.installed

tools:
	@bash tools/install-upstream.sh

checkov-venv: .venv-checkov/.installed
.venv-checkov/.installed: requirements-checkov.txt
	@test -x .venv-checkov/bin/python || python3 -m venv .venv-checkov
	.venv-checkov/bin/python -m pip install --quiet -r requirements-checkov.txt
	@touch $@

define need_pulumi
	@command -v pulumi >/dev/null || { echo "The Pulumi CLI is missing. Install it with:"; \
	  echo "  curl -fsSL https://get.pulumi.com | sh    (then open a new shell)"; \
	  echo "or see https://www.pulumi.com/docs/install/"; exit 1; }
endef

define need_docker
	@command -v docker >/dev/null || { echo "Docker is missing. Install Docker Engine or Docker Desktop:"; \
	  echo "  https://docs.docker.com/engine/install/"; exit 1; }
	@docker info >/dev/null 2>&1 || { echo "Docker is installed but its daemon does not answer."; \
	  echo "Start it (e.g. 'sudo systemctl start docker' or open Docker Desktop) and make sure"; \
	  echo "your user may use it ('docker info' must work)."; exit 1; }
endef

check-tools:
	$(need_pulumi)
	$(if $(filter kubernetes,$(shell grep -h 'platform:' Pulumi.$(STACK).yaml 2>/dev/null)),,$(need_docker))

# The state `make up` uses: the passphrase file (created once) and STACK (selected, or created).
define stack_state
	@mkdir -p $(STATE_DIR)
	@if [ -n "$$PULUMI_CONFIG_PASSPHRASE_FILE" ] && [ ! -s "$$PULUMI_CONFIG_PASSPHRASE_FILE" ]; then \
	  umask 077; python3 -c "import secrets; print(secrets.token_urlsafe(32))" > "$$PULUMI_CONFIG_PASSPHRASE_FILE"; \
	  echo "Created a passphrase for this stack's secrets in $$PULUMI_CONFIG_PASSPHRASE_FILE (keep it)."; fi
	@pulumi stack select $(STACK) </dev/null 2>/dev/null || pulumi stack init $(STACK) </dev/null
endef

stack-ready: check-tools venv
	$(stack_state)

# `pulumi config` on the state `make up` uses; needs only the Pulumi CLI (no Docker, no venv).
# A secret given without a value is asked for (or read from stdin), so it stays out of the
# shell's history: make config ARGS='set --secret grafanaAdminPassword'
config:
	$(need_pulumi)
	$(stack_state)
	pulumi config --stack $(STACK) $(ARGS)

up: stack-ready
	pulumi up --stack $(STACK)

preview: stack-ready
	pulumi preview --stack $(STACK) --diff

destroy: stack-ready
	pulumi destroy --stack $(STACK)

docs: venv
	$(PY) -m tools.docs

new-alert: venv
	$(PY) -m tools.scaffold alert "$(NAME)" "$(SEVERITY)"

render: venv
	$(PY) -m tools.render --stack $(STACK) --out $(OUT)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

test: lint
	$(VENV)/bin/pytest

smoke: venv
	$(need_pulumi)
	$(PY) -m tools.smoke --stack $(STACK)

bench: venv
	$(PY) -m bench

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
