"""Security: passwords never leave the module (results, diffs, logs, the simulator's call log);
TLS is verified by default, ca_path trusts the pool's certificate, validate_certs: false works
with a warning; RBAC: each role can do what it may and a denial names the roles needed; a guest
reads only its own vm-data."""
import json

import pytest
from ansible.module_utils import basic

from test_vm_power import make_vm

SECRET = "S3cr3t-pw-\u00e9\u00df-'quoted\"-%s"
USERS = {
    "root": ("xenroot", "pool-admin"),
    "secops": (SECRET, "pool-admin"),
    "reader": ("reader-pw", "read-only"),
    "operator": ("operator-pw", "vm-operator"),
}
TEMPLATE = "CentOS 5 (64-bit)"


@pytest.fixture
def pool_options():
    return dict(users=USERS)


@pytest.fixture
def logged(monkeypatch):
    """What the modules log (AnsibleModule.log: syslog / journal on a real host)."""
    lines = []
    monkeypatch.setattr(basic.AnsibleModule, "log", lambda self, msg, log_args=None: lines.append(msg))
    return lines


def as_user(pool, user, password, **options):
    return dict(options, connection=False, hostname=pool.url, username=user, password=password)


# --- passwords ---------------------------------------------------------------------------------------

RUNS = [
    ("vm", dict(name="made", template=TEMPLATE, memory_mb=512, networks=[{"network": "xenbr0"}],
                other_config={"role": "web"})),
    ("vm", dict(name="made", memory_mb=768)),                         # an update, with a diff
    ("vm", dict(name="made", networks="xenbr0")),                     # ansible-core's own no_log gap
    ("vm", dict(name="nope", template="no such template")),           # a failure
    ("vm_info", dict(name="made")),
    ("vm_info", dict(filters={"power_state": "bogus"})),
    ("vm_boot", dict(name="made", pv_bootloader="none", pv_kernel="/boot/guest/vmlinuz")),
    ("vm_xenstore_data", dict(name="made", data={"hostname": "made"})),
    ("vm_xenstore_data", dict(name="made", data={"/local/domain/0/x": "y"})),
    ("vm_cdrom", dict(name="made", iso="xs-tools.iso")),
    ("vm_snapshot", dict(name="made", snapshot="before")),
    ("vm_snapshot", dict(name="made", snapshot="nope", state="reverted")),     # a failure
    ("vm_power", dict(name="made", state="running")),
    ("vm_power", dict(name="made", state="suspended", wait_for="halted")),
    ("install_profile", dict(distro="rhel", version="5.1", repository="http://[::1")),
    ("install_profile", dict(distro="centos", version="5.0", repository="http://127.0.0.1:9/centos",
                             verify_repository=True)),
]


def test_the_password_never_shows(pool, run_module, logged, monkeypatch):
    results = []
    for module, options in RUNS:
        results.append(run_module(module, diff=True, **as_user(pool, "secops", SECRET, **options)))
        results.append(run_module(module, check_mode=True, diff=True, **as_user(pool, "secops", SECRET, **options)))
    # the other ways to give it: the alias, and the environment
    results.append(run_module("vm", diff=True, connection=False, hostname=pool.url, username="secops",
                              pwd=SECRET, name="made", memory_mb=640))
    monkeypatch.setenv("XENSERVER_PASSWORD", SECRET)
    results.append(run_module("vm_info", connection=False, hostname=pool.url, username="secops", name="made"))
    results.append(run_module("vm", connection=False, hostname=pool.url, username="secops", name="made",
                              networks=[1]))
    # a wrong password is not echoed either
    results.append(run_module("vm_info", **as_user(pool, "secops", SECRET + "-wrong", name="made")))
    assert results[0]["changed"] and not results[0].get("failed"), results[0]
    assert results[-1]["failed"] and "check username and password" in results[-1]["msg"]
    assert sum(1 for r in results if r.get("failed")) >= 8 and sum(1 for r in results if "diff" in r) >= 8
    for result in results:
        assert SECRET not in json.dumps(result), result
        assert SECRET[:10] not in json.dumps(result), result
    assert logged and not [line for line in logged if SECRET[:10] in line]
    with open(pool.call_log) as handle:
        call_log = handle.read()
    assert "session.login_with_password" in call_log and SECRET[:10] not in call_log
    assert SECRET[:10] not in json.dumps(pool.sim.db.snapshot())


