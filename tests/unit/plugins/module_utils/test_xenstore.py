"""The vm-data key and value rules (plugins/module_utils/_xenstore.py)."""
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.xenserver.provisioning.plugins.module_utils import _xenstore as xs


@pytest.mark.parametrize("key, full", [
    ("hostname", "vm-data/hostname"),
    ("vm-data/hostname", "vm-data/hostname"),
    ("vm-data/networks/0/ip", "vm-data/networks/0/ip"),
    ("a-b_c@d", "vm-data/a-b_c@d"),
])
def test_keys_under_vm_data(key, full):
    assert xs.normalize_key(key) == full


@pytest.mark.parametrize("key, words", [
    ("FIST/x", ["'FIST/x'", "outside vm-data", "silently"]),
    ("attr/foo", ["'attr/foo'", "outside vm-data", "silently"]),
    ("/local/domain/1/x", ["'/local/domain/1/x'", "absolute", "silently"]),
    ("/local/domain/7/vm-data/x", ["absolute", "as 'vm-data/x'"]),
    ("vm-data", ["'vm-data'", "directory itself"]),
    ("vm-data/", ["directory itself"]),
    ("vm-data/a//b", ["'vm-data/a//b'", "empty path component"]),
    ("vm-data/a/", ["'vm-data/a/'", "empty path component"]),
    ("host name", ["'host name'", "' '"]),
    ("höst", ["'höst'", "'ö'"]),
    ("a.b", ["'a.b'", "'.'"]),
    ("", ["empty"]),
])
def test_bad_keys_are_refused_naming_them(key, words):
    with pytest.raises(xs.XenstoreKeyError) as caught:
        xs.normalize_key(key)
    for word in words:
        assert word in str(caught.value)


def test_key_length_limit_is_the_binding_one():
    # 1004 = 1024 (oxenstored quota-path-max) - len("/local/domain/32751/")
    assert xs.KEY_MAX == 1004
    fits = "vm-data/" + "k" * (1004 - len("vm-data/"))
    assert xs.normalize_key(fits) == fits
    assert len(("/local/domain/32751/" + fits).encode()) == 1024
    with pytest.raises(xs.XenstoreKeyError, match="1005 bytes; at most 1004"):
        xs.normalize_key(fits + "k")


def test_value_rules():
    assert xs.check_value("vm-data/a", "plain text") == "plain text"
    assert xs.check_value("vm-data/a", "grüße, 日本") == "grüße, 日本"
    assert xs.check_value("vm-data/a", "") == ""
    assert xs.check_value("vm-data/a", 8080) == "8080"
    assert xs.check_value("vm-data/a", "v" * 2048) == "v" * 2048
    with pytest.raises(xs.XenstoreKeyError, match="2049 bytes; xenstored accepts at most 2048"):
        xs.check_value("vm-data/a", "v" * 2049)
    # 683 three-byte characters are 2049 bytes: the limit is in bytes, not characters
    with pytest.raises(xs.XenstoreKeyError, match="2049 bytes"):
        xs.check_value("vm-data/a", "日" * 683)
    for bad in ("line\nbreak", "tab\there", "nul\x00", "del\x7f", "c1\x85"):
        with pytest.raises(xs.XenstoreKeyError, match="control character") as caught:
            xs.check_value("vm-data/a", bad)
        assert "'vm-data/a'" in str(caught.value)
    for bad in (True, None, ["x"], {"a": "b"}):
        with pytest.raises(xs.XenstoreKeyError, match="must be a string"):
            xs.check_value("vm-data/a", bad)


def test_normalize_data_merges_both_spellings_and_refuses_conflicts():
    assert xs.normalize_data({"hostname": "a", "vm-data/hostname": "a"}) == {"vm-data/hostname": "a"}
    with pytest.raises(xs.XenstoreKeyError, match="given twice"):
        xs.normalize_data({"hostname": "a", "vm-data/hostname": "b"})


def test_plan_keeps_keys_outside_vm_data_always():
    current = {"vm-data/a": "1", "vm-data/b": "2", "FIST/x": "f", "other": "o"}
    assert xs.plan(current, {"vm-data/c": "3"}) == dict(current, **{"vm-data/c": "3"})
    assert xs.plan(current, absent=["vm-data/a"]) == {"vm-data/b": "2", "FIST/x": "f", "other": "o"}
    assert xs.plan(current, {"vm-data/a": "9"}, exclusive=True) == {"vm-data/a": "9", "FIST/x": "f", "other": "o"}
    assert xs.plan(current, {}, exclusive=True) == {"FIST/x": "f", "other": "o"}
    assert xs.vm_data(current) == {"vm-data/a": "1", "vm-data/b": "2"}


_ALLOWED = re.compile(r"^vm-data(/[A-Za-z0-9_@-]+)+$")


@given(st.text(max_size=60))
def test_any_accepted_key_is_a_valid_vm_data_path(key):
    """Whatever is accepted is a well-formed path under vm-data that fits the limit."""
    try:
        full = xs.normalize_key(key)
    except xs.XenstoreKeyError as err:
        assert str(err)
        return
    assert _ALLOWED.match(full), full
    assert len(full.encode()) <= xs.KEY_MAX
    assert xs.normalize_key(full) == full  # idempotent


@given(st.text(min_size=1, max_size=20, alphabet="abcXYZ019-_@"))
def test_simple_names_are_children_of_vm_data(name):
    assert xs.normalize_key(name) == "vm-data/" + name
