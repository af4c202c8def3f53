# -*- coding: utf-8 -*-
# Copyright (c) xenserver.provisioning contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE: internal to xenserver.provisioning; not a public API.

"""A VM's life as the ``vm`` module sees it: find it, create it from a template (or copy a
VM), bring it to the wanted configuration, remove it with the disks only it owns.

Create is ``xe vm-install``'s sequence: clone (or full copy) -> place the template's
provisioning disks on an SR (other_config:disks has sr="") -> provision (which also makes the
clone a VM: is_a_template false) -> configure. Everything the run needs to know (template,
SRs, networks, sizes) is looked up and checked before the clone, so bad input changes
nothing; if a step after the clone fails, the half-made VM is removed again.

A new VM is called PROVISIONAL (``<name> [xenserver.provisioning: being created]``) from the
clone until it is complete, and renamed as the last step. So a VM named ``<name>`` is always
a finished one; a half-made one (a failure whose clean-up failed too, a lost connection) is
found by its provisional name, by the next run, and removed before creating again; and when
the answer to the clone (or copy) is lost, the VM it made is found under that name instead of
being cloned twice.

A run that creates or removes a VM by name holds the pool-wide claim on that name (``_claim``)
from a second lookup to the end, so two runs never make one VM twice: the second waits for
the first, then looks again and converges the first one's VM as a rerun would. A run that
finds its VM as it should be never needs the claim.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import uuid

from ansible_collections.xenserver.provisioning.plugins.module_utils import _claim
from ansible_collections.xenserver.provisioning.plugins.module_utils import _power
from ansible_collections.xenserver.provisioning.plugins.module_utils import _xenstore
from ansible_collections.xenserver.provisioning.plugins.module_utils import _vm_removal
from ansible_collections.xenserver.provisioning.plugins.module_utils import _vm_config as config
from ansible_collections.xenserver.provisioning.plugins.module_utils._client import NOT_DONE, NULL_REF, XenServerError
from ansible_collections.xenserver.provisioning.plugins.module_utils._module import ChangeSet
from ansible_collections.xenserver.provisioning.plugins.module_utils._records import VM_CLASSES, Records
from ansible_collections.xenserver.provisioning.plugins.module_utils._vm import find_vm, nearest_template_names

# other_config keys xapi drops on clone (xapi_vm_clone.ml) and on provision (post_install).
DROPPED_BY_CLONE = ("default_template", "xensource_internal")
DROPPED_BY_PROVISION = ("disks", "postinstall")
# The name of a VM being created (see the module docstring).
PROVISIONAL = "%s [xenserver.provisioning: being created]"


# --- finding the VM and its source -------------------------------------------------------------

def _plain(*texts):
    return all('"' not in t for t in texts if t)


def _target_clause(name, uuid):
    if uuid:
        return 'field "uuid"="%s"' % uuid
    return ('field "name__label"="%s" and field "is_a_template"="false" and '
            'field "is_a_snapshot"="false" and field "is_control_domain"="false"' % name)


def _source_clause(name, uuid):
    if uuid:
        return 'field "uuid"="%s"' % uuid
    return 'field "name__label"="%s" and field "is_a_snapshot"="false" and field "is_control_domain"="false"' % name


def _one(matches, what):
    if len(matches) > 1:
        raise XenServerError("%d %s (uuids: %s); name the one you mean by uuid" % (
            len(matches), what, ", ".join(sorted(r["uuid"] for _ref, r in matches))), code="AMBIGUOUS")
    return matches[0] if matches else (None, None)


def _pick_target(found, name, uuid):
    if uuid:
        matches = [(r, v) for r, v in found.items() if v["uuid"] == uuid]
        if matches and matches[0][1]["is_a_template"]:
            raise XenServerError("uuid %s is a template, not a VM" % uuid, code="INVALID_OPTION")
        return _one(matches, "")
    matches = [(r, v) for r, v in found.items() if v["name_label"] == name and not v["is_a_template"]
               and not v["is_a_snapshot"] and not v["is_control_domain"]]
    return _one(matches, "VMs are named '%s'" % name)


def _pick_source(found, name, uuid):
    """The template (or, failing one, the halted VM) to create from."""
    if uuid:
        matches = [(r, v) for r, v in found.items() if v["uuid"] == uuid and not v["is_control_domain"]]
        return _one(matches, "")
    candidates = [(r, v) for r, v in found.items() if v["name_label"] == name
                  and not v["is_a_snapshot"] and not v["is_control_domain"]]
    templates = [(r, v) for r, v in candidates if v["is_a_template"]]
    if templates:
        return _one(templates, "templates are named '%s'" % name)
    return _one(candidates, "VMs are named '%s'" % name)


def lookup(client, p):
    """((ref, record) of the VM, the records that may be its source): one call.

    The VM and the template are looked up in the same get_all_records_where; the VM is
    (None, None) when missing. Which record is the source is decided only when creating
    (``pick_source``), so a template name that became ambiguous does not matter to a VM
    that exists already.
    """
    name, uuid = p.get("name"), p.get("uuid")
    source_name, source_uuid = p.get("template"), p.get("template_uuid")
    wants_source = p["state"] == "present" and bool(source_name or source_uuid)
    # Half-made VMs of earlier runs (PROVISIONAL) come back from the same call.
    provisional = PROVISIONAL % name if name and not uuid else None
    if not _plain(name, source_name):
        # The where-grammar has no escapes: such names go through get_by_name_label.
        target = find_vm(client, name=name, uuid=uuid)
        found = {}
        if target[0] is None:
            refs = []
            if wants_source:
                refs = ([client.call("VM.get_by_uuid", source_uuid)] if source_uuid
                        else client.call("VM.get_by_name_label", source_name))
            if provisional:
                refs += client.call("VM.get_by_name_label", provisional)
            for ref in refs:
                found[ref] = client.call("VM.get_record", ref)
        return target, found
    clauses = [_target_clause(name, uuid)]
    if wants_source:
        clauses.append(_source_clause(source_name, source_uuid))
    if provisional:
        clauses.append('field "name__label"="%s" and field "is_a_snapshot"="false"' % provisional)
    found = client.call("VM.get_all_records_where", " or ".join("(%s)" % c for c in clauses))
    return _pick_target(found, name, uuid), found


def leftovers(found, name):
    """(ref, record) of the half-made VMs an earlier run left under the provisional name."""
    if not name:
        return []
    return sorted(((r, v) for r, v in found.items() if v["name_label"] == PROVISIONAL % name),
                  key=lambda item: item[1]["uuid"])


def remove_leftovers(xs, records, changes, found, holder=None):
    """Remove the half-made VMs of earlier runs (with the disks only they own); their disks."""
    client = xs.client
    removed = []
    for ref, record in leftovers(found, xs.params.get("name")):
        changes.action("remove '%s' (%s), a VM an earlier run left half-made" % (record["name_label"], record["uuid"]))
        removal = _vm_removal.plan(records, ref, record)
        removal.describe(changes)
        removed.extend(removal.removed_disks())
        if xs.check_mode:
            continue
        if record["power_state"] != "Halted":
            _power.apply(client, ref, record["name_label"], _power.plan(record["power_state"], "halted", force=True),
                         xs.params["shutdown_timeout"])
        _vm_removal.apply(client, removal, holder)
    return removed


def remove_stale_disks(xs, changes, held):
    """Remove the disks dead holders of the claim made and no VBD uses; returns them."""
    found = _claim.stale_disks(xs.client, held.stale_requests)
    removed = []
    for ref, vdi in sorted(found.items(), key=lambda item: item[1]["uuid"]):
        changes.action("destroy disk '%s' (%s), left by a run that died" % (vdi["name_label"], vdi["uuid"]))
        removed.append(dict(uuid=vdi["uuid"], name=vdi["name_label"], size=int(vdi["virtual_size"]), userdevice=""))
        xs.client.call("VDI.destroy", ref)
    return removed


def source_not_found(client, p):
    """The error for a template (or template_uuid) that names nothing; a name's message lists
    the pool's nearest template names (one more call, on this failure only)."""
    if p.get("template_uuid"):
        what = "with uuid '%s' (template_uuid)" % p["template_uuid"]
    else:
        nearest = nearest_template_names(client, p["template"])
        what = "named '%s' (template); %s" % (p["template"], "did you mean %s?" % ", ".join(
            "'%s'" % n for n in nearest) if nearest else "vm_info with templates=true lists the pool's templates")
    return XenServerError("cannot create VM '%s': there is no template or VM %s" % (p["name"], what),
                          code="TEMPLATE_NOT_FOUND")


