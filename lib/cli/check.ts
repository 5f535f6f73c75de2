// `node-vmm check`: can this host run VMs? Reports /dev/kvm access, the API version, each capability and
// whether guest kernel mode runs natively or emulated.
import { KvmCap, KvmCapName, REQUIRED_CAPABILITIES } from '../kvm/constants';
import { VmmError } from '../kvm/errors';
import { Kvm } from '../kvm/kvm';
import { EXIT_FAILURE, EXIT_OK, type CliCommand } from './command';
import { EMULATED_NS_PER_ITERATION, probeKernelMode } from './kernel-mode-probe';

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

/** The timed kernel-mode probe as a check line (informative: both answers are usable hosts). */
export async function checkKernelMode(path?: string): Promise<CheckLine> {
  try {
    const probe = await probeKernelMode(path);
    const timing = `${probe.nsPerIteration.toFixed(probe.nsPerIteration < 10 ? 2 : 0)} ns per loop iteration`;
    if (probe.native) return { ok: true, what: `guest kernel mode runs natively (${timing})` };
    return {
      ok: true,
      what: `guest kernel mode is emulated (${timing}, over ${EMULATED_NS_PER_ITERATION} ns)`,
      advice: 'KVM here emulates guest ring 0 (e.g. nested PVM): Linux guests boot ~1000x slower; the bundled guest keeps ring-0 work small and runs its programs in ring 3',
    };
  } catch (error) {
    return { ok: false, what: 'guest kernel-mode probe', advice: error instanceof Error ? error.message : String(error) };
  }
}

/** Prints the check lines; resolves with EXIT_OK when every line is ok. */
async function runCheck(): Promise<number> {
  const lines = checkHost();
  if (lines.every((l) => l.ok)) lines.push(await checkKernelMode());
  for (const line of lines) {
    console.log(`${line.ok ? 'ok  ' : 'FAIL'} ${line.what}`);
    if (line.advice) console.log(`     ${line.advice}`);
  }
  return lines.every((l) => l.ok) ? EXIT_OK : EXIT_FAILURE;
}

export const CHECK_COMMAND: CliCommand = {
  name: 'check',
  summary: 'report whether KVM is usable here, and whether guest kernel mode runs natively',
  usage: '[options]',
  description: `Reports /dev/kvm access, the KVM API version and each capability node-vmm uses, then times a
ring-0 loop in a tiny guest to say whether guest kernel mode runs natively or is emulated (nested PVM).
Each line starts with 'ok' or 'FAIL'; a FAIL line is followed by what to do about it.`,
  options: [],
  example: 'npx node-vmm check',
  notes: `exit status: ${EXIT_OK} when every line is ok, ${EXIT_FAILURE} when any failed.
`,
  run: runCheck,
};
