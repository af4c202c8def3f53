"""The xenserver inventory plugin, through ``ansible-inventory`` against a simulated pool.

As netbox tests its inventory: ``ansible-inventory --list`` runs as a subprocess on a
configuration file, and its output (uuids replaced by stable names) is compared with stored
JSON in ``expected/``. ``XENSERVER_UPDATE_EXPECTED=1`` rewrites those files instead.
The simulator's call log gives the exact XenAPI calls the plugin made.
"""
import difflib
import json
import os
import re
import subprocess
import sys

import pytest
from xapisim.embedded import embedded
from xapisim.pool import make_vm

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(HERE))))
EXPECTED = os.path.join(HERE, "expected")
BIN = os.path.dirname(sys.executable)
COLLECTIONS = os.path.join(ROOT, ".venv", "collections") if os.path.isdir(os.path.join(ROOT, ".venv")) \
    else os.path.join(ROOT, "tests", "output", "collections")
MiB = 1024 * 1024
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# What one inventory run costs, whatever the number of VMs.
CALLS = ["session.login_with_password", "VM.get_all_records_where",
         "VM_guest_metrics.get_all_records", "host.get_all_records", "session.logout"]
MOTD = "{{ lookup('ansible.builtin.pipe', 'touch %s') }}"


# --- the pool ----------------------------------------------------------------------------------

def _vm(pool, name, memory_mb=1024, vcpus=1, tags=(), vm_data=None, other_config=None, **fields):
    ref = make_vm(pool.sim.db, name, memory=memory_mb * MiB, vcpus=vcpus, **fields)
    api = pool.api
    for tag in tags:
        api.VM.add_tags(ref, tag)
    if vm_data:
        api.VM.set_xenstore_data(ref, dict(("vm-data/%s" % k, v) for k, v in vm_data.items()))
    for key, value in (other_config or {}).items():
        api.VM.add_to_other_config(ref, key, value)
    return ref


def _start(pool, ref, networks=None, os_version=None):
    pool.boot_directly(ref)
    pool.api.VM.start(ref, False, True)
    if networks is not None or os_version is not None:
        pool.sim.guests.report_agent(ref, networks=networks, os_version=os_version)


def populate(pool, marker):
    """A small pool: VMs in every power state, with and without guest metrics, two VMs of the
    same name, and things that must not be hosts (a snapshot, a custom template, dom0)."""
    web = _vm(pool, "web01", memory_mb=2048, vcpus=2, tags=["web", "prod"],
              vm_data={"role": "web", "hostname": "web01.example.com", "motd": MOTD % marker},
              other_config={"owner": "team-a"})
    _start(pool, web, networks={"0/ip": "192.0.2.10", "0/ipv4/0": "192.0.2.10", "0/ipv6/0": "2001:db8::10",
                                "1/ip": "198.51.100.10"},
           os_version={"name": "CentOS release 5.5 (Final)", "distro": "centos", "major": "5",
                       "minor": "5", "uname": "2.6.18-194.el5xen"})
    db = _vm(pool, "db01", memory_mb=4096, vcpus=4, tags=["db", "prod", "eu west"], vm_data={"role": "db"})
    _start(pool, db, networks={"0/ipv6/0": "2001:db8::20"},
           os_version={"name": "Red Hat Enterprise Linux Server release 5.5", "distro": "rhel", "major": "5",
                       "minor": "5"})
    pool.api.VM.set_PV_args(db, "console=xvc0")
    sles = _vm(pool, "sles01", vm_data={"role": "db"})
    _start(pool, sles, networks={"0/ip": "203.0.113.30"},
           os_version={"name": "SUSE Linux Enterprise Server 10 (x86_64)", "distro": "sles", "major": "10"})
    pool.api.VM.suspend(sles)
    paused = _vm(pool, "paused01")
    _start(pool, paused)          # running without a guest agent: no metrics, no IP
    pool.api.VM.pause(paused)
    _vm(pool, "build01", other_config={"install-repository": "http://192.0.2.1/centos5"},
        PV_bootloader="eliloader", PV_args="ks=http://192.0.2.1/ks.cfg")
    _vm(pool, "twin")
    _vm(pool, "twin")
    _vm(pool, "")                  # no name: named by its uuid
    _vm(pool, "web01 snapshot", is_a_snapshot=True, is_a_template=True)
    _vm(pool, "my template", is_a_template=True)


