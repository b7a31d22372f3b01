// `h2k completion bash|zsh`: prints a completion script built from the full command tree.
import { Argument, type Command } from 'commander';
import { commandSpec } from '../command-spec.js';
import { bashCompletion, zshCompletion } from '../completion-script.js';

const SHELLS = { bash: bashCompletion, zsh: zshCompletion } as const;

export function registerCompletion(program: Command): void {
  program
    .command('completion')
    .description('print a bash or zsh completion script (eval "$(h2k completion bash)")')
    .addArgument(new Argument('<shell>', 'bash | zsh').choices(Object.keys(SHELLS)))
    .action(async (shell: keyof typeof SHELLS) => {
      // Every command's definitions, not just this one's (main.ts registered only `completion`).
      const { buildProgram } = await import('../main.js');
      const full = await buildProgram([], true);
      process.stdout.write(SHELLS[shell](commandSpec(full)));
    });
}
