"""The official Kubernetes Python client (`kubernetes` on PyPI, strict generated models) against
Pinsetter (`serve` or `play --listen`): every kind discovery says is served is listed, read and
watched through the typed API, so a field the models require and the server left out fails here;
a watch resumed from a list's resourceVersion must report an object created after the list as
ADDED; a Deployment is created, patched, scaled and deleted, one of its pods evicted; and errors
(404, 409 on a stale resourceVersion, 422 with causes) arrive as the client's ApiException.
Usage: official.py KUBECONFIG. Prints one `ok:` line per step."""

import json
import re
import sys
import time

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

config.load_kube_config(config_file=sys.argv[1])
assert client.Configuration.get_default_copy().client_side_validation, "strict models expected"
core, apps = client.CoreV1Api(), client.AppsV1Api()
NS = "default"

# Objects of the kinds a fresh lane may have none of, so every served kind has something to read.
core.create_namespaced_service(NS, client.V1Service(
    metadata=client.V1ObjectMeta(name="py-svc"),
    spec=client.V1ServiceSpec(selector={"app": "web"}, ports=[client.V1ServicePort(port=80, target_port=8080)]),
))
core.create_namespaced_config_map(NS, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="py-cm"), data={"a": "1"}))
core.create_namespaced_secret(NS, client.V1Secret(metadata=client.V1ObjectMeta(name="py-secret"), string_data={"k": "v"}))
rbac = client.RbacAuthorizationV1Api()
rbac.create_namespaced_role(NS, {"metadata": {"name": "py-role"},
    "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]})
rbac.create_namespaced_role_binding(NS, {"metadata": {"name": "py-rb"},
    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "py-role"},
    "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": NS}]})
storage = client.StorageV1Api()
storage.create_storage_class({"metadata": {"name": "py-local"}, "provisioner": "kubernetes.io/no-provisioner",
    "volumeBindingMode": "WaitForFirstConsumer"})
core.create_persistent_volume({"metadata": {"name": "py-pv"}, "spec": {"capacity": {"storage": "1Gi"},
    "accessModes": ["ReadWriteOnce"], "storageClassName": "py-local", "hostPath": {"path": "/tmp/py-pv"}}})
core.create_namespaced_persistent_volume_claim(NS, {"metadata": {"name": "py-pvc"}, "spec": {
    "accessModes": ["ReadWriteOnce"], "storageClassName": "py-local", "resources": {"requests": {"storage": "1Gi"}}}})
apps.create_namespaced_stateful_set(NS, {"metadata": {"name": "py-db"}, "spec": {"serviceName": "py-db",
    "replicas": 1, "selector": {"matchLabels": {"app": "py-db"}},
    "template": {"metadata": {"labels": {"app": "py-db"}}, "spec": {"containers": [{"name": "db", "image": "db:1"}]}}}})
