#!/usr/bin/env python
# Copyright: Contributors to the xenserver.provisioning collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run ansible-test on this checkout, offline, without Docker.

    scripts/ansible-test.py sanity --python 3.11
    scripts/ansible-test.py integration --python 3.11 xapisim_smoke

Run it with the project venv's python (the Makefile does: ``.venv/bin/python
scripts/ansible-test.py ...``); the ansible-test of that venv is used.

What it takes care of:

* ansible-test insists that its working directory is ``.../ansible_collections/<ns>/<name>/``
  and resolves symlinks (``os.getcwd()``), so the link .venv/collections/... made by the
  Makefile does not do.  The collection's files (git's view of the tree: tracked plus
  untracked-but-not-ignored files, minus galaxy.yml ``build_ignore``) are copied to
  ``$ANSIBLE_TEST_WORKDIR/<command>-<random>/ansible_collections/<ns>/<name>/``, a fresh
  copy for every run (removed afterwards unless ANSIBLE_TEST_KEEP=1), so that several runs
  (``make -j``, two people on one checkout) never share a tree.  The default workdir is
  ``$TMPDIR/xenserver.provisioning-ansible-test-<hash of the checkout path>``: it must lie
  outside any git work tree, or ansible-test lists the enclosing repository's files.
* ansible-test downloads a pip bootstrap script from an unreachable host before it builds
  any virtual environment; scripts/get_pip_offline.py is put in its cache
  (``~/.ansible/test/cache/get_pip_<version>.py``) instead.
* The project venv's bin/ goes first on PATH, so ``--python 3.11`` picks the venv's python
  (ansible-core, XenAPI and xapisim installed) as the controller python of local runs, and
  ``XAPISIM_BIN`` plus ``tests/integration/integration_config.yml`` (``xapisim_bin``) tell
  integration targets where the simulator's console script is (ansible-test passes only a
  handful of environment variables through, PATH among them; the vars file always
  reaches the playbooks).  ``XENSERVER_TEST_INTEGRATION_CONFIG`` (set by scripts/test-pool.sh)
  names a vars file used as that integration_config.yml instead: a real pool's.
* Results (``tests/output/``: junit, bot and sanity reports) are copied back to the
  checkout's git-ignored ``tests/output/``.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STANDIN = os.path.join(ROOT, 'scripts', 'get_pip_offline.py')
STANDIN_MARKER = 'xenserver.provisioning offline get-pip stand-in'

# Never copied, whatever galaxy.yml says (ansible-galaxy's own defaults plus our caches).
ALWAYS_IGNORE = (
    '.git', '.git/*', '*/__pycache__', '*/__pycache__/*', '__pycache__', '*.pyc', '*.pyo', '*.retry',
    'tests/output', 'tests/output/*', '.venv', '.venv/*',
)


def log(message: str) -> None:
    print('ansible-test.py: %s' % message, file=sys.stderr, flush=True)


def venv_dir() -> str:
    """The virtual environment whose ansible-test is used: the one running this script, else .venv."""
    if sys.prefix != sys.base_prefix:
        return sys.prefix
    return os.path.join(ROOT, '.venv')


def read_galaxy() -> dict:
    path = os.path.join(ROOT, 'galaxy.yml')
    try:
        import yaml  # pylint: disable=import-outside-toplevel
    except ImportError:
        yaml = None
    with open(path, encoding='utf-8') as handle:
        text = handle.read()
    if yaml is not None:
        return yaml.safe_load(text)
    # Minimal fallback: top-level scalars and one list (enough for namespace/name/build_ignore).
    data: dict = {}
    key = None
    for line in text.splitlines():
        if re.match(r'^\S[^:]*:\s*\S', line):
            key, value = line.split(':', 1)
            data[key.strip()] = value.strip().strip('\'"')
        elif re.match(r'^\S[^:]*:\s*$', line):
            key = line.split(':', 1)[0].strip()
            data[key] = []
        elif key and re.match(r'^\s+-\s', line) and isinstance(data.get(key), list):
            data[key].append(line.split('-', 1)[1].strip().strip('\'"'))
    return data