def placeholders(pool):
    """uuid -> 'UUID-<name>-<n>' for every VM (n orders VMs of the same name by uuid)."""
    by_name = {}
    for record in pool.sim.db.all("VM").values():
        by_name.setdefault(record["name_label"] or "noname", []).append(record["uuid"])
    names = {}
    for name, uuids in by_name.items():
        for index, uuid in enumerate(sorted(uuids), 1):
            names[uuid] = "UUID-%s-%d" % (name.replace(" ", "_"), index)
    return names


def normalize(text, pool):
    """uuids replaced by placeholders, the test's temporary marker path by MARKER."""
    names = placeholders(pool)
    marker = getattr(pool, "marker", None)
    if marker:
        text = text.replace(marker, "MARKER")
    return UUID.sub(lambda m: names.get(m.group(0), "UUID"), text)


def normalize_graph(text):
    """``--graph`` output with groups and their members sorted (hosts named by uuid sort by
    their real uuid, which changes the order groups are first seen in)."""
    groups, current = {}, None
    for line in text.splitlines():
        name = line.split("|--")[-1].strip()
        if name.startswith("@"):
            current = groups.setdefault(name, [])
        elif current is not None and line.strip():
            current.append(name)
    return "".join("%s\n%s" % (group, "".join("  %s\n" % h for h in sorted(hosts)))
                   for group, hosts in sorted(groups.items()))


# --- running ansible ---------------------------------------------------------------------------

def ansible(tool, *args, env=None, check=True):
    full_env = dict((k, v) for k, v in os.environ.items() if not k.startswith(("XENSERVER_", "ANSIBLE_")))
    full_env.update(ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_INVENTORY_UNPARSED_FAILED="true",
                    ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_HOST_KEY_CHECKING="false")
    full_env.update(env or {})
    result = subprocess.run([os.path.join(BIN, tool)] + list(args), env=full_env,
                            capture_output=True, text=True, timeout=120, check=False)
    if check:
        assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    # ansible-core 2.18 wraps messages at 80 columns (also after a hyphen): compare without spaces.
    result.flat = squeeze(result.stderr)
    return result


def squeeze(text):
    return "".join(text.split())


def write_config(directory, name="demo.xenserver.yml", **options):
    path = os.path.join(str(directory), name)
    with open(path, "w") as handle:
        json.dump(dict({"plugin": "xenserver.provisioning.xenserver"}, **options), handle, indent=1)
    return path


def plain(value):
    """A value of ``--list`` output without its unsafe marking ({"__ansible_unsafe": text})."""
    if isinstance(value, dict) and list(value) == ["__ansible_unsafe"]:
        return value["__ansible_unsafe"]
    return value


def plain_all(value):
    """``plain`` all the way down: what compose makes is unsafe since ansible-core 2.19 only."""
    if isinstance(value, dict):
        value = plain(value)
        if isinstance(value, dict):
            return dict((k, plain_all(v)) for k, v in value.items())
    if isinstance(value, list):
        return [plain_all(v) for v in value]
    return value


def inventory_list(path, pool, env=None, raw=False):
    """``ansible-inventory --list`` as data, normalized; unless ``raw``, without unsafe markings
    (ansible-core 2.19 marks every string from a plugin, 2.18 only the wrapped ones)."""
    out = ansible("ansible-inventory", "-i", path, "--list", env=env)
    data = json.loads(normalize(out.stdout, pool))
    if not raw:
        data = plain_all(data)
    data["_meta"].pop("profile", None)      # ansible-core 2.19 and later only
    for name, group in data.items():         # hosts named by uuid sort by their real uuid
        for key in ("hosts", "children"):
            if name != "_meta" and key in group:
                group[key] = sorted(group[key])
    return data, out.flat


def compare(name, data):
    path = os.path.join(EXPECTED, name)
    if os.environ.get("XENSERVER_UPDATE_EXPECTED"):
        with open(path, "w") as handle:
            handle.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
    with open(path) as handle:
        expected = json.load(handle)
    if data != expected:
        got, want = (json.dumps(d, indent=2, sort_keys=True).splitlines() for d in (data, expected))
        pytest.fail("%s differs:\n%s" % (name, "\n".join(difflib.unified_diff(want, got, lineterm=""))))


