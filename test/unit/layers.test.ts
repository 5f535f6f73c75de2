// The layers of lib/ (design.md): an import may point to its own layer or one below, never above.
// cli -> api -> boot (with guest) -> devices (with net) -> runner -> arch -> memory, bus -> kvm (with native)
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';

const LIB = path.resolve(__dirname, '..', '..', '..', 'lib');

const LAYER_OF_FOLDER: Record<string, number> = {
  native: 0,
  kvm: 0,
  memory: 1,
  bus: 1,
  arch: 2,
  runner: 3,
  devices: 4,
  net: 4,
  boot: 5,
  guest: 5,
  api: 6,
  cli: 7,
};

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

function layerOf(file: string): number | undefined {
  const folder = path.relative(LIB, file).split(path.sep)[0] as string;
  return LAYER_OF_FOLDER[folder];
}

/** Relative imports of a file, type-only ones included (they tie the layers just as much). */
function importsOf(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  const found: string[] = [];
  for (const match of text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s+'(\.[^']+)'/g)) found.push(match[1] as string);
  for (const match of text.matchAll(/(?:^|\n)\s*import\s+'(\.[^']+)'/g)) found.push(match[1] as string);
  return found;
}

describe('lib/ layers', () => {
  it('every import points to its own layer or a lower one', () => {
    const violations: string[] = [];
    const files = sourceFiles(LIB);
    assert.ok(files.length > 50, `found only ${files.length} sources under ${LIB}`);
    for (const file of files) {
      const from = layerOf(file);
      if (from === undefined) continue; // lib/index.ts: the package surface sits above everything
      for (const specifier of importsOf(file)) {
        const target = path.resolve(path.dirname(file), specifier);
        const to = layerOf(target);
        assert.notEqual(to, undefined, `${path.relative(LIB, file)} imports ${specifier}, outside every layer`);
        if ((to as number) > from) violations.push(`${path.relative(LIB, file)} -> ${path.relative(LIB, target)}`);
      }
    }
    assert.deepEqual(violations, []);
  });

  it('no device imports another device', () => {
    const DEVICES = path.join(LIB, 'devices');
    const violations: string[] = [];
    // A device is a folder or file under devices/legacy/ or devices/virtio/ (but the virtio transport);
    // what sits directly in devices/ and in devices/io-threads/ is shared by all of them.
    const deviceOf = (file: string): string | undefined => {
      const parts = path.relative(DEVICES, file).split(path.sep);
      if ((parts[0] !== 'legacy' && parts[0] !== 'virtio') || parts.length < 2) return undefined;
      const name = (parts[1] as string).replace(/\.ts$/, '');
      if (parts[0] === 'virtio' && name === 'transport') return undefined;
      return `${parts[0]}/${name}`;
    };
    for (const file of sourceFiles(DEVICES)) {
      const from = deviceOf(file);
      if (from === undefined) continue;
      for (const specifier of importsOf(file)) {
        const target = path.resolve(path.dirname(file), specifier);
        if (!target.startsWith(DEVICES)) continue;
        const to = deviceOf(target);
        if (to !== undefined && to !== from) violations.push(`${path.relative(LIB, file)} -> ${path.relative(LIB, target)}`);
      }
    }
    assert.deepEqual(violations, []);
  });
});
