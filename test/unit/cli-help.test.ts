// The CLI as a user meets it, no KVM needed: --version, help [command], --help on every command,
// unknown commands and options answered with a suggestion, and the exit codes (0, 1, 2).
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, parseCommandArgs, UsageError } from '../../lib/cli/command';
import { COMMANDS } from '../../lib/cli/commands';
import { commandHelp, mainHelp } from '../../lib/cli/help';
import { closest, editDistance, suggestion } from '../../lib/cli/suggest';

const PACKAGE_ROOT = path.resolve(__dirname, '..', '..', '..');
const CLI = path.join(PACKAGE_ROOT, 'dist', 'lib', 'cli', 'main.js');

function cli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 30_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('node-vmm help, --version and usage errors', () => {
  it('edit distance and the closest known word', () => {
    assert.equal(editDistance('kitten', 'sitting'), 3);
    assert.equal(editDistance('', 'abc'), 3);
    assert.equal(editDistance('run', 'run'), 0);
    assert.equal(closest('rnu', ['run', 'check', 'demo']), 'run');
    assert.equal(closest('--memory', ['--mem', '--cpus']), '--mem', 'a longer spelling of an option');
    assert.equal(closest('--cpu', ['--mem', '--cpus']), '--cpus');
    assert.equal(closest('frobnicate', ['run', 'check', 'demo']), undefined);
    assert.equal(suggestion('chek', ['check']), "; did you mean 'check'?");
    assert.equal(suggestion('zzzzzz', ['check']), '');
  });

  it('parses a command line against a command table entry, with a suggestion for an unknown option', () => {
    const command = { name: 't', options: [{ name: 'kernel', type: 'string' as const, summary: 'k' }] };
    assert.deepEqual(parseCommandArgs(command, ['--help']), { help: true });
    const parsed = parseCommandArgs(command, ['--kernel', 'k']);
    assert.ok(!parsed.help);
    assert.equal(parsed.args.values.kernel, 'k');
    assert.throws(() => parseCommandArgs(command, ['--kernal', 'k']), (error: unknown) => error instanceof UsageError && /unknown option '--kernal'; did you mean '--kernel'\?/.test(error.message));
    assert.throws(() => parseCommandArgs(command, ['stray']), UsageError);
  });

  it('every command has a summary, options with summaries and an example in its help', () => {
    assert.ok(COMMANDS.length >= 3);
    for (const command of COMMANDS) {
      const help = commandHelp(command);
      assert.match(help, new RegExp(`^usage: node-vmm ${command.name} `), command.name);
      assert.match(help, /\n {2}-h, --help {10}show this help\n/, command.name);
      for (const option of command.options) assert.ok(help.includes(`--${option.name}`) && option.summary.length > 0, `${command.name} --${option.name}`);
      assert.match(help, /\nexample: \S/, command.name);
      assert.ok(mainHelp(COMMANDS).includes(`  ${command.name} `), `${command.name} in the command list`);
    }
    assert.match(mainHelp(COMMANDS), new RegExp(`exit codes:\\n  ${EXIT_OK}  success\\n  ${EXIT_FAILURE}  failure.*\\n  ${EXIT_USAGE}  usage error`));
  });

  it('--version prints the package version and exits 0', () => {
    const { version } = JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-v']) {
      const result = cli(flag);
      assert.equal(result.status, EXIT_OK, result.stderr);
      assert.equal(result.stdout, `${version}\n`);
    }
  });

  it('help, help COMMAND and COMMAND --help print to stdout and exit 0', () => {
    const main = cli('help');
    assert.equal(main.status, EXIT_OK, main.stderr);
    assert.equal(main.stdout, mainHelp(COMMANDS));
    assert.equal(cli('--help').stdout, mainHelp(COMMANDS));
    for (const command of COMMANDS) {
      for (const args of [['help', command.name], [command.name, '--help'], [command.name, '-h']]) {
        const result = cli(...args);
        assert.equal(result.status, EXIT_OK, `${args.join(' ')}: ${result.stderr}`);
        assert.equal(result.stdout, commandHelp(command), args.join(' '));
      }
    }
  });

  it('usage errors exit 2 with a one-line reason on stderr, and a suggestion where one is close', () => {
    const cases: [string[], RegExp][] = [
      [['rnu'], /^node-vmm: unknown command 'rnu'; did you mean 'run'\?\n'node-vmm help' lists the commands\n$/],
      [['help', 'chek'], /^node-vmm: unknown command 'chek'; did you mean 'check'\?\n/],
      [['frobnicate'], /^node-vmm: unknown command 'frobnicate'\n/],
      [['run', '--memory', '64'], /^node-vmm run: unknown option '--memory'; did you mean '--mem'\?\n'node-vmm help run' shows its options\n$/],
      [['run', '--cpus=two'], /^node-vmm run: --cpus must be a positive integer, got 'two'\n/],
      [['check', '--verbose'], /^node-vmm check: unknown option '--verbose'\n/],
      [['--verison'], /^node-vmm: unknown option '--verison'; did you mean '--version'\?\n/],
      [['run', 'extra'], /^node-vmm run: Unexpected argument 'extra'/],
    ];
    for (const [args, stderr] of cases) {
      const result = cli(...args);
      assert.equal(result.status, EXIT_USAGE, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, stderr, args.join(' '));
      assert.equal(result.stdout, '', args.join(' '));
    }
    const bare = cli();
    assert.equal(bare.status, EXIT_USAGE, 'no command is a usage error');
    assert.equal(bare.stderr, mainHelp(COMMANDS));
  });
});
