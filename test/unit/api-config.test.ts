// createVm() option validation: everything here fails before any KVM object exists, so no /dev/kvm needed.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { resolveVmConfig, validateVmConfig, VmConfig } from '../../lib/api/config';
import { createVm } from '../../lib/api/create-vm';
import { VmAbortError, VmConfigError, VmFileError } from '../../lib/api/errors';
import { BootError } from '../../lib/boot/errors';
import { parseKernel } from '../../lib/boot/kernel-image';
import { ConfigError, VmmError } from '../../lib/kvm/errors';
import { makeBzImage } from './boot-fixtures.test';
import { VirtioMmioDevice } from '../../lib/devices/virtio/transport/mmio-device';
import { VirtioRngBackend } from '../../lib/devices/virtio/rng/backend';
import { rngDescription } from '../../lib/devices/virtio/rng/device';

function rejectsWithField(config: unknown, field: string): Promise<void> {
  return assert.rejects(createVm(config as VmConfig), (error: unknown) => {
    assert.ok(error instanceof VmConfigError, `expected VmConfigError, got ${String(error)}`);
    assert.ok(error instanceof ConfigError);
    assert.equal(error.field, field);
    assert.match(error.message, new RegExp(`^${field}: `));
    return true;
  });
}

describe('createVm config validation', () => {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'node-vmm-api-config-'));
  });
  after(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('rejects bad memoryMiB values, naming the field', async () => {
    for (const value of [0, 1, -5, 1.5, Number.NaN, '128', 2 ** 40]) await rejectsWithField({ kernel: makeBzImage(), memoryMiB: value }, 'memoryMiB');
  });

  it('rejects virtio lists that are not VirtioMmioDevices, list one twice or share a fixed window', async () => {
    await rejectsWithField({ kernel: makeBzImage(), virtio: [{}] }, 'virtio');
    await rejectsWithField({ kernel: makeBzImage(), virtio: 'rng' }, 'virtio');
    const rng = (base?: number): VirtioMmioDevice => new VirtioMmioDevice({ device: rngDescription(), backend: (context) => new VirtioRngBackend(context), ...(base !== undefined ? { base } : {}) });
    const twice = rng();
    await rejectsWithField({ kernel: makeBzImage(), virtio: [twice, twice] }, 'virtio');
    await assert.rejects(createVm({ kernel: makeBzImage(), virtio: [rng(0xd0000000), rng(0xd0000000)] }), ConfigError);
  });

  it('rejects bad vcpus values, naming the field', async () => {
    for (const value of [0, -1, 2.5, 255, '2', null]) await rejectsWithField({ kernel: makeBzImage(), vcpus: value }, 'vcpus');
  });

  it('rejects bad kernel, initrd, cmdline, signal and emulatedKernelMode types', async () => {
    await rejectsWithField({ kernel: 42 }, 'kernel');
    await rejectsWithField({ kernel: '' }, 'kernel');
    await rejectsWithField({ kernel: new Uint8Array(0) }, 'kernel');
    await rejectsWithField({ kernel: makeBzImage(), initrd: {} }, 'initrd');
    await rejectsWithField({ kernel: makeBzImage(), cmdline: 7 }, 'cmdline');
    await rejectsWithField({ kernel: makeBzImage(), cmdline: 'a\0b' }, 'cmdline');
    await rejectsWithField({ kernel: makeBzImage(), signal: {} }, 'signal');
    await rejectsWithField({ kernel: makeBzImage(), emulatedKernelMode: 'yes' }, 'emulatedKernelMode');
    await rejectsWithField({ kernel: makeBzImage(), acpi: 1 }, 'acpi');
  });

  it('rejects unknown options and non-object configs', async () => {
    await rejectsWithField({ kernel: makeBzImage(), memory: 128 }, 'memory');
    await rejectsWithField(null, 'config');
    await rejectsWithField('kernel', 'config');
  });

  it('names the path of a kernel or initrd file that does not exist', async () => {
    const missing = path.join(dir, 'no-such-bzImage');
    await assert.rejects(createVm({ kernel: missing }), (error: unknown) => {
      assert.ok(error instanceof VmFileError);
      assert.equal(error.field, 'kernel');
      assert.equal(error.path, missing);
      assert.equal(error.code, 'ENOENT');
      assert.ok(error.message.includes(missing));
      return true;
    });
    const kernel = path.join(dir, 'bzImage');
    fs.writeFileSync(kernel, makeBzImage());
    const initrd = path.join(dir, 'no-such-initrd');
    await assert.rejects(createVm({ kernel, initrd }), (error: unknown) => error instanceof VmFileError && error.field === 'initrd' && error.path === initrd);
  });

  it('turns a kernel image it cannot boot into a BootError', async () => {
    const file = path.join(dir, 'not-a-kernel');
    fs.writeFileSync(file, Buffer.alloc(8192, 0x5a));
    await assert.rejects(createVm({ kernel: file }), (error: unknown) => error instanceof BootError && error instanceof VmmError);
    await assert.rejects(createVm({ kernel: new Uint8Array(16) }), BootError);
  });

  it('rejects with an AbortError for an already-aborted signal', async () => {
    const controller = new AbortController();
    controller.abort(new Error('cancelled'));
    await assert.rejects(createVm({ kernel: makeBzImage(), signal: controller.signal }), (error: unknown) => {
      assert.ok(error instanceof VmAbortError);
      assert.ok(error instanceof VmmError);
      assert.equal(error.name, 'AbortError');
      return true;
    });
  });

  it('applies the defaults and reads files', async () => {
    const kernel = path.join(dir, 'bzImage2');
    const bytes = makeBzImage();
    fs.writeFileSync(kernel, bytes);
    const resolved = await resolveVmConfig({ kernel });
    assert.deepEqual(resolved.kernel, parseKernel(new Uint8Array(bytes)), 'the kernel read from the file and parsed once');
    assert.deepEqual(resolved.devices, []);
    assert.equal(resolved.kernelSource, kernel);
    assert.equal(resolved.cmdline, '');
    assert.equal(resolved.memorySize, 128 * 1024 * 1024);
    assert.equal(resolved.vcpus, 1);
    assert.equal(resolved.initrd, undefined);
    assert.equal(resolved.acpi, false);
  });

  it('accepts a valid full config without throwing', () => {
    validateVmConfig({ kernel: 'k', initrd: new Uint8Array(1), cmdline: 'x', memoryMiB: 64, vcpus: 2, signal: new AbortController().signal, acpi: true, emulatedKernelMode: false });
  });

  it('Symbol.asyncDispose is the registered nodejs.asyncDispose symbol', async () => {
    await import('../../lib/api/dispose-symbol');
    assert.equal(typeof Symbol.asyncDispose, 'symbol');
    assert.equal(Symbol.asyncDispose, Symbol.for('nodejs.asyncDispose'));
  });
});