@pytest.fixture
def rbac_pool(tmp_path):
    """(url, calls) of a pool with a read-only user "reader" besides root, and two halted VMs."""
    log = str(tmp_path / "rbac-calls.jsonl")
    users = {"root": ("xenroot", "pool-admin"), "reader": ("readpw", "read-only")}
    with embedded(call_log=log, users=users) as handle:
        make_vm(handle.sim.db, "app01")
        make_vm(handle.sim.db, "app02")
        seen = [0]

        def calls():
            with open(log) as stream:
                lines = [json.loads(line)["method"] for line in stream]
            new, seen[0] = lines[seen[0]:], len(lines)
            return new
        yield handle.url, calls


@pytest.fixture
def demo(pool, tmp_path):
    marker = str(tmp_path / "template-was-evaluated")
    populate(pool, marker)
    pool.marker = marker
    pool.mark()
    return pool


def _conn(pool):
    return {"hostname": pool.url, "password": "xenroot"}


# --- tests -------------------------------------------------------------------------------------

def test_list_matches_the_stored_inventory(demo, tmp_path):
    path = write_config(tmp_path, **_conn(demo))
    data, stderr = inventory_list(path, demo)
    compare("list.json", data)
    # The second "twin" (by uuid) is named by its uuid, with a warning naming both.
    assert "UUID-twin-2" in data["_meta"]["hostvars"] and "twin" in data["_meta"]["hostvars"]
    warning = normalize(stderr, demo)
    assert squeeze("VMs UUID-twin-1 and UUID-twin-2 are both named 'twin'") in warning
    assert warning.count("[WARNING]") == 1, warning


def test_hosts_groups_and_variables(demo, tmp_path):
    data, _err = inventory_list(write_config(tmp_path, **_conn(demo)), demo)
    hostvars = data["_meta"]["hostvars"]
    assert sorted(hostvars) == ["UUID-noname-1", "UUID-twin-2", "build01", "db01", "paused01",
                                "sles01", "twin", "web01"]
    web = hostvars["web01"]
    assert web["ansible_host"] == "192.0.2.10"
    assert web["xenserver_memory_mb"] == 2048 and web["xenserver_vcpus"] == 2
    # IPv6 when the guest has no IPv4; no ansible_host without a guest agent
    assert hostvars["db01"]["ansible_host"] == "2001:db8::20"
    assert "ansible_host" not in hostvars["paused01"] and "ansible_host" not in hostvars["build01"]
    assert data["xenserver_running"]["hosts"] == ["db01", "web01"]
    assert data["xenserver_paused"]["hosts"] == ["paused01"]
    assert data["xenserver_suspended"]["hosts"] == ["sles01"]
    assert sorted(data["xenserver_halted"]["hosts"]) == ["UUID-noname-1", "UUID-twin-2", "build01", "twin"]
    assert data["xenserver_distro_sles"]["hosts"] == ["sles01"]
    assert sorted(data["xenserver_host_xapisim_host_0"]["hosts"]) == ["db01", "paused01", "web01"]
    assert data["xenserver_tag_eu_west"]["hosts"] == ["db01"]
    assert sorted(data["xenserver_tag_prod"]["hosts"]) == ["db01", "web01"]


def test_graph(demo, tmp_path):
    out = ansible("ansible-inventory", "-i", write_config(tmp_path, **_conn(demo)), "--graph")
    graph = normalize_graph(normalize(out.stdout, demo))
    path = os.path.join(EXPECTED, "graph.txt")
    if os.environ.get("XENSERVER_UPDATE_EXPECTED"):
        with open(path, "w") as handle:
            handle.write(graph)
    with open(path) as handle:
        assert graph == handle.read()


def test_call_count_does_not_grow_with_the_pool(demo, tmp_path):
    path = write_config(tmp_path, **_conn(demo))
    ansible("ansible-inventory", "-i", path, "--list")
    assert demo.calls() == CALLS
    for index in range(40):
        make_vm(demo.sim.db, "filler-%02d" % index)
    demo.mark()
    data, _err = inventory_list(path, demo)
    assert len(data["_meta"]["hostvars"]) == 48
    assert demo.calls() == CALLS