def pick_source(found, p):
    """(ref, record) of the template (or halted VM) to create from, or (None, None)."""
    if not (p.get("template") or p.get("template_uuid")):
        return None, None
    return _pick_source(found, p.get("template"), p.get("template_uuid"))


# --- present -------------------------------------------------------------------------------------

def update(xs, records, changes, ref, record):
    """Bring an existing VM to the wanted configuration; returns its facts."""
    p, client = xs.params, xs.client
    records.put("VM", {ref: record})
    records.vm_devices(ref)
    ctx = config.VMContext(client, records, ref, record, p)
    handlers = config.plan(ctx, changes)
    problem = config.halt_problem(ctx, changes)
    restart = False
    if problem:
        if not (ctx.running and p["restart_if_needed"]):
            raise XenServerError(problem, code="VM_NEEDS_HALT")
        restart = True
        changes.action("shut VM '%s' down, apply the changes that need it halted, start it again" % ctx.name)
    if xs.check_mode or not changes.changed:
        return records.facts(ref)
    if restart:
        _power.apply(client, ref, ctx.name, _power.plan("running", "halted", force=p["force"]),
                     p["shutdown_timeout"], fallback=p["hard_shutdown_fallback"])
        ctx.power = "Halted"
        try:
            handlers.apply()
        except XenServerError as err:
            _restart_after_failure(client, ref, ctx.name, err, p)
            raise
        _power.apply(client, ref, ctx.name, ["start"], p["shutdown_timeout"])
    else:
        handlers.apply()
    records.forget(*VM_CLASSES)
    records.vm_devices(ref)
    return records.facts(ref)