# --- TLS ---------------------------------------------------------------------------------------------

def test_tls_is_verified_by_default(run_module, tls_pool):
    url, _cert = tls_pool
    result = run_module("vm_info", connection=False, hostname=url, password="xenroot", name="x")
    assert result["failed"] and "could not be verified" in result["msg"] and "ca_path" in result["msg"]
    assert result["error_code"] == "TLS_CERT_UNVERIFIED", result
    # a bare host name means https, verified the same way
    bare = url.split("://", 1)[1].replace("127.0.0.1", "localhost")
    result = run_module("vm_info", connection=False, hostname=bare, password="xenroot", name="x")
    assert result["failed"] and "could not be verified" in result["msg"]


def test_ca_path_trusts_the_pool_certificate(run_module, tls_pool, monkeypatch):
    url, cert = tls_pool
    result = run_module("vm_info", connection=False, hostname=url, password="xenroot", ca_path=cert, name="x")
    assert not result.get("failed") and result["exists"] is False and not result.get("warnings"), result
    bare = url.split("://", 1)[1].replace("127.0.0.1", "localhost")    # the certificate names localhost
    monkeypatch.setenv("XENSERVER_CA_PATH", cert)
    result = run_module("vm_info", connection=False, hostname=bare, password="xenroot", name="x")
    assert not result.get("failed"), result


def test_validate_certs_false_works_with_a_warning(run_module, tls_pool, monkeypatch):
    url, _cert = tls_pool
    result = run_module("vm_info", connection=False, hostname=url, password="xenroot", validate_certs=False,
                        name="x")
    assert not result.get("failed"), result
    assert "validate_certs is false" in json.dumps(result.get("warnings")), result
    monkeypatch.setenv("XENSERVER_VALIDATE_CERTS", "false")
    result = run_module("vm_info", connection=False, hostname=url, password="xenroot", name="x")
    assert not result.get("failed") and result.get("warnings"), result


def test_https_to_a_plain_http_pool_says_it_does_not_speak_tls(pool, run_module):
    """The plain simulator named as https (or as a bare host name, which means https): the message
    blames the scheme and names the http:// URL to use, whatever validate_certs says."""
    address = pool.url.split("://", 1)[1]
    for hostname in ("https://" + address, address):
        for validate_certs in (True, False):
            result = run_module("vm_info", connection=False, hostname=hostname, password="xenroot",
                                validate_certs=validate_certs, name="x")
            assert result["failed"] and result["error_code"] == "TLS_NOT_SPOKEN", result
            assert "does not speak TLS" in result["msg"] and "use %s" % pool.url in result["msg"].lower(), result
            assert "could not be verified" not in result["msg"], result
    result = run_module("vm_info", connection=False, hostname=address, password="xenroot", name="x")
    assert "without a scheme means https" in result["msg"], result


def test_credentials_in_the_url_never_show(pool, run_module):
    """``http://user:password@host``: no failure message of the client repeats the password.
    (The hostname option itself is not no_log: ansible's ``invocation`` shows it as given.)"""
    secret = "Url-S3cr3t-pw"
    address = pool.url.split("://", 1)[1]
    hostnames = ["https://root:%s@%s" % (secret, address),             # does not speak TLS
                 "http://root:%s@127.0.0.1:9" % secret,               # refused (the discard port)
                 "http://root:%s@127.0.0.1:99999" % secret,           # port out of range
                 "http://root:%s@[::1" % secret,                      # not a URL
                 "http://root:%s@no-such-host.invalid" % secret]      # does not resolve
    for hostname in hostnames:
        result = run_module("vm_info", connection=False, hostname=hostname, password="wrong", name="x")
        assert result["failed"] and "***@" in result["msg"], result
        assert secret not in result["msg"] and "root" not in result["msg"], result


