"""Nothing of the simulator inside the collection: no value only xapisim has may appear in
plugins/ or roles/ (the collection must work unchanged on a real pool, so it cannot know the
sample trees' bytes or the sample pool's names).

The list is derived from the simulator itself, so it follows its data: the md5 and sha256 of every
file of every sample tree (xapisim.trees), and the sample pool's names, host names, passwords and
uuids (xapisim.pool, xapisim.sim) that are not XenServer's own names (its templates, SRs and
networks are real names and may appear).
"""
import functools
import hashlib
import os
import re

import pytest

from xapisim import embedded, trees
from xapisim.pool import TEMPLATES

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SEARCHED = ("plugins", "roles")
# Names a real pool has too (xapi's own objects and XenServer's templates).
REAL_NAMES = {"Local storage", "XenServer Tools", "xs-tools.iso"} | {t[0] for t in TEMPLATES}


def _pool_values():
    """Names, host names, passwords and uuids of a fresh simulated pool that no real pool has."""
    values = set()
    with embedded.embedded() as handle:
        sim = handle.sim
        for record in sim.db.all("pool").values():
            values.add(record["name_label"])
        for record in sim.db.all("host").values():
            values.update((record["name_label"], record["hostname"]))
        for password, _role in sim.sessions.users.values():
            values.add(password)
        for cls in sorted(sim.db.tables):
            values.update(record["uuid"] for record in sim.db.all(cls).values() if record.get("uuid"))
    return {value for value in values if value and value not in REAL_NAMES}


@functools.lru_cache(maxsize=None)
def simulator_only_values():
    digests = trees.sample_digests()
    digests.update(sums[role] for sums in trees.KNOWN_MD5.values() for role in ("kernel", "ramdisk"))
    return frozenset(digests | _pool_values())


def _files():
    for top in SEARCHED:
        for directory, _dirs, names in os.walk(os.path.join(ROOT, top)):
            if "__pycache__" in directory:
                continue
            for name in names:
                path = os.path.join(directory, name)
                with open(path, "rb") as handle:
                    yield os.path.relpath(path, ROOT), handle.read().decode("utf-8", "replace").lower()


def find(values, files):
    """[(path, value)] for every value found in files; words match whole (xapisim, not xapisimx)."""
    patterns = [(value, re.compile(r"(?<![\w-])%s(?![\w-])" % re.escape(value.lower()))) for value in sorted(values)]
    return [(path, value) for path, text in files for value, pattern in patterns if pattern.search(text)]


def test_the_list_is_derived_from_the_simulator():
    values = simulator_only_values()
    sample = trees.tree_files("centos", "5.0", "x86_64")["images/xen/vmlinuz"]
    assert hashlib.md5(sample).hexdigest() in values and hashlib.sha256(sample).hexdigest() in values
    assert {"xapisim", "xapisim-host-0", "xapisim-0", "xenroot"} <= values
    assert not values & REAL_NAMES
    # the search finds a value where it is, as a word
    assert find({"xenroot"}, [("f", 'password: "xenroot"')]) == [("f", "xenroot")]
    assert find({"xapisim"}, [("f", "xapisim-host-0 is not xapisim"), ("g", "xapisimx")]) == [("f", "xapisim")]


@pytest.mark.parametrize("top", SEARCHED)
def test_no_simulator_value_in_the_collection(top):
    found = find(simulator_only_values(), (item for item in _files() if item[0].startswith(top + os.sep)))
    assert found == [], "simulator-only values in the collection: %s" % found
