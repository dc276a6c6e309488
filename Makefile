# Every target builds .venv from scratch when it is missing, so a fresh clone needs only python3.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: test lint demo preview bench pack-dist clean pulumi-cli

$(BIN)/python:
	@echo "make: creating $(VENV) with $$($(PYTHON) --version) (once; 'make clean' rebuilds it)"
	$(PYTHON) -m venv $(VENV)
	@echo "make: upgrading pip in $(VENV)"
	$(BIN)/python -m pip install --quiet --upgrade pip
	@echo "make: installing the project with its pulumi and dev extras into $(VENV) (2-3 minutes the first time)"
	$(BIN)/python -m pip install --quiet -e '.[pulumi,dev]'
	@echo "make: $(VENV) is ready"

lint: $(BIN)/python
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy remediation

# The real Pulumi CLI for the end-to-end tests: found on PATH, reused, or built (tools/pulumi/ensure.sh).
pulumi-cli:
	@tools/pulumi/ensure.sh

test: lint pulumi-cli
	$(BIN)/python -m pytest

# The CLI on a local moto_server, then what the policy pack reports in a preview and fixes in an up:
# on the real Pulumi CLI when one is on PATH or built, else on the imitation engine. It never builds the
# CLI (about 15 minutes the first time): its first line says which engine the Pulumi part will use.
demo:
	@$(PYTHON) -m tests.demo --plan
	@[ -x $(BIN)/python ] || $(MAKE) --no-print-directory $(BIN)/python
	$(BIN)/python -m tests.demo
	$(BIN)/python -m tests.preview --up

bench: $(BIN)/python pulumi-cli
	$(BIN)/python -m bench

# What `pulumi preview --policy-pack policy_pack` reports for unprotected Sentinel tables: the real
# CLI when there is one (its first line says which engine ran).
preview: $(BIN)/python pulumi-cli
	$(BIN)/python -m tests.preview

# `pulumi policy publish` uploads only the pack folder: stage one with the core inside it, and a
# pack-local virtualenv the CLI fills from requirements.txt.
PACK_DIST ?= dist/policy_pack
pack-dist:
	rm -rf $(PACK_DIST)
	mkdir -p $(PACK_DIST)/config
	cp policy_pack/__main__.py policy_pack/requirements.txt $(PACK_DIST)/
	cp policy_pack/config/*.json $(PACK_DIST)/config/
	sed 's|virtualenv: ../.venv|virtualenv: venv|' policy_pack/PulumiPolicy.yaml > $(PACK_DIST)/PulumiPolicy.yaml
	cp -R remediation $(PACK_DIST)/remediation
	rm -rf $(PACK_DIST)/remediation/__pycache__
	printf 'venv/\n__pycache__/\n' > $(PACK_DIST)/.gitignore

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
