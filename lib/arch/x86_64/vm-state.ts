// The VM-wide state a snapshot holds on x86-64: KVM's in-kernel PICs and IOAPIC, its PIT and the
// KVM clock, as the kernel lays them out.
import { ConfigError } from '../../kvm/errors';
import { IrqchipId, type Vm } from '../../kvm/vm';

export interface VmState {
  /** struct kvm_irqchip for the master PIC, the slave PIC and the IOAPIC, in that order. */
  irqchips: Uint8Array[];
  /** struct kvm_pit_state2. */
  pit: Uint8Array;
  /** The KVM clock (ns) when saved: the restored guest's clock goes on from there. */
  clock: bigint;
}

const CHIPS = [IrqchipId.PIC_MASTER, IrqchipId.PIC_SLAVE, IrqchipId.IOAPIC] as const;

export function saveVmState(vm: Vm): VmState {
  return { irqchips: CHIPS.map((chip) => vm.getIrqchip(chip)), pit: vm.getPit2(), clock: vm.getClock().clock };
}

/** Puts a saved state back on a VM that has its irqchip and PIT (before any vCPU runs). */
export function restoreVmState(vm: Vm, state: VmState): void {
  if (!Array.isArray(state.irqchips) || state.irqchips.length !== CHIPS.length) throw new ConfigError(`a saved VM state has ${CHIPS.length} irqchips`);
  for (const chip of state.irqchips) vm.setIrqchip(chip);
  vm.setPit2(state.pit);
  vm.setClock(state.clock);
}
