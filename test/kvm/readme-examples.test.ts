// Every JavaScript example in README.md, run as written in a child process against the built
// package. A ```js block whose first line is `// example: NAME` is a program; blocks starting with
// `// file: PATH` in the same section are written next to it (a device module, say). Each program
// must exit 0 and print its `// expect: TEXT` line. No ```js block may escape: each is one or the other.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { bundledGuestPath } from '../../lib/guest/bundled';
import { requireKvm, retryUnderEmulation } from '../helpers/kvm';
import { linkPackage, PACKAGE_ROOT, runNodeProgram } from '../helpers/node-program';

const EXAMPLE_TIMEOUT_MS = 120_000;

export interface ReadmeExample {
  name: string;
  section: string;
  code: string;
  expect: string;
  files: { path: string; code: string }[];
}

/** The examples of a README, each with the `// file:` blocks of its section. */
export function readmeExamples(readme: string): ReadmeExample[] {
  const examples: ReadmeExample[] = [];
  const sections = readme.split(/\n(?=#{2,3} )/);
  for (const section of sections) {
    const title = (section.split('\n')[0] ?? '').replace(/^#+ /, '');
    const blocks = [...section.matchAll(/```js\n([^]*?)```/g)].map((m) => m[1] as string);
    const files: { path: string; code: string }[] = [];
    const programs: { name: string; code: string }[] = [];
    for (const block of blocks) {
      const first = block.split('\n')[0] ?? '';
      const file = /^\/\/ file: (\S+)$/.exec(first);
      const example = /^\/\/ example: (.+)$/.exec(first);
      if (file) files.push({ path: file[1] as string, code: block });
      else if (example) programs.push({ name: example[1] as string, code: block });
      else throw new Error(`README section "${title}" has a js block that is neither an example nor a file:\n${block.slice(0, 200)}`);
    }
    for (const program of programs) {
      const expect = /^\/\/ expect: (.+)$/m.exec(program.code)?.[1];
      if (expect === undefined) throw new Error(`README example "${program.name}" has no // expect: line`);
      examples.push({ name: program.name, section: title, code: program.code, expect, files });
    }
  }
  return examples;
}

describe('README examples', function () {
  const readme = fs.readFileSync(path.join(PACKAGE_ROOT, 'README.md'), 'utf8');
  const examples = readmeExamples(readme);
  let dir: string;
  before(function () {
    requireKvm(this);
    if (!fs.existsSync(bundledGuestPath())) throw new Error(`the bundled guest ${bundledGuestPath()} is not built yet (npm run build:guest)`);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'node-vmm-readme-'));
    linkPackage(dir);
  });
  after(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('has examples, and every js block is an example or a file', () => {
    assert.ok(examples.length >= 2, `found ${examples.length} examples`);
  });

  for (const example of examples) {
    it(`${example.section}: ${example.name}`, async function () {
      this.timeout(EXAMPLE_TIMEOUT_MS + 10_000);
      retryUnderEmulation(this, 2);
      const exampleDir = fs.mkdtempSync(path.join(dir, 'example-'));
      fs.symlinkSync(path.join(dir, 'node_modules'), path.join(exampleDir, 'node_modules'), 'dir');
      for (const file of example.files) {
        fs.mkdirSync(path.dirname(path.join(exampleDir, file.path)), { recursive: true });
        fs.writeFileSync(path.join(exampleDir, file.path), file.code);
      }
      const main = path.join(exampleDir, 'example.js');
      fs.writeFileSync(main, example.code);
      const result = await runNodeProgram(main, [], exampleDir, EXAMPLE_TIMEOUT_MS);
      assert.equal(result.code, 0, `stdout:\n${result.stdout}\nstderr:\n${result.stderr}`);
      assert.ok(result.stdout.includes(example.expect), `expected "${example.expect}" in:\n${result.stdout}\nstderr:\n${result.stderr}`);
    });
  }
});
