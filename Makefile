# Touchpoint: `make run` starts everything, `make test` runs every test. `make help` lists the rest.
SHELL := /bin/bash
.DEFAULT_GOAL := help

BUILD      := build
APP_ENV    := $(BUILD)/app-env
RASA_ENV   := $(BUILD)/rasa-env
APP_PY     := $(APP_ENV)/bin/python
RASA       := $(RASA_ENV)/bin/rasa
MODEL      := $(BUILD)/models/touchpoint.tar.gz
# Rasa 3.6 needs Python 3.10; pyenv provides it on our machines, else python3.10 on PATH.
RASA_PYTHON ?= $(shell if command -v pyenv >/dev/null 2>&1 && [ -x "$$(pyenv root)/versions/3.10.13/bin/python" ]; \
                  then echo "$$(pyenv root)/versions/3.10.13/bin/python"; else command -v python3.10; fi)
APP_PYTHON ?= python3.11
# The browser tests drive Debian's Chromium (Playwright's own browser download is not used),
# with Chinese and emoji fonts so that pages and screenshots render as users see them.
BROWSER_PACKAGES := chromium chromium-driver fonts-wqy-zenhei fonts-noto-color-emoji
SUDO       := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# The public data sets (see its README); `make bench` measures a 10,000-article knowledge base from LCQMC.
BENCHMARKS ?= ../shared/benchmarks
# The review bench fills this PostgreSQL database (dropped and made again) with 100,000 conversations.
REVIEW_BENCH_DATABASE ?= postgresql+asyncpg://postgres@127.0.0.1:5432/touchpoint_bench_review

# Hermetic runs: every cache and config inside the build folder, no telemetry, no downloads.
export RASA_TELEMETRY_ENABLED := false
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export MPLCONFIGDIR := $(CURDIR)/$(BUILD)/cache/matplotlib
export KERAS_HOME := $(CURDIR)/$(BUILD)/cache/keras
export TF_CPP_MIN_LOG_LEVEL := 2
export RASA_CACHE_DIRECTORY := $(CURDIR)/$(BUILD)/cache/rasa
export SQLALCHEMY_SILENCE_UBER_WARNING := 1

