// What a PR's workflow does before `helm upgrade --install`, as the CI identity of docs/runbooks/runners.md: create
// the PR namespace, bind the deployer role there to itself, and wait until RBAC lets it read Helm's release records.
// Helm lists those records (Secrets) in the target namespace before it creates it, so with rights only inside PR
// namespaces the first deploy cannot start without this step. Pure steps over a narrow API (cli/prepare-kube.ts is the real
// one); every refusal names what was refused and what to change.

export const ROLE_BINDING_NAME = 'k8s-ee-ci';
export const DEFAULT_DEPLOYER_ROLE = 'k8s-ee-ci-deployer';

export type Outcome = 'created' | 'exists';

/** The calls `prepare` makes; each throws an error with the API server's message when refused. */
export interface PrepareApi {
  /** The identity the API server sees (SelfSubjectReview). */
  whoAmI(): Promise<string>;
  createNamespace(name: string): Promise<Outcome>;
  /** RoleBinding `name` in `namespace`: ClusterRole `role` for the user `user`. */
  createRoleBinding(namespace: string, name: string, role: string, user: string): Promise<Outcome>;
  /** SelfSubjectAccessReview: may this identity list Secrets in `namespace`? */
  canListSecrets(namespace: string): Promise<boolean>;
}

export interface PrepareOptions {
  namespace: string;
  role?: string;
  timeoutMs?: number;
  pollMs?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export interface PrepareResult {
  user: string;
  namespace: Outcome;
  roleBinding: Outcome;
  /** How long RBAC took to show the binding. */
  waitedMs: number;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export class PrepareError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PrepareError';
  }
}

const refused = (what: string, err: unknown, fix: string): PrepareError =>
  new PrepareError(`${what}: ${err instanceof Error ? err.message : String(err)}\n  fix: ${fix}`);

const RUNBOOK = 'docs/runbooks/runners.md';

export async function prepare(api: PrepareApi, opts: PrepareOptions): Promise<PrepareResult> {
  const { namespace } = opts;
  const role = opts.role ?? DEFAULT_DEPLOYER_ROLE;
  if (!DNS_LABEL.test(namespace) || namespace.length > 63)
    throw new PrepareError(
      `namespace "${namespace}" is not a valid name: lower-case letters, digits and '-', at most 63, e.g. shop-pr-42`,
    );
  const now = opts.now ?? Date.now;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const user = await api.whoAmI().catch((err: unknown) => {
    throw refused('could not ask the API server who this is (SelfSubjectReview)', err, 'check the kubeconfig');
  });
  const ns = await api.createNamespace(namespace).catch((err: unknown) => {
    throw refused(
      `${user} may not create namespace ${namespace}`,
      err,
      `give the CI identity the ClusterRole k8s-ee-ci of ${RUNBOOK}, and deploy only to PR namespaces`,
    );
  });
  const binding = await api.createRoleBinding(namespace, ROLE_BINDING_NAME, role, user).catch((err: unknown) => {
    throw refused(
      `${user} may not bind ClusterRole ${role} in ${namespace}`,
      err,
      `apply ClusterRoles k8s-ee-ci and ${role} of ${RUNBOOK}, and name ${user} in k8s-ee's ci.users`,
    );
  });
  const started = now();
  const timeoutMs = opts.timeoutMs ?? 30_000;
  while (!(await api.canListSecrets(namespace))) {
    if (now() - started >= timeoutMs)
      throw new PrepareError(
        `${user} still may not list Secrets in ${namespace} ${Math.round(timeoutMs / 1000)} s after RoleBinding ` +
          `${ROLE_BINDING_NAME} (ClusterRole ${role}) was ${binding}: helm could not read its release records\n` +
          `  fix: check that ClusterRole ${role} exists and grants secrets (kubectl get clusterrole ${role} -o yaml)`,
      );
    await sleep(opts.pollMs ?? 250);
  }
  return { user, namespace: ns, roleBinding: binding, waitedMs: now() - started };
}
