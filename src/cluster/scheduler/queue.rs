//! The scheduling queue, shaped like upstream's (`pkg/scheduler/internal/queue`):
//!
//! - **activeQ**: pods to try in the next cycle;
//! - **backoffQ**: pods that failed and wait out their backoff (`podInitialBackoffSeconds`,
//!   doubled per failed attempt up to `podMaxBackoffSeconds`), keyed by when it ends;
//! - **unschedulablePods**: pods that fit nowhere, parked until a cluster event that could help
//!   them ([`SchedulingQueue::move_all_to_active_or_backoff`]) or until they have waited
//!   `podMaxInUnschedulablePodsDuration`.
//!
//! Every timed state is keyed by its deadline in an ordered set, so the next deadline is the
//! first element and a tick with nothing due costs nothing, however many pods are parked.

use crate::clock::Millis;
use crate::cluster::LookupMap;
use crate::cluster::store::ObjectKey;
use crate::cluster::timing::Timing;
use std::collections::BTreeSet;

/// Pods one scheduling cycle takes at most. Each failure writes the pod's condition and an
/// Event, so an unbounded batch (20,000 pods after a big scale) wrote more in one round than
/// the store's change log holds and forced every component to relist.
pub const MAX_PODS_PER_CYCLE: usize = 2_000;
/// Pods a cycle takes at least, however big the lane.
const MIN_PODS_PER_CYCLE: usize = 500;
/// Pods × nodes one cycle may take on: a cycle is one round no shell can cut (its snapshot,
/// filters and preemption grow with the nodes), so the batch shrinks as the lane grows and a
/// cycle at 5,000 nodes (500 pods, about 15 ms) keeps the stadium's frames moving where 2,000
/// pods (60 ms) stalled them. Lanes up to 1,000 nodes keep 2,000. Upstream takes one pod a cycle.
const POD_NODES_PER_CYCLE: usize = 2_000_000;

/// Pods one cycle takes on a lane of `nodes` (see [`POD_NODES_PER_CYCLE`]).
pub fn pods_per_cycle(nodes: usize) -> usize {
    (POD_NODES_PER_CYCLE / nodes.max(1)).clamp(MIN_PODS_PER_CYCLE, MAX_PODS_PER_CYCLE)
}

/// Where a queued pod is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Active,
    /// Taken by the running cycle: it must end bound (removed) or failed (parked).
    InFlight,
    /// In backoffQ until this instant.
    Backoff(Millis),
    /// In unschedulablePods until this instant at the latest.
    Unschedulable(Millis),
}

#[derive(Debug, Clone, Copy)]
struct QueuedPod {
    place: Place,
    /// Failed attempts so far: the backoff doubles with each.
    attempts: u32,
    /// Its backoff after the latest failure ends here; moving back earlier lands in backoffQ.
    backoff_until: Millis,
}

/// A pod's answer for the cycle that took it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requeue {
    /// It fits nowhere: park it until a cluster change could help.
    Unschedulable,
    /// Something else went wrong (a failed write): retry after its backoff, without waiting
    /// for a cluster change.
    Backoff,
}

#[derive(Debug, Clone, Default)]
pub struct SchedulingQueue {
    /// Where each queued pod is, found by hash (every failure and move asks; 26,000 parked
    /// pods move at once); never iterated, so no order leaks: the queues below give the order.
    pods: LookupMap<ObjectKey, QueuedPod>,
    active: BTreeSet<ObjectKey>,
    /// When the oldest pod in activeQ arrived (activeQ is due as soon as it is not empty).
    active_since: Option<Millis>,
    backoff: BTreeSet<(Millis, ObjectKey)>,
    unschedulable: BTreeSet<(Millis, ObjectKey)>,
}

impl SchedulingQueue {
    /// Pods waiting to be placed, wherever they wait.
    pub fn len(&self) -> usize {
        self.pods.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pods.is_empty()
    }

    /// Parked in unschedulablePods.
    pub fn unschedulable_len(&self) -> usize {
        self.unschedulable.len()
    }

    pub fn contains(&self, pod: &ObjectKey) -> bool {
        self.pods.contains_key(pod)
    }

    /// A new pod that wants a node goes straight to activeQ; one already queued stays where it is.
    pub fn add(&mut self, pod: &ObjectKey, now: Millis) {
        if self.pods.contains_key(pod) {
            return;
        }
        self.pods.insert(pod.clone(), QueuedPod { place: Place::Active, attempts: 0, backoff_until: now });
        self.push_active(pod.clone(), now);
    }

    /// The pod is bound, deleted or no longer ours.
    pub fn remove(&mut self, pod: &ObjectKey) {
        let Some(queued) = self.pods.remove(pod) else { return };
        match queued.place {
            Place::Active => {
                self.active.remove(pod);
                if self.active.is_empty() {
                    self.active_since = None;
                }
            }
            Place::InFlight => {}
            Place::Backoff(at) => {
                self.backoff.remove(&(at, pod.clone()));
            }
            Place::Unschedulable(at) => {
                self.unschedulable.remove(&(at, pod.clone()));
            }
        }
    }