def test_an_empty_pool_costs_three_calls(pool, tmp_path):
    pool.mark()
    data, _err = inventory_list(write_config(tmp_path, **_conn(pool)), pool)
    assert data["_meta"]["hostvars"] == {}
    assert pool.calls() == ["session.login_with_password", "VM.get_all_records_where", "session.logout"]


def test_compose_groups_keyed_groups_and_hostnames(demo, tmp_path):
    path = write_config(
        tmp_path, **dict(_conn(demo),
                         hostnames=["xenserver_vm_data.hostname", "name_label"],
                         compose={"ansible_user": "'admin'",
                                  "role": "xenserver_vm_data.role | default('none')",
                                  "ansible_host": "xenserver_ips | select('match', '198[.]51[.]') | first"},
                         groups={"big": "xenserver_memory_mb >= 4096",
                                 "installing": "xenserver_boot.pv_bootloader == 'eliloader'"},
                         keyed_groups=[{"key": "xenserver_vm_data.role", "prefix": "role"},
                                       {"key": "xenserver_os_version.distro ~ '_' ~ xenserver_os_version.major",
                                        "prefix": "os"},
                                       {"key": "xenserver_tags", "prefix": "tag"}]))
    data, _err = inventory_list(path, demo)
    compare("compose.json", data)
    hostvars = data["_meta"]["hostvars"]
    assert "web01.example.com" in hostvars and "web01" not in hostvars
    assert hostvars["web01.example.com"]["ansible_user"] == "admin"
    assert hostvars["web01.example.com"]["ansible_host"] == "198.51.100.10"
    assert hostvars["build01"]["role"] == "none"
    assert data["big"]["hosts"] == ["db01"]
    assert data["installing"]["hosts"] == ["build01"]
    assert sorted(data["role_db"]["hosts"]) == ["db01", "sles01"]
    assert data["os_centos_5"]["hosts"] == ["web01.example.com"]
    assert data["tag_eu_west"]["hosts"] == ["db01"]


def test_strict_fails_on_a_bad_expression(demo, tmp_path):
    options = dict(_conn(demo), compose={"broken": "xenserver_vm_data.no_such_key.deeper"})
    data, _err = inventory_list(write_config(tmp_path, **options), demo)
    assert "broken" not in data["_meta"]["hostvars"]["web01"]
    out = ansible("ansible-inventory", "-i", write_config(tmp_path, strict=True, **options), "--list",
                  check=False)
    assert out.returncode != 0
    assert squeeze("Could not set broken") in out.flat


def test_cache_is_used_and_flushed(demo, tmp_path):
    cache = tmp_path / "cache"
    path = write_config(tmp_path, cache=True, cache_plugin="ansible.builtin.jsonfile",
                        cache_connection=str(cache), **_conn(demo))
    first, _err = inventory_list(path, demo)
    assert demo.calls() == CALLS
    assert len(os.listdir(str(cache))) == 1
    # Answered from the cache: no call at all, the same inventory even after the pool changed.
    demo.api.VM.add_tags(demo.vm("build01")[0], "new")
    demo.mark()
    second, _err = inventory_list(path, demo)
    assert demo.calls() == []
    assert second == first
    # --flush-cache reads the pool again and refreshes the cache (ansible-inventory has the
    # option only since ansible-core 2.19; ansible-playbook in every version).
    playbook = tmp_path / "noop.yml"
    playbook.write_text("- hosts: xenserver_tag_new\n  gather_facts: false\n  tasks: []\n")
    out = ansible("ansible-playbook", "-i", path, str(playbook), "--list-hosts", "--flush-cache")
    assert demo.calls() == CALLS
    assert "build01" in out.stdout
    third, _err = inventory_list(path, demo)
    assert demo.calls() == []
    assert "xenserver_tag_new" in third


