#!/usr/bin/env node
/**
 * `wgc`: the command-line entry. Each subcommand lives in
 * `src/cli/commands/<name>.ts` and exports `run(argv): Promise<number>`
 * (the exit code); they load lazily so `wgc info` does not pay for the
 * quantizer or the model code.
 */
type CommandModule = { run(argv: string[]): Promise<number>; summary: string };

const COMMANDS: Record<string, () => Promise<CommandModule>> = {
  info: () => import('./commands/info.js'),
  inspect: () => import('./commands/inspect.js'),
  recipe: () => import('./commands/recipe.js'),
  eval: () => import('./commands/eval.js'),
  generate: () => import('./commands/generate.js'),
  oneshot: () => import('./commands/oneshot.js'),
  demo: () => import('./commands/demo.js'),
};

function usage(): string {
  return [
    'usage: wgc <command> [options]',
    '',
    'commands:',
    ...Object.keys(COMMANDS).map((c) => `  ${c}`),
    '',
    'Run `wgc <command> --help` for a command\'s options.',
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    console.log(usage());
    return cmd ? 0 : 2;
  }
  const load = COMMANDS[cmd];
  if (!load) {
    console.error(`wgc: unknown command "${cmd}"\n\n${usage()}`);
    return 2;
  }
  const mod = await load();
  return mod.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    // Dawn keeps no event-loop handles once the device is destroyed, but a
    // failed command may leave one: exit explicitly with the command's code.
    process.exit(code);
  },
  (err: unknown) => {
    console.error(`wgc: ${err instanceof Error ? err.message : String(err)}`);
    if (process.env.WGC_DEBUG && err instanceof Error) console.error(err.stack);
    process.exit(1);
  },
);
