# Copyright: Contributors to the xenserver.provisioning collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Make a VM from a template on the pool (the xe vm-install sequence), for integration targets.

    python xapisim_vm.py --url URL --user USER --password PW --name NAME --template TEMPLATE
                         [--repository URL] [--kernel PATH] [--xenstore KEY=VALUE]... [--start]

Clones the template, points its provisioning XML at the pool's default SR, provisions the disks,
optionally sets install-repository, a dom0 kernel to boot directly (no bootloader: a running
domain without an installer) and xenstore_data, and starts the VM. Prints one JSON object
{"changed": true, "uuid": ..., "name": ..., "power_state": ...}. This is set-up, not the code
under test, so it talks to the pool with the XenAPI SDK directly.
"""

from __future__ import annotations

import argparse
import json

import XenAPI


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--url', required=True)
    parser.add_argument('--user', required=True)
    parser.add_argument('--password', required=True)
    parser.add_argument('--name', required=True)
    parser.add_argument('--template', required=True)
    parser.add_argument('--repository', default='')
    parser.add_argument('--kernel', default='')
    parser.add_argument('--xenstore', action='append', default=[])
    parser.add_argument('--start', action='store_true')
    args = parser.parse_args(argv)

    session = XenAPI.Session(args.url)
    session.xenapi.login_with_password(args.user, args.password, '1.0', 'integration-setup')
    api = session.xenapi
    try:
        template = api.VM.get_all_records_where(
            'field "name__label"="%s" and field "is_a_template"="true"' % args.template)
        vm = api.VM.clone(sorted(template)[0], args.name)
        pool = api.pool.get_all_records()
        sr_uuid = api.SR.get_uuid(list(pool.values())[0]['default_SR'])
        other = api.VM.get_other_config(vm)
        if 'disks' in other:
            api.VM.remove_from_other_config(vm, 'disks')
            api.VM.add_to_other_config(vm, 'disks', other['disks'].replace('sr=""', 'sr="%s"' % sr_uuid))
        if args.repository:
            api.VM.add_to_other_config(vm, 'install-repository', args.repository)
        api.VM.provision(vm)
        if args.kernel:
            api.VM.set_PV_bootloader(vm, '')
            api.VM.set_PV_kernel(vm, args.kernel)
        if args.xenstore:
            api.VM.set_xenstore_data(vm, dict(item.split('=', 1) for item in args.xenstore))
        if args.start:
            api.VM.start(vm, False, True)
        print(json.dumps(dict(changed=True, uuid=api.VM.get_uuid(vm), name=args.name,
                              power_state=api.VM.get_power_state(vm).lower())))
    finally:
        session.xenapi.session.logout()


if __name__ == '__main__':
    main()
