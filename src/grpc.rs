//! The gRPC service (`proto/pinsetter/v1/pinsetter.proto`): the store's changes, Kubernetes
//! events and the live game as server streams, and the game's controls as a bidirectional
//! stream, beside `grpc.health.v1` health and server reflection.
//!
//! It is a shell like the HTTP API and shares its listener (requests with a gRPC content type
//! are routed here), its read view, its inbox, its TLS and its tokens. Every stream has a
//! bounded queue: a consumer that stops reading never holds the game or other consumers; one
//! that falls too far behind is ended with RESOURCE_EXHAUSTED and where to resume from.

pub mod bench;
pub mod client;

use crate::api::WorldHandle;
use crate::api::auth::Authenticator;
use crate::api::rbac::{self, Attributes};
use crate::api::status::ApiError;
use crate::api::view::{ReadView, WindowEntry};
use crate::cluster::objects::{Kind, Object};
use crate::cluster::store::ChangeType;
use crate::driver::{FeedItem, FeedLine};
use crate::world::{Answer, Input, Request as WorldRequest, WorldError};
use std::collections::{BTreeMap, VecDeque};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tonic::{Code, Status};

/// The generated messages, server and client.
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod proto {
    tonic::include_proto!("pinsetter.v1");

    /// What server reflection describes.
    pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/pinsetter_descriptor.bin"));
}

use proto::pinsetter_server::{Pinsetter, PinsetterServer};

/// Events a watcher may have fetched but not yet been sent before it is cut off (the HTTP
/// watch's queue limit).
pub const WATCH_BEHIND: usize = 1000;
/// Messages queued per stream between its producer and the connection.
const STREAM_QUEUE: usize = 64;
/// A watch with nothing to say still checks in this often (for shutdown).
const WATCH_IDLE: Duration = Duration::from_millis(500);
/// Trailer metadata: why a stream ended (`Expired`, `TooManyRequests`).
pub const REASON_KEY: &str = "pinsetter-reason";
/// Trailer metadata: the last resourceVersion a watcher was sent, to resume from.
pub const RESOURCE_VERSION_KEY: &str = "pinsetter-resource-version";
/// Trailer metadata: the last tick a game follower was sent.
pub const TICK_KEY: &str = "pinsetter-tick";

type Stream<T> = Pin<Box<dyn futures::Stream<Item = Result<T, Status>> + Send + 'static>>;

/// The service; one per server, cheap to clone.
#[derive(Clone)]
pub struct Service {
    world: WorldHandle,
    /// The HTTP API's authenticator: the same token-file users and ServiceAccount tokens, and
    /// RBAC after them. `None`: every call is allowed, as the HTTP API without `--token-file`.
    authn: Option<Arc<Authenticator>>,
    /// Raised when the server stops: every stream ends.
    closing: tokio::sync::watch::Receiver<bool>,
}

/// The gRPC routes (the service, health and reflection), to be served beside the HTTP API.
pub fn routes(
    world: WorldHandle,
    authn: Option<Arc<Authenticator>>,
    closing: tokio::sync::watch::Receiver<bool>,
) -> tonic::service::Routes {
    let (health, health_service) = tonic_health::server::health_reporter();
    // The reporter only stores the status: no runtime is needed to set it.
    futures::executor::block_on(health.set_serving::<PinsetterServer<Service>>());
    let mut routes = tonic::service::Routes::new(PinsetterServer::new(Service { world, authn, closing }))
        .add_service(health_service);
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET);
    match reflection.build_v1() {
        Ok(service) => routes = routes.add_service(service),
        Err(e) => tracing::error!("gRPC server reflection is off: {e}"),
    }
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET);
    // Older tools (grpcurl before 1.9) ask the v1alpha service.
    match reflection_v1alpha.build_v1alpha() {
        Ok(service) => routes = routes.add_service(service),
        Err(e) => tracing::error!("gRPC server reflection (v1alpha) is off: {e}"),
    }
    routes
}

