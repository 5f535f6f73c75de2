// VmExit: how a VirtualMachine ended, a MachineExit plus each vCPU's final registers.
import type { Regs } from '../kvm/structs/regs';
import type { MachineExit } from '../runner/machine-exit';

/**
 * How a VM ended: the reason (with `status` for `exited`, `error` for `fault` and `error`), and each vCPU's final
 * registers.
 */
export interface VmExit extends MachineExit {
  /** Each vCPU's registers when it ended, by vCPU index (undefined where they could not be read). */
  registers: (Regs | undefined)[];
}

export function toVmExit(exit: MachineExit): VmExit {
  const registers: (Regs | undefined)[] = [];
  for (const end of exit.vcpus) registers[end.vcpu] = end.regs;
  return { ...exit, registers };
}

/**
 * A one-line description, e.g. "exited with status 3" or "fault: vCPU 0 ended with ...".
 * @throws Nothing.
 */
export function describeVmExit(exit: MachineExit): string {
  if (exit.reason === 'exited') return `exited with status ${exit.status ?? '?'}`;
  if (exit.error) return `${exit.reason}: ${exit.error.message}`;
  return exit.reason;
}
