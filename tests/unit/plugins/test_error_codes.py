"""The error rule of issue 13, checked on the source and at run time.

- Every XenServerError has a stable code: one built from the base class names it (``code=``),
  a subclass has its own (InvalidInput, NotFound, WaitTimeout, Gone, AnswerLost).
- Every failure of a module says its ``error_code``: each ``fail(...)`` / ``fail_json(...)``
  call in plugins/ names it (the helper's default exists so a missed one is still typed, but
  the source states each code).
- Nothing in plugins/ or roles/ decides on an error's message text (``"x" in str(err)``,
  ``str(err).startswith``, ``fault.faultString``, ``X.msg is defined``...): code and roles
  decide on the code.

Each checker is run first on a planted bad sample, so it cannot pass by finding nothing.
"""
import ast
import os
import re
import xmlrpc.client as xmlrpclib

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def _sources(*tops, ext=".py"):
    for top in tops:
        for folder, _dirs, files in os.walk(os.path.join(ROOT, top)):
            for name in sorted(files):
                if name.endswith(ext):
                    path = os.path.join(folder, name)
                    with open(path, encoding="utf-8") as handle:
                        yield os.path.relpath(path, ROOT), handle.read()


def _called_name(call):
    func = call.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None


def _functions_around(tree):
    """{node: name of the innermost function holding it}."""
    around = {}

    def visit(node, function):
        for child in ast.iter_child_nodes(node):
            inner = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else function
            around[child] = inner
            visit(child, inner)
    visit(tree, None)
    return around


# --- (a) every XenServerError has a code ------------------------------------------------------

def codeless_errors(source):
    """Lines that build a XenServerError (the base class) with no code, outside translate()."""
    tree = ast.parse(source)
    around = _functions_around(tree)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or _called_name(node) != "XenServerError":
            continue
        if around.get(node) == "translate":
            continue
        code = [k.value for k in node.keywords if k.arg == "code"]
        has_code = (code and not (isinstance(code[0], ast.Constant) and code[0].value in (None, ""))) \
            or len(node.args) >= 2
        if not has_code:
            found.append(node.lineno)
    return found


def test_codeless_error_check_finds_a_planted_one():
    sample = (
        "def bad():\n"
        "    raise XenServerError('no code')\n"                       # 2
        "def also_bad():\n"
        "    return _client.XenServerError('x', code=None)\n"        # 4
        "def good():\n"
        "    raise XenServerError('x', code='AMBIGUOUS')\n"
        "def good_too(err):\n"
        "    raise XenServerError('x', err.code, err.params)\n"
        "def subclass():\n"
        "    raise NotFound('its class has the code')\n"
        "def translate(details):\n"
        "    return XenServerError('x', code=details[0])\n"
    )
    assert codeless_errors(sample) == [2, 4]


def test_every_xenservererror_has_a_code():
    found = dict((path, codeless_errors(text)) for path, text in _sources("plugins"))
    found = dict((path, lines) for path, lines in found.items() if lines)
    unexpected = ["%s:%d" % (path, line) for path, lines in sorted(found.items()) for line in lines]
    assert not unexpected, "XenServerError without code= (use a subclass or name the code): %s" % unexpected


# --- (b) every failure says its error_code ----------------------------------------------------

def fails_without_code(source):
    """Lines of ``X.fail(...)`` / ``X.fail_json(...)`` calls without an error_code keyword.

    A helper named fail or fail_json that hands its own keyword arguments on (``**kwargs``)
    is where the code is added, not a failure site of its own.
    """
    tree = ast.parse(source)
    around = _functions_around(tree)
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("fail", "fail_json")):
            continue
        keywords = [k.arg for k in node.keywords]
        if "error_code" in keywords:
            continue
        if None in keywords and around.get(node) in ("fail", "fail_json"):
            continue
        found.append(node.lineno)
    return found


def test_failure_without_code_check_finds_a_planted_one():
    sample = (
        "def run(xs):\n"
        "    xs.fail('bad option')\n"                                 # 2
        "    xs.module.fail_json(msg='x', **result)\n"               # 3
        "    xs.fail('bad option', error_code='INVALID_INPUT')\n"
        "    xs.module.fail_json(msg='x', error_code=err.code)\n"
        "class M:\n"
        "    def fail_json(self, msg, **kwargs):\n"
        "        super(M, self).fail_json(msg=msg, **kwargs)\n"
        "    def fail(self, msg, error_code=None, **extra):\n"
        "        self.module.fail_json(msg=msg)\n"                   # 10
    )
    assert fails_without_code(sample) == [2, 3, 10]


