// The shape every node-vmm command has, and the exit codes they all keep to. main.ts dispatches on the
// table in commands.ts, so a new command is one file exporting a CliCommand and one entry there.
import { parseArgs } from 'node:util';
import { VmmError } from '../kvm/errors';
import { suggestion } from './suggest';

/** The command did what was asked. */
export const EXIT_OK = 0;
/** The command ran and failed (no usable KVM, the VM faulted, a check failed). */
export const EXIT_FAILURE = 1;
/** The command line was wrong: an unknown command or option, a bad or missing value. */
export const EXIT_USAGE = 2;

/** One option of a command, as `parseArgs` takes it plus what `--help` prints. */
export interface CliOption {
  /** The long name, without the dashes. */
  name: string;
  short?: string;
  type: 'string' | 'boolean';
  multiple?: boolean;
  /** The value's placeholder in the help (`PATH`, `MIB`). */
  value?: string;
  /** What it does; further lines of the help text after a newline. */
  summary: string;
}

export type OptionValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

export interface ParsedArgs {
  values: OptionValues;
  positionals: string[];
}

export interface CliCommand {
  name: string;
  /** One line for `node-vmm help`. */
  summary: string;
  /** What follows `node-vmm NAME` in the usage line, e.g. `[options]`. */
  usage: string;
  /** A paragraph for `node-vmm help NAME`. */
  description: string;
  options: readonly CliOption[];
  /** Whether the command takes arguments besides its options. */
  positionals?: boolean;
  /** A command line that works as written. */
  example: string;
  /** Further help text (console keys, exit statuses particular to the command). */
  notes?: string;
  /** Runs the command; resolves with the process exit code. */
  run(args: ParsedArgs): Promise<number>;
}

/** A command line the CLI cannot use; main.ts prints it with the command's usage and exits EXIT_USAGE. */
export class UsageError extends VmmError {}

/** Every command takes --help (-h); the parser adds it. */
export const HELP_OPTION: CliOption = { name: 'help', short: 'h', type: 'boolean', summary: 'show this help' };

const UNKNOWN_OPTION = /^Unknown option '([^']+)'/;

/** The command's arguments, or `help` when --help or -h is among them; throws UsageError with a suggestion. */
export function parseCommandArgs(command: Pick<CliCommand, 'name' | 'options' | 'positionals'>, argv: string[]): { help: true } | { help: false; args: ParsedArgs } {
  const options = [...command.options, HELP_OPTION];
  let parsed: ParsedArgs;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: command.positionals === true,
      options: Object.fromEntries(options.map((o) => [o.name, { type: o.type, ...(o.short !== undefined ? { short: o.short } : {}), ...(o.multiple === true ? { multiple: true } : {}) }])),
    });
  } catch (error) {
    const unknown = UNKNOWN_OPTION.exec((error as Error).message)?.[1];
    if (unknown !== undefined) {
      const names = options.map((o) => `--${o.name}`);
      throw new UsageError(`unknown option '${unknown}'${suggestion(unknown.replace(/=.*$/, ''), names)}`);
    }
    throw new UsageError((error as Error).message);
  }
  if (parsed.values.help === true) return { help: true };
  return { help: false, args: parsed };
}

/** A string option's value, or undefined when it was not given. */
export function stringOption(values: OptionValues, name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}

/** A repeatable string option's values, or undefined when it was not given. */
export function listOption(values: OptionValues, name: string): string[] | undefined {
  const value = values[name];
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : undefined;
}
