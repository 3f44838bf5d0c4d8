// `k8s-ee prepare NAMESPACE`: the step of a PR's workflow before `helm upgrade --install` (docs/runbooks/runners.md).
import { parseFlags } from './args.ts';
import { CliError } from './errors.ts';
import { parseDuration } from '../lib/duration.ts';
import { loadKubeConfig } from '../lib/kube.ts';
import { kubePrepareApi } from './prepare-kube.ts';
import { DEFAULT_DEPLOYER_ROLE, prepare, PrepareError, ROLE_BINDING_NAME } from './prepare.ts';

export const HELP = `Usage: k8s-ee prepare NAMESPACE [--role ${DEFAULT_DEPLOYER_ROLE}] [--timeout 30s] [--kubeconfig F]

Run by a PR's workflow, as the CI identity, before \`helm upgrade --install … -n NAMESPACE --create-namespace\`:
creates the PR namespace (an existing one is fine), binds ClusterRole --role there to the identity itself
(RoleBinding ${ROLE_BINDING_NAME}), and waits until RBAC lets it list Secrets there, which Helm does before anything
else. The CI identity's rights and why this step exists: docs/runbooks/runners.md. Exit 1 when refused, with the
API server's message and the fix.

Options:
  --role NAME        the deployer ClusterRole (default ${DEFAULT_DEPLOYER_ROLE})
  --timeout DURATION how long to wait for RBAC to show the binding (default 30s)
  --kubeconfig FILE  default: $KUBECONFIG, else ~/.kube/config
  -h, --help         show this help
`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(
    'prepare',
    argv,
    { role: { type: 'string' }, timeout: { type: 'string' }, kubeconfig: { type: 'string' } },
    HELP,
  );
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new CliError(`prepare: give exactly one NAMESPACE\n\n${HELP}`);
  const timeoutMs = values.timeout === undefined ? 30_000 : parseDuration(values.timeout);
  if (timeoutMs === undefined)
    throw new CliError(`prepare: --timeout must be a duration such as 30s or 2m, got "${String(values.timeout)}"`);
  let kc;
  try {
    kc = loadKubeConfig(values.kubeconfig);
  } catch (err) {
    throw new CliError(`prepare: cannot read the kubeconfig: ${(err as Error).message}`);
  }
  const namespace = positionals[0]!;
  try {
    const result = await prepare(kubePrepareApi(kc), {
      namespace,
      timeoutMs,
      ...(values.role ? { role: values.role } : {}),
    });
    process.stdout.write(
      `namespace ${namespace}: ${result.namespace}; RoleBinding ${ROLE_BINDING_NAME} for ${result.user}: ` +
        `${result.roleBinding}; Helm may deploy (RBAC showed it after ${result.waitedMs} ms)\n`,
    );
    return 0;
  } catch (err) {
    if (err instanceof PrepareError) throw new CliError(`prepare: ${err.message}`, 1);
    throw err;
  }
}