def _restart_after_failure(client, ref, name, err, p):
    try:
        _power.apply(client, ref, name, ["start"], p["shutdown_timeout"])
    except XenServerError as start_err:
        raise XenServerError("%s; VM '%s' was shut down for the change and could not be started again: %s"
                             % (err, name, start_err), code=err.code, params=err.params)


def cloned_other_config(source):
    """The other_config a clone (or copy) of ``source`` gets, but for its new random mac_seed:
    the source's, without the keys xapi drops, with base_template_name added for a template
    (xapi_vm_clone.ml copy_vm_record)."""
    other = dict(source["other_config"])
    for key in DROPPED_BY_CLONE:
        other.pop(key, None)
    if source["is_a_template"] and "base_template_name" not in other:
        other["base_template_name"] = source["name_label"]
    return other


def predict(source, name):
    """The record a clone (or copy) of ``source`` will have after provisioning."""
    record = dict(source)
    other = cloned_other_config(source)
    if source["is_a_template"]:
        for key in DROPPED_BY_PROVISION:
            other.pop(key, None)
    record.update(name_label=name, is_a_template=False, power_state="Halted", other_config=other)
    return record


def _write_other_config(client, ref, source, xml, other_handler):
    """The clone's other_config in ONE call (VM.set_other_config) when it has to change: the
    provisioning XML placed on SRs and the other_config entries asked for. The clone's map is
    known exactly (``cloned_other_config``) but for mac_seed, a random seed xapi gives every
    clone: a fresh one of ours is as good, and no MAC was made from xapi's yet (the source has
    no VIFs on this path). Nobody else writes the map of a VM this run is creating (it has
    its provisional name, under the claim). Returns True when it wrote (``other_handler`` has
    nothing left to apply then)."""
    sets, removes = other_handler.to_set, other_handler.to_remove
    xml_changes = xml is not None and xml != source["other_config"].get("disks")
    if not (xml_changes or sets or removes):
        return False
    other = cloned_other_config(source)
    other["mac_seed"] = str(uuid.uuid4())
    if xml is not None:
        other["disks"] = xml
    for key in removes:
        other.pop(key, None)
    other.update(sets)
    client.call("VM.set_other_config", ref, other)
    other_handler.to_set, other_handler.to_remove = {}, []
    return True


