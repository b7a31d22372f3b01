// A plain description of the commander program: the one source for shell completion and the
// man page, read from the same definitions (and Help formatter) that `--help` prints.
import type { Command, Option } from 'commander';

export interface OptionSpec {
  flags: string;        // as written: "-o, --output <path>"
  names: string[];      // ["-o", "--output"]
  takesValue: boolean;  // a required value: the next word belongs to the option
  choices: string[];
  description: string;
}

export interface ArgumentSpec {
  name: string;
  required: boolean;
  variadic: boolean;
  choices: string[];
  description: string;
}

export interface CommandSpec {
  path: string[];       // [] for h2k itself, ["dedup", "check"] for `h2k dedup check`
  usage: string;
  description: string;
  args: ArgumentSpec[];
  options: OptionSpec[];
  subcommands: CommandSpec[];
}

// An argument described as "a | b | c" (ctl's <command>) is a closed list of words.
const WORD_LIST = /^[a-z][\w-]*(?: \| [a-z][\w-]*)+$/;

function optionSpec(option: Option): OptionSpec {
  return {
    flags: option.flags,
    names: [option.short, option.long].filter((n): n is string => typeof n === 'string'),
    takesValue: option.required,
    choices: option.argChoices ?? [],
    description: option.description,
  };
}

export function commandSpec(command: Command, path: string[] = []): CommandSpec {
  const help = command.createHelp();
  return {
    path,
    usage: help.commandUsage(command),
    description: command.description(),
    args: command.registeredArguments.map((a) => ({
      name: a.name(),
      required: a.required,
      variadic: a.variadic,
      choices: a.argChoices ?? (WORD_LIST.test(a.description) ? a.description.split(' | ') : []),
      description: a.description,
    })),
    options: help.visibleOptions(command).map(optionSpec),
    subcommands: help
      .visibleCommands(command)
      .filter((sub) => sub.name() !== 'help')
      .map((sub) => commandSpec(sub, [...path, sub.name()])),
  };
}

/** Every command, depth first, h2k itself included. */
export function allCommands(spec: CommandSpec): CommandSpec[] {
  return [spec, ...spec.subcommands.flatMap(allCommands)];
}