/// Whether an HTTP request is a gRPC call (its content type says so).
pub fn is_grpc<B>(request: &axum::http::Request<B>) -> bool {
    request
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|c| c.to_str().ok())
        .is_some_and(|c| c.starts_with("application/grpc"))
}

/// An HTTP API error as a gRPC status, by the usual mapping of HTTP codes to gRPC codes.
fn api_status(error: &ApiError) -> Status {
    let code = match error.code.as_u16() {
        400 | 413 | 415 | 422 => Code::InvalidArgument,
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        404 => Code::NotFound,
        409 => Code::Aborted,
        410 => Code::OutOfRange,
        429 => Code::ResourceExhausted,
        503 => Code::Unavailable,
        _ => Code::Internal,
    };
    with_metadata(Status::new(code, error.message.clone()), &[(REASON_KEY, error.reason)])
}

fn world_status(error: WorldError) -> Status {
    use crate::alley::TurnError;
    let code = match &error {
        WorldError::Bowling(TurnError::NameRequired | TurnError::NameTooLong(_) | TurnError::UnknownBowler(_)) => {
            Code::InvalidArgument
        }
        WorldError::Bowling(TurnError::NameTaken(_)) => Code::AlreadyExists,
        WorldError::Bowling(TurnError::LaneFull) => Code::ResourceExhausted,
        WorldError::Bowling(TurnError::NotYourTurn { .. } | TurnError::NotFirstBowler { .. } | TurnError::GameOver) => {
            Code::FailedPrecondition
        }
        _ => return api_status(&crate::api::world_error(error)),
    };
    Status::new(code, error.to_string())
}

