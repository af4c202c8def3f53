"""HVM firmware: an HVM domain (HVM_boot_policy set) boots whatever its disks hold."""


class HvmFirmware:
    def hvm_boot(self, vm, record):
        self.state(vm).update(stage="firmware")
        self._changed()
