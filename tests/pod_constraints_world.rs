//! Affinity and topology spread inside the whole World: each replica of a Deployment sees where
//! the replicas before it went (they take a scheduling cycle each), and a pod no node can take
//! reports upstream's reason.

use pinsetter::clock::TICK_MS;
use pinsetter::cluster::objects::Pod;
use pinsetter::cluster::timing::Preset;
use pinsetter::scenario::Scenario;
use pinsetter::world::{Output, World};
use std::collections::BTreeMap;

/// `n` pins of 4 cpu, zones a, b, c in turn, then a Deployment `web` with `spec` in its template.
fn lane(n: usize, replicas: usize, spec: &str) -> String {
    let mut yaml = String::new();
    for i in 1..=n {
        let zone = ["a", "b", "c"][(i - 1) % 3];
        yaml += &format!(
            "apiVersion: v1\nkind: Node\nmetadata:\n  name: pin-{i}\n  labels: {{kubernetes.io/hostname: pin-{i}, topology.kubernetes.io/zone: {zone}}}\nstatus:\n  capacity: {{cpu: \"4\", memory: 8Gi, pods: \"110\"}}\n  allocatable: {{cpu: \"4\", memory: 8Gi, pods: \"110\"}}\n---\n"
        );
    }
    yaml += &format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web}}\nspec:\n  replicas: {replicas}\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n{spec}      containers:\n      - name: web\n        image: nginx\n        resources: {{requests: {{cpu: 100m, memory: 64Mi}}}}\n"
    );
    yaml
}

fn run(world: &mut World, ms: u64, log: &mut Vec<Output>) {
    for _ in 0..ms / TICK_MS {
        world.step();
        log.extend(std::iter::from_fn(|| world.poll_output()));
    }
}

fn web_pods_per_node(world: &World) -> (BTreeMap<String, usize>, usize) {
    let mut per_node = BTreeMap::new();
    let mut pending = 0;
    for pod in world.cluster().store.list::<Pod>().filter(|p| p.is_active()) {
        match pod.node_name() {
            Some(node) => *per_node.entry(node.to_string()).or_default() += 1,
            None => pending += 1,
        }
    }
    (per_node, pending)
}

#[test]
fn required_anti_affinity_puts_one_replica_per_pin_and_holds_the_rest_with_upstreams_reason() {
    let spec = "      affinity:\n        podAntiAffinity:\n          requiredDuringSchedulingIgnoredDuringExecution:\n          - labelSelector: {matchLabels: {app: web}}\n            topologyKey: kubernetes.io/hostname\n";
    let scenario = Scenario::parse(&lane(3, 4, spec), "test").unwrap();
    let mut world = World::new(1, Preset::Arcade, &scenario).unwrap();
    let mut log = Vec::new();
    run(&mut world, 5_000, &mut log);
    let (per_node, pending) = web_pods_per_node(&world);
    assert_eq!(per_node.len(), 3, "{per_node:?}");
    assert!(per_node.values().all(|&n| n == 1), "{per_node:?}");
    assert_eq!(pending, 1);
    let failure = log
        .iter()
        .find_map(|o| match o {
            Output::Event(e) if e.reason == "FailedScheduling" => Some(e.message.clone()),
            _ => None,
        })
        .expect("the fourth replica fails to schedule");
    assert!(
        failure.starts_with("0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules."),
        "{failure}"
    );
}

#[test]
fn topology_spread_do_not_schedule_balances_replicas_over_zones() {
    let spec = "      topologySpreadConstraints:\n      - maxSkew: 1\n        topologyKey: topology.kubernetes.io/zone\n        whenUnsatisfiable: DoNotSchedule\n        labelSelector: {matchLabels: {app: web}}\n";
    let scenario = Scenario::parse(&lane(6, 7, spec), "test").unwrap();
    let mut world = World::new(1, Preset::Arcade, &scenario).unwrap();
    let mut log = Vec::new();
    run(&mut world, 5_000, &mut log);
    let (per_node, pending) = web_pods_per_node(&world);
    assert_eq!(pending, 0);
    let mut per_zone = BTreeMap::new();
    for (node, n) in per_node {
        let i: usize = node.trim_start_matches("pin-").parse().unwrap();
        *per_zone.entry(["a", "b", "c"][(i - 1) % 3]).or_insert(0) += n;
    }
    let counts: Vec<usize> = per_zone.values().copied().collect();
    assert_eq!(per_zone.len(), 3, "{per_zone:?}");
    assert!(counts.iter().max().unwrap() - counts.iter().min().unwrap() <= 1, "{per_zone:?}");
}