def test_every_failure_names_its_error_code():
    found = dict((path, fails_without_code(text)) for path, text in _sources("plugins/modules", "plugins/module_utils"))
    found = dict((path, lines) for path, lines in found.items() if lines)
    unexpected = ["%s:%d" % (path, line) for path, lines in sorted(found.items()) for line in lines]
    assert not unexpected, "fail()/fail_json() without error_code=: %s" % unexpected


# --- (c) no decision on an error's message text -----------------------------------------------

# Attributes that hold an exception's text, never its code; those of ERROR_ATTRIBUTES only on
# a name an except clause bound (a XenAPI error's params carry text too: BOOTLOADER_FAILED's is
# what the bootloader printed; a module's params are its options).
MESSAGE_ATTRIBUTES = {"faultString", "errmsg", "message", "strerror"}
ERROR_ATTRIBUTES = {"msg", "args", "params"}
TEXT_CALLS = {"str", "repr", "to_native", "to_text", "format_exc"}
TEXT_METHODS = {"lower", "upper", "casefold", "strip", "splitlines"}
TEST_METHODS = {"startswith", "endswith", "find", "index", "count", "search", "match", "fullmatch", "findall"}


def _is_message_text(node, error_names):
    """Whether ``node`` is (a transformation of) an error's message text."""
    while True:
        if isinstance(node, ast.Subscript):
            node = node.value
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in TEXT_METHODS:
            node = node.func.value
        else:
            break
    if isinstance(node, ast.Attribute) and node.attr in MESSAGE_ATTRIBUTES:
        return True
    if isinstance(node, ast.Attribute) and node.attr in ERROR_ATTRIBUTES:
        return isinstance(node.value, ast.Name) and node.value.id in error_names
    if isinstance(node, ast.Call) and _called_name(node) in TEXT_CALLS and node.args:
        inner = node.args[0]
        return (isinstance(inner, ast.Name) and inner.id in error_names) or _is_message_text(inner, error_names)
    return False


def python_message_decisions(source):
    """Lines comparing, searching or testing an error's message text."""
    tree = ast.parse(source)
    error_names = {h.name for h in ast.walk(tree) if isinstance(h, ast.ExceptHandler) and h.name}
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and any(isinstance(op, (ast.In, ast.NotIn, ast.Eq, ast.NotEq))
                                                 for op in node.ops):
            if any(_is_message_text(side, error_names) for side in [node.left] + node.comparators):
                found.add(node.lineno)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in TEST_METHODS:
            # str(err).startswith(...), re.search(pattern, str(err))
            if _is_message_text(node.func.value, error_names) or \
                    any(_is_message_text(arg, error_names) for arg in node.args):
                found.add(node.lineno)
    return sorted(found)


# In roles: a condition on a registered result's msg (its presence, its text).
_MSG = r"""[\w.]+(?:\.msg\b|\[['"]msg['"]\])"""
YAML_MESSAGE_DECISIONS = re.compile("|".join([
    _MSG + r"\s+is\s+(?:not\s+)?(?:defined|undefined|search|match|regex|none)",
    _MSG + r"\s*(?:==|!=)",
    r"(?:==|!=)\s*" + _MSG,
    r"\bin\s+" + _MSG,
    _MSG + r"\s*\|\s*(?:regex_search|regex_findall|length)",
    _MSG + r"\.(?:startswith|endswith|find)\(",
    r"\bin\s+[\w.]+\.error_params\b",
    r"\.error_params\b[^\n]*\bis\s+(?:search|match|regex)",
]))


def yaml_message_decisions(text):
    """Lines of a role's YAML deciding on a result's msg."""
    return [number for number, line in enumerate(text.splitlines(), 1)
            if not line.lstrip().startswith("#") and YAML_MESSAGE_DECISIONS.search(line)]


