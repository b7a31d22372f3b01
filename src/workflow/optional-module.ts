// Imports a module of h2k that may not be part of this build yet. A missing module yields
// undefined (callers turn that into a "not supported yet" error); any other failure propagates.
export async function importOptional(specifier: string): Promise<Record<string, unknown> | undefined> {
  try {
    return (await import(specifier)) as Record<string, unknown>;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e?.code === 'ERR_MODULE_NOT_FOUND' && String(e.message).includes(specifier.replace(/^\.\.?\//, '').replace(/^\.\.\//, '')))
      return undefined;
    throw err;
  }
}
