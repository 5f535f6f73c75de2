import { strict as assert } from 'node:assert';
import { checkKernelMode } from '../../lib/cli/check';
import { EMULATED_NS_PER_ITERATION, probeKernelMode } from '../../lib/cli/kernel-mode-probe';
import { requireKvm } from '../helpers/kvm';

describe('kernel-mode probe (real KVM)', function () {
  before(function () {
    requireKvm(this);
  });

  it('times the ring-0 loop and classifies it by the threshold', async () => {
    const probe = await probeKernelMode();
    console.log(`      ${probe.nsPerIteration.toFixed(2)} ns per iteration: ${probe.native ? 'native' : 'emulated'}`);
    assert.ok(Number.isFinite(probe.nsPerIteration) && probe.nsPerIteration > 0);
    assert.equal(probe.native, probe.nsPerIteration < EMULATED_NS_PER_ITERATION);
  });

  it('reports as a check line', async () => {
    const line = await checkKernelMode();
    assert.equal(line.ok, true);
    assert.match(line.what, /^guest kernel mode (runs natively|is emulated) \(\d+(\.\d+)? ns per loop iteration/);
  });
});
