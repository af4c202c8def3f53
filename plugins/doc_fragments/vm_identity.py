# -*- coding: utf-8 -*-
# Copyright (c) xenserver.provisioning contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # How a module names the one existing VM it acts on (see _spec.vm_identity_argument_spec).
    DOCUMENTATION = r"""
options:
  name:
    description:
      - The VM's name. Fails if several VMs have this name (then use O(uuid)).
      - One of O(name) and O(uuid) is required; they are mutually exclusive.
    type: str
  uuid:
    description: The VM's uuid.
    type: str
"""
