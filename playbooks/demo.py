"""`make demo` (for now): start the simulator, install one guest the SDK way, show it."""
import XenAPI

from xapisim.embedded import embedded


def main():
    with embedded() as pool:
        print("simulator listening on %s" % pool.url)
        session = XenAPI.Session(pool.url)
        session.xenapi.login_with_password("root", "xenroot", "1.0", "make-demo")
        api = session.xenapi
        template = api.VM.get_by_name_label("CentOS 5 (64-bit)")[0]
        vm = api.VM.clone(template, "demo-centos")
        sr_uuid = api.SR.get_uuid(api.SR.get_by_name_label("Local storage")[0])
        disks = api.VM.get_other_config(vm)["disks"].replace('sr=""', 'sr="%s"' % sr_uuid)
        api.VM.remove_from_other_config(vm, "disks")
        api.VM.add_to_other_config(vm, "disks", disks)
        api.VM.add_to_other_config(vm, "install-repository", "http://127.0.0.1/centos5")
        api.VM.provision(vm)
        api.VM.start(vm, False, True)
        record = api.VM.get_record(vm)
        print("%-14s %-10s domid=%s bootloader=%s" % (
            record["name_label"], record["power_state"], record["domid"], record["PV_bootloader"]))
        session.xenapi.session.logout()


if __name__ == "__main__":
    main()
