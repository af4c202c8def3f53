# Set-up is part of every target: .venv/ is (re)built from nothing with python3 alone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
READY := $(VENV)/.ready
# ansible needs the collection under ansible_collections/<namespace>/<name>: link the checkout.
COLLECTIONS := $(CURDIR)/$(VENV)/collections
COLLECTION_LINK := $(COLLECTIONS)/ansible_collections/xenserver/provisioning
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: all demo test unit bench clean

all: test

$(READY): requirements.txt test-requirements.txt simulator/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -r requirements.txt -r test-requirements.txt -e ./simulator
	mkdir -p $(dir $(COLLECTION_LINK))
	ln -sfn $(CURDIR) $(COLLECTION_LINK)
	touch $@

demo: $(READY)
	$(BIN)/python playbooks/demo.py

unit: $(READY)
	$(BIN)/python -m pytest tests/unit -q -n 2

test: unit sanity lint integration

bench: $(READY)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) tests/output .demo

# --- Ansible quality gates, offline (see scripts/ansible-test.py) -------------------------------
# ansible-test runs on a fresh copy of the collection under $TMPDIR/.../ansible_collections/
# xenserver/provisioning; its sanity venvs are cached in ~/.ansible/test/venv.
ANSIBLE_TEST_PYTHON ?= 3.11
SANITY_ARGS ?=
INTEGRATION_ARGS ?=
LINT_ARGS ?=

.PHONY: sanity lint integration

sanity: $(READY)
	$(BIN)/python scripts/ansible-test.py sanity --python $(ANSIBLE_TEST_PYTHON) $(SANITY_ARGS)

lint: $(READY)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/ansible-lint $(LINT_ARGS)
	$(BIN)/antsibull-changelog lint

integration: $(READY)
	ANSIBLE_TEST_PYTHON=$(ANSIBLE_TEST_PYTHON) scripts/integration.sh $(INTEGRATION_ARGS)
