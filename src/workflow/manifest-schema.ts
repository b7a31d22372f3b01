// The manifest format, version "1.0": one schema for single-VM and batch manifests.
// Objects are strict so a misspelled key or an unknown stage is an error, not a silent no-op.
import { z } from 'zod';
import { outputFormats, sourceTypes } from '../native/formats.js';

export const MANIFEST_VERSION = '1.0';
export const SOURCE_TYPES = sourceTypes();
export const OUTPUT_FORMATS = outputFormats();
export const STAGE_NAMES = ['load', 'inspect', 'fix', 'convert', 'validate'] as const;
export const FSTAB_MODES = ['stabilize-all', 'bypath-only', 'noop'] as const;
export const NETWORK_FIX_LEVELS = ['full', 'basic', 'none'] as const;
export const MAX_BATCH_VMS = 256;

export type SourceType = (typeof SOURCE_TYPES)[number];
export type ManifestOutputFormat = (typeof OUTPUT_FORMATS)[number];
export type StageName = (typeof STAGE_NAMES)[number];

/** VM names become file names (outputs, reports), so they are kept to a safe alphabet. */
export const vmNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'expected a name of letters, digits, ".", "_" or "-" (at most 128, not starting with a symbol)');

const enabled = z.boolean().default(true);

const loadStage = z.strictObject({
  source_type: z.enum(SOURCE_TYPES),
  source_path: z.string().min(1, 'expected a non-empty path'),
});

const inspectStage = z.strictObject({
  enabled,
  detect_os: z.boolean().default(true),
});

const fixStage = z.strictObject({
  enabled,
  fstab: z
    .strictObject({ enabled, mode: z.enum(FSTAB_MODES).default('stabilize-all') })
    .default({ enabled: true, mode: 'stabilize-all' }),
  grub: z.strictObject({ enabled }).default({ enabled: true }),
  initramfs: z.strictObject({ enabled, regenerate: z.boolean().default(true) }).default({ enabled: true, regenerate: true }),
  network: z
    .strictObject({ enabled, fix_level: z.enum(NETWORK_FIX_LEVELS).default('basic') })
    .default({ enabled: true, fix_level: 'basic' }),
  /** unset: Linux keeps the tools, Windows removes them on first boot; false keeps them on Windows too */
  remove_vmware_tools: z.boolean().optional(),
  /** Windows guests: virtio drivers from virtio_win injected (false: a Windows guest fails the fix) */
  windows: z.strictObject({ enabled }).default({ enabled: true }),
  /** the virtio-win ISO or its extracted directory (relative paths: from the manifest's directory) */
  virtio_win: z.string().min(1, 'expected a non-empty path').optional(),
});

const convertStage = z.strictObject({
  output_format: z.enum(OUTPUT_FORMATS).default('qcow2'),
  /** true = zlib; or name the codec. qcow2 only. */
  compress: z.union([z.boolean(), z.enum(['zlib', 'zstd'])]).default(false),
  /** File (or directory when it ends in "/") relative to the output directory. */
  output_path: z.string().min(1, 'expected a non-empty path').optional(),
  overwrite: z.boolean().default(false),
});

const bootTest = z.union([
  z.boolean(),
  z.strictObject({ enabled, timeout_seconds: z.number().int().min(10).max(3600).default(300) }),
]);

const validateStage = z.strictObject({
  enabled,
  boot_test: bootTest.default(false),
});

export const pipelineSchema = z
  .strictObject({
    load: loadStage,
    inspect: inspectStage.optional(),
    fix: fixStage.optional(),
    convert: convertStage.optional(),
    validate: validateStage.optional(),
  })
  .superRefine((p, ctx) => {
    const c = p.convert;
    if (c && c.compress !== false && c.output_format !== 'qcow2')
      ctx.addIssue({ code: 'custom', path: ['convert', 'compress'], message: `compression needs output_format qcow2, not ${c.output_format}` });
    if (!c && p.fix?.enabled)
      ctx.addIssue({ code: 'custom', path: ['fix'], message: 'needs a convert stage: fixes are applied to the converted output, never to the source' });
    if (!c && p.validate?.enabled)
      ctx.addIssue({ code: 'custom', path: ['validate'], message: 'needs a convert stage: validation checks the converted output' });
  });

export const singleManifestSchema = z.strictObject({
  version: z.literal(MANIFEST_VERSION),
  name: vmNameSchema.optional(),
  batch: z.literal(false).optional(),
  pipeline: pipelineSchema,
});

export const batchManifestSchema = z
  .strictObject({
    version: z.literal(MANIFEST_VERSION),
    name: vmNameSchema.optional(),
    batch: z.literal(true),
    vms: z
      .array(z.strictObject({ name: vmNameSchema, pipeline: pipelineSchema }))
      .min(1, 'expected at least one VM')
      .max(MAX_BATCH_VMS, `expected at most ${MAX_BATCH_VMS} VMs`),
  })
  .superRefine((m, ctx) => {
    const seen = new Map<string, number>();
    m.vms.forEach((vm, i) => {
      const first = seen.get(vm.name);
      if (first !== undefined)
        ctx.addIssue({ code: 'custom', path: ['vms', i, 'name'], message: `duplicate VM name '${vm.name}' (also vms[${first}])` });
      else seen.set(vm.name, i);
    });
  });

export type Pipeline = z.output<typeof pipelineSchema>;
export type SingleManifest = z.output<typeof singleManifestSchema>;
export type BatchManifest = z.output<typeof batchManifestSchema>;
export type Manifest = SingleManifest | BatchManifest;
