# Copyright: Contributors to the xenserver.provisioning collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Remove every VM a test run made on a pool: the ones whose name starts with a prefix.

    python test_pool_cleanup.py --url URL --user USER --prefix PREFIX [--ca-path FILE]
                                [--no-validate-certs] [--list] < password

For each such VM (templates and snapshots included, never a default template or dom0): shut it
down hard, remove its snapshots, the VM and the disks that no other VM uses; then remove the
unattached disks whose name starts with the prefix (disks a test kept). The password is read from
stdin, so it never shows on a command line. Prints one JSON object {"removed_vms": [...],
"removed_vdis": [...], "left": [...]}; exits 1 if anything with the prefix is left.
``--list`` removes nothing and lists what would be removed (as "left").
Used by setup_xapisim's cleanup on a real pool and once more by scripts/test-pool.sh at its end.
This is set-up, not the code under test, so it talks to the pool with the XenAPI SDK directly.
"""

from __future__ import annotations

import argparse
import json
import ssl
import sys
import xmlrpc.client

import XenAPI

NULL = 'OpaqueRef:NULL'


def session_for(args):
    transport = None
    if args.url.startswith('https'):
        context = (ssl._create_unverified_context() if args.no_validate_certs  # asked for by the caller
                   else ssl.create_default_context(cafile=args.ca_path))
        transport = xmlrpc.client.SafeTransport(context=context)
    session = XenAPI.Session(args.url, transport=transport)
    session.xenapi.login_with_password(args.user, sys.stdin.readline().rstrip('\n'), '1.0', 'test-pool-cleanup')
    return session


def ours(record, prefix):
    default_template = record['is_a_template'] and record['other_config'].get('default_template') == 'true'
    return record['name_label'].startswith(prefix) and not record['is_control_domain'] and not default_template


def disks_of(api, vm):
    found = []
    for vbd in api.VM.get_VBDs(vm):
        vdi = api.VBD.get_VDI(vbd)
        if api.VBD.get_type(vbd) == 'Disk' and vdi != NULL:
            found.append(vdi)
    return found


def remove_vm(api, vm, removed_vdis):
    if api.VM.get_power_state(vm) != 'Halted':
        api.VM.hard_shutdown(vm)
    for snapshot in api.VM.get_snapshots(vm):
        remove_vm(api, snapshot, removed_vdis)
    disks = disks_of(api, vm)
    api.VM.destroy(vm)
    for vdi in disks:
        if not api.VDI.get_VBDs(vdi):   # used by no other VM
            removed_vdis.append(api.VDI.get_uuid(vdi))
            api.VDI.destroy(vdi)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--url', required=True)
    parser.add_argument('--user', required=True)
    parser.add_argument('--prefix', required=True)
    parser.add_argument('--ca-path')
    parser.add_argument('--no-validate-certs', action='store_true')
    parser.add_argument('--list', action='store_true')
    args = parser.parse_args(argv)
    if len(args.prefix) < 4:
        parser.error('the prefix %r is too short to name only a test run\'s VMs' % args.prefix)

    session = session_for(args)
    api = session.xenapi
    removed_vms, removed_vdis, failures = [], [], []
    try:
        records = api.VM.get_all_records()
        # Snapshots go with their VM; a snapshot whose VM is gone is removed on its own.
        vms = [ref for ref, record in records.items() if ours(record, args.prefix)
               and not (record['is_a_snapshot'] and record['snapshot_of'] in records)]
        for vm in sorted(vms, key=lambda ref: records[ref]['name_label']):
            name = records[vm]['name_label']
            if args.list:
                continue
            try:
                remove_vm(api, vm, removed_vdis)
                removed_vms.append(name)
            except XenAPI.Failure as failure:
                failures.append('VM %s: %s' % (name, failure.details))
        for ref, record in api.VDI.get_all_records().items():
            if record['name_label'].startswith(args.prefix) and not record['VBDs'] and not args.list:
                try:
                    api.VDI.destroy(ref)
                    removed_vdis.append(record['uuid'])
                except XenAPI.Failure as failure:
                    failures.append('VDI %s: %s' % (record['name_label'], failure.details))
        left = sorted(set(r['name_label'] for r in api.VM.get_all_records().values() if ours(r, args.prefix)))
    finally:
        session.xenapi.session.logout()
    print(json.dumps(dict(removed_vms=removed_vms, removed_vdis=removed_vdis, left=left, failures=failures)))
    return 1 if left and not args.list else 0


if __name__ == '__main__':
    sys.exit(main())
