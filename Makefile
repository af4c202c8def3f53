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

.PHONY: all demo test unit bench clean cloud-init

all: test

# The demo needs only the runtime (XenAPI, ansible-core) and the simulator; the test tools
# (molecule, ansible-lint, antsibull, ...) come on top for the other targets.
DEMO_READY := $(VENV)/.demo-ready
# The ansible-core releases make test proves (meta/runtime.yml requires_ansible, make compat).
ANSIBLE_CORE := ansible-core>=2.18,<2.20

$(DEMO_READY): requirements.txt simulator/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q "$(ANSIBLE_CORE)" -r requirements.txt -e ./simulator
	mkdir -p $(dir $(COLLECTION_LINK))
	ln -sfn $(CURDIR) $(COLLECTION_LINK)
	touch $@

$(READY): $(DEMO_READY) test-requirements.txt
	$(BIN)/pip install -q "$(ANSIBLE_CORE)" -r requirements.txt -r test-requirements.txt -e ./simulator
	touch $@

demo: $(DEMO_READY)
	$(BIN)/python playbooks/demo.py

# cloud-init itself for the unit tests (tests/unit/roles/test_cloud_init_schema.py validates every
# user-data and network-config the collection renders with `cloud-init schema` and `cloud-init
# devel net-convert`): Debian's cloud-init package, downloaded with apt-get and unpacked here,
# never installed on the machine; its Python modules run from the venv (test-requirements.txt).
CLOUD_INIT := $(VENV)/cloud-init
CLOUD_INIT_READY := $(CLOUD_INIT)/.ready

# A machine with no apt lists yet (a fresh CI image) knows no package: apt-get update once, retry.
$(CLOUD_INIT_READY): $(READY)
	@command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null || { \
	    echo "make: the cloud-init tests need Debian's cloud-init package: apt-get and dpkg-deb are missing" >&2; exit 1; }
	rm -rf $(CLOUD_INIT) && mkdir -p $(CLOUD_INIT)/download
	cd $(CLOUD_INIT)/download && { apt-get download -q cloud-init || \
	    { apt-get update -q && apt-get download -q cloud-init; }; } || { \
	    echo "make: 'apt-get download cloud-init' failed (run 'apt-get update' if apt knows no cloud-init package);" \
	         "the cloud-init tests need it in $(CLOUD_INIT)" >&2; exit 1; }
	dpkg-deb -x $(CLOUD_INIT)/download/cloud-init_*.deb $(CLOUD_INIT)/root
	dpkg-deb -f $(CLOUD_INIT)/download/cloud-init_*.deb Version > $(CLOUD_INIT)/version
	rm -rf $(CLOUD_INIT)/download
	touch $@

cloud-init: $(CLOUD_INIT_READY)

unit: $(READY) $(CLOUD_INIT_READY)
	$(BIN)/python -m pytest tests/unit -q -n 2

test: unit sanity lint integration package-smoke docs-lint ee-check compat molecule

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

# --- Molecule: the install roles against the simulator (extensions/molecule/, no Docker) --------
# The scenarios share one simulator and install-tree server (extensions/molecule/default, created
# and destroyed once) and run two at a time. MOLECULE_ARGS: e.g. "-s rhel_install" for one;
# XAPISIM_CLOCK_SPEED (default 2000 simulated seconds per real second): how fast guests install.
# A fresh ephemeral directory per run, so two runs on one machine do not share a simulator.
MOLECULE_ARGS ?= --all --workers 2
.PHONY: molecule

molecule: $(READY)
	dir=$$(mktemp -d "$${TMPDIR:-/tmp}/xenserver.provisioning-molecule-XXXXXX") && \
	PATH="$(CURDIR)/$(BIN):$$PATH" MOLECULE_EPHEMERAL_DIRECTORY="$$dir" $(BIN)/molecule test $(MOLECULE_ARGS); \
	rc=$$?; rm -rf "$$dir"; exit $$rc

# --- A real pool (not part of `make test`): the integration targets and molecule scenarios against
# the pool XENSERVER_HOST / XENSERVER_USER / XENSERVER_PASSWORD name, on VMs named with a prefix
# that are always removed at the end; skipped (exit 0) without those variables. docs/testing.md.
.PHONY: test-pool

test-pool: $(READY)
	VENV=$(VENV) scripts/test-pool.sh

# --- Packaging for the Ansible ecosystem -----------------------------------------------------
# package-smoke  build the tarball, check what it holds, install it offline into a temporary
#                collections path and run tests/package/smoke.yml from the installed copy
#                against `xapisim serve --port 0` (scripts/package-smoke.sh)
# docs-lint      antsibull-docs lint-collection-docs --plugin-docs
# ee-check       ansible-builder introspect + create for an EE with this collection (scripts/ee-check.sh)
# compat         the module unit tests and the package smoke under the oldest ansible-core that
#                meta/runtime.yml requires_ansible allows ($(COMPAT_VENV)/, built here)
# docs           HTML for every module, plugin and role (antsibull-docs + Sphinx) in $(DOCS_BUILD)/html
# changelog      (re)write CHANGELOG.rst for galaxy.yml's version from changelogs/fragments
COMPAT_CORE ?= 2.18
COMPAT_VENV := .venv-$(COMPAT_CORE)
COMPAT_READY := $(COMPAT_VENV)/.ready
DOCS_BUILD := docs/_build
DOCS_READY := $(VENV)/.docs-ready

.PHONY: package-smoke docs-lint ee-check compat docs changelog clean-packaging

package-smoke: $(READY)
	VENV=$(VENV) scripts/package-smoke.sh

docs-lint: $(READY)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/antsibull-docs lint-collection-docs --plugin-docs \
	    --validate-collection-refs dependent --check-extra-docs-refs .

ee-check: $(READY)
	VENV=$(VENV) scripts/ee-check.sh

$(COMPAT_READY): requirements.txt simulator/pyproject.toml
	$(PYTHON) -m venv $(COMPAT_VENV)
	$(COMPAT_VENV)/bin/pip install -q "ansible-core==$(COMPAT_CORE).*" -r requirements.txt \
	    pytest pytest-xdist hypothesis pyyaml "ansible-runner>=2.4" -e ./simulator
	touch $@

compat: $(COMPAT_READY)
	$(COMPAT_VENV)/bin/python scripts/requires-ansible.py --oldest
	$(COMPAT_VENV)/bin/python -m pytest tests/unit/plugins -q -n 2 -p no:cacheprovider
	VENV=$(COMPAT_VENV) scripts/package-smoke.sh

$(DOCS_READY): $(READY) docs/sphinx/requirements.txt
	$(BIN)/pip install -q -r docs/sphinx/requirements.txt
	touch $@

docs: $(DOCS_READY)
	rm -rf $(DOCS_BUILD)
	mkdir -p -m 700 $(DOCS_BUILD)/rst
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/antsibull-docs collection --use-current --squash-hierarchy \
	    --fail-on-error --cleanup everything --dest-dir $(DOCS_BUILD)/rst xenserver.provisioning
	$(BIN)/sphinx-build -q -b html -c docs/sphinx -W --keep-going $(DOCS_BUILD)/rst $(DOCS_BUILD)/html
	@echo "docs: $(DOCS_BUILD)/html/index.html"

changelog: $(READY)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/antsibull-changelog release --update-existing --reload-plugins --refresh-fragments without-archives

clean-packaging:
	rm -rf $(COMPAT_VENV) $(DOCS_BUILD)