fn with_metadata(status: Status, pairs: &[(&'static str, &str)]) -> Status {
    let mut metadata = tonic::metadata::MetadataMap::new();
    for (key, value) in pairs {
        match value.parse() {
            Ok(value) => {
                metadata.insert(*key, value);
            }
            Err(_) => tracing::error!(key, "a gRPC trailer value that is not ASCII was left out"),
        }
    }
    Status::with_metadata(status.code(), status.message().to_string(), metadata)
}

/// A stream that is never read past its queue: it is told where to resume.
fn fell_behind(what: &str, key: &'static str, last: u64) -> Status {
    with_metadata(
        Status::resource_exhausted(format!(
            "the client fell too far behind the {what} and was cut off; resume from {key} {last}"
        )),
        &[(REASON_KEY, "TooManyRequests"), (key, &last.to_string())],
    )
}

fn shutting_down() -> Status {
    Status::unavailable("the server is shutting down")
}

impl Service {
    /// With `--token-file`: authentication as the HTTP API's (a missing or bad token is
    /// UNAUTHENTICATED), then RBAC on each of `attributes` (PERMISSION_DENIED with upstream's
    /// words). Watches are the `watch` verb on their resources; the game feed and actions, which
    /// have no Kubernetes resource, are the non-resource URLs of their methods (see [`method`]).
    async fn authorize<T>(&self, request: &tonic::Request<T>, attributes: &[Attributes]) -> Result<(), Status> {
        let Some(authn) = &self.authn else { return Ok(()) };
        let token = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| Status::unauthenticated("Unauthorized"))?;
        let user =
            authn.authenticate(&self.world, token).await.ok_or_else(|| Status::unauthenticated("Unauthorized"))?;
        let view = self.world.view().await.map_err(|_| shutting_down())?;
        for wanted in attributes {
            let decision = rbac::authorize(&rbac::ViewPolicy(view), &user, wanted);
            if !decision.allowed {
                return Err(Status::permission_denied(wanted.forbidden_message(&user.name, &decision.reason)));
            }
        }
        Ok(())
    }

    /// Resolves once the server is stopping.
    async fn stopping(mut closing: tokio::sync::watch::Receiver<bool>) {
        if closing.wait_for(|closing| *closing).await.is_err() {
            // The server is gone without saying so: nothing will raise it now.
            std::future::pending::<()>().await;
        }
    }
}

/// RBAC's view of a gRPC watch of `kind`: the HTTP watch of its resource.
fn watch_attributes(kind: Kind, namespace: &str) -> Attributes {
    Attributes {
        verb: "watch".into(),
        resource_request: true,
        namespace: if kind.namespaced() { namespace.to_string() } else { String::new() },
        api_group: kind.group().into(),
        resource: kind.plural().into(),
        ..Default::default()
    }
}

/// RBAC's view of a call with no Kubernetes resource: the non-resource URL
/// `/pinsetter.v1.Pinsetter/METHOD` with `verb` (`get` to follow the game, `post` to act), which
/// only `cluster-admin` (`system:masters`) has by default; grant others a ClusterRole with
/// that `nonResourceURLs` entry. The game feed carries every write, Secrets' data included.
fn method(name: &str, verb: &str) -> Attributes {
    Attributes {
        verb: verb.into(),
        resource_request: false,
        path: format!("/pinsetter.v1.Pinsetter/{name}"),
        ..Default::default()
    }
}

/// What a watch covers.
struct Scope {
    kinds: Vec<Kind>,
    namespace: Option<String>,
    labels: crate::api::select::LabelSelector,
}

impl Scope {
    fn contains(&self, object: &Object) -> bool {
        let meta = object.meta();
        self.namespace.as_deref().is_none_or(|ns| meta.namespace() == ns) && self.labels.matches(&meta.labels)
    }
}

fn parse_kind(name: &str) -> Result<Kind, Status> {
    Kind::from_plural(&name.to_ascii_lowercase())
        .or_else(|| Kind::parse(name))
        .ok_or_else(|| Status::invalid_argument(format!("the server doesn't have a resource type {name:?}")))
}

fn parse_resource_version(text: &str) -> Result<u64, Status> {
    if text.is_empty() {
        return Ok(0);
    }
    text.parse()
        .map_err(|_| Status::invalid_argument(format!("resourceVersion: Invalid value: {text:?}: must be a number")))
}

fn watch_event(type_: proto::watch_event::Type, object: &Object) -> proto::WatchEvent {
    let meta = object.meta();
    proto::WatchEvent {
        r#type: type_ as i32,
        kind: object.kind().name().to_string(),
        namespace: meta.namespace().to_string(),
        name: meta.name.clone(),
        resource_version: meta.resource_version.to_string(),
        object: serde_json::to_vec(object).unwrap_or_default(),
    }
}

/// One watcher's cursor over the read view.
struct Watcher {
    scope: Scope,
    /// Per kind: every change up to this resourceVersion was seen.
    cursors: BTreeMap<Kind, u64>,
    pending: VecDeque<(u64, proto::WatchEvent)>,
}

impl Watcher {
    /// The changes since the cursors, in resourceVersion order, as this watcher sees them
    /// (ADDED / MODIFIED / DELETED for its own scope, as upstream's cacher decides). A cursor the
    /// view no longer reaches is the HTTP watch's 410 Expired.
    fn poll(&mut self, view: &ReadView) -> Result<(), Status> {
        use proto::watch_event::Type;
        let mut changes: Vec<WindowEntry> = Vec::new();
        for (kind, cursor) in &mut self.cursors {
            let snapshot = view.changes_since(*kind, *cursor).map_err(|too_old| {
                with_metadata(
                    Status::out_of_range(format!("too old resource version: {cursor} ({})", too_old.current)),
                    &[(REASON_KEY, "Expired")],
                )
            })?;
            *cursor = (*cursor).max(snapshot.resource_version);
            changes.extend(snapshot.items);
        }
        changes.sort_by_key(|c| c.resource_version);
        for change in changes {
            let was = change.prev.as_ref().is_some_and(|p| self.scope.contains(p));
            let is = self.scope.contains(&change.object);
            let type_ = match (change.type_, was, is) {
                (ChangeType::Deleted, _, true) => Type::Deleted,
                (ChangeType::Deleted, _, false) => continue,
                (_, true, true) => Type::Modified,
                (_, false, true) => Type::Added,
                (_, true, false) => Type::Deleted,
                (_, false, false) => continue,
            };
            // A DELETED event carries the delete's resourceVersion (the store keeps the object
            // as it was stored).
            let event = match change.type_ {
                ChangeType::Deleted => {
                    watch_event(type_, &Object::clone(&change.object).with_resource_version(change.resource_version))
                }
                _ => watch_event(type_, &change.object),
            };
            self.pending.push_back((change.resource_version, event));
        }
        Ok(())
    }
}

impl Service {
    /// Streams a watch over `scope` from `from` (0: the current objects first), mapping each
    /// event with `map` (None: not sent).
    async fn watch_stream<T: Send + 'static>(
        &self,
        scope: Scope,
        from: u64,
        map: impl Fn(proto::WatchEvent) -> Option<T> + Send + Sync + 'static,
    ) -> Result<Stream<T>, Status> {
        let view = self.world.view().await.map_err(|e| api_status(&e))?;
        let mut initial = Vec::new();
        let mut cursors = BTreeMap::new();
        for kind in &scope.kinds {
            let cursor = if from == 0 {
                let snapshot = view.list(*kind, scope.namespace.as_deref(), None, None).map_err(|too_old| {
                    with_metadata(
                        Status::out_of_range(format!("too old resource version: 0 ({})", too_old.current)),
                        &[(REASON_KEY, "Expired")],
                    )
                })?;
                initial.extend(
                    snapshot
                        .items
                        .iter()
                        .filter(|o| scope.contains(o))
                        .map(|o| watch_event(proto::watch_event::Type::Added, o)),
                );
                snapshot.resource_version
            } else {
                from
            };
            cursors.insert(*kind, cursor);
        }
        let mut watcher = Watcher { scope, cursors, pending: VecDeque::new() };
        // A resourceVersion the view no longer reaches is refused before the stream starts.
        if from != 0 {
            watcher.poll(view)?;
        }
        let (events, queue) = tokio::sync::mpsc::channel::<Result<T, Status>>(STREAM_QUEUE);
        let (world, closing) = (self.world.clone(), self.closing.clone());
        tokio::spawn(async move {
            let (view, mut changed) = world.view_now();
            let mut last_sent = watcher.cursors.values().copied().min().unwrap_or(0);
            let produce = async {
                // The initial state goes at the client's pace: it is bounded by the store.
                let listed = !initial.is_empty() || from == 0;
                for event in initial {
                    if let Some(item) = map(event)
                        && events.send(Ok(item)).await.is_err()
                    {
                        return;
                    }
                }
                // Where the listed state stands, so a client resumes from it (objects' own
                // resourceVersions are older, and may be older than the view reaches).
                let bookmark = proto::WatchEvent {
                    r#type: proto::watch_event::Type::Bookmark as i32,
                    resource_version: last_sent.to_string(),
                    ..Default::default()
                };
                if listed
                    && let Some(item) = map(bookmark)
                    && events.send(Ok(item)).await.is_err()
                {
                    return;
                }
                loop {
                    while let Some((rv, _)) = watcher.pending.front() {
                        let rv = *rv;
                        match events.try_reserve() {
                            Ok(permit) => {
                                if let Some((_, event)) = watcher.pending.pop_front()
                                    && let Some(item) = map(event)
                                {
                                    permit.send(Ok(item));
                                }
                                last_sent = rv;
                            }
                            Err(tokio::sync::mpsc::error::TrySendError::Full(())) => break,
                            Err(tokio::sync::mpsc::error::TrySendError::Closed(())) => return,
                        }
                    }
                    if watcher.pending.len() > WATCH_BEHIND {
                        // Its backlog is dropped now; the error waits for the client to read.
                        watcher.pending = VecDeque::new();
                        if events.send(Err(fell_behind("watch", RESOURCE_VERSION_KEY, last_sent))).await.is_err() {
                            tracing::debug!("a gRPC watcher that fell behind hung up");
                        }
                        return;
                    }
                    tokio::select! {
                        () = events.closed() => return,
                        _ = tokio::time::timeout(WATCH_IDLE, changed.changed()) => {}
                        permit = events.reserve(), if !watcher.pending.is_empty() => {
                            // Room again: the loop sends; the reserved slot is given back.
                            drop(permit);
                        }
                    }
                    if let Err(status) = watcher.poll(view) {
                        if events.send(Err(status)).await.is_err() {
                            tracing::debug!("a gRPC watcher hung up before it heard its watch expired");
                        }
                        return;
                    }
                }
            };
            tokio::select! {
                () = produce => {}
                () = Service::stopping(closing) => {
                    // The queue may be full: the client hears of the shutdown if there is room.
                    if events.try_send(Err(shutting_down())).is_err() {
                        tracing::debug!("a gRPC watch ended by the shutdown without being told");
                    }
                }
            }
        });
        Ok(Box::pin(tokio_stream::wrappers::ReceiverStream::new(queue)))
    }
}