def test_cache_is_kept_per_user(rbac_pool, tmp_path):
    """The same configuration file used by another user does not answer from the first's cache;
    a read-only user may make every call the plugin makes."""
    url, calls = rbac_pool
    cache = tmp_path / "cache"
    path = write_config(tmp_path, cache=True, cache_plugin="ansible.builtin.jsonfile",
                        cache_connection=str(cache), hostname=url)
    root = {"XENSERVER_USER": "root", "XENSERVER_PASSWORD": "xenroot"}
    reader = {"XENSERVER_USER": "reader", "XENSERVER_PASSWORD": "readpw"}
    as_root = ansible("ansible-inventory", "-i", path, "--list", env=root).stdout
    assert calls() == CALLS[:2] + CALLS[-1:]
    ansible("ansible-inventory", "-i", path, "--list", env=root)
    assert calls() == []
    as_reader = ansible("ansible-inventory", "-i", path, "--list", env=reader).stdout
    assert calls() == CALLS[:2] + CALLS[-1:]
    assert as_reader == as_root and len(os.listdir(str(cache))) == 2
    ansible("ansible-inventory", "-i", path, "--list", env=reader)
    assert calls() == []


def test_wrong_password_is_a_clear_error(demo, tmp_path):
    path = write_config(tmp_path, hostname=demo.url, password="not-the-password")
    out = ansible("ansible-inventory", "-i", path, "--list", check=False)
    assert out.returncode != 0
    assert squeeze("SESSION_AUTHENTICATION_FAILED: check username and password") in out.flat
    assert "not-the-password" not in out.stderr + out.stdout
    # Without ANSIBLE_INVENTORY_UNPARSED_FAILED, ansible goes on with a warning saying the same.
    out = ansible("ansible-inventory", "-i", path, "--list",
                  env={"ANSIBLE_INVENTORY_UNPARSED_FAILED": "false"})
    assert "SESSION_AUTHENTICATION_FAILED" in out.flat


def test_missing_hostname_and_unreachable_pool(tmp_path):
    out = ansible("ansible-inventory", "-i", write_config(tmp_path, password="x"), "--list", check=False)
    assert out.returncode != 0 and "XENSERVER_HOST" in out.flat
    path = write_config(tmp_path, hostname="http://127.0.0.1:9", password="x", reconnect_timeout=1)
    out = ansible("ansible-inventory", "-i", path, "--list", check=False)
    assert out.returncode != 0 and squeeze("cannot reach XenServer at http://127.0.0.1:9") in out.flat
    assert squeeze("reconnect_timeout is 1 s") in out.flat
    for bad in ("soon", 0, -1, 10 ** 6):
        path = write_config(tmp_path, hostname="http://127.0.0.1:9", password="x", reconnect_timeout=bad)
        out = ansible("ansible-inventory", "-i", path, "--list", check=False)
        # "soon" is refused by ansible's own type check, the others by the plugin: both name it
        assert out.returncode != 0 and "reconnect_timeout" in out.flat and str(bad) in out.flat, out.stderr


@pytest.mark.parametrize("typo", ["ture", "maybe", "flase", "", 2])
def test_validate_certs_is_strictly_a_boolean(pool, tmp_path, typo):
    """A typo fails naming it; it never turns TLS verification off (it once did, silently)."""
    pool.mark()
    path = write_config(tmp_path, validate_certs=typo, **_conn(pool))
    out = ansible("ansible-inventory", "-i", path, "--list", check=False)
    assert out.returncode != 0 and squeeze("validate_certs must be a boolean") in out.flat, out.stderr
    assert squeeze(repr(typo)) in out.flat
    assert pool.calls() == []       # nothing was asked of the pool
    out = ansible("ansible-inventory", "-i", path, "--list", check=False,
                  env={"XENSERVER_VALIDATE_CERTS": str(typo)})
    assert out.returncode != 0


@pytest.mark.parametrize("value", [False, "false", "no", 0])
def test_validate_certs_false_warns(pool, tmp_path, value):
    out = ansible("ansible-inventory", "-i", write_config(tmp_path, validate_certs=value, **_conn(pool)), "--list")
    assert squeeze("validate_certs is false") in out.flat, out.stderr
    out = ansible("ansible-inventory", "-i", write_config(tmp_path, **_conn(pool)), "--list")
    assert "validate_certs" not in out.stderr


