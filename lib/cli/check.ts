// `node-vmm check`: can this host run VMs? Reports /dev/kvm access, the API version and each capability.
import { KvmCap, KvmCapName, REQUIRED_CAPABILITIES } from '../kvm/constants';
import { VmmError } from '../kvm/errors';
import { Kvm } from '../kvm/kvm';

export interface CheckLine {
  ok: boolean;
  what: string;
  advice?: string;
}

export function checkHost(path?: string): CheckLine[] {
  const lines: CheckLine[] = [];
  let kvm: Kvm;
  try {
    kvm = Kvm.open(path);
  } catch (error) {
    const message = error instanceof VmmError ? error.message : String(error);
    return [{ ok: false, what: 'open /dev/kvm', advice: message }];
  }
  try {
    lines.push({ ok: true, what: `open ${kvm.path}` });
    lines.push({ ok: true, what: `KVM API version ${kvm.apiVersion}` });
    for (const name of Object.keys(KvmCap) as KvmCapName[]) {
      const present = kvm.hasCapability(name);
      const required = REQUIRED_CAPABILITIES.includes(name);
      lines.push({
        ok: present || !required,
        what: `KVM_CAP_${name}: ${present ? 'yes' : 'no'}${required ? ' (required)' : ''}`,
        ...(present || !required ? {} : { advice: 'node-vmm needs this capability: use a newer host kernel' }),
      });
    }
  } finally {
    kvm.close();
  }
  return lines;
}