def create_vm(xs, records, changes, found, holder=None):
    """Create the VM from the source among ``found``; returns its ref (None in check mode).
    Its facts are the caller's to read, after what it does next (``Records.read_changes``).
    ``holder``: the request id of the claim this run holds (disks made apart from the VM's
    provisioning are marked with it)."""
    p, client = xs.params, xs.client
    if p.get("uuid"):
        raise XenServerError("no VM has uuid '%s'; to create a VM give its name, not a uuid (XenServer "
                             "chooses a new VM's uuid)" % p["uuid"], code="NOT_FOUND")
    source_ref, source = pick_source(found, p)
    if source_ref is None:
        if not (p.get("template") or p.get("template_uuid")):
            raise XenServerError("VM '%s' does not exist; give template (or template_uuid) to create it"
                                 % p["name"], code="NOT_FOUND")
        raise source_not_found(client, p)
    source_name = source["name_label"]
    if source["power_state"] != "Halted":
        raise XenServerError("cannot create VM '%s' from '%s': it is %s, and XenServer clones and copies only "
                             "halted VMs" % (p["name"], source_name, source["power_state"].lower()),
                             code="VM_BAD_POWER_STATE")
    is_template = source["is_a_template"]
    has_devices = bool(source["VBDs"] or source["VIFs"])
    xml_disks = config.parse_provision(source["other_config"].get("disks")) if is_template else None
    if has_devices and (p.get("disks") or p.get("networks")):
        records.put("VM", {source_ref: source})
        records.vm_devices(source_ref)
    ctx = config.VMContext(client, records, source_ref, predict(source, p["name"]), p, creating=True,
                           xml_disks=xml_disks)
    ctx.markers = {_claim.HOLDER_KEY: holder} if holder else {}
    full = p["full_copy"]
    changes.compare("state", "absent", "present")
    changes.action("%s '%s' as VM '%s'" % ("copy" if full else "clone", source_name, p["name"]))
    handlers = config.plan(ctx, changes)
    xml = None
    if xml_disks:
        xml = ctx.provision_xml()
        changes.action("provision %d disk(s) from the template" % len(xml_disks))
    copy_sr = ctx.sr(None)[0] if full and p.get("sr") else NULL_REF
    remove_leftovers(xs, records, changes, found, holder)
    if xs.check_mode:
        return None
    provisional = PROVISIONAL % p["name"]
    gone = set(ref for ref, _record in leftovers(found, p["name"]))
    if full:
        ref = client.run_async("VM.copy", source_ref, provisional, copy_sr,
                               recover=_find_copy(client, provisional, gone))
    else:
        ref = client.call("VM.clone", source_ref, provisional, recover=_find_made(client, provisional, gone))
    try:
        ctx.ref = ref
        if has_devices:
            if xml is not None and xml != source["other_config"].get("disks"):
                if "disks" in source["other_config"]:
                    client.call("VM.remove_from_other_config", ref, "disks")
                client.call("VM.add_to_other_config", ref, "disks", xml)
        else:
            _write_other_config(client, ref, source, xml, handlers.handler(config.OtherConfigHandler))
        if is_template:
            # Makes the disks and sets is_a_template false (xapi's Xapi_vm.provision).
            client.call("VM.provision", ref, recover=_provisioned(client, ref))
        if has_devices:
            # The clone's own VBDs/VIFs (new refs, new MACs): plan again against them.
            records.put("VBD", client.call("VBD.get_all_records_where", 'field "VM"="%s"' % ref))
            records.vm_devices(ref)
            ctx = config.VMContext(client, records, ref, records.get(ref), p, creating=True)
            ctx.markers = {_claim.HOLDER_KEY: holder} if holder else {}
            handlers = config.plan(ctx, ChangeSet())
        handlers.apply()
        _write_xenstore_data(client, ref, source, p)
        _finish_created(client, records, ref, ctx, xml_disks)
        # Complete: the VM gets its name (the last step, see the module docstring).
        client.call("VM.set_name_label", ref, p["name"])
        return ref
    except XenServerError as err:
        raise _discard(client, ref, p["name"], err, holder)