fn game_line(line: FeedLine) -> proto::GameUpdate {
    use proto::game_update::Update;
    let update = match line {
        FeedLine::Input { tick, input } => {
            Update::Input(proto::GameInput { tick, input: serde_json::to_vec(&input).unwrap_or_default() })
        }
        FeedLine::Reached(tick) => Update::Reached(tick),
        FeedLine::End { digest } => Update::End(proto::GameEnd { digest: digest.unwrap_or_default(), tick: 0 }),
    };
    proto::GameUpdate { update: Some(update) }
}

/// A card's frames as the proto has them: the rolls of each frame bowled, its running total.
fn proto_frames(rolls: &[Vec<u8>], totals: &[Option<u16>]) -> Vec<proto::Frame> {
    rolls
        .iter()
        .enumerate()
        .map(|(i, rolls)| proto::Frame {
            rolls: rolls.iter().map(|&r| u32::from(r)).collect(),
            score: totals.get(i).copied().flatten().map(u32::from),
        })
        .collect()
}

fn game_state(state: &crate::driver::GameState) -> proto::GameUpdate {
    let frames = proto_frames(&state.rolls, &state.frame_totals);
    let bowlers = state
        .bowlers
        .iter()
        .map(|b| proto::BowlerCard {
            name: b.name.clone(),
            frames: proto_frames(&b.rolls, &b.frame_totals),
            total: u32::from(b.total),
            complete: b.complete,
        })
        .collect();
    proto::GameUpdate {
        update: Some(proto::game_update::Update::State(proto::GameState {
            tick: state.tick,
            frame: u32::from(state.frame),
            roll: u32::from(state.roll),
            standing: state.standing.to_vec(),
            frames,
            total: u32::from(state.total),
            complete: state.complete,
            bowlers,
            up: u32::from(state.up),
        })),
    }
}

