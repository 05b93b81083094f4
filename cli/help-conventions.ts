/**
 * Help that reads like git's and gh's: every command (subcommands included)
 * gets its Examples section (help-examples.ts), and an option's default is
 * said once. Commander appends "(default: 30)" to a description that already
 * says "(default 30)", and "(default: false)" to every plain flag; both are
 * noise, so this help leaves its suffix off where the description already
 * names the default, and for flags that are simply off unless given.
 */
import { Help, type Command, type Option } from 'commander';
import { examplesFor } from './help-examples.js';

/** A description that already says its default ("(default 30)", "(default: a day)"). */
const SAYS_DEFAULT = /\(default[ :]/i;

class PigeonHelp extends Help {
  override optionDescription(option: Option): string {
    const plainFlag = option.isBoolean() && option.defaultValue === false;
    if (!plainFlag && !SAYS_DEFAULT.test(option.description)) return super.optionDescription(option);
    const saved = option.defaultValue;
    option.defaultValue = undefined;
    try {
      return super.optionDescription(option);
    } finally {
      option.defaultValue = saved;
    }
  }
}

/** The path of a command below the program: '' for the program, 'group create' for a subcommand. */
export function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** Applies the help conventions to `program` and every command below it. */
export function applyHelpConventions(program: Command): void {
  const visit = (cmd: Command): void => {
    cmd.createHelp = () => Object.assign(new PigeonHelp(), cmd.configureHelp());
    const examples = examplesFor(commandPath(cmd));
    if (examples) cmd.addHelpText('after', examples);
    for (const sub of cmd.commands) visit(sub);
  };
  visit(program);
}
