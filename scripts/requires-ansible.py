#!/usr/bin/env python3
# Copyright (c) xenserver.provisioning contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Check meta/runtime.yml ``requires_ansible`` against the ansible-core this Python runs.

    python scripts/requires-ansible.py            # this ansible-core is allowed
    python scripts/requires-ansible.py --oldest   # ... and is the oldest minor allowed, so the
                                                  # lower bound is exactly what `make compat` tests
"""

from __future__ import annotations

import argparse
import os
import sys

import yaml
from ansible.release import __version__ as core_version
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--oldest', action='store_true',
                        help='also require that no earlier ansible-core minor release is allowed')
    args = parser.parse_args(argv)

    with open(os.path.join(ROOT, 'meta', 'runtime.yml'), encoding='utf-8') as handle:
        spec_text = yaml.safe_load(handle)['requires_ansible']
    spec = SpecifierSet(spec_text)
    version = Version(core_version)
    problems = []
    if version not in spec:
        problems.append('ansible-core %s is not allowed by requires_ansible %r' % (version, spec_text))
    if args.oldest:
        major, minor = version.release[:2]
        earlier = Version('%d.%d.999' % (major, minor - 1))
        if earlier in spec:
            problems.append('requires_ansible %r allows ansible-core %d.%d, older than the oldest tested (%d.%d)'
                            % (spec_text, major, minor - 1, major, minor))
    for problem in problems:
        print('requires-ansible: ' + problem, file=sys.stderr)
    if not problems:
        print('requires-ansible: ansible-core %s satisfies %r%s' % (
            version, spec_text, ' and is the oldest minor release it allows' if args.oldest else ''))
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