/// One action, as the World's inbox takes it: a request answered like the HTTP API's, an
/// input of its own, or a bowler joining (answered with their index).
enum Act {
    Request(WorldRequest),
    Input(Input),
    Join(String),
}

/// `action` as the World takes it, from a stream that bowls as `bowler` once it has joined.
fn action(action: proto::Action, bowler: Option<u8>) -> Result<Act, Status> {
    use crate::alley::AlleyInput;
    use proto::action::Action as A;
    use proto::bowl::Control;
    let step = |n: i32, what: &str| {
        i8::try_from(n).map_err(|_| {
            Status::invalid_argument(format!("bowl.{what}: Invalid value: {n}: must be between -128 and 127"))
        })
    };
    let node = |name: String, what: &str| {
        if name.is_empty() { Err(Status::invalid_argument(format!("{what}: Required value"))) } else { Ok(name) }
    };
    Ok(match action.action {
        None => {
            return Err(Status::invalid_argument(
                "action: Required value: one of knock, restore, reset, scale, cordon, bowl, join",
            ));
        }
        Some(A::Knock(name)) => Act::Request(WorldRequest::Knock(node(name, "knock")?)),
        Some(A::Restore(name)) => Act::Request(WorldRequest::Restore(node(name, "restore")?)),
        Some(A::Reset(_)) => Act::Input(Input::ResetPins),
        Some(A::Scale(scale)) => {
            if scale.replicas < 0 {
                return Err(Status::invalid_argument(format!(
                    "spec.replicas: Invalid value: {}: must be greater than or equal to 0",
                    scale.replicas
                )));
            }
            let namespace = if scale.namespace.is_empty() { "default".to_string() } else { scale.namespace };
            Act::Request(WorldRequest::Scale {
                deployment: crate::cluster::store::ObjectKey::new(
                    &namespace,
                    &node(scale.deployment, "scale.deployment")?,
                ),
                replicas: scale.replicas,
            })
        }
        Some(A::Cordon(cordon)) => {
            Act::Input(Input::Cordon { node: node(cordon.node, "cordon.node")?, unschedulable: cordon.unschedulable })
        }
        Some(A::Bowl(bowl)) => {
            let control = match bowl.control {
                Some(Control::Move(n)) => AlleyInput::Move(step(n, "move")?),
                Some(Control::Aim(n)) => AlleyInput::Aim(step(n, "aim")?),
                Some(Control::Hook(n)) => AlleyInput::Hook(step(n, "hook")?),
                Some(Control::Power(true)) => AlleyInput::Power,
                Some(Control::Power(false)) | None => {
                    return Err(Status::invalid_argument("bowl: Required value: one of move, aim, hook, power"));
                }
            };
            Act::Input(match bowler {
                Some(bowler) => Input::Bowl { bowler, control },
                None => Input::Alley(control),
            })
        }
        Some(A::Join(join)) => {
            if let Some(bowler) = bowler {
                return Err(Status::failed_precondition(format!(
                    "this stream has already joined the game (as bowler {bowler}, from 0): open another Act stream to join as someone else"
                )));
            }
            Act::Join(join.name.trim().to_string())
        }
    })
}

