"""A gRPC client that isn't ours: grpcio, with stubs generated from the project's .proto by
grpcio-tools into a directory of the test's own. Run by tests/grpc.rs against `pinsetter serve`.

    python client.py PROTO_DIR STUBS_DIR plain ADDRESS
        watch the nodes, disconnect, knock a pin with Act, join as a bowler (refused out of
        turn), resume the watch from the
        resourceVersion it had reached and see that node go NotReady; a too-old resourceVersion
        is OUT_OF_RANGE with the reason Expired; health and reflection answer.
    python client.py PROTO_DIR STUBS_DIR tokens ADDRESS CA_PEM ADMIN_TOKEN VIEWER_TOKEN
        over TLS: no token is UNAUTHENTICATED, a viewer may watch what RBAC's view grants (pods, not
        nodes) but not act, an admin acts.
"""

import json
import os
import sys

from grpc_tools import protoc

proto_dir, stubs_dir, mode, address = sys.argv[1:5]
os.makedirs(stubs_dir, exist_ok=True)
generated = protoc.main([
    "grpc_tools.protoc",
    f"-I{proto_dir}",
    f"--python_out={stubs_dir}",
    f"--grpc_python_out={stubs_dir}",
    os.path.join(proto_dir, "pinsetter", "v1", "pinsetter.proto"),
])
assert generated == 0, f"protoc failed: {generated}"
sys.path.insert(0, stubs_dir)

import grpc  # noqa: E402
from pinsetter.v1 import pinsetter_pb2 as pb  # noqa: E402
from pinsetter.v1 import pinsetter_pb2_grpc as rpc  # noqa: E402


def ready(node_json):
    for condition in node_json.get("status", {}).get("conditions", []):
        if condition["type"] == "Ready":
            return condition["status"]
    return None


def trailer(error, key):
    return dict(error.trailing_metadata() or ()).get(key)


def plain():
    channel = grpc.insecure_channel(address)
    stub = rpc.PinsetterStub(channel)

    # Watch the nodes: the ten pins first, as ADDED; then hang up.
    nodes = {}
    last_rv = 0
    stream = stub.Watch(pb.WatchRequest(kinds=["nodes"]), timeout=30)
    for event in stream:
        last_rv = max(last_rv, int(event.resource_version))
        if event.type == pb.WatchEvent.BOOKMARK:
            # The listed state is complete: resume from here.
            break
        assert event.type == pb.WatchEvent.ADDED, event
        assert event.kind == "Node", event.kind
        node = json.loads(event.object)
        assert node["metadata"]["name"] == event.name
        assert node["metadata"]["resourceVersion"] == event.resource_version
        nodes[event.name] = ready(node)
    stream.cancel()
    assert len(nodes) == 10 and nodes.get("pin-3") == "True", nodes
    print(f"watched {len(nodes)} nodes up to resourceVersion {last_rv}")

    # Act: knock pin 3 (and a bad action, answered in order without ending the stream).
    actions = [pb.Action(knock="pin-3"), pb.Action(knock="no-such-pin"), pb.Action(bowl=pb.Bowl(aim=2))]
    results = list(stub.Act(iter(actions), timeout=30))
    assert [r.index for r in results] == [0, 1, 2], results
    assert results[0].code == grpc.StatusCode.OK.value[0], results[0]
    assert results[1].code == grpc.StatusCode.NOT_FOUND.value[0], results[1]
    assert results[2].code == grpc.StatusCode.OK.value[0], results[2]
    print("knocked pin-3")

    # A second stream joins the game as a bowler (answered with its index); its bowl is refused
    # while the first bowler is up, and a second join on the same stream is refused.
    joined = list(stub.Act(iter([
        pb.Action(join=pb.Join(name="grpcio")),
        pb.Action(bowl=pb.Bowl(power=True)),
        pb.Action(join=pb.Join(name="again")),
    ]), timeout=30))
    assert joined[0].code == grpc.StatusCode.OK.value[0] and joined[0].HasField("bowler"), joined[0]
    assert joined[0].bowler == 1, joined[0]
    assert joined[1].code == grpc.StatusCode.FAILED_PRECONDITION.value[0], joined[1]
    assert "not grpcio's" in joined[1].message, joined[1]
    assert joined[2].code == grpc.StatusCode.FAILED_PRECONDITION.value[0], joined[2]
    print("joined as bowler 1, refused out of turn")

    # Resume from where the first watch stopped: pin-3 goes NotReady.
    resumed = stub.Watch(pb.WatchRequest(kinds=["nodes"], resource_version=str(last_rv)), timeout=60)
    for event in resumed:
        assert int(event.resource_version) > last_rv, (event.resource_version, last_rv)
        if event.name == "pin-3" and ready(json.loads(event.object)) not in ("True", None):
            print(f"pin-3 NotReady at resourceVersion {event.resource_version}")
            resumed.cancel()
            break
    else:
        raise AssertionError("the resumed watch ended before pin-3 went NotReady")

    # A resourceVersion the server no longer holds is the HTTP watch's 410, as OUT_OF_RANGE.
    try:
        for _ in stub.Watch(pb.WatchRequest(kinds=["nodes"], resource_version="1"), timeout=30):
            pass
        raise AssertionError("a too-old resourceVersion was accepted")
    except grpc.RpcError as error:
        if error.code() != grpc.StatusCode.OUT_OF_RANGE:
            raise
        assert trailer(error, "pinsetter-reason") == "Expired", error.trailing_metadata()
        print(f"too old: {error.details()}")

    # Bad input is INVALID_ARGUMENT, and changes nothing.
    try:
        for _ in stub.Watch(pb.WatchRequest(kinds=["teapots"]), timeout=30):
            pass
        raise AssertionError("an unknown kind was accepted")
    except grpc.RpcError as error:
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error

    # Standard health, and reflection naming the service.
    health = channel.unary_unary(
        "/grpc.health.v1.Health/Check",
        request_serializer=lambda _: b"",
        response_deserializer=lambda data: data,
    )
    # HealthCheckResponse{status: SERVING (1)} is the two bytes 08 01.
    assert health(None, timeout=10) == b"\x08\x01"
    print("health SERVING")


