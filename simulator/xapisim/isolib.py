"""An ISO library SR (``xapisim serve --iso-dir DIR``): the *.iso files of a directory.

As a pool's ISO SR (NFS or SMB, or a local one made with ``xe sr-create type=iso
content-type=iso device-config:location=DIR device-config:legacy_mode=true``): SR type "iso",
content_type "iso", shared; one PBD per host whose device_config names the directory; one VDI
per file, its ``location`` the file name, sized as the file. The VDIs' contents are the files
themselves (``file_of``; vdi_store.contents_path is where the guests and GET /export_raw_vdi
read any VDI): nothing is copied. Each start rescans
the directory (SM's ISO SR scan): new files get a VDI, the VDI of a file that is gone goes
unless a VBD still holds it.
"""
import os

from .db import new_uuid

NAME = "ISO library"


def attach(sim, directory):
    """Create (or rescan) the ISO library SR for ``directory``; returns its ref."""
    directory = os.path.abspath(directory)
    if not os.path.isdir(directory):
        raise ValueError("--iso-dir: no such directory: %s" % directory)
    db = sim.db
    with db.lock:
        sr = _find(db, directory)
        if sr is None:
            sr = db.create("SR", uuid=new_uuid(), name_label=NAME, type="iso", content_type="iso",
                           shared=True, physical_size=0, physical_utilisation=0, virtual_allocation=0,
                           other_config={"auto-scan": "true"}, sm_config={"iso_type": "legacy"})
            for host in db.all("host"):
                db.create("PBD", uuid=new_uuid(), SR=sr, host=host, currently_attached=True,
                          device_config={"location": directory, "legacy_mode": "true"})
        _scan(db, sr, directory)
    db.commit()
    return sr


def file_of(db, record):
    """The file behind the VDI ``record`` of an ISO SR: its ``location`` in the directory a PBD
    of its SR names (device_config ``location``); None when there is none (the tools ISO)."""
    for pbd in db.get("SR", record["SR"])["PBDs"]:
        directory = db.get("PBD", pbd)["device_config"].get("location", "")
        name = os.path.join(directory, record["location"])
        if directory and record["location"] and os.path.isfile(name):
            return name
    return None


def _find(db, directory):
    for ref, record in db.all("SR").items():
        if record["type"] != "iso" or record["is_tools_sr"]:
            continue
        for pbd in record["PBDs"]:
            if db.get("PBD", pbd)["device_config"].get("location") == directory:
                return ref
    return None


def _scan(db, sr, directory):
    files = {name: os.path.getsize(os.path.join(directory, name)) for name in os.listdir(directory)
             if name.lower().endswith(".iso") and os.path.isfile(os.path.join(directory, name))}
    known = {}
    for vdi in list(db.get("SR", sr)["VDIs"]):
        record = db.get("VDI", vdi)
        if record["location"] in files:
            known[record["location"]] = vdi
        elif not record["VBDs"]:
            db.delete("VDI", vdi)
    for name, size in sorted(files.items()):
        values = dict(virtual_size=size, physical_utilisation=size)
        if name in known:
            db.update("VDI", known[name], **values)
        else:
            db.create("VDI", uuid=new_uuid(), name_label=name, SR=sr, type="user", location=name,
                      read_only=False, sharable=True, managed=True, **values)
    total = sum(files.values())
    db.update("SR", sr, physical_size=total, physical_utilisation=total, virtual_allocation=total)