def source_files(ignore: list[str]) -> list[str]:
    """Relative paths of the files that make up the collection as it stands in the work tree."""
    if os.path.isdir(os.path.join(ROOT, '.git')) and shutil.which('git'):
        out = subprocess.run(
            ['git', '-C', ROOT, 'ls-files', '-z', '--cached', '--others', '--exclude-standard'],
            check=True, stdout=subprocess.PIPE,
        ).stdout.decode('utf-8')
        paths = [p for p in out.split('\0') if p]
    else:
        paths = []
        for root, dirs, files in os.walk(ROOT):
            rel = os.path.relpath(root, ROOT)
            dirs[:] = [d for d in dirs if not ignored(os.path.normpath(os.path.join(rel, d)), ignore)]
            paths.extend(os.path.normpath(os.path.join(rel, f)) for f in files)
    # deleted-but-tracked files are listed by git; sockets and the like are skipped
    return sorted(p for p in set(paths)
                  if not ignored(p, ignore) and (os.path.islink(os.path.join(ROOT, p)) or os.path.isfile(os.path.join(ROOT, p))))


def ignored(path: str, patterns: list[str]) -> bool:
    """galaxy build_ignore semantics: a pattern matches the path or one of its parent directories."""
    parts = path.split('/')
    candidates = ['/'.join(parts[:i]) for i in range(1, len(parts) + 1)]
    return any(fnmatch.fnmatch(candidate, pattern) for candidate in candidates for pattern in patterns)


def sync_tree(dest: str, files: list[str]) -> None:
    """Make dest an exact copy of the listed files (modes kept: the shebang test looks at them)."""
    if os.path.lexists(dest):
        shutil.rmtree(dest)
    os.makedirs(dest)
    for rel in files:
        src = os.path.join(ROOT, rel)
        dst = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if os.path.islink(src):
            os.symlink(os.readlink(src), dst)
        else:
            shutil.copy2(src, dst)


def default_workdir() -> str:
    """A per-checkout scratch directory outside any git work tree."""
    digest = hashlib.sha1(ROOT.encode('utf-8')).hexdigest()[:8]
    return os.path.join(tempfile.gettempdir(), 'xenserver.provisioning-ansible-test-%s' % digest)


def enclosing_git(path: str) -> str | None:
    """The nearest ancestor of path holding .git (ansible-test's git source provider would pick it)."""
    path = os.path.abspath(path)
    while True:
        if os.path.exists(os.path.join(path, '.git')):
            return path
        parent = os.path.dirname(path)
        if parent == path:
            return None
        path = parent


