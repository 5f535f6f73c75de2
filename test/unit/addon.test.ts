import { strict as assert } from 'node:assert';
import { KvmIoctlError, KvmUnavailableError } from '../../lib/kvm/errors';
import { Kvm } from '../../lib/kvm/kvm';
import { native } from '../../lib/native/binding';

describe('native addon argument validation', () => {
  const addon = native();

  it('turns a failed open into KvmUnavailableError with advice, keeping errno details', () => {
    assert.throws(() => Kvm.open('/nonexistent/kvm'), (error: unknown) => {
      assert.ok(error instanceof KvmUnavailableError);
      assert.equal(error.reason, 'missing');
      assert.match(error.message, /modprobe/);
      const cause = error.cause as KvmIoctlError;
      assert.ok(cause instanceof KvmIoctlError);
      assert.equal(cause.code, 'ENOENT');
      assert.equal(cause.errno, 2);
      assert.equal(cause.ioctl, 'open');
      return true;
    });
  });

  it('reports ioctl failures with the ioctl name, errno and code', () => {
    const devNull = addon.openKvm('/dev/null');
    try {
      assert.throws(
        () => addon.ioctlValue(devNull.fd, addon.ioctls.values.KVM_GET_API_VERSION as number, 0),
        (error: Error & { syscall?: string; code?: string; errno?: number }) => {
          assert.equal(error.syscall, 'KVM_GET_API_VERSION');
          assert.equal(error.code, 'ENOTTY');
          assert.equal(error.errno, 25);
          assert.match(error.message, /KVM_GET_API_VERSION failed: ENOTTY/);
          return true;
        },
      );
    } finally {
      devNull.close();
    }
  });

  it('rejects wrong argument types and values before any system call', () => {
    const regs = addon.ioctls.structs.KVM_GET_REGS?.id as number;
    assert.throws(() => addon.ioctlStruct(-1, regs, new Uint8Array(144)), RangeError);
    assert.throws(() => addon.ioctlStruct(1.5, regs, new Uint8Array(144)), RangeError);
    assert.throws(() => addon.ioctlStruct('3' as unknown as number, regs, new Uint8Array(144)), TypeError);
    assert.throws(() => addon.ioctlStruct(0, 10_000, new Uint8Array(144)), RangeError);
    assert.throws(() => addon.ioctlStruct(0, regs, {} as Uint8Array), TypeError);
  });

  it('refuses struct buffers of the wrong size, so the kernel never writes past them', () => {
    const regs = addon.ioctls.structs.KVM_GET_REGS?.id as number;
    assert.throws(() => addon.ioctlStruct(0, regs, new Uint8Array(143)), /exactly 144 bytes/);
    const msrs = addon.ioctls.structs.KVM_GET_MSRS?.id as number;
    const lying = new Uint8Array(8 + 16);
    new DataView(lying.buffer).setUint32(0, 2, true);
    assert.throws(() => addon.ioctlStruct(0, msrs, lying), /count × 16/);
    const huge = new Uint8Array(8);
    new DataView(huge.buffer).setUint32(0, 0xffffffff, true);
    assert.throws(() => addon.ioctlStruct(0, msrs, huge), /more than 1024 entries/);
  });

  it('accepts views over SharedArrayBuffers and validates a private copy of them', () => {
    const devNull = addon.openKvm('/dev/null');
    try {
      const regs = addon.ioctls.structs.KVM_GET_REGS?.id as number;
      const shared = new Uint8Array(new SharedArrayBuffer(144));
      assert.throws(() => addon.ioctlStruct(devNull.fd, regs, shared), (error: Error & { syscall?: string }) => error.syscall === 'KVM_GET_REGS');
      assert.throws(() => addon.ioctlStruct(devNull.fd, regs, new DataView(new SharedArrayBuffer(144))), (error: Error & { code?: string }) => error.code === 'ENOTTY');
      const msrs = addon.ioctls.structs.KVM_GET_MSRS?.id as number;
      const lying = new Uint8Array(new SharedArrayBuffer(8 + 16));
      new DataView(lying.buffer).setUint32(0, 2, true);
      assert.throws(() => addon.ioctlStruct(devNull.fd, msrs, lying), /count × 16/);
    } finally {
      devNull.close();
    }
  });

  it('validates guest mapping sizes, ranges and advice', () => {
    assert.throws(() => addon.mapGuestMemory(0), RangeError);
    assert.throws(() => addon.mapGuestMemory(4097), RangeError);
    assert.throws(() => addon.mapGuestMemory(-4096), RangeError);
    assert.throws(() => addon.mapGuestMemory(2n ** 64n - 4096n), RangeError);
    const mapping = addon.mapGuestMemory(8192);
    try {
      assert.throws(() => mapping.createView(4096, 8192), RangeError);
      assert.throws(() => mapping.madvise(1, 4096, addon.constants.madvise.dontneed), RangeError);
      assert.throws(() => mapping.madvise(0, 4096, 9999), RangeError);
      mapping.madvise(0, 4096, addon.constants.madvise.dontneed);
      assert.throws(() => addon.viewGuestMemory(mapping.address + 4096n, 8192), RangeError);
      assert.equal(new Uint8Array(addon.viewGuestMemory(mapping.address + 4096n, 4096)).length, 4096);
    } finally {
      mapping.unmap();
    }
    assert.equal(mapping.unmapped, true);
    assert.throws(() => addon.viewGuestMemory(mapping.address, 4096), RangeError, 'unmapped memory is not viewable');
    assert.throws(() => mapping.createView(0, 4096), /unmapped/);
  });

  it('does not let JS construct handles around arbitrary descriptors', () => {
    assert.throws(() => new (addon as unknown as { FdHandle: new (...args: unknown[]) => unknown }).FdHandle(1), TypeError);
    assert.throws(() => new (addon as unknown as { VmHandle: new (...args: unknown[]) => unknown }).VmHandle({}, 3), TypeError);
  });

  it('refuses accessors and methods called on an object of another class (no native type confusion)', () => {
    const classes = addon as unknown as Record<'FdHandle' | 'GuestMapping' | 'VmHandle' | 'VcpuHandle', { prototype: object }>;
    const efd = addon.createEventfd(0, true, false);
    const mapping = addon.mapGuestMemory(4096);
    try {
      for (const [cls, receiver] of [['GuestMapping', efd], ['FdHandle', mapping], ['VmHandle', mapping], ['VcpuHandle', efd]] as const) {
        const prototype = classes[cls].prototype;
        for (const name of Object.getOwnPropertyNames(prototype)) {
          if (name === 'constructor') continue;
          const descriptor = Object.getOwnPropertyDescriptor(prototype, name);
          const fn = descriptor?.get ?? (descriptor?.value as ((...args: unknown[]) => unknown) | undefined);
          if (typeof fn !== 'function') continue;
          assert.throws(() => fn.call(receiver), TypeError, `${cls}.${name} on a foreign object`);
        }
      }
    } finally {
      mapping.unmap();
      efd.close();
    }
  });

  it('kicks nothing for unknown tokens', () => {
    assert.equal(addon.kickVcpu(987654), false);
  });

  it('reads and writes eventfds', () => {
    const efd = addon.createEventfd(0, true, false);
    try {
      assert.equal(addon.eventfdRead(efd.fd), null);
      addon.eventfdWrite(efd.fd, 5);
      addon.eventfdWrite(efd.fd, 2n);
      assert.equal(addon.eventfdRead(efd.fd), 7n);
      assert.throws(() => addon.eventfdWrite(efd.fd, 0), RangeError);
    } finally {
      efd.close();
    }
    assert.equal(efd.closed, true);
    assert.throws(() => efd.fd, /closed/);
  });
});