def test_http_to_a_tls_only_pool_says_it_speaks_tls(run_module, tls_pool):
    url, _cert = tls_pool
    plain = url.replace("https://", "http://")
    result = run_module("vm_info", connection=False, hostname=plain, password="xenroot", name="x")
    assert result["failed"] and result["error_code"] == "TLS_REQUIRED", result
    assert "use %s" % url in result["msg"], result


# --- RBAC --------------------------------------------------------------------------------------------

def denied(pool, result, *roles):
    assert result.get("failed") and result["error_code"] == "RBAC_PERMISSION_DENIED", result
    assert "Roles with this permission" in result["msg"] and "Ask a pool administrator" in result["msg"]
    for role in roles:
        assert role in result["msg"], (role, result["msg"])


def test_read_only_reads_and_plans_but_changes_nothing(pool, run_module):
    make_vm(pool, "web01")
    before = pool.state()
    info = run_module("vm_info", **as_user(pool, "reader", "reader-pw", name="web01"))
    assert info["exists"] and info["vm"]["name"] == "web01", info
    listed = run_module("vm_info", **as_user(pool, "reader", "reader-pw", filters={"power_state": "halted"}))
    assert "web01" in [v["name"] for v in listed["vms"]]
    planned = run_module("vm", check_mode=True, **as_user(pool, "reader", "reader-pw", name="web01", memory_mb=900,
                                                          vcpus=2))
    assert planned["changed"] and not planned.get("failed"), planned
    planned = run_module("vm", check_mode=True, **as_user(pool, "reader", "reader-pw", name="new01",
                                                          template=TEMPLATE, networks=[{"network": "xenbr0"}]))
    assert planned["changed"] and not planned.get("failed"), planned
    planned = run_module("vm_xenstore_data", check_mode=True,
                         **as_user(pool, "reader", "reader-pw", name="web01", data={"hostname": "web01"}))
    assert planned["changed"] and not planned.get("failed"), planned
    assert pool.state() == before
    result = run_module("vm_xenstore_data", **as_user(pool, "reader", "reader-pw", name="web01",
                                                      data={"hostname": "web01"}))
    denied(pool, result, "vm-admin")
    result = run_module("vm_power", **as_user(pool, "reader", "reader-pw", name="web01", state="running"))
    denied(pool, result, "vm-operator")
    assert pool.state() == before


def test_vm_operator_powers_vms_but_changes_nothing_else(pool, run_module):
    make_vm(pool, "web01")
    started = run_module("vm_power", **as_user(pool, "operator", "operator-pw", name="web01", state="running"))
    assert started["changed"] and started["power_state"] == "running", started
    halted = run_module("vm_power", **as_user(pool, "operator", "operator-pw", name="web01", state="halted",
                                              force=True))
    assert halted["changed"] and halted["power_state"] == "halted", halted
    before = pool.state()
    result = run_module("vm_xenstore_data", **as_user(pool, "operator", "operator-pw", name="web01",
                                                      data={"hostname": "web01"}))
    denied(pool, result, "vm-admin", "pool-admin")
    result = run_module("vm", **as_user(pool, "operator", "operator-pw", name="new01", template=TEMPLATE))
    denied(pool, result, "vm-admin")
    result = run_module("vm", **as_user(pool, "operator", "operator-pw", name="web01", memory_mb=900))
    denied(pool, result, "pool-admin", "vm-power-admin")
    assert pool.state() == before
    assert pool.api.VM.get_by_name_label("new01") == []


# --- the guest's view --------------------------------------------------------------------------------

