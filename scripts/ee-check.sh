#!/usr/bin/env bash
# Execution-environment check (no container engine needed):
#   1. build the collection tarball and install it offline, as an EE build's galaxy stage would;
#   2. `ansible-builder introspect` on the installed copy must find meta/execution-environment.yml
#      and, through it, requirements.txt (XenAPI) and bindep.txt (ca-certificates);
#   3. `ansible-builder create` for an EE definition (version 3) that installs this tarball must
#      produce a build context (Containerfile, _build/requirements.yml, the tarball) without errors.
#   scripts/ee-check.sh          # with .venv/ (ansible-builder from test-requirements.txt)
# KEEP=1 keeps the temporary directory (printed at the end).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${VENV:-$root/.venv}
[[ $venv = /* ]] || venv=$root/$venv
bin=$venv/bin
for tool in ansible-galaxy ansible-builder; do
    if [[ ! -x $bin/$tool ]]; then
        echo "ee-check: $bin/$tool not found; set up the venv first" >&2
        exit 2
    fi
done
work=$(mktemp -d "${TMPDIR:-/tmp}/ee-check.XXXXXX")
cleanup() { if [[ ${KEEP:-} = 1 ]]; then echo "ee-check: kept $work"; else rm -rf "$work"; fi; }
trap cleanup EXIT
fail() { echo "ee-check: $*" >&2; exit 1; }

# 1. The tarball, installed the way an EE build installs it.
"$bin/ansible-galaxy" collection build --output-path "$work/dist" "$root" >/dev/null
tarball=$(echo "$work"/dist/xenserver-provisioning-*.tar.gz)
name=$(basename "$tarball")
export ANSIBLE_COLLECTIONS_PATH=$work/collections
"$bin/ansible-galaxy" collection install "$tarball" -p "$work/collections" --offline >/dev/null

# bindep must be able to read bindep.txt (ansible-builder runs it in the builder stage).
"$bin/bindep" -f "$root/bindep.txt" -l newline >/dev/null || fail "bindep cannot read bindep.txt"

# 2. Introspection: what the builder stage of the image would install for this collection.
"$bin/ansible-builder" introspect --sanitize "$work/collections" \
    --write-pip "$work/pip.txt" --write-bindep "$work/bindep.txt" >"$work/introspect.out"
expected_pip=$(grep -vE '^\s*(#|$)' "$root/requirements.txt")
expected_system=$(grep -vE '^\s*(#|$)' "$root/bindep.txt")
while IFS= read -r requirement; do
    grep -qF "$requirement" "$work/pip.txt" || fail "introspection lost the Python requirement '$requirement': $(cat "$work/pip.txt")"
done <<<"$expected_pip"
while IFS= read -r requirement; do
    grep -qF "$requirement" "$work/bindep.txt" || fail "introspection lost the system requirement '$requirement': $(cat "$work/bindep.txt")"
done <<<"$expected_system"
grep -q "xenserver.provisioning" "$work/pip.txt" || fail "requirements are not attributed to xenserver.provisioning"

# 3. A build context for an EE with this collection in it.
mkdir -p "$work/ee"
cp "$tarball" "$work/ee/"
cat >"$work/ee/execution-environment.yml" <<EOF
---
version: 3
images:
  base_image:
    name: quay.io/centos/centos:stream9
dependencies:
  python_interpreter:
    package_system: python3.11
    python_path: /usr/bin/python3.11
  ansible_core:
    package_pip: ansible-core>=2.18,<2.20
  ansible_runner:
    package_pip: ansible-runner
  galaxy:
    collections:
      - name: /build/collections/$name
        type: file
additional_build_files:
  - src: $name
    dest: collections
additional_build_steps:
  prepend_galaxy:
    - COPY _build/collections/ /build/collections/
EOF
(cd "$work/ee" && "$bin/ansible-builder" create -f execution-environment.yml --context context \
    --output-filename Containerfile >"$work/create.out" 2>&1) \
    || { cat "$work/create.out" >&2; fail "ansible-builder create failed"; }
if grep -qiE 'error|warn' "$work/create.out"; then
    cat "$work/create.out" >&2
    fail "ansible-builder create complained"
fi
for path in Containerfile _build/requirements.yml "_build/collections/$name" _build/scripts/introspect.py; do
    [[ -f $work/ee/context/$path ]] || fail "the build context has no $path"
done
grep -q "$name" "$work/ee/context/_build/requirements.yml" || fail "_build/requirements.yml does not install $name"
echo "ee-check: introspection found $(grep -c . "$work/pip.txt") Python and $(grep -c . "$work/bindep.txt") system requirement(s); ansible-builder $("$bin/ansible-builder" --version) created a build context for $name"
