// The local node's container images, built here as docker-archive tarballs that `ctr images import` takes
// (no registry is reachable): the pause sandbox, the sample app (three USER variants), the k8s-ee product
// image (the Dockerfile's runtime stage) and, given crictl, the node tools of the sweeper's image-prune Job.
// Each archive is named after a hash of all its inputs and rebuilt only when that hash changes.
//
//   node local/images/build.ts [--crictl PATH] [NAME|REF ...]
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureNodePackages, NODE_PACKAGES } from '../cluster/node-setup.ts';
import { cacheDir, projectRoot } from '../cluster/paths.ts';
import { parseRuntimeStage } from './dockerfile.ts';
import { archivePath, imageKey, needsBuild, SourceDigests, staleOutputs } from './inputs.ts';
import { ensureDist, ensureProductionPackages, parseLdd, projectNode, sharedLibraries } from './runtime.ts';
import {
  IMAGE_NAMES,
  IMAGE_REFS,
  type ImageConfig,
  type ImageName,
  type ImageSpec,
  nodeToolsSpec,
  pauseSpec,
  productSpec,
  type SampleAppVariant,
  sampleAppSpec,
} from './specs.ts';
import { ensureGoProgram, formatSeconds, type GoProgram, type Progress, run } from './toolchain.ts';

export interface ImageArchive {
  ref: string;
  /** The docker-archive tarball, for `ctr -n k8s.io images import`. */
  archive: string;
  /** A hash of every input of the image; the archive is rebuilt when it changes. */
  key: string;
}

export interface EnsureImagesOptions {
  progress: Progress;
  /** crictl for the node-tools image; without it that image is skipped. */
  crictl?: string;
  /** Image names (see IMAGE_NAMES) or refs to build; all by default. */
  only?: readonly string[];
  /** Where archives go; .cache/images by default. */
  dir?: string;
}

export const imagesCacheDir = join(cacheDir, 'images');
/** A path for progress lines: relative inside the project, absolute outside it. */
const shown = (path: string): string => (path.startsWith(`${projectRoot}/`) ? relative(projectRoot, path) : path);
const here = dirname(fileURLToPath(import.meta.url));
const LINUX_AMD64 = { goos: 'linux', goarch: 'amd64' };
export const BUILDER: GoProgram = { name: 'image-builder', moduleDir: join(here, 'builder'), pkg: '.' };
const PAUSE: GoProgram = { name: 'pause', moduleDir: join(here, 'programs'), pkg: 'pause', target: LINUX_AMD64 };
const SAMPLE_APP: GoProgram = {
  name: 'sample-app',
  moduleDir: join(here, 'programs'),
  pkg: 'sample-app',
  target: LINUX_AMD64,
};
const SAMPLE_APP_VARIANTS: readonly SampleAppVariant[] = ['sample-app', 'sample-app-named-user', 'sample-app-root'];

/** The images to build: `only` (names or refs) or all, less node-tools when there is no crictl. */
export function selectImages(only: readonly string[] | undefined, crictl: string | undefined): ImageName[] {
  const byRef = new Map(IMAGE_NAMES.map((n) => [IMAGE_REFS[n], n]));
  const wanted = (only ?? IMAGE_NAMES).map((w) => {
    const name = (IMAGE_NAMES as readonly string[]).includes(w) ? (w as ImageName) : byRef.get(w);
    if (!name) throw new Error(`images: unknown image "${w}"; known: ${IMAGE_NAMES.join(', ')}`);
    return name;
  });
  return IMAGE_NAMES.filter((n) => wanted.includes(n) && (n !== 'node-tools' || crictl !== undefined));
}

const BUSYBOX_FILES = NODE_PACKAGES['busybox-static'] ?? ['/bin/busybox', '/usr/bin/busybox'];

/**
 * Debian's busybox-static: a static busybox, the only shell and nc of our images. Installed with apt-get when it is
 * missing and we run as root (as a node's packages are: a fresh machine builds the images on its own); otherwise
 * the error names the command.
 */
export async function findBusybox(progress: Progress): Promise<string> {
  if (!BUSYBOX_FILES.some((p) => existsSync(p))) {
    await ensureNodePackages(progress, { 'busybox-static': BUSYBOX_FILES }).catch((err: unknown) => {
      throw new Error(`images: /bin/busybox is missing: ${(err as Error).message}`);
    });
  }
  const found = BUSYBOX_FILES.find((p) => existsSync(p));
  if (!found) throw new Error('images: /bin/busybox is missing; install it with `apt-get install -y busybox-static`');
  const ldd = await run('ldd', [found]).catch((err: unknown) => (err instanceof Error ? err.message : ''));
  if (parseLdd(ldd).length > 0) {
    throw new Error(
      `images: ${found} is dynamically linked; install the static one (apt-get install -y busybox-static)`,
    );
  }
  return found;
}

interface BuildContext {
  names: ImageName[];
  binDir: string;
  cacheRoot: string;
  crictl: string | undefined;
  progress: Progress;
  /** Digests of folders that are immutable by construction (the npm ci folder, keyed by the lock file). */
  known: Map<string, string>;
}

async function productImageSpec(ctx: BuildContext): Promise<ImageSpec> {
  const stage = parseRuntimeStage(await readFile(join(projectRoot, 'Dockerfile'), 'utf8'));
  const node = await projectNode();
  const packages = await ensureProductionPackages(ctx.cacheRoot, ctx.progress);
  ctx.known.set(join(packages.dir, 'node_modules'), `npm-ci:${packages.key}`);
  const dist = await ensureDist(ctx.cacheRoot, ctx.progress);
  const libraries = await sharedLibraries(node);
  return productSpec({ node, libraries, packageDir: packages.dir, dist: dist.dir }, stage);
}

