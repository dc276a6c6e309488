# Every target builds .venv from scratch when it is missing, so a fresh clone needs only python3.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: test lint demo preview bench pack-dist clean pulumi-cli test-tools

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

# The real evaluators the tests judge with, each from a package registry (tests/evaluator_tools.py):
# IAM decisions (npm @cloud-copilot/iam-simulate, iam-policy; pinned in tests/node/package-lock.json),
# EventBridge patterns (Maven Central's Event Ruler; pinned in tests/eventruler/pom.xml), the OCSF
# 1.5.0 schema (PyPI pydantic-ocsf, the dev extra) and the xUnit plugin's junit-10.xsd (shipped in
# pytest's sdist on PyPI). Each step is skipped when its output is newer than its inputs.
NODE_TOOLS := tests/node/node_modules/.package-lock.json
RULER_JAR := tests/eventruler/target/eventruler-cli.jar
JUNIT_XSD := tests/.evaluators/junit-10.xsd
JUNIT_XSD_FROM := pytest==9.2.0
JUNIT_XSD_MEMBER := pytest-9.2.0/testing/example_scripts/junit-10.xsd
JUNIT_XSD_SHA256 := a1a816f58d1bf95ebabf371994df0b9246dee66ea9572fbec4f9296f1b2c0ff6

test-tools: $(BIN)/python $(NODE_TOOLS) $(RULER_JAR) $(JUNIT_XSD)
	@$(BIN)/python -c 'import lxml, ocsf.v1_5_0.events' 2>/dev/null \
		|| $(BIN)/python -m pip install --quiet -e '.[pulumi,dev]'

$(NODE_TOOLS): tests/node/package.json tests/node/package-lock.json
	cd tests/node && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(RULER_JAR): tests/eventruler/pom.xml $(wildcard tests/eventruler/src/main/java/*/*/*.java)
	cd tests/eventruler && mvn -B -q package

$(JUNIT_XSD): $(BIN)/python
	rm -rf tests/.evaluators/sdist && mkdir -p tests/.evaluators/sdist
	$(BIN)/python -m pip download --quiet --no-deps --no-binary :all: -d tests/.evaluators/sdist '$(JUNIT_XSD_FROM)'
	tar -xzf tests/.evaluators/sdist/*.tar.gz -O $(JUNIT_XSD_MEMBER) > $@.part
	echo '$(JUNIT_XSD_SHA256)  $@.part' | sha256sum --check --quiet
	mv $@.part $@
	rm -rf tests/.evaluators/sdist

test: lint pulumi-cli test-tools
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
