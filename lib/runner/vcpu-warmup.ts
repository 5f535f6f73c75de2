// A pooled vCPU worker runs a vCPU's set-up once on a throwaway VM while it waits for its own, so
// that the VM later handed to it does not pay for V8 compiling and warming that code (the state
// structs' encoders, the ioctl wrappers) on the clock. Measured here in fresh pooled workers: the
// first applyVcpuInit of a restored vCPU took 1.4-15 ms, the second on the same vCPU 0.3-0.8 ms.
// The throwaway VM has no PIT, is closed before the worker says it is ready, and is never the one
// a restore or start uses: every timed VM still makes its own KVM_CREATE_VM and vCPU.
import { applyVcpuInit } from '../arch/x86_64/vcpu-init';
import { saveVcpuState } from '../arch/x86_64/vcpu-state';
import { Kvm } from '../kvm/kvm';
import type { Vcpu } from '../kvm/vcpu';
import type { Vm } from '../kvm/vm';

/**
 * Creates a VM with an irqchip and one vCPU, saves the vCPU's state and restores it, then closes all.
 * @returns whether it ran: it is only a speed-up, so a host where any step fails (no /dev/kvm, say)
 *   leaves the worker as it was and the vCPU it gets is set up cold.
 */
export function warmVcpuSetUp(): boolean {
  let kvm: Kvm | undefined;
  let vm: Vm | undefined;
  let vcpu: Vcpu | undefined;
  try {
    kvm = Kvm.open();
    vm = kvm.createVm();
    vm.createIrqchip();
    vcpu = vm.createVcpu(0);
    applyVcpuInit(vcpu, { restore: saveVcpuState(vcpu, kvm.msrIndexList()) });
    return true;
  } catch {
    return false;
  } finally {
    vcpu?.close();
    vm?.close();
    kvm?.close();
  }
}