def tokens():
    ca_pem, admin, viewer = sys.argv[5:8]
    with open(ca_pem, "rb") as f:
        credentials = grpc.ssl_channel_credentials(root_certificates=f.read())
    stub = rpc.PinsetterStub(grpc.secure_channel(address, credentials))

    def first_event(metadata, kind="nodes"):
        stream = stub.Watch(pb.WatchRequest(kinds=[kind]), metadata=metadata, timeout=30)
        event = next(stream)
        stream.cancel()
        return event

    def first_node(metadata):
        return first_event(metadata, "nodes")

    try:
        first_node(())
        raise AssertionError("a watch without a token was served")
    except grpc.RpcError as error:
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED, error
    try:
        first_node((("authorization", "Bearer wrong"),))
        raise AssertionError("a watch with a bad token was served")
    except grpc.RpcError as error:
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED, error
    print("refused without a token")
    as_viewer = (("authorization", f"Bearer {viewer}"),)
    # RBAC decides, as for the HTTP API: upstream's `view` role may watch pods, not nodes.
    assert first_event(as_viewer, "pods").kind == "Pod"
    try:
        first_node(as_viewer)
        raise AssertionError("a viewer watched nodes, which view does not grant")
    except grpc.RpcError as error:
        assert error.code() == grpc.StatusCode.PERMISSION_DENIED, error
        assert 'cannot watch resource "nodes" in API group ""' in error.details(), error.details()
    try:
        list(stub.Act(iter([pb.Action(knock="pin-1")]), metadata=as_viewer, timeout=30))
        raise AssertionError("a viewer acted")
    except grpc.RpcError as error:
        assert error.code() == grpc.StatusCode.PERMISSION_DENIED, error
    print("a viewer watches, and may not act")
    as_admin = (("authorization", f"Bearer {admin}"),)
    results = list(stub.Act(iter([pb.Action(knock="pin-1")]), metadata=as_admin, timeout=30))
    assert [r.code for r in results] == [0], results
    print("an admin acts")


{"plain": plain, "tokens": tokens}[mode]()
print("ok")
