//! Criterion benches of the scheduler's hot paths, at modest sizes so a run takes seconds
//! (`pinsetter bench` measures the big lanes). `cargo bench --bench scheduler`.

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use pinsetter::bench::{knocked_lane, lane};
use pinsetter::cluster::scheduler::framework::{BalancedAllocation, LeastAllocated, MostAllocated, ScorePlugin, fits};
use pinsetter::cluster::scheduler::{flow, greedy, spread};

/// The seed's greedy batch placement: 1,000 nodes, 30 pods each.
fn greedy_batch(c: &mut Criterion) {
    let (nodes, pods) = lane(1_000, 30);
    c.bench_function("greedy_batch/1000x30", |b| {
        b.iter_batched(|| nodes.clone(), |mut n| greedy::place_batch(&pods, &mut n), BatchSize::LargeInput)
    });
}

/// One pod at a time, filter and score every node (the `spread` policy): 1,000 nodes, 1,000 pods.
fn spread_one_by_one(c: &mut Criterion) {
    let (nodes, pods) = lane(1_000, 1);
    c.bench_function("spread_one_by_one/1000x1", |b| {
        b.iter_batched(|| nodes.clone(), |mut n| spread::place_batch(&pods, &mut n, false), BatchSize::LargeInput)
    });
}

/// Knock a tenth of a 500-node lane and re-place the displaced pods as one min-cost flow.
fn flow_replace(c: &mut Criterion) {
    let (nodes, displaced) = knocked_lane(500, true);
    c.bench_function("flow_replace/500", |b| {
        b.iter_batched(
            || nodes.clone(),
            |mut n| flow::solve_batch(&displaced, &mut n, false, false).cost(),
            BatchSize::LargeInput,
        )
    });
}

/// The per-node work inside one-pod-at-a-time scheduling: every filter, then each score plugin.
fn filter_and_score(c: &mut Criterion) {
    let (nodes, pods) = lane(64, 1);
    let pod = &pods[0];
    c.bench_function("filter_and_score/64 nodes", |b| {
        b.iter(|| {
            nodes
                .iter()
                .filter(|n| fits(pod, n))
                .map(|n| LeastAllocated.score(pod, n) + BalancedAllocation.score(pod, n) + MostAllocated.score(pod, n))
                .sum::<i64>()
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = greedy_batch, spread_one_by_one, flow_replace, filter_and_score
}
criterion_main!(benches);