def _find_made(client, provisional, gone):
    """recover for a clone whose answer was lost: the VM it made, found by its provisional name."""
    def find():
        refs = [r for r in client.call("VM.get_by_name_label", provisional) if r not in gone]
        if len(refs) > 1:
            raise XenServerError("the answer to the clone was lost and %d VMs are named '%s'; remove them "
                                 "and run again" % (len(refs), provisional), code="AMBIGUOUS")
        return refs[0] if refs else NOT_DONE
    return find


def _find_copy(client, provisional, gone):
    """recover for a copy whose answer (its task) was lost: wait for copies still running,
    then look for the VM by its provisional name."""
    def find():
        running = client.call("task.get_all_records_where",
                              'field "name__label"="Async.VM.copy" and field "status"="pending"')
        for task in running:
            try:
                client.wait_for("task", task, lambda t: t["status"] != "pending", client.timeout,
                                what="a copy whose answer was lost")
            except XenServerError as err:
                if err.code != "TASK_LOST":
                    raise
        return _find_made(client, provisional, gone)()
    return find


def _provisioned(client, ref):
    """recover for a provision whose answer was lost: done if the VM is no longer a template."""
    def check():
        return "" if not client.call("VM.get_is_a_template", ref) else NOT_DONE
    return check


def _created_hints(ctx):
    """(cls, ref) of the devices a create made that the VM's first read should include."""
    return [("VIF", r) for r in ctx.created_vifs] + [("VTPM", r) for r in ctx.created_vtpms]


def _write_xenstore_data(client, ref, source, p):
    """The new VM's vm-data keys in ONE call: the whole map (the source's, which the clone
    copied, with the keys asked for) is safe to write on a VM only this run knows yet."""
    wanted = p.get("xenstore_data")
    if not wanted and not p.get("xenstore_data_exclusive"):
        return
    new = _xenstore.plan(source["xenstore_data"], wanted, exclusive=p.get("xenstore_data_exclusive"))
    if new != source["xenstore_data"]:
        client.call("VM.set_xenstore_data", ref, new)


def _finish_created(client, records, ref, ctx, xml_disks):
    """What provisioning leaves to do: the names asked for its disks. (VM.provision also
    clears is_a_template, first thing, xapi_vm.ml.) The disks it made are attached to the
    provisional VM, so a run that dies now leaves them to the next run's clean-up with it."""
    named = [e for e in xml_disks or [] if e.get("_name")]
    if not named:
        return
    records.forget(*VM_CLASSES)
    records.put("VBD", client.call("VBD.get_all_records_where", 'field "VM"="%s"' % ref))
    records.vm_devices(ref, hints=_created_hints(ctx))
    for entry in named:
        for vbd in records.vbds_of(ref).values():
            vdi = records.get(vbd["VDI"]) if vbd["VDI"] != NULL_REF else None
            if vbd["userdevice"] == entry["device"] and vdi and vdi["name_label"] != entry["_name"]:
                client.call("VDI.set_name_label", vbd["VDI"], entry["_name"])
                vdi["name_label"] = entry["_name"]


