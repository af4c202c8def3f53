"""``xapisim start`` / ``stop`` as processes: the servers answer, stop ends them, the supervisor
stops forgotten ones (TTL, ansible-playbook gone). Timeouts are generous: a loaded machine."""
import json
import os
import subprocess
import sys
import time
import urllib.request

import pytest
import XenAPI

TEMPLATE = "CentOS 5 (64-bit)"
WAIT = 90       # seconds: an upper bound, never a sleep


def gone(pid):
    """Exited: no /proc entry, or a zombie nobody has reaped yet."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()[0] == b"Z"
    except OSError:
        return True


def wait_until(condition, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "still waiting after %s s" % timeout
        time.sleep(0.2)


def ours(directory):
    """The pids whose command line names directory."""
    found = []
    for name in os.listdir("/proc"):
        try:
            with open("/proc/%s/cmdline" % name, "rb") as handle:
                if os.fsencode(str(directory)) in handle.read():
                    found.append(int(name))
        except (OSError, ValueError):
            pass
    return found


@pytest.fixture
def xapisim(xapisim_cmd):
    """xapisim(*args) -> the JSON line it printed (exit 0 expected); stops every DIR it started."""
    dirs = []

    def run(*args):
        if "--dir" in args and args[0] == "start":
            dirs.append(args[args.index("--dir") + 1])
        done = subprocess.run(xapisim_cmd + list(args), capture_output=True, text=True, timeout=WAIT * 2, check=False)
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert len(lines) == 1, done.stdout
        return json.loads(lines[0])

    yield run
    for directory in dirs:
        subprocess.run(xapisim_cmd + ["stop", "--dir", directory], capture_output=True, timeout=WAIT, check=False)


def login(url):
    session = XenAPI.Session(url)
    session.xenapi.login_with_password("root", "xenroot", "1.0", "background-tests")
    return session


def test_start_serves_the_sdk_restart_keeps_the_pool_and_stop_ends_it(xapisim, tmp_path):
    directory = str(tmp_path / "sim")
    env = xapisim("start", "--dir", directory, "--timeout", str(WAIT), "--", "--clock-speed", "1000")
    assert env["changed"] is True and env["dir"] == directory and env["state"] == directory + "/pool.json"
    with open(os.path.join(directory, "env.json"), encoding="utf-8") as handle:
        assert json.load(handle) == {key: value for key, value in env.items() if key != "changed"}
    assert "trees_url" not in env
    session = login(env["url"])
    vm = session.xenapi.VM.clone(session.xenapi.VM.get_by_name_label(TEMPLATE)[0], "kept")
    session.xenapi.session.logout()

    again = xapisim("start", "--dir", directory, "--timeout", str(WAIT))
    wait_until(lambda: gone(env["pid"]) and gone(env["supervisor_pid"]))
    session = login(again["url"])
    assert session.xenapi.VM.get_name_label(vm) == "kept"
    session.xenapi.session.logout()

    stopped = xapisim("stop", "--dir", directory, "--timeout", str(WAIT))
    assert stopped == {"changed": True, "stopped": [again["pid"]], "killed": []}
    wait_until(lambda: gone(again["pid"]) and gone(again["supervisor_pid"]))
    assert not os.path.exists(directory)
    assert xapisim("stop", "--dir", directory) == {"changed": False, "stopped": [], "killed": []}


def test_trees_and_answer_files_are_served(xapisim, tmp_path):
    directory = str(tmp_path / "bed")
    env = xapisim("start", "--dir", directory, "--trees", "--timeout", str(WAIT))
    assert env["trees_dir"] == directory + "/trees" and env["answer_dir"] == directory + "/trees/answers-roles"
    assert env["answer_base_url"] == env["trees_url"] + "/answers-roles"
    with urllib.request.urlopen(env["trees_url"] + "/answers/rhel-reboot.ks", timeout=WAIT) as reply:
        assert b"reboot" in reply.read()
    with open(os.path.join(env["answer_dir"], "vm1.ks"), "w", encoding="ascii") as handle:
        handle.write("rendered by a role\n")
    with urllib.request.urlopen(env["answer_base_url"] + "/vm1.ks", timeout=WAIT) as reply:
        assert reply.read() == b"rendered by a role\n"
    login(env["url"]).xenapi.session.logout()

    stopped = xapisim("stop", "--dir", directory, "--keep", "--timeout", str(WAIT))
    assert sorted(stopped["stopped"]) == sorted([env["pid"], env["trees_pid"]]) and stopped["killed"] == []
    wait_until(lambda: not ours(directory))
    assert os.path.exists(env["state"]) and not os.path.exists(os.path.join(directory, "env.json"))


def test_supervisor_stops_the_servers_after_the_ttl(xapisim, tmp_path):
    directory = str(tmp_path / "ttl")
    env = xapisim("start", "--dir", directory, "--trees", "--ttl", "1", "--timeout", str(WAIT))
    wait_until(lambda: not ours(directory))
    assert gone(env["pid"]) and gone(env["trees_pid"]) and gone(env["supervisor_pid"])
    wait_until(lambda: not os.path.exists(directory))


def test_watch_ansible_stops_the_servers_when_the_playbook_is_gone(xapisim_cmd, tmp_path):
    directory = str(tmp_path / "watched")
    # A stand-in for ansible-playbook (its command line says so) that runs start and then
    # waits for its stdin to close.
    script = ("import subprocess, sys; print(subprocess.run(sys.argv[2:], capture_output=True, text=True).stdout,"
              " flush=True); sys.stdin.read()")
    playbook = subprocess.Popen([sys.executable, "-c", script, "ansible-playbook"] + xapisim_cmd
                                + ["start", "--dir", directory, "--watch-ansible", "--timeout", str(WAIT)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        env = json.loads(playbook.stdout.readline())
        assert env["watch_pid"] == playbook.pid
        login(env["url"]).xenapi.session.logout()
    finally:
        playbook.stdin.close()
        playbook.wait(timeout=WAIT)
        playbook.stdout.close()
    wait_until(lambda: not ours(directory))
    wait_until(lambda: not os.path.exists(directory))


def test_watch_ansible_without_ansible_playbook_fails(xapisim_cmd, tmp_path):
    directory = tmp_path / "nowatch"
    done = subprocess.run(xapisim_cmd + ["start", "--dir", str(directory), "--watch-ansible"],
                          capture_output=True, text=True, timeout=WAIT, check=False)
    assert done.returncode == 1 and "no ansible-playbook" in done.stderr and done.stdout == ""
    assert not directory.exists()


def test_a_server_that_fails_is_reported_and_nothing_is_left(xapisim_cmd, tmp_path):
    directory = tmp_path / "bad"
    done = subprocess.run(xapisim_cmd + ["start", "--dir", str(directory), "--timeout", str(WAIT), "--", "--bogus"],
                          capture_output=True, text=True, timeout=WAIT * 2, check=False)
    assert done.returncode == 1 and done.stdout == ""
    assert "serve exited 2" in done.stderr and "unrecognized arguments: --bogus" in done.stderr
    wait_until(lambda: not ours(directory))
    assert not (directory / "env.json").exists()
