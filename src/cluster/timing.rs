//! Timing presets: how fast the control plane notices and reacts.
//!
//! `kubernetes` is upstream's defaults (kubelet lease renewal 10 s, node-monitor-grace-period
//! 50 s, default toleration 300 s for not-ready/unreachable, node-eviction-rate 0.1/s,
//! secondary-node-eviction-rate 0.01/s), so the real six-minute timeline plays out. `arcade`
//! compresses it so recovery is visible in ~2 s: both eviction rates are scaled by 200, so a
//! partially disrupted zone still evicts ten times slower than a healthy one, within seconds.
//! Leader election keeps client-go's defaults in `kubernetes` (leaseDuration 15 s, renewDeadline
//! 10 s, retryPeriod 2 s) and is scaled by 1/20 in `arcade`, as the kubelet's lease renewal is.

use crate::clock::Millis;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    Arcade,
    Kubernetes,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Timing {
    pub preset: Preset,
    /// Kubelet lease renewal period (upstream: 10 s).
    pub heartbeat: Millis,
    /// node-monitor-grace-period: silence longer than this makes a node `Unknown` (upstream: 50 s).
    pub grace: Millis,
    /// node-monitor-period: how often the node lifecycle controller looks (upstream: 5 s).
    pub monitor_period: Millis,
    /// tolerationSeconds the DefaultTolerationSeconds admission plugin gives every pod for the
    /// not-ready and unreachable NoExecute taints (upstream: 300).
    pub toleration_seconds: i64,
    /// node-eviction-rate: nodes per second that get NoExecute taints, per zone (upstream: 0.1).
    pub eviction_rate_per_sec: f64,
    /// secondary-node-eviction-rate: the same in a partially disrupted zone of a large cluster
    /// (upstream: 0.01).
    pub secondary_eviction_rate_per_sec: f64,
    /// unhealthy-zone-threshold: the share of NotReady nodes (at least 3) that makes a zone
    /// PartialDisruption (upstream: 0.55). Not a timing, but the regime it picks is.
    pub unhealthy_zone_threshold: f64,
    /// large-cluster-size-threshold: a partially disrupted zone of more nodes than this keeps
    /// evicting at the secondary rate; a smaller one stops (upstream: 50).
    pub large_cluster_size_threshold: usize,
    /// From binding to Running (image present, container started).
    pub startup: Millis,
    /// From deletion to the kubelet confirming its containers stopped.
    pub termination: Millis,
    /// kube-scheduler's podInitialBackoffSeconds: the wait after a pod's first failed attempt,
    /// doubled for each further one (upstream: 1 s).
    pub pod_initial_backoff: Millis,
    /// podMaxBackoffSeconds (upstream: 10 s).
    pub pod_max_backoff: Millis,
    /// podMaxInUnschedulablePodsDuration: the longest an unschedulable pod stays parked without
    /// a cluster event that could help it (upstream: 5 min).
    pub pod_max_in_unschedulable: Millis,
    /// Leader election (client-go's `LeaderElectionConfig`, kube-scheduler's and
    /// kube-controller-manager's defaults): how long a standby waits after it last saw the
    /// Lease renewed before taking it (upstream: 15 s),
    pub lease_duration: Millis,
    /// how long a leader keeps trying to renew before it stops leading (upstream: 10 s; less
    /// than `lease_duration`, so the old leader has stopped before anyone may take over),
    pub renew_deadline: Millis,
    /// and how often every replica tries to acquire or renew (upstream: 2 s).
    pub retry_period: Millis,
}

impl Timing {
    pub fn preset(preset: Preset) -> Timing {
        match preset {
            Preset::Arcade => Timing {
                preset,
                heartbeat: Millis(500),
                grace: Millis(1_500),
                monitor_period: Millis(100),
                toleration_seconds: 0,
                eviction_rate_per_sec: 20.0,
                // Scaled by 200, as node-eviction-rate is: still a tenth of it.
                secondary_eviction_rate_per_sec: 2.0,
                unhealthy_zone_threshold: 0.55,
                large_cluster_size_threshold: 50,
                startup: Millis(400),
                termination: Millis(300),
                // Scaled by 1/20, as the kubelet's lease renewal is.
                pod_initial_backoff: Millis(50),
                pod_max_backoff: Millis(500),
                pod_max_in_unschedulable: Millis(15_000),
                // Scaled by 1/20 too: 15 s, 10 s and 2 s become 750, 500 and 100 ms.
                lease_duration: Millis(750),
                renew_deadline: Millis(500),
                retry_period: Millis(100),
            },
            Preset::Kubernetes => Timing {
                preset,
                heartbeat: Millis(10_000),
                grace: Millis(50_000),
                monitor_period: Millis(5_000),
                toleration_seconds: 300,
                eviction_rate_per_sec: 0.1,
                secondary_eviction_rate_per_sec: 0.01,
                unhealthy_zone_threshold: 0.55,
                large_cluster_size_threshold: 50,
                startup: Millis(2_000),
                termination: Millis(1_000),
                pod_initial_backoff: Millis(1_000),
                pod_max_backoff: Millis(10_000),
                pod_max_in_unschedulable: Millis(300_000),
                lease_duration: Millis(15_000),
                renew_deadline: Millis(10_000),
                retry_period: Millis(2_000),
            },
        }
    }

    pub fn name(&self) -> &'static str {
        match self.preset {
            Preset::Arcade => "arcade",
            Preset::Kubernetes => "kubernetes",
        }
    }

    /// Minimum gap between two nodes' NoExecute tainting in a healthy zone (the eviction rate
    /// limiter).
    pub fn eviction_interval(&self) -> Millis {
        interval(self.eviction_rate_per_sec)
    }

    /// The same in a partially disrupted zone of a large cluster.
    pub fn secondary_eviction_interval(&self) -> Millis {
        interval(self.secondary_eviction_rate_per_sec)
    }
}

/// The gap a token bucket of burst 1 at `per_sec` keeps between two accepts.
fn interval(per_sec: f64) -> Millis {
    Millis::from_secs_f64(1.0 / per_sec.max(0.001))
}