def test_a_guest_reads_only_its_own_vm_data(pool, run_module):
    for name, secret in (("alpha", "alpha-token"), ("beta", "beta-token")):
        make_vm(pool, name)
        result = run_module("vm_xenstore_data", name=name, data={"token": secret})
        assert result["changed"], result
        assert run_module("vm_power", name=name, state="running")["changed"]
    alpha, beta = pool.vm("alpha")[0], pool.vm("beta")[0]
    guests = pool.sim.guests
    alpha_domid, beta_domid = int(pool.api.VM.get_domid(alpha)), int(pool.api.VM.get_domid(beta))
    assert guests.xenstore_read(alpha, "vm-data/token", as_domid=alpha_domid) == "alpha-token"
    assert guests.xenstore_read(beta, "vm-data/token", as_domid=beta_domid) == "beta-token"
    with pytest.raises(PermissionError):
        guests.xenstore_read(beta, "vm-data/token", as_domid=alpha_domid)       # alpha reads beta's
    with pytest.raises(PermissionError):
        guests.xenstore_read(alpha, "/local/domain/%d/vm-data/token" % beta_domid)
    with pytest.raises(PermissionError):
        guests.xenstore_write(beta, "vm-data/token", "overwritten", as_domid=alpha_domid)
    assert pool.api.VM.get_xenstore_data(beta)["vm-data/token"] == "beta-token"


# --- the disk data path (vm_template, vm_cloud_init) ------------------------------------------------

def small_image(tmp_path):
    path = tmp_path / "disk.raw"
    path.write_bytes(b"\xeb\x63\x90" + b"\0" * (1024 * 1024 - 3))
    return str(path)


def test_uploads_never_show_the_password_or_the_user_data_secrets(pool, run_module, logged, tmp_path):
    make_vm(pool, "cloudy")
    image = small_image(tmp_path)
    user_data = {"users": [{"name": "ops", "plain_text_passwd": "ud-" + SECRET}],
                 "chpasswd": {"list": "root:cp-" + SECRET}}
    runs = [
        ("vm_template", dict(name="tpl", image=image, base_template="Rocky Linux 9")),
        ("vm_template", dict(name="tpl", image=image, base_template="no such template", replace=True)),
        ("vm_template", dict(name="tpl", state="absent")),
        ("vm_cloud_init", dict(name="cloudy", user_data=user_data)),
        ("vm_cloud_init", dict(name="cloudy", user_data="#cloud-config\nusers: [" + SECRET)),   # a failure
        ("vm_cloud_init", dict(name="cloudy", state="absent")),
    ]
    results = []
    for module, options in runs:
        results.append(run_module(module, check_mode=True, diff=True, **as_user(pool, "secops", SECRET, **options)))
        results.append(run_module(module, diff=True, **as_user(pool, "secops", SECRET, **options)))
    assert results[1]["changed"] and results[7]["changed"] and results[9]["failed"], results
    for result in results:
        assert SECRET[:10] not in json.dumps(result), result
    assert not [line for line in logged if SECRET[:10] in line]
    with open(pool.call_log) as handle:
        assert SECRET[:10] not in handle.read()


def test_an_upload_goes_over_tls_verified_with_ca_path(run_module, tls_pool, tmp_path):
    url, cert = tls_pool
    image = small_image(tmp_path)
    options = dict(connection=False, hostname=url, password="xenroot", name="tls-tpl", image=image,
                   base_template="Rocky Linux 9")
    result = run_module("vm_template", **options)
    assert result["failed"] and result["error_code"] == "TLS_CERT_UNVERIFIED", result
    result = run_module("vm_template", ca_path=cert, **options)
    assert result["changed"] and not result.get("failed"), result
    assert result["upload"]["bytes"] == 1024 * 1024 and not result.get("warnings")
    assert run_module("vm_template", ca_path=cert, **options)["changed"] is False


def test_an_operator_uploads_nothing(pool, run_module, tmp_path):
    make_vm(pool, "op-vm")
    before = pool.state()
    result = run_module("vm_template", **as_user(pool, "operator", "operator-pw", name="tpl", image=small_image(
        tmp_path), base_template="Rocky Linux 9"))
    denied(pool, result, "vm-admin")
    result = run_module("vm_cloud_init", **as_user(pool, "operator", "operator-pw", name="op-vm",
                                                   user_data={"hostname": "op"}))
    denied(pool, result, "vm-admin")
    assert pool.state() == before