def test_a_guest_reported_option_never_becomes_ansible_host(pool, tmp_path):
    """A guest reporting ``-oProxyCommand=...`` as its address (it reached ssh's argv as an
    option): only what ipaddress accepts becomes ansible_host, or is listed at all."""
    reports = {"evil01": {"0/ip": "-oProxyCommand=x", "0/ipv4/0": "-oProxyCommand=touch /tmp/pwned"},
               "evil02": {"0/ip": "-oProxyCommand=x", "1/ip": "198.51.100.9"},
               "evil03": {"0/ip": "192.0.2.1 -oProxyCommand=x", "0/ipv6/0": "::1", "1/ip": "0.0.0.0"}}
    for name, networks in reports.items():
        _start(pool, _vm(pool, name), networks=networks)
    hostvars = inventory_list(write_config(tmp_path, **_conn(pool)), pool)[0]["_meta"]["hostvars"]
    assert "ansible_host" not in hostvars["evil01"] and hostvars["evil01"]["xenserver_ips"] == []
    assert hostvars["evil02"]["ansible_host"] == "198.51.100.9"
    assert hostvars["evil02"]["xenserver_ips"] == ["198.51.100.9"]
    assert "ansible_host" not in hostvars["evil03"] and hostvars["evil03"]["xenserver_ips"] == []


def test_example_file_reads_the_environment(demo):
    env = {"XENSERVER_HOST": demo.url, "XENSERVER_USER": "root", "XENSERVER_PASSWORD": "xenroot",
           "XENSERVER_VALIDATE_CERTS": "false"}
    data, _err = inventory_list(os.path.join(ROOT, "playbooks", "demo.xenserver.yml"), demo, env=env)
    assert sorted(data["role_db"]["hosts"]) == ["db01", "sles01"]
    assert data["os_centos_5"]["hosts"] == ["web01"]
    assert data["installing"]["hosts"] == ["build01"]
    assert demo.calls() == CALLS


def test_templated_password(demo, tmp_path):
    path = write_config(tmp_path, hostname=demo.url,
                        password="{{ lookup('ansible.builtin.env', 'XS_SECRET') }}")
    data, _err = inventory_list(path, demo, env={"XS_SECRET": "xenroot"})
    assert "web01" in data["_meta"]["hostvars"]


def test_values_from_the_pool_are_never_templated(demo, tmp_path):
    """A template in a VM's vm-data is marked unsafe and reaches a play as text; the lookup in
    it never runs."""
    inventory = write_config(tmp_path, **_conn(demo))
    data, _err = inventory_list(inventory, demo, raw=True)
    assert data["_meta"]["hostvars"]["web01"]["xenserver_vm_data"]["motd"] == {
        "__ansible_unsafe": MOTD % "MARKER"}
    playbook = tmp_path / "show.yml"
    playbook.write_text(
        "- hosts: web01\n  connection: local\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.debug:\n        msg: 'motd={{ xenserver_vm_data.motd }}'\n")
    out = ansible("ansible-playbook", "-i", inventory, str(playbook))
    assert "motd={{ lookup('ansible.builtin.pipe', 'touch %s') }}" % demo.marker in out.stdout
    assert not os.path.exists(demo.marker)


def test_config_file_names(tmp_path):
    from ansible_collections.xenserver.provisioning.plugins.inventory.xenserver import InventoryModule
    plugin = InventoryModule()
    for name, ok in (("a.xenserver.yml", True), ("xenserver.yaml", True), ("a.yml", False),
                     ("a.xenserver.json", False)):
        path = tmp_path / name
        path.write_text("plugin: xenserver.provisioning.xenserver\n")
        assert plugin.verify_file(str(path)) is ok, name


def test_doc_renders():
    out = ansible("ansible-doc", "-t", "inventory", "xenserver.provisioning.xenserver")
    for text in ("XENSERVER_HOST", "XENSERVER_PASSWORD", "XENSERVER_VALIDATE_CERTS", "keyed_groups",
                 "cache_plugin", "hostnames"):
        assert text in out.stdout, text


