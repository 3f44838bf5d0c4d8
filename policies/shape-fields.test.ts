// Every field a k8s-ee check reads is type-checked before the check runs (shapes.ts): a field of the wrong type
// is refused with its path, never read as "unset" (which would let, for example, `hostPort: "80"` or
// `privileged: "true"` slip past a check that looks for a number or a boolean). One row per field.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { shapeViolations } from './shapes.ts';

const c = (field: Record<string, unknown>) => ({ spec: { containers: [{ name: 'a', image: 'x', ...field }] } });
const sc = (field: Record<string, unknown>) => c({ securityContext: field });
const pod = (field: Record<string, unknown>) => ({ spec: { containers: [{ name: 'a', image: 'x' }], ...field } });
const podSc = (field: Record<string, unknown>) => pod({ securityContext: field });

const rows: [string, string, unknown, string][] = [
  ['Pod', 'runAsUser', podSc({ runAsUser: '0' }), 'spec.securityContext.runAsUser'],
  ['Pod', 'fsGroup', podSc({ fsGroup: '1' }), 'spec.securityContext.fsGroup'],
  ['Pod', 'sysctls', podSc({ sysctls: [{ name: 5 }] }), 'spec.securityContext.sysctls[0].name'],
  ['Pod', 'sysctl value', podSc({ sysctls: [{ name: 'a', value: 1 }] }), 'spec.securityContext.sysctls[0].value'],
  ['Pod', 'seccompProfile', podSc({ seccompProfile: { type: 1 } }), 'spec.securityContext.seccompProfile.type'],
  [
    'Pod',
    'localhostProfile',
    podSc({ seccompProfile: { localhostProfile: 1 } }),
    'spec.securityContext.seccompProfile.localhostProfile',
  ],
  ['Pod', 'seLinuxOptions', podSc({ seLinuxOptions: { type: 1 } }), 'spec.securityContext.seLinuxOptions.type'],
  ['Pod', 'seLinux user', podSc({ seLinuxOptions: { user: 1 } }), 'spec.securityContext.seLinuxOptions.user'],
  ['Pod', 'seLinux role', podSc({ seLinuxOptions: { role: 1 } }), 'spec.securityContext.seLinuxOptions.role'],
  ['Pod', 'seLinux level', podSc({ seLinuxOptions: { level: 1 } }), 'spec.securityContext.seLinuxOptions.level'],
  ['Pod', 'appArmorProfile', podSc({ appArmorProfile: { type: 1 } }), 'spec.securityContext.appArmorProfile.type'],
  [
    'Pod',
    'appArmor localhost',
    podSc({ appArmorProfile: { localhostProfile: 1 } }),
    'spec.securityContext.appArmorProfile.localhostProfile',
  ],
  [
    'Pod',
    'hostProcess',
    podSc({ windowsOptions: { hostProcess: 'true' } }),
    'spec.securityContext.windowsOptions.hostProcess',
  ],
  [
    'Pod',
    'capabilities.add',
    sc({ capabilities: { add: 'NET_ADMIN' } }),
    'spec.containers[0].securityContext.capabilities.add',
  ],
  [
    'Pod',
    'capabilities.drop',
    sc({ capabilities: { drop: [1] } }),
    'spec.containers[0].securityContext.capabilities.drop[0]',
  ],
  ['Pod', 'hostPort', c({ ports: [{ hostPort: '80' }] }), 'spec.containers[0].ports[0].hostPort'],
  ['Pod', 'containerPort', c({ ports: [{ containerPort: '80' }] }), 'spec.containers[0].ports[0].containerPort'],
  ['Pod', 'requests', c({ resources: { requests: { cpu: true } } }), 'spec.containers[0].resources.requests["cpu"]'],
  ['Pod', 'limits', c({ resources: { limits: [] } }), 'spec.containers[0].resources.limits'],
  [
    'Pod',
    'probe host',
    c({ livenessProbe: { httpGet: { host: 1 } } }),
    'spec.containers[0].livenessProbe.httpGet.host',
  ],
  [
    'Pod',
    'tcpSocket host',
    c({ readinessProbe: { tcpSocket: { host: 1 } } }),
    'spec.containers[0].readinessProbe.tcpSocket.host',
  ],
  [
    'Pod',
    'lifecycle postStart',
    c({ lifecycle: { postStart: { httpGet: { host: 1 } } } }),
    'spec.containers[0].lifecycle.postStart.httpGet.host',
  ],
  [
    'Pod',
    'lifecycle preStop',
    c({ lifecycle: { preStop: { tcpSocket: { host: 1 } } } }),
    'spec.containers[0].lifecycle.preStop.tcpSocket.host',
  ],
  ['Pod', 'volume source', pod({ volumes: [{ name: 'v', hostPath: '/' }] }), 'spec.volumes[0].hostPath'],
  ['Pod', 'volume name', pod({ volumes: [{ name: 1 }] }), 'spec.volumes[0].name'],
  ['Pod', 'os', pod({ os: { name: 1 } }), 'spec.os.name'],
  ['Pod', 'pod resources', pod({ resources: { requests: 'x' } }), 'spec.resources.requests'],
  ['Pod', 'pod labels', { metadata: { labels: { a: 1 } }, spec: { containers: [] } }, 'metadata.labels["a"]'],
  ['Pod', 'annotations', { metadata: { annotations: 'x' }, spec: { containers: [] } }, 'metadata.annotations'],
  [
    'NetworkPolicy',
    'ipBlock cidr',
    { spec: { egress: [{ to: [{ ipBlock: {} }] }] } },
    'spec.egress[0].to[0].ipBlock.cidr',
  ],
  [
    'NetworkPolicy',
    'ipBlock except',
    { spec: { egress: [{ to: [{ ipBlock: { cidr: 'x', except: 'y' } }] }] } },
    'spec.egress[0].to[0].ipBlock.except',
  ],
  ['NetworkPolicy', 'ingress from', { spec: { ingress: [{ from: {} }] } }, 'spec.ingress[0].from'],
  [
    'NetworkPolicy',
    'expression operator',
    { spec: { ingress: [{ from: [{ namespaceSelector: { matchExpressions: [{ key: 'a' }] } }] }] } },
    'spec.ingress[0].from[0].namespaceSelector.matchExpressions[0].operator',
  ],
  [
    'NetworkPolicy',
    'expression key',
    { spec: { ingress: [{ from: [{ namespaceSelector: { matchExpressions: [{ operator: 'In' }] } }] }] } },
    'spec.ingress[0].from[0].namespaceSelector.matchExpressions[0].key',
  ],
  [
    'NetworkPolicy',
    'expression values',
    {
      spec: { egress: [{ to: [{ podSelector: { matchExpressions: [{ key: 'a', operator: 'In', values: 'b' }] } }] }] },
    },
    'spec.egress[0].to[0].podSelector.matchExpressions[0].values',
  ],
  [
    'NetworkPolicy',
    'matchLabels',
    { spec: { egress: [{ to: [{ namespaceSelector: { matchLabels: { a: 1 } } }] }] } },
    'spec.egress[0].to[0].namespaceSelector.matchLabels["a"]',
  ],
  ['Service', 'type', { spec: { type: 1 } }, 'spec.type'],
  ['Service', 'externalIPs', { spec: { externalIPs: '1.2.3.4' } }, 'spec.externalIPs'],
  ['Service', 'externalName', { spec: { externalName: 1 } }, 'spec.externalName'],
  ['Ingress', 'rule host', { spec: { rules: [{ host: 1 }] } }, 'spec.rules[0].host'],
  ['Ingress', 'tls hosts', { spec: { tls: [{ hosts: 'a' }] } }, 'spec.tls[0].hosts'],
  ['Ingress', 'defaultBackend', { spec: { defaultBackend: 'svc' } }, 'spec.defaultBackend'],
  ['HTTPRoute', 'hostnames', { spec: { hostnames: 'a' } }, 'spec.hostnames'],
  ['ConfigMap', 'data', { data: { databases: 1 } }, 'data["databases"]'],
  ['ConfigMap', 'binaryData', { binaryData: { databases: 1 } }, 'binaryData["databases"]'],
];

for (const [kind, name, object, path] of rows) {
  test(`shape of ${kind} ${name}: a wrong type is refused at ${path}`, () => {
    const found = shapeViolations(kind, object);
    assert.deepEqual(
      found.map((v) => [v.rule, v.path]),
      [['shape', path]],
      JSON.stringify(found),
    );
  });
}
