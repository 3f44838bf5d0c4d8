// What goes into each image: layers of files (with their path, mode and owner in the image) and the config.
// Pure: the callers resolve the input files and hand their paths in; local/images/builder turns a spec into
// a docker-archive tarball.
import type { RuntimeStage } from './dockerfile.ts';

export type EntryType = 'file' | 'dir' | 'tree' | 'symlink';

/** One path in a layer, in the builder's JSON format (local/images/builder/spec.go). */
export interface LayerEntry {
  path: string;
  type: EntryType;
  /** file: the file whose bytes are copied; tree: the directory copied recursively. */
  source?: string;
  /** file: inline content instead of a source. */
  content?: string;
  /** symlink: where it points. */
  target?: string;
  /** Octal; files default to 0644 or 0755 (executable), directories to 0755. */
  mode?: string;
  uid?: number;
  gid?: number;
}

export interface ImageLayer {
  comment: string;
  entries: LayerEntry[];
}

export interface ImageConfig {
  Entrypoint?: string[];
  Cmd?: string[];
  Env?: string[];
  User?: string;
  WorkingDir?: string;
  ExposedPorts?: string[];
  Labels?: Record<string, string>;
}

export interface ImageSpec {
  /** The archive's file name stem in .cache/images. */
  name: ImageName;
  ref: string;
  layers: ImageLayer[];
  config: ImageConfig;
}

export const IMAGE_NAMES = [
  'pause',
  'sample-app',
  'sample-app-named-user',
  'sample-app-root',
  'k8s-ee',
  'node-tools',
] as const;
export type ImageName = (typeof IMAGE_NAMES)[number];

export const IMAGE_REFS: Record<ImageName, string> = {
  pause: 'k8s-ee.local/pause:dev',
  'sample-app': 'k8s-ee.local/sample-app:dev',
  'sample-app-named-user': 'k8s-ee.local/sample-app:dev-named-user',
  'sample-app-root': 'k8s-ee.local/sample-app:dev-root',
  'k8s-ee': 'k8s-ee.local/k8s-ee:dev',
  'node-tools': 'k8s-ee.local/node-tools:dev',
};

/** The uid and gid of the non-root user of the sample app and the product image. */
export const APP_UID = 10001;
/** The pause image's user, as in the upstream pause image. */
export const PAUSE_UID = 65535;
export const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** The busybox applets the sample app's probes and the node tools' scripts use. */
export const SAMPLE_APP_APPLETS = ['sh', 'nc', 'sleep', 'cat', 'id', 'timeout', 'ls'];
export const NODE_TOOLS_APPLETS = [...SAMPLE_APP_APPLETS, 'echo', 'test', '[', 'grep', 'ps', 'df', 'du', 'env'];

const SOURCE_LABEL = { 'org.opencontainers.image.source': 'https://github.com/k8s-ee/k8s-ee' };

export interface Account {
  name: string;
  uid: number;
  home: string;
}

/** /etc/passwd and /etc/group for root and the given accounts (each with its own group of the same id). */
export function accountFiles(accounts: Account[]): LayerEntry[] {
  const all = [{ name: 'root', uid: 0, home: '/root' }, ...accounts];
  const passwd = all.map((a) => `${a.name}:x:${String(a.uid)}:${String(a.uid)}:${a.name}:${a.home}:/bin/sh\n`);
  const group = all.map((a) => `${a.name}:x:${String(a.uid)}:\n`);
  return [
    { path: '/etc/passwd', type: 'file', content: passwd.join(''), mode: '0644' },
    { path: '/etc/group', type: 'file', content: group.join(''), mode: '0644' },
  ];
}

export const TMP_DIR: LayerEntry = { path: '/tmp', type: 'dir', mode: '1777' };

/** /bin/busybox and a symlink /bin/<applet> -> busybox for each applet. */
export function busyboxEntries(busybox: string, applets: readonly string[]): LayerEntry[] {
  const links = [...new Set(applets)]
    .filter((a) => a !== 'busybox')
    .sort()
    .map((a): LayerEntry => ({ path: `/bin/${a}`, type: 'symlink', target: 'busybox' }));
  return [{ path: '/bin/busybox', type: 'file', source: busybox, mode: '0755' }, ...links];
}

/** A shared library (or the dynamic loader) as ldd reports it: its path in the image and the real file. */
export interface SharedLibrary {
  path: string;
  source: string;
}

export function libraryEntries(libs: readonly SharedLibrary[]): LayerEntry[] {
  return libs.map((l) => ({ path: l.path, type: 'file', source: l.source, mode: '0755' }));
}

export function pauseSpec(pause: string): ImageSpec {
  return {
    name: 'pause',
    ref: IMAGE_REFS.pause,
    layers: [{ comment: 'pause', entries: [{ path: '/pause', type: 'file', source: pause, mode: '0755' }] }],
    config: {
      Entrypoint: ['/pause'],
      User: `${String(PAUSE_UID)}:${String(PAUSE_UID)}`,
      WorkingDir: '/',
      Labels: { 'org.opencontainers.image.title': 'k8s-ee pause', ...SOURCE_LABEL },
    },
  };
}

