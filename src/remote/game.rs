//! The shell of `play --kubeconfig`, `cleanup` and `rbac`: connect, check permissions, set the
//! pins up, play, and leave the cluster as it was.

use super::cluster_view::{self, RemoteView};
use super::fake_pins::{self, DEFAULT_LEASE_SECONDS, PINS};
use super::{Mode, RemoteError, connect, real_nodes};
use crate::cluster::objects::Object;
use crate::scenario::Scenario;
use anyhow::{Context, Result, bail};
use std::io::{BufRead, Write};
use std::path::PathBuf;

/// What `play --kubeconfig` was asked.
#[derive(Debug, Clone, Default)]
pub struct RemoteOptions {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    pub mode: Option<Mode>,
    /// `--selector`, for `--pins nodes`.
    pub selector: Option<String>,
    /// How many times `--yes` was given: once skips the typed confirmation, twice also allows a
    /// selector matching every node.
    pub yes: u8,
    pub drain: bool,
    pub dry_run: bool,
    /// `--node-lease-seconds`; by default the kubelet's 40 s, or 1 s against Pinsetter's own
    /// `serve`, whose arcade node-monitor-grace-period (1.5 s) expects a heartbeat every 500 ms.
    pub lease_seconds: Option<i32>,
}

/// The local lane for a remote game: the scenario's first ten Nodes renamed to the remote pins'
/// names (so the local World's knocks name them), and no workloads (they run remotely).
pub fn local_lane(scenario: &Scenario, names: &[String]) -> Scenario {
    let mut lane = scenario.clone();
    let mut pin = 0;
    lane.objects.retain_mut(|(_, object)| match object {
        Object::Node(node) if pin < usize::from(PINS) => {
            let node = std::sync::Arc::make_mut(node);
            let name = names.get(pin).cloned().unwrap_or_else(|| format!("pinsetter-unused-{}", pin + 1));
            node.metadata.name = name.clone();
            node.metadata.labels.insert("kubernetes.io/hostname".into(), name);
            pin += 1;
            true
        }
        _ => false,
    });
    lane
}

/// Plays against the cluster; cleans up after (also after Ctrl-C, which ends the game loop).
/// Returns the signal that ended the game, if one did.
pub fn play(options: RemoteOptions, mut play: crate::tui::PlayOptions) -> Result<Option<i32>> {
    let runtime = cluster_view::runtime().context("cannot start the cluster client's runtime")?;
    let connection = runtime.block_on(connect(options.kubeconfig.as_deref(), options.context.as_deref()))?;
    let mode = options.mode.unwrap_or(Mode::FakePins);
    let version = runtime
        .block_on(connection.client.apiserver_version())
        .map_err(RemoteError::api(format!("cannot reach the API server at {}", connection.server)))?;
    runtime.block_on(super::preflight(&connection.client, mode))?;
    let view = match mode {
        Mode::FakePins => {
            let lease_seconds = options.lease_seconds.unwrap_or(if version.git_version.ends_with("-pinsetter") {
                1
            } else {
                DEFAULT_LEASE_SECONDS
            });
            let names: Vec<String> = (1..=PINS).map(fake_pins::pin_name).collect();
            if options.dry_run {
                for (i, name) in names.iter().enumerate() {
                    println!(
                        "pin {}: register node {name}; a knock stops its kubelet (Lease, status), a restore resumes it",
                        i + 1
                    );
                }
                return Ok(None);
            }
            runtime.block_on(fake_pins::register(&connection.client, &play.scenario, lease_seconds))?;
            let remote_scenario = play.scenario.clone();
            play.scenario = local_lane(&play.scenario, &names);
            RemoteView::fake_pins(runtime, connection, &remote_scenario, lease_seconds)?
        }
        Mode::Nodes => {
            let Some(selector) = options.selector.as_deref() else {
                bail!("--pins nodes needs --selector LABELSELECTOR: the nodes the game may knock");
            };
            let names = runtime.block_on(real_nodes::pick(&connection.client, selector, options.yes >= 2))?;
            if options.dry_run {
                for (i, name) in names.iter().enumerate() {
                    println!(
                        "pin {}: knock: {}; restore: {}",
                        i + 1,
                        if options.drain {
                            real_nodes::describe_knock(name, true)
                        } else {
                            real_nodes::describe_knock(name, false)
                        },
                        real_nodes::describe_restore(name)
                    );
                }
                return Ok(None);
            }
            if options.yes == 0 {
                confirm(&connection.context, &names)?;
            }
            play.scenario = local_lane(&play.scenario, &names);
            RemoteView::nodes(runtime, connection, names, options.drain)
        }
    };
    let ended = crate::tui::run_remote(play, view);
    // The view (its runtime, the kubelet, the watches) is gone: clean up with a fresh client.
    let tidy = tidy_up(&options, mode);
    let ended = ended?;
    tidy?;
    Ok(match ended {
        crate::tui::Ended::Signal(number) => Some(number),
        crate::tui::Ended::Quit => None,
    })
}

/// Asks for the typed confirmation real nodes need.
fn confirm(context: &str, names: &[String]) -> Result<()> {
    eprintln!("The game will cordon and taint (knock) these real nodes of context {context:?}:");
    for name in names {
        eprintln!("  {name}");
    }
    eprint!("Type the context's name to go on: ");
    std::io::stderr().flush().context("cannot write the prompt")?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).context("cannot read the confirmation")?;
    if answer.trim() != context {
        bail!("not confirmed: nothing was changed");
    }
    Ok(())
}

/// After the game: fake pins are deleted with everything else Pinsetter created; the real nodes
/// the game knocked (they carry its taint) are uncordoned and untainted.
fn tidy_up(options: &RemoteOptions, mode: Mode) -> Result<()> {
    let runtime = cluster_view::runtime().context("cannot start the cluster client's runtime")?;
    runtime.block_on(async {
        let connection = connect(options.kubeconfig.as_deref(), options.context.as_deref()).await?;
        match mode {
            Mode::FakePins => {
                super::cleanup(&connection.client).await?;
            }
            Mode::Nodes => {
                if let Some(selector) = options.selector.as_deref() {
                    let nodes: kube::Api<k8s_openapi::api::core::v1::Node> = kube::Api::all(connection.client.clone());
                    let picked = nodes
                        .list(&kube::api::ListParams::default().labels(selector))
                        .await
                        .map_err(RemoteError::api(format!("cannot list nodes matching {selector:?}")))?;
                    for node in picked.items.iter().filter(|n| real_nodes::is_knocked(n)) {
                        real_nodes::restore(&connection.client, node.metadata.name.as_deref().unwrap_or_default())
                            .await?;
                    }
                }
            }
        }
        Ok::<(), RemoteError>(())
    })?;
    Ok(())
}

/// `pinsetter cleanup`: one line saying what went.
pub fn cleanup(kubeconfig: Option<PathBuf>, context: Option<String>) -> Result<String> {
    let runtime = cluster_view::runtime().context("cannot start the cluster client's runtime")?;
    let cleaned = runtime.block_on(async {
        let connection = connect(kubeconfig.as_deref(), context.as_deref()).await?;
        super::cleanup(&connection.client).await
    })?;
    Ok(format!(
        "deleted {} deployments, {} leases, {} nodes, {} namespaces labelled {}",
        cleaned.deployments,
        cleaned.leases,
        cleaned.nodes,
        cleaned.namespaces,
        super::OWNED_LABEL
    ))
}
