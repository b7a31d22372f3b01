// Where pool tasks run. The daemon keeps its worker threads; a one-shot CLI command runs its
// tasks on the main thread instead: the addon's calls are asynchronous (the native work runs on
// libuv's threads either way), so a worker thread would only add its start-up (~90 ms: thread,
// module loading, addon) to every `h2k convert` / `h2k hash`. Kept free of imports so the CLI can
// set it before anything loads the pool.
let inline = false;

export function runTasksInline(on: boolean): void {
  inline = on;
}

export function tasksRunInline(): boolean {
  return inline;
}