def _discard(client, ref, name, err, holder=None):
    """Remove a half-made VM (and the disks only it owns) after ``err``; the error to raise."""
    try:
        removal = _vm_removal.plan(Records(client), ref, client.call("VM.get_record", ref))
        _vm_removal.apply(client, removal, holder)
    except XenServerError as cleanup:
        return XenServerError("%s; the partly created VM '%s' (%s) could not be removed: %s"
                              % (err, name, ref, cleanup), code=err.code, params=err.params)
    return XenServerError("%s (the partly created VM '%s' was removed again)" % (err, name),
                          code=err.code, params=err.params)


# --- absent --------------------------------------------------------------------------------------

def remove(xs, records, changes, ref, record):
    """Remove the VM, its snapshots (unless keep_snapshots) and the disks only they own;
    returns (removed disks, kept disks, removed snapshots)."""
    p, client = xs.params, xs.client
    name, state = record["name_label"], record["power_state"]
    if state != "Halted" and not p["force"]:
        raise XenServerError("VM '%s' is %s; set force: true to shut it down (hard) and remove it"
                             % (name, state.lower()), code="VM_BAD_POWER_STATE")
    removal = _vm_removal.plan(records, ref, record, p["keep_disks"], p["keep_snapshots"])
    changes.compare("state", "present", "absent")
    if state != "Halted":
        changes.action("hard shutdown of VM '%s' (%s)" % (name, state.lower()))
    changes.action("destroy VM '%s'" % name)
    removal.describe(changes)
    if not xs.check_mode:
        if state != "Halted":
            _power.apply(client, ref, name, _power.plan(state, "halted", force=True), p["shutdown_timeout"])
        _vm_removal.apply(client, removal, what="VM '%s'" % name)
    return removal.removed_disks(), removal.kept_disks(), removal.removed_snapshots()


# --- the module's body ---------------------------------------------------------------------------

def settle(xs, records, changes):
    """Bring the VM to its ``state``: (ref, facts, removed disks, kept disks, removed
    snapshots); ref is None when there is no VM (absent, or check mode of a create), facts
    None for a VM this run creates (or would create), {} after a removal.

    Creating or removing happens under the claim on the VM's name, after a second lookup:
    another run may have made (or removed) the VM meanwhile, and this one then converges it
    as a rerun would. The half-made VMs and the disks of runs that died are removed then.
    """
    p = xs.params
    (ref, record), found = lookup(xs.client, p)
    name = p.get("name") or (record or {}).get("name_label")
    if not _needs_claim(xs, ref, found, name):
        return _settle(xs, records, changes, ref, record, found, None)
    # A create reads the pool (its ref for the claim), its SRs, networks and hosts in one call.
    pool_ref = records.read_pool()[0] if p["state"] == "present" else None
    with _claim.claim(xs.client, "vm", name, pool=pool_ref) as held:
        (ref, record), found = lookup(xs.client, p)
        stale = remove_stale_disks(xs, changes, held) if held.stale_requests else []
        ref, facts, removed, kept, snapshots = _settle(xs, records, changes, ref, record, found, held.request)
        return ref, facts, stale + removed, kept, snapshots


def _needs_claim(xs, ref, found, name):
    """Whether the run creates or removes a VM by name (check mode changes nothing)."""
    if xs.check_mode or not name:
        return False
    if xs.params["state"] == "absent":
        return ref is not None or bool(leftovers(found, name))
    return ref is None and not xs.params.get("uuid")


def _settle(xs, records, changes, ref, record, found, holder):
    if xs.params["state"] == "absent":
        removed, kept, snapshots = [], [], []
        if ref is not None:
            removed, kept, snapshots = remove(xs, records, changes, ref, record)
        removed += remove_leftovers(xs, records, changes, found, holder)
        return None, {}, removed, kept, snapshots
    if ref is None:
        return create_vm(xs, records, changes, found, holder), None, [], [], []
    return ref, update(xs, records, changes, ref, record), [], [], []
