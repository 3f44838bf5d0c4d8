// A read-only view of one pod spec for the Pod Security Standards checks: its containers in the order upstream
// visits them (init, regular, ephemeral), their security contexts and the field paths of everything.
import { field, flag, isFields, join, list, text, type Fields } from './pss-fields.ts';

export type ContainerField = 'initContainers' | 'containers' | 'ephemeralContainers';

const CONTAINER_WORDS: Readonly<Record<ContainerField, string>> = {
  initContainers: 'init container',
  containers: 'container',
  ephemeralContainers: 'ephemeral container',
};

/** Something that carries a security context: the pod, or one of its containers. */
export interface Holder {
  /** How messages name it: `the pod`, `container "web"`, `init container "migrate"`. */
  readonly label: string;
  /** Its securityContext, undefined when absent or null. */
  readonly securityContext: Fields | undefined;
  /** Field path of that securityContext. */
  readonly scPath: string;
}

/**
 * One container. Its strings (label, paths) are built when a message first needs them: admission judges every pod
 * template it sees, and a clean one never does.
 */
export class ContainerView implements Holder {
  readonly field: ContainerField;
  readonly index: number;
  /** The container's name ('' when missing). */
  readonly name: string;
  readonly value: Fields;
  readonly securityContext: Fields | undefined;
  private readonly specPath: string;
  private pathText: string | undefined;
  private labelText: string | undefined;

  constructor(kind: ContainerField, index: number, value: Fields, specPath: string) {
    this.field = kind;
    this.index = index;
    this.value = value;
    this.name = text(value, 'name') ?? '';
    this.securityContext = field(value, 'securityContext');
    this.specPath = specPath;
  }

  /** Field path of the container, e.g. `spec.template.spec.containers[1]`. */
  get path(): string {
    return (this.pathText ??= join(this.specPath, `${this.field}[${this.index}]`));
  }

  get scPath(): string {
    return `${this.path}.securityContext`;
  }

  /** Built once: a denial names the container in both the message and the fix of each of its violations. */
  get label(): string {
    if (this.labelText === undefined) {
      const word = CONTAINER_WORDS[this.field];
      this.labelText = this.name ? `${word} "${this.name}"` : `unnamed ${word} ${this.field}[${this.index}]`;
    }
    return this.labelText;
  }
}

export interface PodView {
  spec: Fields;
  /** Pod metadata (for annotations); {} when absent. */
  metadata: Fields;
  specPath: string;
  metadataPath: string;
  /** The pod-level securityContext, undefined when absent or null. */
  securityContext: Fields | undefined;
  scPath: string;
  containers: ContainerView[];
  /** The pod, then its containers: every security context, in the order upstream reports them. */
  holders: Holder[];
  /** `spec.os.name: windows`: some restricted controls do not apply (the API forbids those fields there). */
  windows: boolean;
  /** `spec.hostUsers: false`: the pod runs in a user namespace; since v1.35 some controls are relaxed. */
  userNamespace: boolean;
}

/** The metadata path that goes with a pod spec path: `spec.template.spec` -> `spec.template.metadata`. */
export function metadataPathFor(specPath: string): string {
  if (specPath === '' || specPath === 'spec') return 'metadata';
  if (specPath.endsWith('.spec')) return `${specPath.slice(0, -'.spec'.length)}.metadata`;
  return join(specPath, 'metadata');
}

const CONTAINER_FIELDS = ['initContainers', 'containers', 'ephemeralContainers'] as const;

function containersOf(spec: Fields, specPath: string): ContainerView[] {
  const out: ContainerView[] = [];
  for (const kind of CONTAINER_FIELDS) {
    const entries = list(spec, kind);
    for (let index = 0; index < entries.length; index++) {
      const entry = entries[index];
      out.push(new ContainerView(kind, index, isFields(entry) ? entry : {}, specPath));
    }
  }
  return out;
}

export function podView(podSpec: unknown, podMetadata: unknown, specPath: string): PodView {
  const spec = isFields(podSpec) ? podSpec : {};
  const securityContext = field(spec, 'securityContext');
  const scPath = join(specPath, 'securityContext');
  const containers = containersOf(spec, specPath);
  return {
    spec,
    metadata: isFields(podMetadata) ? podMetadata : {},
    specPath,
    metadataPath: metadataPathFor(specPath),
    securityContext,
    scPath,
    containers,
    holders: [{ label: 'the pod', securityContext, scPath }, ...containers],
    windows: text(field(spec, 'os'), 'name') === 'windows',
    userNamespace: flag(spec, 'hostUsers') === false,
  };
}

/** `"a", "b"` */
export function quoteList(items: readonly string[]): string {
  return items.map((item) => JSON.stringify(item)).join(', ');
}

/** `container "a"` / `containers "a", "b"` for a list of container views. */
export function describeContainers(containers: readonly ContainerView[]): string {
  if (containers.length === 1 && containers[0]) return containers[0].label;
  return `containers ${containers.map((c) => (c.name ? JSON.stringify(c.name) : c.path)).join(', ')}`;
}