/// A bowler joins: the input, then their index, found by their name (names are unique on a
/// lane, and nobody leaves, so the name still finds them).
async fn join(world: &WorldHandle, name: String) -> Result<u8, Status> {
    match world.send_input(Input::JoinBowler { name: name.clone() }).await {
        Err(e) => return Err(api_status(&e)),
        Ok(answer) => answer.map_err(world_status)?,
    };
    let found = world
        .read(move |w| w.alley().bowlers().iter().position(|b| b.name() == name))
        .await
        .map_err(|e| api_status(&e))?;
    found.and_then(|i| u8::try_from(i).ok()).ok_or_else(|| Status::internal("the bowler who joined is not on the lane"))
}

#[tonic::async_trait]
impl Pinsetter for Service {
    type WatchStream = Stream<proto::WatchEvent>;
    type EventsStream = Stream<proto::Event>;
    type GameStream = Stream<proto::GameUpdate>;
    type ActStream = Stream<proto::ActionResult>;

    async fn watch(
        &self,
        request: tonic::Request<proto::WatchRequest>,
    ) -> Result<tonic::Response<Self::WatchStream>, Status> {
        let kinds = if request.get_ref().kinds.is_empty() {
            vec![Kind::Pod]
        } else {
            request.get_ref().kinds.iter().map(|k| parse_kind(k)).collect::<Result<Vec<_>, _>>()?
        };
        let wanted: Vec<Attributes> =
            kinds.iter().map(|kind| watch_attributes(*kind, &request.get_ref().namespace)).collect();
        self.authorize(&request, &wanted).await?;
        let request = request.into_inner();
        let labels = crate::api::select::LabelSelector::parse(&request.label_selector).map_err(|e| api_status(&e))?;
        let namespace = Some(request.namespace).filter(|ns| !ns.is_empty());
        let from = parse_resource_version(&request.resource_version)?;
        let stream = self.watch_stream(Scope { kinds, namespace, labels }, from, Some).await?;
        Ok(tonic::Response::new(stream))
    }

