#!/usr/bin/env node
// node-vmm's command line: dispatches on the command table (commands.ts); `help [command]`,
// `--version` and the usage errors (unknown commands and options, with a suggestion) are handled here.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { VmmError } from '../kvm/errors';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, parseCommandArgs, UsageError, type CliCommand } from './command';
import { COMMANDS } from './commands';
import { commandHelp, mainHelp } from './help';
import { suggestion } from './suggest';

/** The package's version, from the package.json two levels above dist/lib/cli. */
function packageVersion(): string {
  const manifest = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as { version?: unknown };
  return String(manifest.version);
}

function findCommand(name: string): CliCommand {
  const command = COMMANDS.find((c) => c.name === name);
  if (command === undefined) throw new UsageError(`unknown command '${name}'${suggestion(name, [...COMMANDS.map((c) => c.name), 'help'])}`);
  return command;
}

function usageError(error: UsageError, command: CliCommand | undefined): number {
  const where = command === undefined ? 'node-vmm' : `node-vmm ${command.name}`;
  const help = command === undefined ? "'node-vmm help' lists the commands" : `'node-vmm help ${command.name}' shows its options`;
  process.stderr.write(`${where}: ${error.message}\n${help}\n`);
  return EXIT_USAGE;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    process.stderr.write(mainHelp(COMMANDS));
    return EXIT_USAGE;
  }
  if (name === '--version' || name === '-v') {
    console.log(packageVersion());
    return EXIT_OK;
  }
  if (name === 'help' || name === '--help' || name === '-h') {
    const [topic, ...extra] = rest;
    try {
      if (extra.length > 0) throw new UsageError(`help takes one command, got '${rest.join(' ')}'`);
      process.stdout.write(topic === undefined ? mainHelp(COMMANDS) : commandHelp(findCommand(topic)));
      return EXIT_OK;
    } catch (error) {
      if (error instanceof UsageError) return usageError(error, undefined);
      throw error;
    }
  }
  let command: CliCommand | undefined;
  try {
    if (name.startsWith('-')) throw new UsageError(`unknown option '${name}'${suggestion(name, ['--help', '--version'])}`);
    command = findCommand(name);
    const parsed = parseCommandArgs(command, rest);
    if (parsed.help) {
      process.stdout.write(commandHelp(command));
      return EXIT_OK;
    }
    return await command.run(parsed.args);
  } catch (error) {
    if (error instanceof UsageError) return usageError(error, command);
    throw error;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error instanceof VmmError ? `node-vmm: ${error.message}` : error);
    process.exitCode = EXIT_FAILURE;
  },
);
