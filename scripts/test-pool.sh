#!/usr/bin/env bash
# make test-pool: the integration targets and the molecule scenarios against a REAL pool
# (docs/testing.md). Without XENSERVER_HOST / XENSERVER_USER / XENSERVER_PASSWORD it says it was
# skipped and exits 0.
#
#   XENSERVER_HOST             the pool master: a host name (https) or an http(s) URL
#   XENSERVER_USER             a user with the pool-admin role (or pool-operator)
#   XENSERVER_PASSWORD         read from the environment, never put on a command line
#   XENSERVER_CA_PATH          the pool's CA certificate (default: the system's CAs)
#   XENSERVER_VALIDATE_CERTS   false: do not verify the certificate (default true)
#   XENSERVER_TEST_PREFIX      the start of every VM name (default xsprov-test-<random>-)
#   XENSERVER_TEST_SR          the SR for the test VMs' disks (default: the pool's default SR)
#   XENSERVER_TEST_NETWORK     the network for their NICs (name label; default "Pool-wide network
#                              associated with eth0")
#   XENSERVER_TEST_TEMPLATE    a template to make test VMs from (default "Other install media")
#   XENSERVER_TEST_ISO         an ISO of the pool's ISO SRs (default guest-tools.iso)
#   XENSERVER_TEST_MIRROR      the install trees for the role scenarios (docs/testing.md); the
#                              scenarios are skipped when it is not given
#   XENSERVER_TEST_ANSWER_DIR, XENSERVER_TEST_ANSWER_BASE_URL
#                              where the roles write answer files and the URL guests fetch them from
#   XENSERVER_TEST_TARGETS     integration targets to run (default: all); "none" for none
#   XENSERVER_TEST_SCENARIOS   molecule scenarios to run (default: all); "none" for none
#
# Every VM it makes is named with the prefix; whatever happens (a failure, Ctrl-C), the last step
# removes every VM (and disk) whose name starts with it.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${VENV:-$root/.venv}
cleanup_py=$root/tests/integration/targets/setup_xapisim/files/test_pool_cleanup.py

missing=()
for name in XENSERVER_HOST XENSERVER_USER XENSERVER_PASSWORD; do
    [[ -n ${!name:-} ]] || missing+=("$name")
done
if (( ${#missing[@]} )); then
    echo "test-pool: skipped: no real pool given (${missing[*]} not set; see docs/testing.md)"
    exit 0
fi
if [[ ! -x $venv/bin/python ]]; then
    echo "test-pool: $venv/bin/python not found; run 'make .venv/.ready' first" >&2
    exit 2
fi

url=$XENSERVER_HOST
[[ $url == *://* ]] || url="https://$url"     # a bare host name means https, as in the modules
prefix=${XENSERVER_TEST_PREFIX:-xsprov-test-$("$venv/bin/python" -c 'import secrets; print(secrets.token_hex(3))')-}
if (( ${#prefix} < 8 )); then
    echo "test-pool: XENSERVER_TEST_PREFIX '$prefix' is too short to name only this run's VMs" >&2
    exit 2
fi
validate=${XENSERVER_VALIDATE_CERTS:-true}
case ${validate,,} in
    false|no|0|off) validate=false ;;
    *) validate=true ;;
esac
work=$(mktemp -d "${TMPDIR:-/tmp}/xenserver.provisioning-test-pool-XXXXXX")
chmod 700 "$work"

cleanup() {
    trap - EXIT INT TERM
    echo "test-pool: removing every VM whose name starts with $prefix"
    local args=(--url "$url" --user "$XENSERVER_USER" --prefix "$prefix")
    [[ -n ${XENSERVER_CA_PATH:-} ]] && args+=(--ca-path "$XENSERVER_CA_PATH")
    [[ $validate == true ]] || args+=(--no-validate-certs)
    printf '%s\n' "$XENSERVER_PASSWORD" | "$venv/bin/python" "$cleanup_py" "${args[@]}" || status=1
    rm -rf "$work"
    exit "$status"
}
status=0
trap cleanup EXIT
trap 'status=130; exit 130' INT
trap 'status=143; exit 143' TERM

echo "test-pool: a REAL pool at $url (user $XENSERVER_USER), VM names start with $prefix"

# The integration targets' vars (ansible-test passes no environment through): the pool, and
# xenserver_test_simulator false, which skips the steps only the simulator can do.
URL=$url PREFIX=$prefix VALIDATE=$validate XAPISIM_BIN=${XAPISIM_BIN:-$venv/bin/xapisim} \
"$venv/bin/python" - "$work/integration_config.yml" <<'EOF'
import json, os, sys
env = os.environ.get
config = {
    "xapisim_bin": env("XAPISIM_BIN"),
    "xapisim_url": env("URL"), "xapisim_user": env("XENSERVER_USER"), "xapisim_password": env("XENSERVER_PASSWORD"),
    "xenserver_test_simulator": False,
    "xenserver_test_prefix": env("PREFIX"),
    "xenserver_test_template": env("XENSERVER_TEST_TEMPLATE") or "Other install media",
    "xenserver_test_network": env("XENSERVER_TEST_NETWORK") or "Pool-wide network associated with eth0",
    "xenserver_test_sr": env("XENSERVER_TEST_SR") or "",
    "xenserver_test_iso": env("XENSERVER_TEST_ISO") or "guest-tools.iso",
    "xenserver_test_ca_path": env("XENSERVER_CA_PATH") or None,
    "xenserver_test_validate_certs": env("VALIDATE") == "true",
}
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(fd, "w") as handle:
    json.dump(config, handle)      # JSON is YAML
EOF

targets=${XENSERVER_TEST_TARGETS:-}
if [[ $targets != none ]]; then
    # shellcheck disable=SC2086  # a list of target names
    XENSERVER_TEST_INTEGRATION_CONFIG=$work/integration_config.yml VENV=$venv \
        "$root/scripts/integration.sh" --continue-on-error $targets || status=1
fi

scenarios=${XENSERVER_TEST_SCENARIOS:-}
if [[ $scenarios != none ]]; then
    if [[ -z $scenarios ]]; then
        scenarios=$(cd "$root/extensions/molecule" && for d in */molecule.yml; do d=${d%/molecule.yml}; [[ $d == default ]] || echo "$d"; done)
    fi
    if [[ -z ${XENSERVER_TEST_MIRROR:-} ]]; then
        # Every scenario installs a guest from a tree: without a mirror there is nothing to install from.
        echo "test-pool: molecule scenarios skipped (" $scenarios "): XENSERVER_TEST_MIRROR not set"
    else
        for scenario in $scenarios; do
            dir=$(mktemp -d "$work/molecule-XXXXXX")
            # The collection as make links it (.venv/collections: the checkout).
            ( cd "$root" && PATH="$venv/bin:$PATH" MOLECULE_EPHEMERAL_DIRECTORY="$dir" \
                ANSIBLE_COLLECTIONS_PATH=${ANSIBLE_COLLECTIONS_PATH:-$venv/collections} \
                XENSERVER_TEST_URL=$url XENSERVER_TEST_PREFIX=$prefix XENSERVER_VALIDATE_CERTS=$validate \
                "$venv/bin/molecule" test -s "$scenario" ) || status=1
        done
    fi
fi
exit "$status"
