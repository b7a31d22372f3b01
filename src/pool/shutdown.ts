// Process-exit hooks registered by modules that hold resources (the worker pool). Kept free of
// heavy imports so the CLI can run them without loading those modules when they were never used.
type Hook = () => Promise<void>;
const hooks = new Set<Hook>();

export function onShutdown(hook: Hook): void {
  hooks.add(hook);
}

export async function runShutdownHooks(): Promise<void> {
  const pending = [...hooks];
  hooks.clear();
  await Promise.all(pending.map((h) => h()));
}