client.PolicyV1Api().create_namespaced_pod_disruption_budget(NS, {"metadata": {"name": "py-pdb"},
    "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "web"}}}})
CRD_GROUP = "example.com"
client.ApiextensionsV1Api().create_custom_resource_definition({
    "metadata": {"name": f"widgets.{CRD_GROUP}"},
    "spec": {"group": CRD_GROUP, "scope": "Namespaced",
             "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
             "versions": [{"name": "v1", "served": True, "storage": True,
                           "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                               "spec": {"type": "object", "properties": {"size": {"type": "integer"}}}}}}}]}})
custom = client.CustomObjectsApi()
for attempt in range(50):  # the CRD is served once its controller has established it
    try:
        custom.create_namespaced_custom_object(CRD_GROUP, "v1", NS, "widgets",
            {"apiVersion": f"{CRD_GROUP}/v1", "kind": "Widget", "metadata": {"name": "py-widget"}, "spec": {"size": 3}})
        break
    except ApiException as e:
        assert e.status == 404 and attempt < 49, e
        import time
        time.sleep(0.1)
print("ok: created Service py-svc, ConfigMap py-cm, Secret py-secret, Role py-role, RoleBinding py-rb, "
      "StorageClass py-local, PersistentVolume py-pv, PersistentVolumeClaim py-pvc, StatefulSet py-db, "
      "PodDisruptionBudget py-pdb, CRD widgets.example.com and Widget py-widget")


def snake(kind):
    return re.sub(r"(?<!^)(?=[A-Z])", "_", kind).lower()


def typed_api(group_version):
    """The generated API class for a group version: apps/v1 -> AppsV1Api, v1 -> CoreV1Api."""
    group, _, version = group_version.rpartition("/")
    if not group:
        return client.CoreV1Api()
    # rbac.authorization.k8s.io/v1 -> RbacAuthorizationV1Api, apiextensions.k8s.io -> Apiextensions.
    base = group[: -len(".k8s.io")] if group.endswith(".k8s.io") else group
    prefix = "".join(part.capitalize() for part in re.split(r"[.-]", base))
    return getattr(client, f"{prefix}{version.capitalize()}Api")()


# Every kind served, from discovery itself (not a list kept here): each top-level resource with
# `list`, by the client's typed calls for it. A served kind the client has no call for fails.
group_versions = ["v1"] + [g.preferred_version.group_version for g in client.ApisApi().get_api_versions().groups]
# Groups that CRDs serve (the test's own, and the Roll CRD every lane installs at start).
crds = client.ApiextensionsV1Api().list_custom_resource_definition().items
crd_groups = {crd.spec.group: crd for crd in crds}
kinds = []  # (label, list every, read one by (name, namespace), watchable)
for group_version in group_versions:
    group = group_version.split("/")[0]
    if group in crd_groups and group != CRD_GROUP:
        # Another CRD's resource: the generic CustomObjectsApi lists it across namespaces.
        crd = crd_groups[group]
        listed = custom.list_cluster_custom_object(group, group_version.split("/")[1], crd.spec.names.plural)
        assert listed["kind"] == crd.spec.names.list_kind and isinstance(listed["items"], list), listed
        print(f"ok: listed {crd.spec.names.kind}.{group} through CustomObjectsApi")
        continue
    if group == CRD_GROUP:
        # A CRD's resource has no typed API: the generic CustomObjectsApi lists and reads it.
        widgets = custom.list_namespaced_custom_object(CRD_GROUP, "v1", NS, "widgets")["items"]
        assert [w["metadata"]["name"] for w in widgets] == ["py-widget"], widgets
        got = custom.get_namespaced_custom_object(CRD_GROUP, "v1", NS, "widgets", "py-widget")
        assert got["spec"] == {"size": 3}, got
        print("ok: listed and read Widget.example.com through CustomObjectsApi")
        continue
    api = typed_api(group_version)
    for resource in api.get_api_resources().resources:
        if "/" in resource.name or "list" not in resource.verbs:
            continue
        name = snake(resource.kind)
        label = resource.kind if "/" not in group_version else f"{resource.kind}.{group_version.split('/')[0]}"
        if resource.namespaced:
            list_all = getattr(api, f"list_{name}_for_all_namespaces")
            read = getattr(api, f"read_namespaced_{name}")
        else:
            list_all = getattr(api, f"list_{name}")
            read = (lambda r: lambda n, ns: r(n))(getattr(api, f"read_{name}"))
        kinds.append((label, resource.kind, list_all, read, "watch" in resource.verbs))
assert len(kinds) >= 12, [k[0] for k in kinds]
print("ok: discovery serves " + ", ".join(k[0] for k in kinds))

def listed(list_all):
    # Events reach the store a moment after they are reported (as client-go's broadcaster writes
    # them): a client that starts with the game may find none yet.
    deadline = time.monotonic() + 20
    while not (items := list_all().items) and time.monotonic() < deadline:
        time.sleep(0.2)
    return items


for label, _, list_all, read, _ in kinds:
    items = listed(list_all)
    assert items, f"no {label} to check"
    for item in items:
        read(item.metadata.name, item.metadata.namespace)
    print(f"ok: listed and read {len(items)} {label}")

# A watch from the start sends the current state as ADDED (and live changes after it): every
# event must deserialize into the model.
for label, kind, list_all, _, watchable in kinds:
    if not watchable:
        print(f"ok: {label} is not watchable (discovery says so)")
        continue
    added = 0
    for event in watch.Watch().stream(list_all, timeout_seconds=1):
        assert type(event["object"]).__name__.endswith(kind), type(event["object"])
        added += event["type"] == "ADDED"
    assert added, f"a watch of {label} sent no ADDED event"
    print(f"ok: watched {label}: {added} ADDED")

# A list, then a Deployment created after it: a watch resumed from the list's resourceVersion
# reports it as ADDED (it did not exist at that version), then the patch as MODIFIED.
listed = apps.list_namespaced_deployment(NS)
labels = {"app": "py-web"}
deployment = client.V1Deployment(
    metadata=client.V1ObjectMeta(name="py-web"),
    spec=client.V1DeploymentSpec(
        replicas=1,
        selector=client.V1LabelSelector(match_labels=labels),
        template=client.V1PodTemplateSpec(
            metadata=client.V1ObjectMeta(labels=labels),
            spec=client.V1PodSpec(containers=[client.V1Container(name="web", image="nginx:1.27")]),
        ),
    ),
)
created = apps.create_namespaced_deployment(NS, deployment)
assert created.metadata.uid and created.spec.replicas == 1
print("ok: created Deployment py-web")
patched = apps.patch_namespaced_deployment("py-web", NS, {"metadata": {"labels": {"tier": "front"}}})
assert patched.metadata.labels.get("tier") == "front", patched.metadata.labels
print("ok: patched Deployment py-web")
resumed = [
    (e["type"], e["object"].metadata.labels or {})
    for e in watch.Watch().stream(
        apps.list_namespaced_deployment, NS, resource_version=listed.metadata.resource_version, timeout_seconds=1
    )
    if e["object"].metadata.name == "py-web"
]
assert resumed and resumed[0][0] == "ADDED", f"created after the list, so first seen as ADDED: {resumed}"
assert any(t == "MODIFIED" and l.get("tier") == "front" for t, l in resumed[1:]), resumed
print("ok: a watch resumed from the list's resourceVersion saw py-web ADDED, then MODIFIED")

apps.patch_namespaced_deployment_scale("py-web", NS, {"spec": {"replicas": 3}})
scale = apps.read_namespaced_deployment_scale("py-web", NS)
assert scale.spec.replicas == 3, scale
assert apps.read_namespaced_deployment("py-web", NS).spec.replicas == 3
print("ok: scaled Deployment py-web to 3")

# Evict one of its pods through the eviction subresource: the pod goes (or starts terminating).
victim = next(
    (e["object"].metadata.name
     for e in watch.Watch().stream(core.list_namespaced_pod, NS, label_selector="app=py-web", timeout_seconds=5)
     if e["type"] == "ADDED"),
    None,
)
assert victim, "py-web has no pod to evict"
core.create_namespaced_pod_eviction(victim, NS, client.V1Eviction(metadata=client.V1ObjectMeta(name=victim, namespace=NS)))
try:
    gone = core.read_namespaced_pod(victim, NS).metadata.deletion_timestamp is not None
except ApiException as e:
    assert e.status == 404, e
    gone = True
assert gone, f"evicted pod {victim} is neither gone nor terminating"
print(f"ok: evicted pod {victim}")


def api_error(call, status):
    """Runs `call`, which must fail with ApiException `status`; returns the Status body."""
    try:
        call()
    except ApiException as e:
        assert e.status == status, (e.status, e.body)
        body = json.loads(e.body)
        assert (body["kind"], body["status"], body["code"]) == ("Status", "Failure", status), body
        return body
    raise AssertionError(f"expected an ApiException {status}")


# 409: replacing with a resourceVersion someone else's write has made stale.
stale = core.read_namespaced_config_map("py-cm", NS)
core.patch_namespaced_config_map("py-cm", NS, {"data": {"a": "2"}})
stale.data = {"a": "3"}
body = api_error(lambda: core.replace_namespaced_config_map("py-cm", NS, stale), 409)
assert body["reason"] == "Conflict", body
assert core.read_namespaced_config_map("py-cm", NS).data == {"a": "2"}, "a refused replace changed nothing"
print("ok: a replace with a stale resourceVersion is ApiException 409 Conflict")

# 422: an invalid object, with the field named in the causes.
body = api_error(
    lambda: core.create_namespaced_config_map(NS, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="Not_Valid"))),
    422,
)
assert body["reason"] == "Invalid", body
assert any(c.get("field") == "metadata.name" for c in body["details"]["causes"]), body
print("ok: an invalid name is ApiException 422 Invalid with metadata.name in its causes")

deleted = apps.delete_namespaced_deployment("py-web", NS)
# Upstream's deployment storage answers a delete with a Status naming what went (this client
# hands it back as a plain dict).
assert (deleted["kind"], deleted["status"]) == ("Status", "Success"), deleted
assert deleted["details"] == {"name": "py-web", "group": "apps", "kind": "deployments", "uid": created.metadata.uid}, deleted
print("ok: deleted Deployment py-web: Status Success with its name, kind and uid")
body = api_error(lambda: apps.read_namespaced_deployment("py-web", NS), 404)
assert body["reason"] == "NotFound", body
print("ok: reading it afterwards is ApiException 404 NotFound")

core.delete_namespaced_service("py-svc", NS)
core.delete_namespaced_config_map("py-cm", NS)
core.delete_namespaced_secret("py-secret", NS)
print("ok: deleted Service py-svc, ConfigMap py-cm, Secret py-secret")
print("all ok")