    async fn events(
        &self,
        request: tonic::Request<proto::EventsRequest>,
    ) -> Result<tonic::Response<Self::EventsStream>, Status> {
        self.authorize(&request, &[watch_attributes(Kind::Event, &request.get_ref().namespace)]).await?;
        let request = request.into_inner();
        let labels = crate::api::select::LabelSelector::parse("").map_err(|e| api_status(&e))?;
        let namespace = Some(request.namespace).filter(|ns| !ns.is_empty());
        let from = parse_resource_version(&request.resource_version)?;
        let scope = Scope { kinds: vec![Kind::Event], namespace, labels };
        let stream = self
            .watch_stream(scope, from, |event| {
                use proto::watch_event::Type;
                if event.r#type == Type::Deleted as i32 || event.r#type == Type::Bookmark as i32 {
                    return None;
                }
                let object: serde_json::Value = serde_json::from_slice(&event.object).ok()?;
                let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
                Some(proto::Event {
                    namespace: event.namespace,
                    name: event.name,
                    r#type: text(&object["type"]),
                    reason: text(&object["reason"]),
                    message: text(&object["message"]),
                    involved_kind: text(&object["involvedObject"]["kind"]),
                    involved_name: text(&object["involvedObject"]["name"]),
                    count: object["count"].as_i64().and_then(|c| i32::try_from(c).ok()).unwrap_or(1),
                    resource_version: event.resource_version,
                    object: event.object,
                })
            })
            .await?;
        Ok(tonic::Response::new(stream))
    }

    async fn game(
        &self,
        request: tonic::Request<proto::GameRequest>,
    ) -> Result<tonic::Response<Self::GameStream>, Status> {
        self.authorize(&request, &[method("Game", "get")]).await?;
        let feed =
            self.world.feed().ok_or_else(|| Status::unavailable("this session does not publish its game"))?.clone();
        let joined = feed.join();
        let header =
            serde_json::to_vec(&*joined.header).map_err(|e| Status::internal(format!("the game's header: {e}")))?;
        let (updates, queue) = tokio::sync::mpsc::channel::<Result<proto::GameUpdate, Status>>(STREAM_QUEUE);
        let closing = self.closing.clone();
        tokio::spawn(async move {
            let mut live = joined.live;
            let mut last_tick = 0;
            let produce = async {
                let header = proto::GameUpdate { update: Some(proto::game_update::Update::Header(header)) };
                if updates.send(Ok(header)).await.is_err() {
                    return;
                }
                // Catching up goes at the client's pace; meanwhile the live items wait in the
                // bounded broadcast, and a client too slow to catch up falls out of it.
                let catch_up = joined.catch_up.into_iter().map(FeedItem::Line).chain(joined.state.map(FeedItem::State));
                let mut ended = joined.ended;
                for item in catch_up {
                    if let FeedItem::Line(FeedLine::Reached(tick)) = &item {
                        last_tick = *tick;
                    }
                    let update = match item {
                        FeedItem::Line(line) => game_line(line),
                        FeedItem::State(state) => game_state(&state),
                    };
                    if updates.send(Ok(update)).await.is_err() {
                        return;
                    }
                }
                while !ended {
                    let item = tokio::select! {
                        () = updates.closed() => return,
                        item = live.recv() => item,
                    };
                    let update = match item {
                        Ok(FeedItem::Line(line)) => {
                            match &line {
                                FeedLine::Reached(tick) => last_tick = *tick,
                                FeedLine::End { .. } => ended = true,
                                FeedLine::Input { .. } => {}
                            }
                            game_line(line)
                        }
                        Ok(FeedItem::State(state)) => game_state(&state),
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                            if updates.send(Err(fell_behind("game", TICK_KEY, last_tick))).await.is_err() {
                                tracing::debug!("a game follower that fell behind hung up");
                            }
                            return;
                        }
                        // The session ended without a digest (its driver is gone).
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                            ended = true;
                            game_line(FeedLine::End { digest: None })
                        }
                    };
                    if updates.send(Ok(update)).await.is_err() {
                        return;
                    }
                }
            };
            let mut produce = std::pin::pin!(produce);
            tokio::select! {
                () = &mut produce => {}
                () = Service::stopping(closing) => {
                    if feed.ended() {
                        // The session ended before the server stopped: its followers hear the
                        // end (the server gives them a moment).
                        produce.await;
                    } else if updates.try_send(Err(shutting_down())).is_err() {
                        tracing::debug!("a game follower ended by the shutdown without being told");
                    }
                }
            }
        });
        Ok(tonic::Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(queue))))
    }

    async fn act(
        &self,
        request: tonic::Request<tonic::Streaming<proto::Action>>,
    ) -> Result<tonic::Response<Self::ActStream>, Status> {
        self.authorize(&request, &[method("Act", "post")]).await?;
        let mut actions = request.into_inner();
        // One result in flight at most: a client that stops reading results stops being read.
        let (results, queue) = tokio::sync::mpsc::channel::<Result<proto::ActionResult, Status>>(1);
        let (world, closing) = (self.world.clone(), self.closing.clone());
        tokio::spawn(async move {
            let run = async {
                let mut index = 0;
                // Set by a join: the stream's bowls are this bowler's from then on.
                let mut bowler: Option<u8> = None;
                loop {
                    let next = tokio::select! {
                        () = results.closed() => return,
                        next = actions.message() => next,
                    };
                    let action = match next {
                        Ok(Some(action)) => action,
                        Ok(None) => return,
                        Err(status) => {
                            tracing::debug!("an Act stream broke: {status}");
                            return;
                        }
                    };
                    let mut joined = None;
                    let answered = match self::action(action, bowler) {
                        Err(status) => Err(status),
                        Ok(Act::Join(name)) => join(&world, name).await.map(|i| {
                            joined = Some(i);
                            bowler = Some(i);
                            Answer::Done
                        }),
                        Ok(Act::Request(request)) => match world.submit(request).await {
                            Err(e) => Err(api_status(&e)),
                            Ok(answer) => answer.map_err(world_status),
                        },
                        Ok(Act::Input(input)) => match world.send_input(input).await {
                            Err(e) => Err(api_status(&e)),
                            Ok(answer) => answer.map_err(world_status),
                        },
                    };
                    let result = match answered {
                        Ok(answer) => proto::ActionResult {
                            index,
                            code: Code::Ok as i32,
                            message: String::new(),
                            object: match answer {
                                Answer::Object(object) => serde_json::to_vec(&object).unwrap_or_default(),
                                _ => Vec::new(),
                            },
                            bowler: joined.map(u32::from),
                        },
                        Err(status) => proto::ActionResult {
                            index,
                            code: status.code() as i32,
                            message: status.message().to_string(),
                            object: Vec::new(),
                            bowler: None,
                        },
                    };
                    if results.send(Ok(result)).await.is_err() {
                        return;
                    }
                    index += 1;
                }
            };
            tokio::select! {
                () = run => {}
                () = Service::stopping(closing) => {
                    if results.try_send(Err(shutting_down())).is_err() {
                        tracing::debug!("an Act stream ended by the shutdown without being told");
                    }
                }
            }
        });
        Ok(tonic::Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(queue))))
    }
}