async function nodeToolsImageSpec(ctx: BuildContext, busybox: string): Promise<ImageSpec> {
  const crictl = ctx.crictl!;
  if (!existsSync(crictl)) throw new Error(`images: crictl ${crictl} does not exist`);
  return nodeToolsSpec({ busybox, crictl, libraries: await sharedLibraries(crictl) });
}

/** The specs of the selected images, building the Go programs and staging the files they need. */
async function specsFor(ctx: BuildContext): Promise<ImageSpec[]> {
  const has = (n: ImageName): boolean => ctx.names.includes(n);
  const needsBusybox = has('node-tools') || SAMPLE_APP_VARIANTS.some(has);
  const busybox = needsBusybox ? await findBusybox(ctx.progress) : '';
  const specs: ImageSpec[] = [];
  if (has('pause')) specs.push(pauseSpec((await ensureGoProgram(PAUSE, ctx.binDir, ctx.progress)).path));
  if (SAMPLE_APP_VARIANTS.some(has)) {
    const app = (await ensureGoProgram(SAMPLE_APP, ctx.binDir, ctx.progress)).path;
    for (const v of SAMPLE_APP_VARIANTS.filter(has)) specs.push(sampleAppSpec(v, { app, busybox }));
  }
  if (has('k8s-ee')) specs.push(await productImageSpec(ctx));
  if (has('node-tools')) specs.push(await nodeToolsImageSpec(ctx, busybox));
  return specs;
}

/** The builder's JSON spec (local/images/builder/spec.go). */
export function builderSpec(spec: ImageSpec, output: string): object {
  return { ref: spec.ref, output, layers: spec.layers, config: spec.config };
}

async function buildArchive(spec: ImageSpec, builder: string, archive: string, progress: Progress): Promise<void> {
  const dir = dirname(archive);
  const started = Date.now();
  const specFile = join(dir, `.${spec.name}-${String(process.pid)}.json`);
  await writeFile(specFile, JSON.stringify(builderSpec(spec, archive), null, 2));
  try {
    await run(builder, ['build', specFile]);
  } finally {
    await rm(specFile, { force: true });
  }
  const keep = archive.slice(dir.length + 1);
  for (const old of staleOutputs(await readdir(dir), spec.name, '.tar', keep))
    await rm(join(dir, old), { force: true });
  const mb = ((await stat(archive)).size / 1e6).toFixed(1);
  progress(`images: built ${spec.ref} in ${formatSeconds(Date.now() - started)} (${mb} MB, ${shown(archive)})`);
}

/** Builds (when their inputs changed) and returns the archives of the selected images. */
export async function ensureImages(opts: EnsureImagesOptions): Promise<ImageArchive[]> {
  const dir = opts.dir ?? imagesCacheDir;
  const names = selectImages(opts.only, opts.crictl);
  if (opts.crictl === undefined && (opts.only ?? IMAGE_NAMES).some((n) => n.includes('node-tools'))) {
    opts.progress('images: no crictl given, so no node-tools image');
  }
  await mkdir(dir, { recursive: true });
  const binDir = join(dir, 'bin');
  const builder = await ensureGoProgram(BUILDER, binDir, opts.progress);
  const ctx: BuildContext = {
    names,
    binDir,
    cacheRoot: dir,
    crictl: opts.crictl,
    progress: opts.progress,
    known: new Map(),
  };
  const specs = await specsFor(ctx);
  const digests = new SourceDigests(ctx.known);
  const archives: ImageArchive[] = [];
  let built = 0;
  for (const spec of specs) {
    const key = imageKey(await digests.resolve(spec), builder.key);
    const archive = archivePath(dir, spec.name, key);
    if (needsBuild(archive)) {
      await buildArchive(spec, builder.path, archive, opts.progress);
      built++;
    }
    archives.push({ ref: spec.ref, archive, key });
  }
  opts.progress(`images: ${String(archives.length)} ready (${String(built)} built) in ${shown(dir)}`);
  return archives;
}

export interface ArchiveFile {
  path: string;
  /** file, dir, symlink or hardlink. */
  type: string;
  mode: string;
  uid: number;
  gid: number;
  size?: number;
  linkname?: string;
}

/** What `builder inspect` reports of an archive: its tags, image config and the files of each layer. */
export interface ArchiveReport {
  tags: string[];
  digest: string;
  config: {
    architecture: string;
    os: string;
    created: string;
    config: ImageConfig & { ExposedPorts?: Record<string, object> };
    rootfs: { diff_ids: string[] };
  };
  layers: { digest: string; diffID: string; size: number; files: ArchiveFile[] }[];
}

async function builderPath(progress: Progress = () => undefined): Promise<string> {
  return (await ensureGoProgram(BUILDER, join(imagesCacheDir, 'bin'), progress)).path;
}

/** Reads an archive back with go-containerregistry (for tests and checks). */
export async function inspectArchive(archive: string): Promise<ArchiveReport> {
  return JSON.parse(await run(await builderPath(), ['inspect', archive])) as ArchiveReport;
}

/** Unpacks an archive's flattened filesystem into dir (a rootfs to chroot into). */
export async function extractArchive(archive: string, dir: string): Promise<void> {
  await run(await builderPath(), ['extract', archive, dir]);
}

async function main(argv: string[]): Promise<void> {
  let crictl: string | undefined;
  const only: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--crictl') crictl = argv[++i];
    else only.push(argv[i]!);
  }
  const started = Date.now();
  const archives = await ensureImages({
    progress: (line) => console.log(line),
    crictl,
    only: only.length > 0 ? only : undefined,
  });
  for (const a of archives) console.log(`${a.ref}\t${shown(a.archive)}`);
  console.log(`images: done in ${formatSeconds(Date.now() - started)}`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  });
}
