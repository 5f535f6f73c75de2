// The help texts: `node-vmm help` (the commands and the exit codes) and `node-vmm help NAME` /
// `node-vmm NAME --help` (usage, options, an example), both made from the command table.
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, HELP_OPTION, type CliCommand, type CliOption } from './command';

const OPTION_COLUMN = 20;

export const EXIT_CODES_HELP = `exit codes:
  ${EXIT_OK}  success
  ${EXIT_FAILURE}  failure (KVM not usable, the VM faulted or failed, a check failed)
  ${EXIT_USAGE}  usage error (unknown command or option, bad or missing value)
`;

function optionLines(option: CliOption): string {
  const flag = `${option.short !== undefined ? `-${option.short}, ` : ''}--${option.name}${option.value !== undefined ? ` ${option.value}` : ''}`;
  const [first = '', ...rest] = option.summary.split('\n');
  const indent = ' '.repeat(OPTION_COLUMN + 2);
  const head = flag.length < OPTION_COLUMN ? `  ${flag.padEnd(OPTION_COLUMN)}${first}` : `  ${flag}\n${indent}${first}`;
  return [head, ...rest.map((line) => `${indent}${line}`)].join('\n');
}

/** `node-vmm NAME --help`. */
export function commandHelp(command: CliCommand): string {
  const options = [...command.options, HELP_OPTION].map(optionLines).join('\n');
  return `usage: node-vmm ${command.name} ${command.usage}

${command.description}

options:
${options}

example: ${command.example}
${command.notes !== undefined ? `\n${command.notes}` : ''}`;
}

/** `node-vmm help`. */
export function mainHelp(commands: readonly CliCommand[]): string {
  const width = Math.max(...commands.map((c) => c.name.length)) + 2;
  const list = commands.map((c) => `  ${c.name.padEnd(width)}${c.summary}`).join('\n');
  return `usage: node-vmm <command> [options]
       node-vmm help [command]
       node-vmm --version

commands:
${list}

'node-vmm help <command>' or 'node-vmm <command> --help' shows a command's options and an example.

${EXIT_CODES_HELP}`;
}