export type SampleAppVariant = 'sample-app' | 'sample-app-named-user' | 'sample-app-root';

/** The user each sample-app variant runs as: numeric non-root, a name (mapped to 10001 by /etc/passwd), none (root). */
export const SAMPLE_APP_USERS: Record<SampleAppVariant, string | undefined> = {
  'sample-app': String(APP_UID),
  'sample-app-named-user': 'app',
  'sample-app-root': undefined,
};

/** The three sample-app images share their layers; only the USER of the config differs. */
export function sampleAppSpec(variant: SampleAppVariant, inputs: { app: string; busybox: string }): ImageSpec {
  const user = SAMPLE_APP_USERS[variant];
  return {
    name: variant,
    ref: IMAGE_REFS[variant],
    layers: [
      {
        comment: 'busybox, accounts, /tmp',
        entries: [
          ...busyboxEntries(inputs.busybox, SAMPLE_APP_APPLETS),
          ...accountFiles([{ name: 'app', uid: APP_UID, home: '/tmp' }]),
          TMP_DIR,
        ],
      },
      {
        comment: 'sample-app',
        entries: [{ path: '/usr/local/bin/sample-app', type: 'file', source: inputs.app, mode: '0755' }],
      },
    ],
    config: {
      Entrypoint: ['/usr/local/bin/sample-app'],
      Env: [`PATH=${SYSTEM_PATH}`],
      ...(user === undefined ? {} : { User: user }),
      WorkingDir: '/',
      ExposedPorts: ['8080/tcp'],
      Labels: { 'org.opencontainers.image.title': 'k8s-ee sample app', ...SOURCE_LABEL },
    },
  };
}

export interface ProductInputs {
  node: string;
  /** The shared libraries node needs and the dynamic loader, from ldd. */
  libraries: SharedLibrary[];
  /** The folder holding package.json, package-lock.json and the production node_modules. */
  packageDir: string;
  /** The compiled dist/ folder. */
  dist: string;
}

/** The Dockerfile's runtime stage: node with its libraries, production dependencies, dist/; config from the Dockerfile. */
export function productSpec(inputs: ProductInputs, stage: RuntimeStage): ImageSpec {
  const app = stage.workingDir;
  return {
    name: 'k8s-ee',
    ref: IMAGE_REFS['k8s-ee'],
    layers: [
      {
        comment: 'node runtime',
        entries: [
          { path: '/usr/local/bin/node', type: 'file', source: inputs.node, mode: '0755' },
          ...libraryEntries(inputs.libraries),
          ...accountFiles([{ name: 'k8s-ee', uid: APP_UID, home: '/tmp' }]),
          TMP_DIR,
        ],
      },
      {
        comment: 'npm ci --omit=dev',
        entries: [
          { path: `${app}/package.json`, type: 'file', source: `${inputs.packageDir}/package.json`, mode: '0644' },
          { path: `${app}/package-lock.json`, type: 'file', source: `${inputs.packageDir}/package-lock.json` },
          { path: `${app}/node_modules`, type: 'tree', source: `${inputs.packageDir}/node_modules` },
        ],
      },
      { comment: 'dist', entries: [{ path: `${app}/dist`, type: 'tree', source: inputs.dist }] },
    ],
    config: {
      Entrypoint: stage.entrypoint,
      Cmd: stage.cmd,
      Env: [`PATH=${SYSTEM_PATH}`, ...stage.env.filter((e) => !e.startsWith('PATH='))],
      User: stage.user,
      WorkingDir: app,
      ExposedPorts: stage.exposedPorts,
      Labels: stage.labels,
    },
  };
}

/** busybox (sh and a few applets) and crictl, for the sweeper's image-prune Job. */
export function nodeToolsSpec(inputs: { busybox: string; crictl: string; libraries: SharedLibrary[] }): ImageSpec {
  return {
    name: 'node-tools',
    ref: IMAGE_REFS['node-tools'],
    layers: [
      {
        comment: 'busybox, /tmp',
        entries: [...busyboxEntries(inputs.busybox, NODE_TOOLS_APPLETS), ...accountFiles([]), TMP_DIR],
      },
      {
        comment: 'crictl',
        entries: [
          { path: '/usr/local/bin/crictl', type: 'file', source: inputs.crictl, mode: '0755' },
          ...libraryEntries(inputs.libraries),
        ],
      },
    ],
    config: {
      Cmd: ['sh'],
      Env: [`PATH=${SYSTEM_PATH}`],
      WorkingDir: '/',
      Labels: { 'org.opencontainers.image.title': 'k8s-ee node tools', ...SOURCE_LABEL },
    },
  };
}
