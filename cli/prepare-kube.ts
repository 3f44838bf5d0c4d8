// The PrepareApi of cli/prepare.ts on a real API server (client-node); AlreadyExists is an answer, not an error.
import {
  AuthenticationV1Api,
  AuthorizationV1Api,
  CoreV1Api,
  RbacAuthorizationV1Api,
  type KubeConfig,
} from '@kubernetes/client-node';
import { describeApiError, statusCodeOf } from '../webhooks/reconciler-kube.ts';
import type { Outcome, PrepareApi } from './prepare.ts';

const LABELS = { 'app.kubernetes.io/managed-by': 'k8s-ee-ci' };

async function createOrExists(call: () => Promise<unknown>): Promise<Outcome> {
  try {
    await call();
    return 'created';
  } catch (err) {
    if (statusCodeOf(err) === 409) return 'exists';
    throw new Error(describeApiError(err), { cause: err });
  }
}

export function kubePrepareApi(kc: KubeConfig): PrepareApi {
  const core = kc.makeApiClient(CoreV1Api);
  const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
  const authn = kc.makeApiClient(AuthenticationV1Api);
  const authz = kc.makeApiClient(AuthorizationV1Api);
  return {
    async whoAmI() {
      const review = await authn
        .createSelfSubjectReview({ body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' } })
        .catch((err: unknown) => {
          throw new Error(describeApiError(err), { cause: err });
        });
      const name = review.status?.userInfo?.username;
      if (!name) throw new Error('the SelfSubjectReview named no user');
      return name;
    },
    createNamespace: (name) => createOrExists(() => core.createNamespace({ body: { metadata: { name } } })),
    createRoleBinding: (namespace, name, role, user) =>
      createOrExists(() =>
        rbac.createNamespacedRoleBinding({
          namespace,
          body: {
            metadata: { name, namespace, labels: LABELS },
            roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
            subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }],
          },
        }),
      ),
    async canListSecrets(namespace) {
      const review = await authz.createSelfSubjectAccessReview({
        body: { spec: { resourceAttributes: { namespace, verb: 'list', resource: 'secrets' } } },
      });
      return review.status?.allowed === true;
    },
  };
}
