import { strict as assert } from 'node:assert';
import { probeCode } from '../../lib/cli/kernel-mode-probe';
import { guestBinary } from '../guests/build';

describe('kernel-mode probe guest', () => {
  it('embeds exactly the bytes test/guests/kernel-mode-probe.S assembles to', () => {
    assert.deepEqual(Array.from(probeCode()), Array.from(guestBinary('kernel-mode-probe')));
  });
});