# Rasa's domain is bot/domain.yml with its responses from the string catalogue (touchpoint domain).
RASA_INPUTS := config.yml bot/domain.yml $(wildcard bot/data/*.yml) $(wildcard bot/strings/*.yml)

.PHONY: help setup index train validate run run-scaled test test-fast lint eval bench quality clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

setup: $(APP_ENV)/.installed $(RASA_ENV)/.installed ## build both environments (idempotent)

$(APP_ENV)/.installed: pyproject.toml
	@test -x $(APP_PY) || $(APP_PYTHON) -m venv $(APP_ENV)
	$(APP_PY) -m pip install --quiet --upgrade pip
	$(APP_PY) -m pip install --quiet -e '.[dev]'
	@touch $@

$(RASA_ENV)/.installed: bot/rasa-requirements.txt
	@test -n "$(RASA_PYTHON)" || { echo "Python 3.10 is needed for Rasa 3.6 (set RASA_PYTHON)"; exit 1; }
	@test -x $(RASA_ENV)/bin/python || $(RASA_PYTHON) -m venv $(RASA_ENV)
	$(RASA_ENV)/bin/python -m pip install --quiet --upgrade 'pip<24.1'
	$(RASA_ENV)/bin/python -m pip install --quiet -r bot/rasa-requirements.txt
	@touch $@

$(BUILD)/.browser:
	@dpkg -s $(BROWSER_PACKAGES) >/dev/null 2>&1 || { \
	  echo "Installing Debian's $(BROWSER_PACKAGES) for the browser tests"; \
	  $(SUDO) apt-get update -q && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(BROWSER_PACKAGES); }
	@mkdir -p $(BUILD) && touch $@

# The scaled stack's load balancer: Debian's nginx, run by `touchpoint run --scaled` as this user
# with its configuration and logs in the build folder (the package's own service is not used).
$(BUILD)/.nginx:
	@command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || { \
	  echo "Installing Debian's nginx for the scaled stack"; \
	  $(SUDO) apt-get update -q && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nginx-light || \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nginx; }
	@mkdir -p $(BUILD) && touch $@

validate: $(APP_ENV)/.installed ## check the knowledge-base articles
	$(APP_ENV)/bin/touchpoint validate

index: $(APP_ENV)/.installed ## build the knowledge-base index if missing or stale
	$(APP_ENV)/bin/touchpoint index

train: $(MODEL) ## train the Rasa model if its inputs changed

$(MODEL): $(RASA_INPUTS) $(RASA_ENV)/.installed $(APP_ENV)/.installed
	@mkdir -p $(BUILD)/tmp $(BUILD)/rasa-home $(BUILD)/models
	$(APP_ENV)/bin/touchpoint domain --out $(BUILD)/domain.yml
	cd $(CURDIR) && HOME=$(CURDIR)/$(BUILD)/rasa-home TMPDIR=$(CURDIR)/$(BUILD)/tmp \
	  $(RASA) train --config config.yml --domain $(BUILD)/domain.yml --data bot/data \
	  --out $(BUILD)/models --fixed-model-name touchpoint --quiet
	@touch $@

run: setup validate index train ## start Rasa, actions and the app on SQLite with the demo knowledge base
	$(APP_ENV)/bin/touchpoint run

# The scaled stack connects to the PostgreSQL and Redis already running on this machine; set these
# (or the TOUCHPOINT_* variables themselves) for others.
SCALED_DATABASE_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/touchpoint
SCALED_RASA_TRACKER_URL ?= postgresql://postgres@127.0.0.1:5432/touchpoint_rasa
SCALED_REDIS_URL ?= redis://127.0.0.1:6379/0

run-scaled: setup validate index train $(BUILD)/.nginx ## nginx before 2 apps, 2 Rasa and 2 action servers on PostgreSQL and Redis
	TOUCHPOINT_DATABASE_URL=$${TOUCHPOINT_DATABASE_URL:-$(SCALED_DATABASE_URL)} \
	TOUCHPOINT_RASA_TRACKER_URL=$${TOUCHPOINT_RASA_TRACKER_URL:-$(SCALED_RASA_TRACKER_URL)} \
	TOUCHPOINT_REDIS_URL=$${TOUCHPOINT_REDIS_URL:-$(SCALED_REDIS_URL)} \
	  $(APP_ENV)/bin/touchpoint run --scaled

test: setup index train $(BUILD)/.browser $(BUILD)/.nginx ## run every test: unit, Rasa data checks, browser and end-to-end
	$(APP_ENV)/bin/python -m pytest

test-fast: $(APP_ENV)/.installed ## unit tests only (no Rasa, no browser)
	$(APP_ENV)/bin/python -m pytest -m 'not e2e and not browser'

lint: $(APP_ENV)/.installed ## ruff lint and format check
	$(APP_ENV)/bin/ruff check .
	$(APP_ENV)/bin/ruff format --check .

eval: $(APP_ENV)/.installed ## score retrieval and handoff decisions on the held-out demo queries
	$(APP_ENV)/bin/touchpoint eval

bench: setup index train $(BUILD)/.nginx ## latency: retrieval, messages, publish-to-answer, redaction, review list, soak with faults
	$(APP_ENV)/bin/python tests/bench/bench_retrieval.py --json $(BUILD)/bench-retrieval.json
	$(APP_ENV)/bin/python tests/bench/bench_messages.py --json $(BUILD)/bench-messages.json
	$(APP_ENV)/bin/python tests/bench/bench_publish.py --rate 30 --json $(BUILD)/bench-publish.json
	$(APP_ENV)/bin/python tests/bench/bench_redaction.py --json $(BUILD)/bench-redaction.json
	$(APP_ENV)/bin/python tests/bench/generate_conversations.py --fresh --database-url $(REVIEW_BENCH_DATABASE) \
	  --conversations 100000 --messages 1000000
	$(APP_ENV)/bin/python tests/bench/bench_review.py --database-url $(REVIEW_BENCH_DATABASE) \
	  --json $(BUILD)/bench-review.json
	$(APP_ENV)/bin/python tests/bench/soak.py --minutes 10 --conversations 50 --json $(BUILD)/bench-soak.json
	@if [ -d $(BENCHMARKS)/lcqmc_zh ]; then \
	  $(APP_ENV)/bin/python tests/bench/bench_publish.py --lcqmc $(BENCHMARKS)/lcqmc_zh --size 10000 --rate 30 \
	    --json $(BUILD)/bench-publish-10k.json; \
	else echo "skipped: no benchmarks at $(BENCHMARKS)/lcqmc_zh (set BENCHMARKS=...) for the 10,000-article publish bench"; fi

# Each public benchmark: the name `touchpoint convert` knows it by, and its folder under $(BENCHMARKS).
QUALITY_BENCHMARKS := clinc150:clinc150 clinc150-unseen:clinc150 banking77:banking77 stackfaq:stackfaq lcqmc:lcqmc_zh

quality: setup ## answer quality: the default threshold against the best, on the demo and the public benchmarks (~20 min)
	@for pair in $(QUALITY_BENCHMARKS); do name=$${pair%%:*}; source=$(BENCHMARKS)/$${pair##*:}; \
	  if [ ! -f $(BUILD)/benchmarks/$$name/test.jsonl ] && [ -d $$source ]; then \
	    $(APP_ENV)/bin/touchpoint convert $$name $$source $(BUILD)/benchmarks/$$name || exit 1; fi; done
	$(APP_ENV)/bin/python tests/bench/bench_quality.py --benchmarks $(BUILD)/benchmarks --json $(BUILD)/bench-quality.json

clean: ## remove the build folder (environments, index, model, database)
	rm -rf $(BUILD)
