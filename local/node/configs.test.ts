import assert from 'node:assert/strict';
import { BlockList } from 'node:net';
import { test } from 'node:test';
import { parse } from 'yaml';
import {
  cniConflist,
  containerdConfig,
  guardRuleset,
  kubeletConfig,
  kubeProxyConfig,
  registryHostsToml,
} from './configs.ts';
import { mountsUnder } from './host.ts';
import { HOST, NET, nodeLayout } from './layout.ts';

const ports = { kubelet: 20250, kubeletHealthz: 20248, proxyHealthz: 20256, proxyMetrics: 20249, policyMetrics: 20260 };
const layout = nodeLayout('/tmp/c1', ports, 'https://10.0.128.1:6443');

test('the kubelet serves its API only to authenticated, authorized callers, and hands pods no host DNS', () => {
  const c = parse(kubeletConfig(layout)) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  assert.equal(c['authentication'].anonymous.enabled, false);
  assert.equal(c['authentication'].webhook.enabled, true);
  assert.equal(c['authorization'].mode, 'Webhook');
  assert.equal(c['readOnlyPort'], 0);
  assert.equal(c['address'], NET.nodeIp);
  assert.equal(c['port'], 20250);
  assert.equal(c['resolvConf'], '');
  assert.deepEqual(c['clusterDNS'], [NET.clusterDns]);
  assert.equal(c['failCgroupV1'], false);
  assert.equal(c['cgroupRoot'], `/${HOST.cgroupRoot}`);
  assert.equal(c['containerRuntimeEndpoint'], `unix://${layout.containerdSocket}`);
  assert.ok(String(c['podLogsDir']).startsWith('/tmp/c1/node/'), 'pod logs stay in the cluster folder');
});

test('pods get addresses from the node subnet on our bridge, without masquerading', () => {
  const c = JSON.parse(cniConflist()) as { plugins: Record<string, any>[] }; // eslint-disable-line @typescript-eslint/no-explicit-any
  const bridge = c.plugins.find((p) => p['type'] === 'bridge')!;
  assert.equal(bridge['bridge'], HOST.bridge);
  assert.equal(bridge['ipMasq'], false);
  assert.equal(bridge['ipam'].ranges[0][0].subnet, NET.nodePodSubnet);
  assert.equal(bridge['ipam'].ranges[0][0].gateway, NET.nodeIp);
});

test('containerd pins the sandbox image, restricts oom_score_adj and resolves registries only through certs.d', () => {
  const toml = containerdConfig(layout);
  assert.match(toml, /^version = 4$/m);
  assert.match(toml, /netns_mounts_under_state_dir = true/);
  assert.match(toml, new RegExp(`sandbox = "${HOST.sandboxImage}"`));
  assert.match(toml, /restrict_oom_score_adj = true/);
  assert.match(toml, new RegExp(`config_path = "${layout.registryConfigDir}"`));
  assert.match(toml, new RegExp(`address = "${layout.containerdSocket}"`));
  assert.match(registryHostsToml(), /server = "http:\/\/127\.0\.0\.1:9"/);
});

test('kube-proxy runs nftables, opens NodePorts on the node address only and leaves conntrack sysctls alone', () => {
  const c = parse(kubeProxyConfig(layout, '/k')) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  assert.equal(c['mode'], 'nftables');
  assert.deepEqual(c['nodePortAddresses'], [`${NET.nodeIp}/32`]);
  assert.equal(c['conntrack'].maxPerCore, 0);
  assert.equal(c['clusterCIDR'], NET.podCidr);
  assert.match(c['healthzBindAddress'], /^127\.0\.0\.1:/);
});

test('the guard drops cluster traffic leaving by any device but loopback, the bridge and veths, both ways', () => {
  const rules = guardRuleset();
  assert.match(rules, /hook postrouting/);
  for (const dir of ['daddr', 'saddr'])
    assert.match(
      rules,
      new RegExp(
        `ip ${dir} 10\\.0\\.0\\.0/16 oifname != \\{ "lo", "${HOST.bridge}" \\} oifname != "veth\\*" counter drop`,
      ),
    );
});

test('every cluster range sits inside the guarded supernet', () => {
  const [net = '', bits = ''] = NET.clusterSupernet.split('/');
  const supernet = new BlockList();
  supernet.addSubnet(net, Number(bits));
  for (const cidr of [NET.serviceCidr, NET.podCidr, NET.nodePodSubnet, `${NET.nodeIp}/32`, `${NET.clusterDns}/32`]) {
    const [first = '', prefix = ''] = cidr.split('/');
    assert.ok(Number(prefix) >= Number(bits) && supernet.check(first), `${cidr} is inside ${NET.clusterSupernet}`);
  }
});

test('mountsUnder lists mounts below the prefixes, deepest first, and not siblings that share a prefix', () => {
  const info = [
    '22 1 0:21 / /proc rw - proc proc rw',
    '90 1 0:50 / /tmp/c1/node/kubelet/pods/x/volumes/secret rw - tmpfs tmpfs rw',
    '91 1 0:51 / /tmp/c1/node/kubelet rw - tmpfs tmpfs rw',
    '92 1 0:52 / /tmp/c1/node2 rw - tmpfs tmpfs rw',
    '93 1 0:53 / /run/k8s-ee-node/containerd/rootfs rw - overlay overlay rw',
  ].join('\n');
  assert.deepEqual(mountsUnder(info, ['/tmp/c1/node', '/run/k8s-ee-node']), [
    '/tmp/c1/node/kubelet/pods/x/volumes/secret',
    '/run/k8s-ee-node/containerd/rootfs',
    '/tmp/c1/node/kubelet',
  ]);
});
