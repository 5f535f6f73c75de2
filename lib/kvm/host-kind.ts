// What kind of KVM this host has, as far as guests care. Nested PVM (module kvm_pvm) runs guest ring 3
// natively but guest ring 0 in KVM's instruction emulator, which is ~1000x slower and cannot run a few
// instructions at all (design notes). The check is a file test, cheap enough for every VM; `node-vmm
// check` times the difference for real (lib/cli/kernel-mode-probe.ts).
import * as fs from 'node:fs';

const PVM_MODULE = '/sys/module/kvm_pvm';

/** True where KVM emulates guest kernel mode instruction by instruction (nested PVM). */
export function kernelModeEmulated(): boolean {
  return fs.existsSync(PVM_MODULE);
}
