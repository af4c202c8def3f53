#!/usr/bin/env bash
# Run the ansible-test integration targets locally against the XenAPI simulator, offline.
#   scripts/integration.sh                     # every target
#   scripts/integration.sh xapisim_smoke -v    # one target, more output
# Targets depend on tests/integration/targets/setup_xapisim, which starts `xapisim serve` per
# target; XAPISIM_BIN (default: the venv's console script) says which simulator to run.
# Extra arguments go to `ansible-test integration`; ANSIBLE_TEST_PYTHON picks the Python version.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${VENV:-$root/.venv}
if [[ ! -x $venv/bin/python ]]; then
    echo "integration.sh: $venv/bin/python not found; run 'make .venv/.ready' first" >&2
    exit 2
fi
export XAPISIM_BIN=${XAPISIM_BIN:-$venv/bin/xapisim}
exec "$venv/bin/python" "$root/scripts/ansible-test.py" integration --python "${ANSIBLE_TEST_PYTHON:-3.11}" "$@"
