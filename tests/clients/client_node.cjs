// @kubernetes/client-node against `pinsetter serve`, with the kubeconfig `pinsetter kubeconfig`
// prints (plain HTTP: it needs insecure-skip-tls-verify). Lists and reads every kind, watches
// pods, and creates, patches, scales and deletes a Deployment. Usage: node client_node.cjs
// KUBECONFIG (with NODE_PATH naming a node_modules holding @kubernetes/client-node).
const k8s = require('@kubernetes/client-node');
const assert = require('node:assert');

async function main() {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(process.argv[2]);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const namespace = 'default';

  const nodes = (await core.listNode()).items;
  assert.ok(nodes.length > 0, 'no nodes');
  await core.readNode({ name: nodes[0].metadata.name });
  const pods = (await core.listNamespacedPod({ namespace })).items;
  assert.ok(pods.length > 0, 'no pods');
  await core.readNamespacedPod({ name: pods[0].metadata.name, namespace });
  // Events reach the store a moment after they are reported (as client-go's broadcaster writes
  // them): a client that starts with the game may find none yet.
  let events = [];
  for (const deadline = Date.now() + 20000; events.length === 0 && Date.now() < deadline; ) {
    events = (await core.listNamespacedEvent({ namespace })).items;
    if (events.length === 0) await new Promise((resolve) => setTimeout(resolve, 200));
  }
  assert.ok(events.length > 0, 'no events');
  assert.ok((await apps.listNamespacedDeployment({ namespace })).items.length > 0, 'no deployments');
  console.log(`ok: listed and read ${nodes.length} Node, ${pods.length} Pod`);

  // A watch from the start sends the current state as ADDED.
  let added = 0;
  await new Promise((resolve, reject) => {
    new k8s.Watch(kc)
      .watch(`/api/v1/namespaces/${namespace}/pods`, { timeoutSeconds: 1 }, (type) => {
        if (type === 'ADDED') added += 1;
      }, (err) => (err ? reject(err) : resolve()))
      .catch(reject);
  });
  assert.ok(added >= pods.length, `watched ${added} ADDED, listed ${pods.length}`);
  console.log(`ok: watched ${added} Pod`);

  const labels = { app: 'node-web' };
  await apps.createNamespacedDeployment({
    namespace,
    body: {
      metadata: { name: 'node-web' },
      spec: {
        replicas: 1,
        selector: { matchLabels: labels },
        template: { metadata: { labels }, spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] } },
      },
    },
  });
  console.log('ok: created Deployment node-web');
  const patched = await apps.patchNamespacedDeployment(
    { name: 'node-web', namespace, body: { metadata: { labels: { tier: 'front' } } } },
    k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
  );
  assert.strictEqual(patched.metadata.labels.tier, 'front');
  console.log('ok: patched Deployment node-web');
  await apps.patchNamespacedDeploymentScale(
    { name: 'node-web', namespace, body: { spec: { replicas: 2 } } },
    k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
  );
  assert.strictEqual((await apps.readNamespacedDeployment({ name: 'node-web', namespace })).spec.replicas, 2);
  console.log('ok: scaled Deployment node-web to 2');
  await apps.deleteNamespacedDeployment({ name: 'node-web', namespace });
  await assert.rejects(apps.readNamespacedDeployment({ name: 'node-web', namespace }), (e) => e.code === 404);
  console.log('ok: deleted Deployment node-web; reading it afterwards is 404');
  console.log('all ok');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
