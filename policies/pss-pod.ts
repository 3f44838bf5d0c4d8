// A read-only view of one pod spec for the Pod Security Standards checks: its containers in the order upstream
// visits them (init, regular, ephemeral), their security contexts and the field paths of everything.
import { field, flag, isFields, join, list, text, type Fields } from './pss-fields.ts';

export type ContainerField = 'initContainers' | 'containers' | 'ephemeralContainers';

const CONTAINER_WORDS: Readonly<Record<ContainerField, string>> = {
  initContainers: 'init container',
  containers: 'container',
  ephemeralContainers: 'ephemeral container',
};

export interface ContainerView {
  field: ContainerField;
  index: number;
  /** The container's name ('' when missing). */
  name: string;
  /** How messages name it: `container "web"`, `init container "migrate"`. */
  label: string;
  /** Field path of the container, e.g. `spec.template.spec.containers[1]`. */
  path: string;
  value: Fields;
  /** The container's securityContext, undefined when absent or null. */
  securityContext: Fields | undefined;
  /** Field path of the container's securityContext. */
  scPath: string;
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

function containersOf(spec: Fields, specPath: string): ContainerView[] {
  const out: ContainerView[] = [];
  for (const kind of ['initContainers', 'containers', 'ephemeralContainers'] as const) {
    list(spec, kind).forEach((entry, index) => {
      const value = isFields(entry) ? entry : {};
      const name = text(value, 'name') ?? '';
      const path = join(specPath, `${kind}[${index}]`);
      out.push({
        field: kind,
        index,
        name,
        label: name ? `${CONTAINER_WORDS[kind]} "${name}"` : `unnamed ${CONTAINER_WORDS[kind]} ${kind}[${index}]`,
        path,
        value,
        securityContext: field(value, 'securityContext'),
        scPath: `${path}.securityContext`,
      });
    });
  }
  return out;
}

export function podView(podSpec: unknown, podMetadata: unknown, specPath: string): PodView {
  const spec = isFields(podSpec) ? podSpec : {};
  return {
    spec,
    metadata: isFields(podMetadata) ? podMetadata : {},
    specPath,
    metadataPath: metadataPathFor(specPath),
    securityContext: field(spec, 'securityContext'),
    scPath: join(specPath, 'securityContext'),
    containers: containersOf(spec, specPath),
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
