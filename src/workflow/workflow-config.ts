// Config keys of the manifest workflow inside `h2k daemon` (same names as hyper2kvm):
// manifest_workflow_mode: true swaps the disk watcher for the manifest workflow service, which
// needs manifest_workflow_dir instead of watch_dir.
import { z } from 'zod';
import { extendDaemonSchema, type DaemonConfig } from '../config/daemon-schema.js';
import { anchorFilePaths, checkKeys, keysSet, mergeFlags, readConfigFile, validateConfig, type LoadedConfig } from '../config/load-config.js';
import type { KeysSet } from '../config/guest-output-schema.js';

export const manifestWorkflowShape = {
  manifest_workflow_mode: z.boolean().default(false),
  manifest_workflow_dir: z.string().min(1).optional(),
  /** h2k's own key: manifests may only name sources beneath this directory (opened beneath it). */
  manifest_source_root: z.string().min(1).optional(),
};

export const workflowAwareDaemonSchema = extendDaemonSchema({
  ...manifestWorkflowShape,
  watch_dir: z.string().min(1).optional(),
}).superRefine((c, ctx) => {
  if (c.manifest_workflow_mode && !c.manifest_workflow_dir)
    ctx.addIssue({ code: 'custom', path: ['manifest_workflow_dir'], message: 'manifest_workflow_dir is required with manifest_workflow_mode (the directory holding to_be_processed/)' });
  if (!c.manifest_workflow_mode && !c.watch_dir)
    ctx.addIssue({ code: 'custom', path: ['watch_dir'], message: 'watch_dir is required (directory to watch for VM disks)' });
});

export type WorkflowAwareConfig = z.infer<typeof workflowAwareDaemonSchema>;

/** The daemon's loader, plus the manifest workflow keys. */
export function loadWorkflowAwareConfig(file: string | undefined, flags: Record<string, unknown> = {}): LoadedConfig<WorkflowAwareConfig> {
  const src = file ? readConfigFile(file) : { values: {} };
  const warnings = checkKeys(src, Object.keys(manifestWorkflowShape));
  const merged = anchorFilePaths(mergeFlags(src.values, flags), src, flags);
  const config = validateConfig(merged, src, workflowAwareDaemonSchema);
  return { config: { ...config, keys_set: keysSet(merged) }, warnings, file: src.file };
}

/** Outside manifest mode watch_dir is guaranteed by the schema above. */
export function asDiskDaemonConfig(c: WorkflowAwareConfig & KeysSet): DaemonConfig {
  return { ...c, watch_dir: c.watch_dir ?? '' };
}