def pip_versions(python: str) -> set[str]:
    """The pip versions ansible-test bootstraps into its virtual environments."""
    code = (
        'import types\n'
        'from ansible_test._internal.python_requirements import get_venv_packages\n'
        'for v in ("3.8", "3.9", "3.10", "3.11", "3.12", "3.13", "3.14"):\n'
        '    print(get_venv_packages(types.SimpleNamespace(version=v)).get("pip", ""))\n'
    )
    result = subprocess.run([python, '-c', code], check=False, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    versions = {line.strip() for line in result.stdout.splitlines() if line.strip()}
    if result.returncode or not versions:
        # Fall back to reading the pins out of the source.
        where = subprocess.run([python, '-c', 'import ansible_test, os; print(os.path.dirname(ansible_test.__file__))'],
                               check=True, stdout=subprocess.PIPE, text=True).stdout.strip()
        with open(os.path.join(where, '_internal', 'python_requirements.py'), encoding='utf-8') as handle:
            versions = set(re.findall(r"pip\s*=\s*'([0-9.]+)'", handle.read()))
    if not versions:
        raise SystemExit('ansible-test.py: cannot find the pip version ansible-test pins')
    return versions


def seed_get_pip(python: str) -> None:
    cache = os.path.expanduser('~/.ansible/test/cache')
    os.makedirs(cache, exist_ok=True)
    with open(STANDIN, encoding='utf-8') as handle:
        standin = handle.read()
    for version in sorted(pip_versions(python)):
        path = os.path.join(cache, 'get_pip_%s.py' % version.replace('.', '_'))
        if os.path.exists(path):
            with open(path, encoding='utf-8', errors='replace') as handle:
                current = handle.read()
            if STANDIN_MARKER not in current:
                log('keeping %s (a real get-pip.py, not our stand-in)' % path)
                continue
            if current == standin:
                continue
        tmp = path + '.tmp%d' % os.getpid()
        with open(tmp, 'w', encoding='utf-8') as handle:
            handle.write(standin)
        os.replace(tmp, path)
        log('seeded %s' % path)


def copy_back(src: str, dest: str) -> None:
    """Copy ansible-test's results to the checkout's tests/output (the .tmp scratch area excluded)."""
    if not os.path.isdir(src):
        return
    for root, dirs, files in os.walk(src):
        rel = os.path.relpath(root, src)
        dirs[:] = [d for d in dirs if not (rel == '.' and d == '.tmp')]
        os.makedirs(os.path.join(dest, rel), exist_ok=True)
        for name in files:
            shutil.copy2(os.path.join(root, name), os.path.join(dest, rel, name))


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ('-h', '--help'):
        print(__doc__)
        return 0

    venv = venv_dir()
    bindir = os.path.join(venv, 'bin')
    ansible_test = os.path.join(bindir, 'ansible-test')
    python = os.path.join(bindir, 'python')
    if not os.path.exists(ansible_test):
        raise SystemExit('ansible-test.py: %s not found; run "make .venv/.ready" first' % ansible_test)

    galaxy = read_galaxy()
    namespace, name = galaxy['namespace'], galaxy['name']
    command = argv[0]
    workdir = os.path.abspath(os.environ.get('ANSIBLE_TEST_WORKDIR') or default_workdir())
    enclosing = enclosing_git(workdir)
    if enclosing:
        raise SystemExit('ansible-test.py: %s lies inside the git work tree %s; ansible-test would list that '
                         'tree\'s files instead of the copy. Set ANSIBLE_TEST_WORKDIR elsewhere.' % (workdir, enclosing))
    os.makedirs(workdir, exist_ok=True)
    rundir = tempfile.mkdtemp(prefix='%s-' % re.sub(r'[^A-Za-z0-9_.-]', '_', command), dir=workdir)
    dest = os.path.join(rundir, 'ansible_collections', namespace, name)
    try:
        return run(argv, dest, galaxy, bindir, ansible_test, python)
    finally:
        if os.environ.get('ANSIBLE_TEST_KEEP'):
            log('kept %s' % rundir)
        else:
            shutil.rmtree(rundir, ignore_errors=True)


def run(argv: list[str], dest: str, galaxy: dict, bindir: str, ansible_test: str, python: str) -> int:
    """Copy the collection to dest, prepare ansible-test's caches and run it there."""
    command = argv[0]

    ignore = list(ALWAYS_IGNORE) + [str(p) for p in galaxy.get('build_ignore') or []]
    files = source_files(ignore)
    sync_tree(dest, files)
    log('copied %d files to %s' % (len(files), dest))

    seed_get_pip(python)

    env = dict(os.environ)
    env['PATH'] = bindir + os.pathsep + env.get('PATH', os.defpath)
    env.setdefault('XAPISIM_BIN', os.path.join(bindir, 'xapisim'))
    env.pop('PYTHONPATH', None)
    # Another checkout linked in through ANSIBLE_COLLECTIONS_PATH must not shadow the copy under test.
    env.pop('ANSIBLE_COLLECTIONS_PATH', None)
    env.pop('ANSIBLE_COLLECTIONS_PATHS', None)

    if command == 'integration':
        config = os.path.join(dest, 'tests', 'integration', 'integration_config.yml')
        pool_config = os.environ.get('XENSERVER_TEST_INTEGRATION_CONFIG')
        if pool_config:
            # scripts/test-pool.sh: the targets run against a real pool (its vars, with credentials).
            os.makedirs(os.path.dirname(config), exist_ok=True)
            shutil.copyfile(pool_config, config)
            os.chmod(config, 0o600)
        if not os.path.exists(config):
            os.makedirs(os.path.dirname(config), exist_ok=True)
            with open(config, 'w', encoding='utf-8') as handle:
                handle.write('---\n# written by scripts/ansible-test.py\nxapisim_bin: %s\n' % env['XAPISIM_BIN'])

    cmd = [ansible_test, *argv]
    log('running %s (in %s)' % (' '.join(cmd), dest))
    try:
        rc = subprocess.run(cmd, cwd=dest, env=env, check=False).returncode
    finally:
        copy_back(os.path.join(dest, 'tests', 'output'), os.path.join(ROOT, 'tests', 'output'))
    return rc


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
