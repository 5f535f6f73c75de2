// VM and vCPU handles made in workers that are terminated at random moments, as a Machine's vCPU
// workers can be: the VM fd, the vCPU fd and its kvm_run mapping are released on every path.
import { strict as assert } from 'node:assert';
import { requireKvm } from '../helpers/kvm';
import { terminateWhileCreating } from '../helpers/terminated-workers';

describe('VM and vCPU handles in terminated workers (real KVM)', function () {
  before(function () {
    requireKvm(this);
  });

  it('leave no VM or vCPU fd and no kvm_run mapping behind', async function () {
    this.timeout(120_000);
    const run = await terminateWhileCreating(
      `(addon, state) => {
        state.kvm ??= addon.openKvm();
        const vm = addon.createVm(state.kvm.fd);
        const vcpu = addon.createVcpu(state.kvm.fd, vm.fd, 0);
        vcpu.runBuffer;
        vcpu.close();
        vm.close();
      }`,
      { workers: 30, maxMs: 30, seed: 0x5e1f, mappingName: 'kvm-vcpu' },
    );
    console.log(
      `      ${run.workers} workers terminated after ${run.iterations} VMs in all; fds ${run.fdsBefore} -> ${run.fdsAfter}; ` +
        `kvm_run mappings left ${run.namedMappingsAfter}`,
    );
    assert.ok(run.iterations > run.workers, 'the workers were busy creating when terminated');
    assert.equal(run.fdsAfter, run.fdsBefore);
    assert.equal(run.namedMappingsAfter, 0);
  });
});