def test_message_decision_checks_find_planted_ones():
    python = (
        "try:\n"
        "    call()\n"
        "except xmlrpclib.Fault as fault:\n"
        "    if 'session' in str(fault.faultString).lower():\n"      # 4
        "        pass\n"
        "except Exception as err:\n"
        "    if 'CERTIFICATE' in str(err).upper():\n"                # 7
        "        pass\n"
        "    if str(err).startswith('HTTP'):\n"                      # 9
        "        pass\n"
        "    if re.search('denied', str(err)):\n"                    # 11
        "        pass\n"
        "    if err.args[0] == 'x':\n"                                # 13
        "        pass\n"
        "    if 'Unable' in err.params[1]:\n"                         # 15
        "        pass\n"
        "    if err.code == 'SESSION_INVALID' or '/' in str(value):\n"
        "        raise XenServerError('%s' % err, code=err.code)\n"
    )
    assert python_message_decisions(python) == [4, 7, 9, 11, 13, 15]
    yaml_text = (
        "- name: Fail naming the step\n"
        "  when: __result.msg is defined\n"                          # 2
        "- name: Branch on text\n"
        "  when: \"'Unable to find' in __result.msg\"\n"             # 4
        "- when: __result['msg'] is search('kernel')\n"              # 5
        "- when: __result.msg == 'x'\n"                              # 6
        "- when: \"'kernel' in __result.error_params | join\"\n"       # 7
        "- when: __result.error_code is defined\n"
        "- ansible.builtin.fail:\n"
        "    msg: \"{{ __result.msg }}\"\n"
        "  # when: __result.msg is defined (a comment)\n"
    )
    assert yaml_message_decisions(yaml_text) == [2, 4, 5, 6, 7]


def test_nothing_decides_on_message_text():
    found = {}
    for path, text in _sources("plugins"):
        lines = python_message_decisions(text)
        if lines:
            found[path] = lines
    for ext in (".yml", ".yaml"):
        for path, text in _sources("roles", ext=ext):
            lines = yaml_message_decisions(text)
            if lines:
                found[path] = lines
    unexpected = ["%s:%d" % (path, line) for path, lines in sorted(found.items()) for line in lines]
    assert not unexpected, "decisions on an error's message text (decide on its code): %s" % unexpected


# --- at run time ------------------------------------------------------------------------------

def test_option_failures_carry_error_code(pool, run_module):
    # Ansible's own check of the options (a choice), then the module's own.
    result = run_module("vm_power", name="x", state="sideways")
    assert result["failed"] and result["error_code"] == "INVALID_INPUT", result
    result = run_module("vm_info")
    assert result["failed"] and result["error_code"] == "INVALID_INPUT", result
    result = run_module("vm_info", connection=False, hostname="http://127.0.0.1:1", password="x", reconnect_timeout=0)
    assert result["failed"] and result["error_code"] == "INVALID_INPUT", result


def test_a_failure_reported_as_text_keeps_the_code_of_its_error(pool, run_module):
    # vm_power reports _power.plan's refusal as "VM '...': <its text>"; its code still comes through.
    pool.provisioned_vm("cold", "CentOS 5 (64-bit)")
    result = run_module("vm_power", name="cold", state="suspended")
    assert result["failed"] and "cannot be suspended" in result["msg"]
    assert result["error_code"] == "VM_BAD_POWER_STATE", result


def test_relogin_is_decided_by_the_code_not_the_fault_text(pool, monkeypatch):
    from ansible_collections.xenserver.provisioning.plugins.module_utils import _client

    client = _client.XenServerClient(pool.url, "root", "xenroot", backoff=0.0).connect()
    try:
        def fault_saying_session(method, args):
            client.session.last_error_code = None       # no SESSION_INVALID answer behind it
            raise xmlrpclib.Fault(500, "the session helper broke")
        monkeypatch.setattr(client, "_invoke", fault_saying_session)
        with pytest.raises(_client.XenServerError) as caught:
            client.call("pool.get_all")
        assert caught.value.code == "XMLRPC_FAULT" and client.relogins == 0

        def sdk_gave_up(method, args):
            client.session.last_error_code = "SESSION_INVALID"
            raise xmlrpclib.Fault(500, "Tried 3 times to get a valid session, but failed")
        monkeypatch.setattr(client, "_invoke", sdk_gave_up)
        with pytest.raises(_client.XenServerError) as caught:
            client.call("pool.get_all")
        assert caught.value.code == "SESSION_INVALID" and client.relogins == 2
    finally:
        monkeypatch.undo()
        client.logout()