    /// When the next cycle has work, if ever.
    pub fn next_deadline(&self) -> Option<Millis> {
        let backoff = self.backoff.first().map(|(at, _)| *at);
        let unschedulable = self.unschedulable.first().map(|(at, _)| *at);
        [self.active_since, backoff, unschedulable].into_iter().flatten().min()
    }

    /// Starts a cycle: pods whose backoff ended and pods parked too long join activeQ, and
    /// activeQ is handed out (in key order, at most `limit`: see [`pods_per_cycle`]) and
    /// marked in flight.
    pub fn pop_due(&mut self, now: Millis, limit: usize) -> Vec<ObjectKey> {
        while let Some((at, _)) = self.backoff.first()
            && *at <= now
        {
            let Some((_, pod)) = self.backoff.pop_first() else { break };
            self.activate(pod, now);
        }
        while let Some((at, _)) = self.unschedulable.first()
            && *at <= now
        {
            let Some((_, pod)) = self.unschedulable.pop_first() else { break };
            self.activate_or_backoff(pod, now);
        }
        // A cycle takes at most its limit; the rest stay active and go in the next
        // cycle of the same instant, after the cluster has read what this one wrote.
        let rest = match self.active.iter().nth(limit).cloned() {
            Some(first_left) => self.active.split_off(&first_left),
            None => BTreeSet::new(),
        };
        let batch = std::mem::replace(&mut self.active, rest);
        self.active_since = if self.active.is_empty() { None } else { Some(now) };
        let due: Vec<ObjectKey> = batch.into_iter().collect();
        for pod in &due {
            if let Some(queued) = self.pods.get_mut(pod) {
                queued.place = Place::InFlight;
            }
        }
        due
    }

    /// Ends a pod's failed attempt: its backoff doubles (upstream's
    /// `podInitialBackoffSeconds × 2^(attempts−1)`, at most `podMaxBackoffSeconds`), and it is
    /// parked or backed off as `requeue` says.
    pub fn requeue(&mut self, pod: &ObjectKey, now: Millis, timing: &Timing, requeue: Requeue) {
        let Some(queued) = self.pods.get_mut(pod) else { return };
        if queued.place != Place::InFlight {
            return;
        }
        queued.attempts = queued.attempts.saturating_add(1);
        queued.backoff_until = now + backoff_duration(queued.attempts, timing);
        match requeue {
            Requeue::Unschedulable => {
                let until = now + timing.pod_max_in_unschedulable;
                queued.place = Place::Unschedulable(until);
                self.unschedulable.insert((until, pod.clone()));
            }
            Requeue::Backoff => {
                let until = queued.backoff_until;
                queued.place = Place::Backoff(until);
                self.backoff.insert((until, pod.clone()));
            }
        }
    }

    /// Pods the cycle took but neither bound nor requeued (they vanished from the store, or
    /// are no longer ours): back off rather than be lost.
    pub fn settle_in_flight(&mut self, taken: &[ObjectKey], now: Millis, timing: &Timing) {
        for pod in taken {
            if self.pods.get(pod).is_some_and(|q| q.place == Place::InFlight) {
                self.requeue(pod, now, timing, Requeue::Backoff);
            }
        }
    }

    /// Upstream's `MoveAllToActiveOrBackoffQueue`: a cluster event that could make parked pods
    /// fit moves every one of them to activeQ, or to backoffQ while its backoff lasts.
    pub fn move_all_to_active_or_backoff(&mut self, now: Millis) {
        for (_, pod) in std::mem::take(&mut self.unschedulable) {
            self.activate_or_backoff(pod, now);
        }
    }

    fn activate_or_backoff(&mut self, pod: ObjectKey, now: Millis) {
        let Some(queued) = self.pods.get_mut(&pod) else { return };
        if queued.backoff_until > now {
            queued.place = Place::Backoff(queued.backoff_until);
            self.backoff.insert((queued.backoff_until, pod));
        } else {
            self.activate(pod, now);
        }
    }

    fn activate(&mut self, pod: ObjectKey, now: Millis) {
        if let Some(queued) = self.pods.get_mut(&pod) {
            queued.place = Place::Active;
            self.push_active(pod, now);
        }
    }

    fn push_active(&mut self, pod: ObjectKey, now: Millis) {
        self.active.insert(pod);
        self.active_since = Some(self.active_since.map_or(now, |t| t.min(now)));
    }
}

