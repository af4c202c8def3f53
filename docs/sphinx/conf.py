# -*- coding: utf-8 -*-
# Copyright (c) xenserver.provisioning contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sphinx configuration for `make docs` (the RST comes from `antsibull-docs collection`).

Shaped like the one `antsibull-docs sphinx-init` writes, but offline: no intersphinx (its
inventories cannot be fetched here); the few labels of the Ansible docs that generated pages
refer to are linked by ``_ansible_docs_reference`` below, so the build stays strict (-W).
"""

from __future__ import absolute_import, division, print_function

import re

from docutils import nodes

__metaclass__ = type

project = 'xenserver.provisioning'
copyright = 'xenserver.provisioning contributors'  # pylint: disable=redefined-builtin
title = 'xenserver.provisioning collection documentation'
html_short_title = 'xenserver.provisioning'

extensions = ['sphinx_antsibull_ext']
pygments_style = 'ansible'
highlight_language = 'YAML+Jinja'

html_theme = 'sphinx_ansible_theme'
html_show_sphinx = False
html_use_smartypants = True
html_use_modindex = False
html_use_index = False
html_copy_source = False

default_role = 'any'
nitpicky = True

ANSIBLE_DOCS = 'https://docs.ansible.com/projects/ansible/devel/'
# label -> (page and anchor under ANSIBLE_DOCS, title used when the reference gives none)
ANSIBLE_LABELS = {
    'common_return_values': (
        'reference_appendices/common_return_values.html#common-return-values', 'Return Values'),
    'ansible_configuration_settings': (
        'reference_appendices/config.html#ansible-configuration-settings', 'Ansible Configuration Settings'),
    'module_defaults': (
        'playbook_guide/playbooks_module_defaults.html#module-defaults', 'Module defaults'),
}
BUILTIN_PLUGIN = re.compile(r'^ansible_collections\.ansible\.builtin\.([a-z0-9_]+)$')


def _ansible_docs_reference(app, env, node, contnode):
    """Resolve a :ref: to a label of the Ansible docs (or of ansible.builtin's plugins), and an
    :envvar: that the collection does not define (ansible-core's, such as ANSIBLE_CACHE_PLUGIN)."""
    target = node.get('reftarget', '')
    if node.get('reftype') == 'envvar':
        page = 'reference_appendices/config.html#envvar-%s' % target
        label_title = target
    elif node.get('reftype') != 'ref':
        return None
    elif target in ANSIBLE_LABELS:
        page, label_title = ANSIBLE_LABELS[target]
    else:
        match = BUILTIN_PLUGIN.match(target)
        if not match:
            return None
        page = 'collections/ansible/builtin/%s.html' % match.group(1)
        label_title = 'ansible.builtin.%s' % match.group(1)
    text = contnode.astext() if node.get('refexplicit') else label_title
    reference = nodes.reference('', '', internal=False, refuri=ANSIBLE_DOCS + page)
    reference += nodes.inline(text, text)
    return reference


def setup(app):
    app.connect('missing-reference', _ansible_docs_reference)
    return {'parallel_read_safe': True, 'parallel_write_safe': True}