def test_against_xapisim_serve_with_its_call_log(serve, tmp_path):
    """The simulator as a separate process (``xapisim serve --call-log``), 30 halted VMs."""
    log = tmp_path / "calls.jsonl"
    served = serve("--filler-vms", "30", "--call-log", str(log), "--password", "s3cret")
    path = write_config(tmp_path, hostname=served.url, password="s3cret")
    out = ansible("ansible-inventory", "-i", path, "--list")
    data = json.loads(out.stdout)
    assert len(data["_meta"]["hostvars"]) == 30
    assert sorted(data["xenserver_halted"]["hosts"]) == ["filler-%05d" % i for i in range(30)]
    methods = [json.loads(line)["method"] for line in log.read_text().splitlines()]
    # Halted VMs: no guest metrics to read, no host to name.
    assert methods == ["session.login_with_password", "VM.get_all_records_where", "session.logout"]


def test_tls_ca_path_validate_certs_and_option_aliases(serve, tmp_path):
    """https with the pool's self-signed certificate: refused by default, trusted through
    XENSERVER_CA_PATH, or not checked with XENSERVER_VALIDATE_CERTS=false."""
    certs = tmp_path / "certs"
    served = serve("--tls", "--cert-dir", str(certs), "--filler-vms", "2")
    assert served.url.startswith("https://")
    path = write_config(tmp_path, host=served.url, user="root", pwd="xenroot")   # the aliases
    out = ansible("ansible-inventory", "-i", path, "--list", check=False)
    assert out.returncode != 0 and squeeze("could not be verified") in out.flat and "ca_path" in out.flat
    for env in ({"XENSERVER_CA_PATH": str(certs / "xapisim-cert.pem")},
                {"XENSERVER_VALIDATE_CERTS": "false"}):
        data = json.loads(ansible("ansible-inventory", "-i", path, "--list", env=env).stdout)
        assert sorted(data["_meta"]["hostvars"]) == ["filler-00000", "filler-00001"]


def test_https_to_a_plain_http_pool_blames_the_scheme(serve, tmp_path):
    """The plain simulator named as https: the failure says the server does not speak TLS and
    names the http:// URL. Credentials in the URL are refused, without repeating them."""
    served = serve("--filler-vms", "1")
    address = served.url.split("://", 1)[1]
    path = write_config(tmp_path, hostname="https://%s" % address, password="xenroot", validate_certs=False)
    out = ansible("ansible-inventory", "-i", path, "--list", check=False)
    assert out.returncode != 0 and squeeze("does not speak TLS") in out.flat, out.stderr
    assert squeeze("Use %s" % served.url) in out.flat
    path = write_config(tmp_path, hostname="https://root:Url-S3cr3t@%s" % address, password="xenroot",
                        validate_certs=False)
    out = ansible("ansible-inventory", "-i", path, "--list", check=False)
    assert out.returncode != 0 and squeeze("holds credentials") in out.flat, out.stderr
    assert squeeze("give them as the username and password options") in out.flat
    assert "Url-S3cr3t" not in out.stderr + out.stdout


def test_ansible_host_is_vm_infos_ip(pool, run_module, tmp_path):
    """The keys xen-guest-agent's reports become (through xapi), link-local addresses: the
    plugin's ansible_host is vm_info's ip (one parser, module_utils/_addresses.py)."""
    reports = {"agent01": {"0/ipv6/0": "fe80::216:3eff:fe00:1", "1/ip": "198.51.100.7", "1/ipv4/1": "198.51.100.7",
                           "1/ipv4/3": "198.51.100.8", "0/ipv6/1": "2001:db8::7"},
               "linklocal01": {"0/ipv6/0": "fe80::216:3eff:fe00:2", "0/ipv4/0": "169.254.7.7"}}
    for name, networks in reports.items():
        _start(pool, _vm(pool, name), networks=networks)
    hostvars = inventory_list(write_config(tmp_path, **_conn(pool)), pool)[0]["_meta"]["hostvars"]
    assert hostvars["agent01"]["ansible_host"] == "198.51.100.7"
    assert hostvars["agent01"]["xenserver_ips"] == ["198.51.100.7", "198.51.100.8", "2001:db8::7",
                                                    "fe80::216:3eff:fe00:1"]
    assert "ansible_host" not in hostvars["linklocal01"]
    for name in reports:
        assert run_module("vm_info", name=name)["vm"]["ip"] == hostvars[name].get("ansible_host", "")
