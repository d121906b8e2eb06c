//! Services and the endpoints controller: a Service gets a cluster IP, its Endpoints list the
//! ready pods it selects, and a knocked pin's pods leave them.

use pinsetter::cluster::objects::{Endpoints, Object, Service};
use pinsetter::cluster::store::ObjectKey;
use pinsetter::cluster::timing::Preset;
use pinsetter::scenario::Scenario;
use pinsetter::world::{Input, World};

fn run(world: &mut World, ms: u64) {
    for _ in 0..ms / 10 {
        world.step();
        while world.poll_output().is_some() {}
    }
}

fn addresses(world: &World) -> Vec<(String, String)> {
    let ep = world
        .cluster()
        .store
        .get::<Endpoints>(&ObjectKey::new("default", "api"))
        .expect("the controller wrote Endpoints");
    ep.subsets
        .iter()
        .flat_map(|s| s.addresses.iter())
        .map(|a| (a.ip.clone(), a.node_name.clone().unwrap_or_default()))
        .collect()
}

#[test]
fn endpoints_follow_ready_pods_through_a_knock() {
    let mut world = World::new(1, Preset::Arcade, &Scenario::resolve("default").unwrap()).unwrap();
    run(&mut world, 1_000);
    let service: Service = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "api"},
        "spec": {"selector": {"app": "api"}, "ports": [{"port": 80, "targetPort": 8080}]}
    }))
    .unwrap();
    world.handle_input(Input::Apply(Box::new(Object::from(service)))).unwrap();
    run(&mut world, 100);
    let svc = world.cluster().store.get::<Service>(&ObjectKey::new("default", "api")).unwrap();
    assert!(svc.spec.cluster_ip.starts_with("10.96."), "a cluster IP was allocated: {:?}", svc.spec.cluster_ip);
    assert_eq!((svc.spec.type_.as_str(), svc.spec.ports[0].protocol.as_str()), ("ClusterIP", "TCP"));

    let before = addresses(&world);
    assert_eq!(before.len(), 8, "every ready api pod is an endpoint");
    let victim = before[0].1.clone();
    world.handle_input(Input::Knock(victim.clone())).unwrap();
    run(&mut world, 3_000);
    let after = addresses(&world);
    assert_eq!(after.len(), 8, "replacements are endpoints again once Running");
    assert!(
        after.iter().all(|(_, node)| *node != victim),
        "no endpoint is left on the knocked pin {victim}: {after:?}"
    );
    let ep = world.cluster().store.get::<Endpoints>(&ObjectKey::new("default", "api")).unwrap();
    assert!(ep.subsets[0].ports.iter().all(|p| p.port == 8080), "targetPort, not port");
}
