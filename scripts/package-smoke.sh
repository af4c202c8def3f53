#!/usr/bin/env bash
# Package smoke test: build the collection tarball, check what it holds, install it offline into
# a temporary collections path and run tests/package/smoke.yml FROM THE INSTALLED COPY (not the
# checkout) against a simulator started here.
#   scripts/package-smoke.sh                     # with .venv/
#   VENV=.venv-2.18 scripts/package-smoke.sh     # with another ansible-core
# KEEP=1 keeps the temporary directory (printed at the end).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${VENV:-$root/.venv}
[[ $venv = /* ]] || venv=$root/$venv
bin=$venv/bin
for tool in ansible-galaxy ansible-playbook ansible-doc xapisim; do
    if [[ ! -x $bin/$tool ]]; then
        echo "package-smoke: $bin/$tool not found; set up the venv first" >&2
        exit 2
    fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/package-smoke.XXXXXX")
sim_pid=
cleanup() {
    if [[ -n $sim_pid ]] && kill -0 "$sim_pid" 2>/dev/null; then
        kill "$sim_pid"
        wait "$sim_pid" 2>/dev/null || true
    fi
    if [[ ${KEEP:-} = 1 ]]; then echo "package-smoke: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
core=$("$bin/python" -c 'from ansible.release import __version__; print(__version__)')
say() { echo "package-smoke [ansible-core $core]: $*"; }

# 0. meta/runtime.yml requires_ansible allows this ansible-core.
"$bin/python" "$root/scripts/requires-ansible.py"

# 1. Build.
"$bin/ansible-galaxy" collection build --output-path "$work/dist" "$root" >/dev/null
tarball=$(echo "$work"/dist/xenserver-provisioning-*.tar.gz)
tar tzf "$tarball" | sed 's#/$##' | sort > "$work/contents.txt"
say "built $(basename "$tarball") ($(wc -l < "$work/contents.txt") entries, $(du -k "$tarball" | cut -f1) KiB)"

# 2. What must stay out (galaxy.yml build_ignore) and what must be in.
shipped_by_mistake=$(grep -E '^(simulator|benchmarks|scripts|tests/output|docs/_build|\.venv[^/]*|\.demo|\.ci|\.git|\.ansible|\.cache|\.pytest_cache|\.hypothesis)(/|$)|\.tar\.gz$|__pycache__|\.pyc$|\.egg-info' \
    "$work/contents.txt" || true)
if [[ -n $shipped_by_mistake ]]; then
    echo "package-smoke: the tarball holds files that must not be shipped:" >&2
    echo "$shipped_by_mistake" | head -20 >&2
    exit 1
fi
missing=
for path in MANIFEST.json FILES.json README.md LICENSE CHANGELOG.rst meta/runtime.yml \
        meta/execution-environment.yml requirements.txt bindep.txt tests/package/smoke.yml \
        $(cd "$root" && git ls-files plugins roles | grep -v '/__init__\.py$' || true); do
    grep -qxF "$path" "$work/contents.txt" || missing="$missing $path"
done
if [[ -n $missing ]]; then
    echo "package-smoke: missing from the tarball:$missing" >&2
    exit 1
fi

# 3. Install it offline; from here on Ansible sees only the installed copy.
export ANSIBLE_COLLECTIONS_PATH=$work/collections
"$bin/ansible-galaxy" collection install "$tarball" -p "$work/collections" --offline >/dev/null
installed=$work/collections/ansible_collections/xenserver/provisioning
export ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false
export ANSIBLE_HOME=$work/ansible-home
: >"$work/ansible.cfg"
export ANSIBLE_CONFIG=$work/ansible.cfg   # empty: no ansible.cfg of the checkout or of $HOME applies
export ANSIBLE_NOCOLOR=1 ANSIBLE_RETRY_FILES_ENABLED=false
export ANSIBLE_LOCALHOST_WARNING=false ANSIBLE_INVENTORY_UNPARSED_WARNING=false
cd "$work"

# Every module, inventory plugin and role the collection has is found there, with its
# documentation (one ansible-doc run per kind).
names() { (cd "$root/$1" 2>/dev/null && ls | sed 's#\.py$##' | grep -v '^__init__$') || true; }
modules=$(names plugins/modules)
inventories=$(names plugins/inventory)
roles=$(cd "$root/roles" 2>/dev/null && ls -d */meta/argument_specs.yml 2>/dev/null | cut -d/ -f1 || true)
check_docs() {  # kind names...
    local kind=$1; shift
    [[ $# -gt 0 ]] || return 0
    "$bin/ansible-doc" -t "$kind" --json $(printf 'xenserver.provisioning.%s ' "$@") >"$work/doc-$kind.json"
    "$bin/python" - "$work/doc-$kind.json" "$installed" "$kind" "$@" <<'EOF_PY'
import json, sys
docs, installed, kind, names = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3], sys.argv[4:]
for name in names:
    entry = docs.get('xenserver.provisioning.' + name) or {}
    where = entry.get('path', '') if kind == 'role' else entry.get('doc', {}).get('filename', '')
    if where != installed and not where.startswith(installed + '/'):
        sys.exit('package-smoke: %s xenserver.provisioning.%s comes from %r, not from %s' % (kind, name, where, installed))
EOF_PY
}
check_docs module $modules
check_docs inventory $inventories
check_docs role $roles
say "installed to $installed; $(echo $modules | wc -w) modules, $(echo $inventories | wc -w) inventory plugin(s), $(echo $roles | wc -w) roles documented from there"

# 4. A simulator (with three halted filler VMs), the smoke playbook of the installed copy, and
#    the installed inventory plugin.
"$bin/xapisim" serve --port 0 --filler-vms 3 --state "$work/pool.json" >"$work/xapisim.out" 2>"$work/xapisim.err" &
sim_pid=$!
url=
for _ in $(seq 200); do
    url=$(sed -n '1s/^xapisim listening on \([^ ]*\).*/\1/p' "$work/xapisim.out")
    [[ -n $url ]] && break
    kill -0 "$sim_pid" 2>/dev/null || { cat "$work/xapisim.err" >&2; exit 1; }
    sleep 0.05
done
[[ -n $url ]] || { echo "package-smoke: xapisim printed no URL" >&2; exit 1; }

XAPISIM_URL=$url SMOKE_COLLECTION_DIR=$installed \
    "$bin/ansible-playbook" "$installed/tests/package/smoke.yml" "$@"
if [[ -n $inventories ]]; then
    echo 'plugin: xenserver.provisioning.xenserver' >"$work/smoke.xenserver.yml"
    XENSERVER_HOST=$url XENSERVER_USER=root XENSERVER_PASSWORD=xenroot \
        "$bin/ansible-inventory" -i "$work/smoke.xenserver.yml" --list >"$work/inventory.json"
    "$bin/python" - "$work/inventory.json" <<'EOF_PY'
import json, sys
inventory = json.load(open(sys.argv[1]))
halted = sorted(inventory.get('xenserver_halted', {}).get('hosts', []))
if halted != ['filler-00000', 'filler-00001', 'filler-00002']:
    sys.exit('package-smoke: ansible-inventory listed %r in xenserver_halted, not the three filler VMs' % halted)
EOF_PY
    say "ansible-inventory with the installed xenserver plugin: 3 halted VMs"
fi
say "passed"
