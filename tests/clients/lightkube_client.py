"""lightkube (strict dataclass models from lightkube-models) against `pinsetter serve`: every kind
is listed, read and watched, so a field the models require and the server left out fails here;
then a Deployment is created, patched, scaled and deleted. Usage: lightkube_client.py KUBECONFIG.
Prints one `ok:` line per step."""

import sys
import time

from lightkube import ApiError, Client, KubeConfig
from lightkube.models.apps_v1 import DeploymentSpec
from lightkube.models.core_v1 import Container, PodSpec, PodTemplateSpec, ServicePort, ServiceSpec
from lightkube.models.meta_v1 import LabelSelector, ObjectMeta
from lightkube.resources.apps_v1 import Deployment, ReplicaSet
from lightkube.resources.coordination_v1 import Lease
from lightkube.resources.core_v1 import Endpoints, Event, Namespace, Node, Pod, Service
from lightkube.types import PatchType

c = Client(config=KubeConfig.from_file(sys.argv[1]))
NS = "default"

c.create(Service(metadata=ObjectMeta(name="lk-svc"), spec=ServiceSpec(selector={"app": "web"}, ports=[ServicePort(port=80)])), namespace=NS)
print("ok: created Service lk-svc")

cluster_scoped = {Node, Namespace}
kinds = [Node, Pod, Service, Endpoints, Event, Namespace, Deployment, ReplicaSet, Lease]
def listed(kind):
    # Events reach the store a moment after they are reported (as client-go's broadcaster writes
    # them): a client that starts with the game may find none yet.
    deadline = time.monotonic() + 20
    while True:
        items = list(c.list(kind) if kind in cluster_scoped else c.list(kind, namespace="*"))
        if items or time.monotonic() > deadline:
            return items
        time.sleep(0.2)


for kind in kinds:
    items = listed(kind)
    assert items, f"no {kind.__name__} to check"
    for item in items:
        got = c.get(kind, item.metadata.name, namespace=item.metadata.namespace)
        assert got.metadata.uid == item.metadata.uid
    print(f"ok: listed and read {len(items)} {kind.__name__}")

# A watch from the list's resourceVersion: the next change to a Deployment arrives, as a model.
listed = c.list(Deployment, namespace=NS)
before = len(list(listed))  # the list is read lazily; its resourceVersion comes with it
labels = {"app": "lk-web"}
deployment = Deployment(
    metadata=ObjectMeta(name="lk-web"),
    spec=DeploymentSpec(
        replicas=1,
        selector=LabelSelector(matchLabels=labels),
        template=PodTemplateSpec(metadata=ObjectMeta(labels=labels), spec=PodSpec(containers=[Container(name="web", image="nginx:1.27")])),
    ),
)
created = c.create(deployment, namespace=NS)
assert created.metadata.uid and created.spec.replicas == 1
print("ok: created Deployment lk-web")
# A watch from the start sends the current state first, each object as a model.
for kind in (Node, Pod, Event, ReplicaSet):
    namespace = None if kind in cluster_scoped else NS
    expected = len(list(c.list(kind, namespace=namespace)))
    seen = 0
    for op, obj in c.watch(kind, namespace=namespace):
        assert isinstance(obj, kind), type(obj)
        seen += 1
        if seen == expected:
            break
    print(f"ok: watched {seen} {kind.__name__}")
# lightkube's watch never ends by itself: stop at the object we wait for.
for op, obj in c.watch(Deployment, namespace=NS, resource_version=listed.resourceVersion):
    assert isinstance(obj, Deployment), type(obj)
    if obj.metadata.name == "lk-web":
        break
print("ok: a watch resumed from the list's resourceVersion sent lk-web")

patched = c.patch(Deployment, "lk-web", {"metadata": {"labels": {"tier": "front"}}}, namespace=NS, patch_type=PatchType.MERGE)
assert patched.metadata.labels["tier"] == "front", patched.metadata.labels
print("ok: patched Deployment lk-web")

scale = c.get(Deployment.Scale, "lk-web", namespace=NS)
scale.spec.replicas = 2
c.replace(scale, namespace=NS)
assert c.get(Deployment, "lk-web", namespace=NS).spec.replicas == 2
print("ok: scaled Deployment lk-web to 2")

c.delete(Deployment, "lk-web", namespace=NS)
try:
    c.get(Deployment, "lk-web", namespace=NS)
    raise AssertionError("the deleted Deployment can still be read")
except ApiError as e:
    assert e.status.code == 404 and e.status.reason == "NotFound", e.status
print("ok: deleted Deployment lk-web; reading it afterwards is 404 NotFound")
c.delete(Service, "lk-svc", namespace=NS)
print("all ok")