/// Upstream's `calculateBackoffDuration`: the initial backoff doubled for each failed attempt
/// after the first, capped at the maximum.
pub fn backoff_duration(attempts: u32, timing: &Timing) -> Millis {
    let initial = timing.pod_initial_backoff.0;
    let doublings = attempts.saturating_sub(1).min(32);
    Millis(initial.saturating_mul(1u64 << doublings).min(timing.pod_max_backoff.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::timing::Preset;

    fn key(name: &str) -> ObjectKey {
        ObjectKey::new("default", name)
    }

    fn fail(queue: &mut SchedulingQueue, now: Millis, timing: &Timing) -> Vec<ObjectKey> {
        let due = queue.pop_due(now, MAX_PODS_PER_CYCLE);
        for pod in &due {
            queue.requeue(pod, now, timing, Requeue::Unschedulable);
        }
        due
    }

    #[test]
    fn a_big_active_queue_is_taken_in_bounded_cycles_within_the_same_instant() {
        let mut queue = SchedulingQueue::default();
        let now = Millis(7);
        for i in 0..MAX_PODS_PER_CYCLE + 500 {
            queue.add(&key(&format!("p{i:05}")), now);
        }
        let first = queue.pop_due(now, MAX_PODS_PER_CYCLE);
        assert_eq!(first.len(), MAX_PODS_PER_CYCLE);
        assert_eq!(queue.next_deadline(), Some(now), "the rest is due in this same instant");
        let second = queue.pop_due(now, MAX_PODS_PER_CYCLE);
        assert_eq!(second.len(), 500);
        assert!(first.last() < second.first(), "key order across cycles");
        assert_eq!(queue.next_deadline(), None);
    }

    #[test]
    fn a_cycle_takes_fewer_pods_as_the_lane_grows() {
        let limits: Vec<usize> = [1, 10, 1_000, 2_000, 4_000, 5_000, 15_000].map(pods_per_cycle).to_vec();
        assert_eq!(limits, [2_000, 2_000, 2_000, 1_000, 500, 500, 500]);
    }

    #[test]
    fn backoff_doubles_from_one_second_up_to_ten() {
        let timing = Timing::preset(Preset::Kubernetes);
        let seconds: Vec<u64> = (1..=6).map(|a| backoff_duration(a, &timing).0 / 1000).collect();
        assert_eq!(seconds, [1, 2, 4, 8, 10, 10]);
        let arcade = Timing::preset(Preset::Arcade);
        assert!(backoff_duration(1, &arcade) < backoff_duration(1, &timing));
        assert_eq!(backoff_duration(u32::MAX, &timing), timing.pod_max_backoff);
    }

    #[test]
    fn a_parked_pod_waits_for_a_helpful_event_or_the_five_minute_flush() {
        let timing = Timing::preset(Preset::Kubernetes);
        let mut queue = SchedulingQueue::default();
        queue.add(&key("a"), Millis(0));
        assert_eq!(queue.next_deadline(), Some(Millis(0)));
        assert_eq!(fail(&mut queue, Millis(0), &timing), [key("a")]);
        // Parked: nothing is due before the five-minute flush, however long the backoff was.
        assert_eq!(queue.unschedulable_len(), 1);
        assert_eq!(queue.next_deadline(), Some(Millis(300_000)));
        assert!(queue.pop_due(Millis(299_999), MAX_PODS_PER_CYCLE).is_empty());
        assert_eq!(queue.pop_due(Millis(300_000), MAX_PODS_PER_CYCLE), [key("a")]);
    }

    #[test]
    fn a_helpful_event_moves_parked_pods_to_active_or_to_backoff() {
        let timing = Timing::preset(Preset::Kubernetes);
        let mut queue = SchedulingQueue::default();
        queue.add(&key("a"), Millis(0));
        fail(&mut queue, Millis(0), &timing);
        // Still within its 1 s backoff: the event sends it to backoffQ, due when that ends.
        queue.move_all_to_active_or_backoff(Millis(400));
        assert_eq!(queue.unschedulable_len(), 0);
        assert_eq!(queue.next_deadline(), Some(Millis(1_000)));
        assert!(queue.pop_due(Millis(999), MAX_PODS_PER_CYCLE).is_empty());
        assert_eq!(fail(&mut queue, Millis(1_000), &timing), [key("a")]);
        // Second failure: 2 s backoff. An event after it ends sends the pod straight to activeQ.
        queue.move_all_to_active_or_backoff(Millis(3_500));
        assert_eq!(queue.next_deadline(), Some(Millis(3_500)));
        assert_eq!(queue.pop_due(Millis(3_500), MAX_PODS_PER_CYCLE), [key("a")]);
    }

    #[test]
    fn removed_and_unsettled_pods_leave_no_stale_deadline() {
        let timing = Timing::preset(Preset::Kubernetes);
        let mut queue = SchedulingQueue::default();
        queue.add(&key("a"), Millis(0));
        queue.add(&key("b"), Millis(0));
        let due = queue.pop_due(Millis(0), MAX_PODS_PER_CYCLE);
        queue.requeue(&key("a"), Millis(0), &timing, Requeue::Unschedulable);
        // b was taken but neither bound nor requeued: it backs off instead of being lost.
        queue.settle_in_flight(&due, Millis(0), &timing);
        assert_eq!(queue.next_deadline(), Some(Millis(1_000)));
        queue.remove(&key("b"));
        queue.remove(&key("a"));
        assert!(queue.is_empty());
        assert_eq!(queue.next_deadline(), None);
    }
}
