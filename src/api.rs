//! The Kubernetes-compatible API server, so the real `kubectl` can drive the game.
//!
//! A thin shell: handlers never hold the World. Writes are sent through an inbox to whichever
//! loop owns the World (`pinsetter serve`'s loop, or the game's), which runs them between ticks.
//! Reads (GET, list, watch) never wait for that loop: after each drain the owner publishes the
//! store's new changes to a [`view::ReadView`] (kube-apiserver's watch cache), and handlers
//! serve from it, so they see exactly the writes the World made, in order, with their
//! resourceVersions. Answers to writes are sent only after that publish, so a client reads
//! its own writes.

pub mod apply;
pub mod auth;
pub mod crd;
pub mod discovery;
pub mod events_v1;
pub mod logs;
pub mod namespaces;
pub mod paging;
pub mod patch;
pub mod pins;
pub mod protobuf;
pub mod rbac;
pub mod select;
pub mod status;
pub mod table;
pub mod tls;
pub mod view;

use self::discovery::ResourceInfo;
use self::paging::ContinueToken;
use self::select::{FieldSelector, LabelSelector};
use self::status::ApiError;
use self::view::ReadView;
use crate::cluster::objects::{Deployment, Kind, Object, StatefulSet};
use crate::cluster::store::{ChangeType, ObjectKey, Store};
use crate::world::{Answer, Request as WorldRequest, RequestId, World, WorldError};
use anyhow::Context;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Request bodies larger than this are refused (413) before they are read.
pub const MAX_BODY_BYTES: usize = 3 << 20;
/// A watch with nothing to say still checks in this often (for timeouts and shutdown).
const WATCH_IDLE: Duration = Duration::from_millis(500);
/// How long a stopping server waits for requests in flight before it lets them go.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(500);

/// What handlers send the World's owner.
pub enum Work {
    /// A write, answered on the oneshot once the owner has applied it and published the view.
    Request(WorldRequest, Waiting),
    /// A control that is an [`crate::world::Input`] of its own (gRPC `Act`: reset, cordon, bowl),
    /// applied and recorded as the player's keys are; answered `Done` or with the refusal.
    Input(crate::world::Input, Waiting),
    /// A read of state the read view does not hold (the pin agents' sessions), run between
    /// ticks. It gets `&World`: it cannot write.
    Read(Box<dyn FnOnce(&World) + Send>),
}

/// Where a handler waits for the World's answer.
pub type Waiting = tokio::sync::oneshot::Sender<Result<Answer, WorldError>>;

/// The API side of the inbox: cheap to clone, one per handler.
#[derive(Clone)]
pub struct WorldHandle {
    tx: std::sync::mpsc::Sender<Work>,
    /// Where GET, list and watch read, without waiting for the World.
    view: Arc<ReadView>,
    /// The view's resourceVersion as last published (`None` before the first publish): watches
    /// wake on it.
    changed: tokio::sync::watch::Receiver<Option<u64>>,
    /// Requests served so far (the pinsetter panel shows the rate).
    pub requests: Arc<AtomicU64>,
    /// The live game feed (gRPC `Game`), once the World's owner publishes one.
    feed: Arc<std::sync::OnceLock<crate::driver::Feed>>,
}

/// The owner's side: [`crate::driver::pump`] drains it between ticks.
pub struct Inbox {
    rx: std::sync::mpsc::Receiver<Work>,
    view: Arc<ReadView>,
    changed: tokio::sync::watch::Sender<Option<u64>>,
    /// The id the next request gets (ids travel in the input log, so they are the owner's).
    next_id: std::cell::Cell<RequestId>,
    feed: Arc<std::sync::OnceLock<crate::driver::Feed>>,
}

pub fn inbox() -> (WorldHandle, Inbox) {
    inbox_with_view(ReadView::default())
}

/// An inbox whose read view keeps `view`'s window (tests use a small one).
pub fn inbox_with_view(view: ReadView) -> (WorldHandle, Inbox) {
    let (tx, rx) = std::sync::mpsc::channel();
    let (changed_tx, changed_rx) = tokio::sync::watch::channel(None);
    let view = Arc::new(view);
    let feed = Arc::new(std::sync::OnceLock::new());
    (
        WorldHandle {
            tx,
            view: view.clone(),
            changed: changed_rx,
            requests: Arc::new(AtomicU64::new(0)),
            feed: feed.clone(),
        },
        Inbox { rx, view, changed: changed_tx, next_id: std::cell::Cell::new(1), feed },
    )
}

impl Inbox {
    /// Applies every waiting request, publishes the read view, then answers (see
    /// [`crate::driver::pump`], which this is without an input log). Returns how many ran.
    pub fn drain(&self, world: &mut World) -> usize {
        crate::driver::pump(world, self, None)
    }

    /// Offers `feed` to the API's followers (gRPC `Game`); a session has one feed, so a second
    /// is refused (and returned).
    pub fn publish_feed(&self, feed: crate::driver::Feed) -> Result<(), crate::driver::Feed> {
        self.feed.set(feed)
    }

    /// The next waiting work, if any.
    pub fn next_work(&self) -> Option<Work> {
        self.rx.try_recv().ok()
    }

    /// A fresh request id.
    pub fn next_id(&self) -> RequestId {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        id
    }

    /// Publishes the World's state to the read view and wakes watches if it moved.
    pub fn publish(&self, world: &World) {
        let rv = self.view.publish(world);
        self.changed.send_if_modified(|seen| seen.replace(rv) != Some(rv));
    }
}

impl WorldHandle {
    /// Sends a write to the World's owner and waits for its answer (the outer error: the owner
    /// is gone).
    pub async fn submit(&self, request: WorldRequest) -> Result<Result<Answer, WorldError>, ApiError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.tx.send(Work::Request(request, tx)).map_err(|_| ApiError::unavailable())?;
        rx.await.map_err(|_| ApiError::unavailable())
    }

    /// As [`WorldHandle::submit`], for API writes: the World's refusal as a `Status`.
    async fn write(&self, request: WorldRequest) -> Result<Answer, ApiError> {
        self.submit(request).await?.map_err(world_error)
    }

    /// Reads state the view does not hold on the World's owner, between ticks.
    pub async fn read<R: Send + 'static>(&self, f: impl FnOnce(&World) -> R + Send + 'static) -> Result<R, ApiError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.tx
            .send(Work::Read(Box::new(move |w| {
                // The caller may have gone (its client hung up): nobody is left to answer.
                tx.send(f(w)).ok();
            })))
            .map_err(|_| ApiError::unavailable())?;
        rx.await.map_err(|_| ApiError::unavailable())
    }

    /// Waits until the owner publishes a view newer than `resource_version`.
    async fn published_after(&self, resource_version: u64) -> Result<(), ApiError> {
        let mut published = self.changed.clone();
        published
            .wait_for(|rv| rv.is_some_and(|rv| rv > resource_version))
            .await
            .map_err(|_| ApiError::unavailable())?;
        Ok(())
    }

    /// Sends an input to the World's owner and waits until it is applied (the outer error: the
    /// owner is gone).
    pub async fn send_input(&self, input: crate::world::Input) -> Result<Result<Answer, WorldError>, ApiError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.tx.send(Work::Input(input, tx)).map_err(|_| ApiError::unavailable())?;
        rx.await.map_err(|_| ApiError::unavailable())
    }

    /// The session's live game feed, if its owner publishes one.
    pub fn feed(&self) -> Option<&crate::driver::Feed> {
        self.feed.get()
    }

    /// The read view as it is now (the gRPC service's reads), and a receiver that wakes when the
    /// owner publishes a newer one.
    pub fn view_now(&self) -> (&ReadView, tokio::sync::watch::Receiver<Option<u64>>) {
        (&self.view, self.changed.clone())
    }

    /// The read view, once the World's owner has published it.
    pub async fn view(&self) -> Result<&ReadView, ApiError> {
        let mut published = self.changed.clone();
        published.wait_for(Option::is_some).await.map_err(|_| ApiError::unavailable())?;
        Ok(&self.view)
    }
}

/// The World's refusal of an API write, as kube-apiserver words it.
pub(crate) fn world_error(error: WorldError) -> ApiError {
    match error {
        WorldError::Cluster(e) => e.into(),
        WorldError::UnknownNode(name) => ApiError::not_found("nodes", &name),
        WorldError::Eviction(e) => eviction_refused(e),
        other => ApiError::bad_request(other.to_string()),
    }
}

/// The object an API write answered with.
fn answered_object(answer: Answer) -> Result<Object, ApiError> {
    match answer {
        Answer::Object(object) => Ok(*object),
        other => Err(unexpected(other)),
    }
}

fn unexpected(answer: Answer) -> ApiError {
    tracing::error!(?answer, "the World answered a request with something else");
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", "an internal error occurred")
}

/// A running API server; dropping it (or [`Server::stop`]) shuts it down.
pub struct Server {
    pub addr: SocketAddr,
    closing: tokio::sync::watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

pub use auth::Tokens;

/// TLS and authentication, both off by default.
#[derive(Clone, Default)]
pub struct Security {
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Bearer tokens (the token file's users and ServiceAccount tokens), then RBAC; `None`
    /// serves everyone, as `--authorization-mode=AlwaysAllow`.
    pub authn: Option<Arc<auth::Authenticator>>,
    /// The token `pinsetter pin --join` agents must present.
    pub join_token: Option<String>,
    /// How many agent nodes one source address may hold (None: the default).
    pub max_pins_per_source: Option<usize>,
}

impl std::fmt::Debug for Security {
    /// Says what is on, never which tokens.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Security")
            .field("tls", &self.tls.is_some())
            .field("authn", &self.authn.as_ref().map(|a| &a.tokens))
            .finish()
    }
}

impl Server {
    /// Binds `addr` (port 0 picks a free port) and serves plain HTTP on a background thread.
    pub fn start(addr: SocketAddr, handle: WorldHandle) -> anyhow::Result<Server> {
        Server::start_with(addr, handle, Security::default())
    }

    /// As [`Server::start`], with HTTPS and/or bearer-token authentication.
    pub fn start_with(addr: SocketAddr, handle: WorldHandle, security: Security) -> anyhow::Result<Server> {
        Server::start_with_limits(addr, handle, security, Limits::default())
    }

    /// As [`Server::start_with`], with explicit connection and watch [`Limits`].
    pub fn start_with_limits(
        addr: SocketAddr,
        handle: WorldHandle,
        security: Security,
        limits: Limits,
    ) -> anyhow::Result<Server> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .thread_name("pinsetter-api")
            .build()
            .context("starting the API server's runtime")?;
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(addr))
            .with_context(|| format!("cannot listen on {addr}"))?;
        let bound = listener.local_addr().context("reading the bound address")?;
        let (closing, closing_rx) = tokio::sync::watch::channel(false);
        raise_open_files_limit();
        let router = build_router(handle, bound, &security, limits.clone(), closing_rx.clone());
        let tls = security.tls.clone();
        let thread = std::thread::Builder::new()
            .name("pinsetter-api".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let stopped = closing_rx.clone();
                    let tls = tls.map(tokio_rustls::TlsAcceptor::from);
                    let serving = serve_connections(listener, tls, router, limits, stopped);
                    // Watches end when `closing` is raised; a connection that still lingers
                    // (a client mid-request) must not hold the process: give it a moment only.
                    let mut stop = closing_rx;
                    let grace = async move {
                        let _stopped_or_gone = stop.wait_for(|closing| *closing).await;
                        tokio::time::sleep(SHUTDOWN_GRACE).await;
                    };
                    tokio::select! {
                        () = serving => {}
                        () = grace => tracing::warn!("API server stopped with connections still open"),
                    }
                });
                runtime.shutdown_timeout(Duration::from_millis(100));
            })
            .context("spawning the API server thread")?;
        tracing::info!(%bound, "API server listening");
        Ok(Server { addr: bound, closing, thread: Some(thread) })
    }

    pub fn stop(mut self) {
        self.shut();
    }

    fn shut(&mut self) {
        // Ends every watch, stops accepting, and lets requests in flight finish.
        self.closing.send_replace(true);
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the API server's thread panicked");
        }
    }
}

/// Each connection costs a file descriptor, and idle ones are what run a server out of them:
/// take the hard limit as the soft one.
fn raise_open_files_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::debug!(limit, "open files limit"),
        Err(e) => tracing::warn!("cannot raise the open files limit: {e}"),
    }
}

/// Resolves once the server is stopping (or its `Server` is gone).
async fn stopping(mut closing: tokio::sync::watch::Receiver<bool>) {
    let _stopped_or_gone = closing.wait_for(|closing| *closing).await;
}

/// The accept loop: at most `max_connections` at once (the rest wait in the kernel's backlog),
/// each served by hyper with a header-read timeout (hyper also runs that timer while a kept-alive
/// connection waits for its next request, so it is the idle timeout too; a watch is a response
/// in progress, so it is never cut). Returns when stopping and every connection has finished.
async fn serve_connections(
    listener: tokio::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    router: Router,
    limits: Limits,
    closing: tokio::sync::watch::Receiver<bool>,
) {
    let connections = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    loop {
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = stopping(closing.clone()) => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, typically: wait for some to be given back.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = stopping(closing.clone()) => break,
        };
        let (router, tls, closing, timeout) =
            (router.clone(), tls.clone(), closing.clone(), limits.header_read_timeout);
        tokio::spawn(async move {
            let _permit = permit;
            match tls {
                None => serve_connection(stream, peer, router, timeout, closing).await,
                // A client that stalls its handshake is cut off as one that stalls its headers.
                Some(acceptor) => match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
                    Ok(Ok(stream)) => serve_connection(stream, peer, router, timeout, closing).await,
                    Ok(Err(e)) => tracing::debug!(%peer, "TLS handshake failed: {e}"),
                    Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                },
            }
        });
    }
    // Wait for the connections in flight: each ends gracefully once `closing` is raised.
    let _all_returned = connections.acquire_many(limits.max_connections as u32).await;
}

async fn serve_connection<I>(
    io: I,
    peer: SocketAddr,
    router: Router,
    header_read_timeout: Duration,
    closing: tokio::sync::watch::Receiver<bool>,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    // Handlers see the peer's address, as axum::serve's connect info gave it.
    let router = router.layer(axum::Extension(axum::extract::ConnectInfo(peer)));
    let service = hyper_util::service::TowerToHyperService::new(router);
    // HTTP/1.1 for kubectl and the agents' WebSocket upgrades; HTTP/2 with prior knowledge for
    // gRPC clients (h2c), told apart by the connection preface.
    let mut builder = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
    builder.http1().timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(header_read_timeout);
    builder.http2().timer(hyper_util::rt::TokioTimer::new());
    let connection = builder.serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(io), service);
    let mut connection = std::pin::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = stopping(closing) => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(%peer, "connection closed: {e}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shut();
    }
}

/// Bounds that keep one client (careless or hostile) from holding what others need.
#[derive(Debug, Clone)]
pub struct Limits {
    /// A request's headers must arrive within this, or the connection is closed; a kept-alive
    /// connection waiting for its next request is closed after this too. A watch is a response
    /// in progress, so it is never cut by this.
    pub header_read_timeout: Duration,
    /// Connections beyond this many wait in the kernel's backlog until one closes.
    pub max_connections: usize,
    /// Unread events a watcher may have queued before it is ended with 410 Expired.
    pub watch_queue: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { header_read_timeout: Duration::from_secs(30), max_connections: 512, watch_queue: 1000 }
    }
}

#[derive(Clone)]
struct Api {
    world: WorldHandle,
    address: String,
    authn: Option<Arc<auth::Authenticator>>,
    join_token: Option<String>,
    max_pins_per_source: Option<usize>,
    limits: Limits,
    /// Raised when the server stops: every watch ends.
    closing: tokio::sync::watch::Receiver<bool>,
    /// The namespaces clients created (the system ones are fixed).
    namespaces: namespaces::Namespaces,
}

/// The router: one dispatcher for every path, behind a request log and a body limit.
pub fn router(world: WorldHandle, addr: SocketAddr) -> Router {
    router_with(world, addr, &Security::default())
}

/// The router, requiring a bearer token from `tokens` when given.
pub fn router_with(world: WorldHandle, addr: SocketAddr, security: &Security) -> Router {
    router_with_limits(world, addr, security, Limits::default())
}

/// The router with explicit [`Limits`] (only `watch_queue` applies without a [`Server`]).
pub fn router_with_limits(world: WorldHandle, addr: SocketAddr, security: &Security, limits: Limits) -> Router {
    // No server to stop this router: its watches end when their clients go.
    let (_never, closing) = tokio::sync::watch::channel(false);
    build_router(world, addr, security, limits, closing)
}

fn build_router(
    world: WorldHandle,
    addr: SocketAddr,
    security: &Security,
    limits: Limits,
    closing: tokio::sync::watch::Receiver<bool>,
) -> Router {
    let grpc = crate::grpc::routes(world.clone(), security.authn.clone(), closing.clone());
    let api = Api {
        world,
        address: addr.to_string(),
        authn: security.authn.clone(),
        join_token: security.join_token.clone(),
        max_pins_per_source: security.max_pins_per_source,
        limits,
        closing,
        namespaces: namespaces::Namespaces::default(),
    };
    Router::new()
        .merge(pins::routes())
        .fallback(dispatch)
        .layer(middleware::from_fn_with_state(api.clone(), authenticate))
        .layer(middleware::from_fn_with_state(api.clone(), log_request))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::map_response(errors_as_status))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panic_status))
        .layer(middleware::from_fn_with_state(grpc, grpc_calls))
        .with_state(api)
}

/// gRPC calls (HTTP/2 with a gRPC content type) go to the gRPC service, which answers in gRPC
/// statuses and checks tokens itself; everything else is the Kubernetes API.
async fn grpc_calls(State(grpc): State<tonic::service::Routes>, request: Request, next: Next) -> Response {
    use tower::ServiceExt;
    if !crate::grpc::is_grpc(&request) {
        return next.run(request).await;
    }
    match grpc.oneshot(request).await {
        Ok(response) => response.map(Body::new),
        Err(never) => match never {},
    }
}

/// Errors axum and tower produce themselves (413 from the body limit, 405 from a method
/// router, 400 from an extractor) come as plain text; kubectl expects a `Status`, so they are
/// rewritten as one, keeping their text as the message.
async fn errors_as_status(response: Response) -> Response {
    let code = response.status();
    let is_json =
        response.headers().get("content-type").and_then(|c| c.to_str().ok()).is_some_and(|c| c.contains("json"));
    if !(code.is_client_error() || code.is_server_error()) || is_json {
        return response;
    }
    // These bodies are a line of text; anything longer is not worth keeping.
    let text = axum::body::to_bytes(response.into_body(), 4096).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text).trim().to_string();
    let (reason, message) = match code {
        StatusCode::PAYLOAD_TOO_LARGE => {
            ("RequestEntityTooLarge", format!("Request entity too large: limit is {MAX_BODY_BYTES}"))
        }
        StatusCode::NOT_FOUND => ("NotFound", "the server could not find the requested resource".to_string()),
        StatusCode::METHOD_NOT_ALLOWED => {
            ("MethodNotAllowed", "the server does not allow this method on the requested resource".to_string())
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("UnsupportedMediaType", text),
        StatusCode::UNAUTHORIZED => ("Unauthorized", "Unauthorized".to_string()),
        StatusCode::FORBIDDEN => ("Forbidden", text),
        c if c.is_server_error() => ("InternalError", text),
        _ => ("BadRequest", text),
    };
    let message = if message.is_empty() { code.canonical_reason().unwrap_or("error").to_string() } else { message };
    ApiError::new(code, reason, message).into_response()
}

/// A handler that panicked answers 500 as a `Status` (the connection and the server live on).
fn panic_status(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked; answered 500");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "InternalError",
        "an internal error occurred while serving the request",
    )
    .into_response()
}

/// With a token file: authentication (a bearer token from it, or a ServiceAccount token), then
/// RBAC; an unknown token is 401 and a request no role allows 403, both as Status objects, and
/// the user is handed to the handlers. Tokens are never logged. Health checks stay open, and
/// pin agents authenticate with their join token in `/pins/join` itself.
async fn authenticate(State(api): State<Api>, mut request: Request, next: Next) -> Response {
    if api.authn.is_none() || matches!(request.uri().path(), "/healthz" | "/livez" | "/readyz" | "/pins/join") {
        return next.run(request).await;
    }
    let authorization = request.headers().get("authorization").and_then(|h| h.to_str().ok());
    match auth::admit(&api, request.method(), request.uri(), authorization).await {
        Ok(user) => {
            if let Some(user) = user {
                request.extensions_mut().insert(Arc::new(user));
            }
            next.run(request).await
        }
        Err(refused) => refused.into_response(),
    }
}

/// Logs every request (method, path, status, latency) and counts it.
async fn log_request(State(api): State<Api>, request: Request, next: Next) -> Response {
    let (method, path) = (request.method().clone(), request.uri().path().to_string());
    let start = Instant::now();
    let response = next.run(request).await;
    api.world.requests.fetch_add(1, Ordering::Relaxed);
    tracing::info!(%method, path, status = response.status().as_u16(), latency_us = start.elapsed().as_micros() as u64, "request");
    response
}

fn json_response(code: StatusCode, value: &Value) -> Response {
    (code, [("content-type", "application/json")], value.to_string()).into_response()
}

/// What the query string asks for.
#[derive(Debug, Default)]
struct Query {
    watch: bool,
    resource_version: Option<u64>,
    labels: LabelSelector,
    fields: FieldSelector,
    include_object: bool,
    timeout: Option<Duration>,
    /// Whether a label or field selector was given (upstream then omits `remainingItemCount`).
    selective: bool,
    /// Page size for a list (`limit`; 0 or absent: everything).
    limit: Option<usize>,
    /// Where the previous page ended (`continue`).
    continue_from: Option<ContinueToken>,
}

impl Query {
    fn parse(uri: &Uri) -> Result<Query, ApiError> {
        let pairs: Vec<(String, String)> = axum::extract::Query::try_from_uri(uri).map(|q| q.0).unwrap_or_default();
        let mut q = Query::default();
        for (k, v) in pairs {
            match k.as_str() {
                "watch" => q.watch = v == "true" || v == "1",
                "resourceVersion" if !v.is_empty() => {
                    q.resource_version =
                        Some(v.parse().map_err(|_| ApiError::bad_request(format!("invalid resourceVersion {v:?}")))?)
                }
                "labelSelector" => {
                    q.labels = LabelSelector::parse(&v)?;
                    q.selective |= !v.trim().is_empty();
                }
                "fieldSelector" => {
                    q.fields = FieldSelector::parse(&v)?;
                    q.selective |= !q.fields.is_empty();
                }
                "limit" => {
                    let limit: usize = v.parse().map_err(|_| ApiError::bad_request(format!("invalid limit {v:?}")))?;
                    q.limit = Some(limit).filter(|l| *l > 0);
                }
                "continue" if !v.is_empty() => q.continue_from = Some(ContinueToken::decode(&v)?),
                "includeObject" => q.include_object = v == "Object",
                "timeoutSeconds" => q.timeout = v.parse().ok().map(Duration::from_secs),
                _ => {}
            }
        }
        if q.continue_from.is_some() && q.resource_version.is_some_and(|rv| rv != 0) && !q.watch {
            return Err(ApiError::bad_request("specifying resource version is not allowed when using continue"));
        }
        Ok(q)
    }
}

/// `/api/v1/...` or `/apis/<group>/v1/...`, split into its parts.
#[derive(Debug, Clone)]
struct Target {
    info: &'static ResourceInfo,
    /// The CRD-defined resource the URL names, when it is one (`info` is then its entry).
    custom: Option<&'static crd::CustomInfo>,
    namespace: Option<String>,
    name: Option<String>,
    sub: Option<String>,
}

async fn dispatch(
    State(api): State<Api>,
    user: Option<axum::Extension<Arc<rbac::UserInfo>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let user = user.map(|u| u.0);
    let content_type = headers.get("content-type").and_then(|c| c.to_str().ok()).unwrap_or("");
    if let Some(answer) = auth::route(&api, &method, &uri, content_type, user.as_deref(), &body).await {
        return answer.unwrap_or_else(IntoResponse::into_response);
    }
    match route(&api, &method, &uri, &headers, body).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

/// A path's non-empty segments, percent-decoded as kube-apiserver decodes them.
pub(crate) fn path_segments(path: &str) -> Vec<std::borrow::Cow<'_, str>> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| percent_encoding::percent_decode_str(s).decode_utf8_lossy())
        .collect()
}

async fn route(api: &Api, method: &Method, uri: &Uri, headers: &HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    // Clients percent-encode names (`system:basic-user` arrives as `system%3Abasic-user`).
    let decoded = path_segments(uri.path());
    let segments: Vec<&str> = decoded.iter().map(AsRef::as_ref).collect();
    let get_only = |value: Option<Value>| -> Result<Response, ApiError> {
        if method != Method::GET {
            return Err(ApiError::method_not_allowed(uri.path()));
        }
        value.map(|v| json_response(StatusCode::OK, &v)).ok_or_else(ApiError::path_not_found)
    };
    let (group, version, rest) = match segments.as_slice() {
        ["version"] => return get_only(Some(discovery::version())),
        ["healthz"] | ["livez"] | ["readyz"] => return Ok((StatusCode::OK, "ok").into_response()),
        ["api"] => return get_only(Some(discovery::api_versions(&api.address))),
        ["apis"] => {
            let mut groups = discovery::api_groups();
            let custom = crd::groups(api.world.view().await?);
            if let Some(list) = groups["groups"].as_array_mut() {
                list.extend(custom);
            }
            return get_only(Some(groups));
        }
        ["api", "v1"] => return get_only(discovery::resource_list("")),
        ["apis", group, version] => {
            let listed = discovery::resource_list(group).filter(|_| *version == "v1");
            let custom = || async { Ok::<_, ApiError>(crd::resource_list(api.world.view().await?, group, version)) };
            let listed = match listed {
                Some(listed) => Some(listed),
                None => custom().await?,
            };
            return get_only(listed);
        }
        ["openapi", "v3"] => {
            let mut root = discovery::openapi_root();
            let custom = crd::openapi_paths(api.world.view().await?);
            if let Some(paths) = root["paths"].as_object_mut() {
                paths.extend(custom);
            }
            return get_only(Some(root));
        }
        ["openapi", "v3", "api", "v1"] => return get_only(discovery::openapi_group("")),
        ["openapi", "v3", "apis", group, version] => {
            return match discovery::openapi_group(group).filter(|_| *version == "v1") {
                Some(builtin) => get_only(Some(builtin)),
                None => get_only(crd::openapi_group(api.world.view().await?, group, version)),
            };
        }
        ["pinsetter", "v1", "nodes", node, verb @ ("knock" | "restore")] => {
            return pin_action(api, method, node, verb).await;
        }
        ["api", "v1", rest @ ..] => ("", "v1", rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return Err(ApiError::path_not_found()),
    };
    let (namespace, rest) = match rest {
        ["namespaces", ns, resource, tail @ ..] => (Some(ns.to_string()), [&[*resource][..], tail].concat()),
        other => (None, other.to_vec()),
    };
    let (plural, name, sub) = match rest.as_slice() {
        [plural] => (*plural, None, None),
        [plural, name] => (*plural, Some(name.to_string()), None),
        [plural, name, sub] => (*plural, Some(name.to_string()), Some(sub.to_string())),
        _ => return Err(ApiError::path_not_found()),
    };
    let (info, custom) = match discovery::find(group, plural).filter(|_| version == "v1") {
        Some(info) => (info, None),
        None => {
            let custom =
                crd::resolve(api.world.view().await?, group, version, plural).ok_or_else(ApiError::path_not_found)?;
            (&custom.info, Some(custom))
        }
    };
    if namespace.is_some() && !info.namespaced {
        return Err(ApiError::path_not_found());
    }
    if custom.is_some()
        && sub.as_deref().is_some_and(|s| s != "status" || !custom.is_some_and(|c| c.status_subresource))
    {
        return Err(ApiError::path_not_found());
    }
    if custom.is_none() && sub.as_deref() == Some("status") && !info.kind.is_some_and(Kind::has_status) {
        return Err(ApiError::path_not_found());
    }
    let target = Target { info, custom, namespace, name, sub };
    let query = Query::parse(uri)?;
    let table = headers.get("accept").and_then(|a| a.to_str().ok()).is_some_and(|a| a.contains("as=Table"));
    let content_type = headers.get("content-type").and_then(|c| c.to_str().ok()).unwrap_or("application/json");
    let content_type = content_type.split(';').next().unwrap_or("").trim().to_string();

    if info.kind.is_none() {
        return namespaces::route(api, method, &target, &query, table, body).await;
    }
    if info.group == events_v1::GROUP {
        return events_v1::route(api, method, target, query, table).await;
    }
    match (method.clone(), &target.name, target.sub.as_deref()) {
        (Method::GET, None, None) if query.watch => watch(api, target, query, table).await,
        (Method::GET, None, None) => list(api, target, query, table).await,
        (Method::GET, Some(_), None | Some("status")) => get(api, target, query, table).await,
        (Method::GET, Some(_), Some("log")) if info.plural == "pods" => logs::logs(api, target, uri).await,
        (Method::GET, Some(_), Some("scale")) if info.plural == "deployments" => scale(api, target, None).await,
        (Method::PATCH | Method::PUT, Some(_), Some("scale")) if info.plural == "deployments" => {
            scale(api, target, Some((method.clone(), content_type, body))).await
        }
        (Method::GET, Some(_), Some("scale")) if info.plural == "statefulsets" => {
            statefulset_scale(api, target, None).await
        }
        (Method::PATCH | Method::PUT, Some(_), Some("scale")) if info.plural == "statefulsets" => {
            statefulset_scale(api, target, Some((method.clone(), content_type, body))).await
        }
        (Method::POST, Some(_), Some("eviction")) if info.plural == "pods" => evict(api, target).await,
        (Method::POST, None, None) => create(api, target, &content_type, body).await,
        (Method::PUT, Some(_), None | Some("status")) => replace(api, target, &content_type, body).await,
        (Method::PATCH, Some(_), None | Some("status")) if content_type == patch::APPLY => {
            apply::server_side_apply(api, target, uri, body).await
        }
        (Method::PATCH, Some(_), None | Some("status")) => patch_object(api, target, &content_type, body).await,
        (Method::DELETE, Some(_), None) => delete(api, target, body).await,
        (Method::DELETE, None, None) => delete_collection(api, target, query).await,
        _ => Err(ApiError::method_not_allowed(uri.path())),
    }
}

/// Pinsetter's own verbs (not Kubernetes'): knock a pin over, or stand it up, as the game's
/// chaos keys do. Used by `pinsetter ctl knock`.
async fn pin_action(api: &Api, method: &Method, node: &str, verb: &str) -> Result<Response, ApiError> {
    if *method != Method::POST {
        return Err(ApiError::method_not_allowed("knock and restore take POST"));
    }
    let name = node.to_string();
    let request = if verb == "knock" { WorldRequest::Knock(name) } else { WorldRequest::Restore(name) };
    api.world.write(request).await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 200}),
    ))
}

/// Every object of a kind, in store order (cloned: serialization happens off the World's thread).
fn objects_of(store: &Store, kind: Kind) -> Vec<Object> {
    kind.list(store)
}

fn key_of(target: &Target) -> ObjectKey {
    let name = target.name.clone().unwrap_or_default();
    if let Some(custom) = target.custom {
        let namespace = if custom.info.namespaced {
            target.namespace.as_deref().filter(|n| !n.is_empty()).unwrap_or(crate::cluster::objects::DEFAULT_NAMESPACE)
        } else {
            ""
        };
        return crate::cluster::objects::CustomObject::key_in(&custom.resource, namespace, name);
    }
    match target.info.kind {
        Some(kind) => kind.key(target.namespace.as_deref(), name),
        None => ObjectKey::cluster(name),
    }
}

fn to_json(object: &Object) -> Value {
    serde_json::to_value(object).unwrap_or(Value::Null)
}

/// An object's JSON when a field selector needs it to decide (JSON null otherwise: unread).
fn to_json_if(object: &Object, query: &Query) -> Value {
    if query.fields.is_empty() { Value::Null } else { to_json(object) }
}

/// Where the store (and the view) files an object: custom objects under their resource.
fn object_key(object: &Object) -> ObjectKey {
    match object {
        Object::CustomObject(o) => crate::cluster::objects::Resource::key(o.as_ref()),
        other => ObjectKey::of(other.meta()),
    }
}

/// The target's objects from the read view (one custom resource's, for a CRD's resource).
fn list_target(
    view: &ReadView,
    kind: Kind,
    target: &Target,
    at: Option<u64>,
    after: Option<&ObjectKey>,
) -> Result<view::Snapshot<Vec<Arc<Object>>>, view::TooOld> {
    match target.custom {
        Some(custom) => view.list_custom(&custom.resource, target.namespace.as_deref(), at, after),
        None => view.list(kind, target.namespace.as_deref(), at, after),
    }
}

/// A `kubectl get` row: the kind's cells, or a CRD's printer columns read from the JSON.
fn row(target: &Target, object: &Object, json: &Value, now: crate::clock::Reading) -> Vec<Value> {
    match target.custom {
        Some(custom) => crd::cells(custom, json, now),
        None => table::cells(object, now),
    }
}

fn table_of(target: &Target, rows: Vec<(Vec<Value>, Value)>, rv: u64, include_object: bool) -> Value {
    let mut table = table::table(target.info.plural, rows, rv, include_object);
    if let Some(custom) = target.custom {
        table["columnDefinitions"] = json!(crd::column_definitions(custom));
    }
    table
}

fn in_scope(target: &Target, query: &Query, object: &Object, json: &Value) -> bool {
    let meta = object.meta();
    let of_resource =
        |custom: &crd::CustomInfo| matches!(object, Object::CustomObject(o) if o.resource.name == custom.resource);
    target.custom.is_none_or(of_resource)
        && target.namespace.as_deref().is_none_or(|ns| meta.namespace() == ns)
        && query.labels.matches(&meta.labels)
        && query.fields.matches(json)
}

fn list_kind(info: &ResourceInfo) -> String {
    format!("{}List", info.kind_name)
}

fn api_version(info: &ResourceInfo) -> String {
    if info.group.is_empty() { info.version.into() } else { format!("{}/{}", info.group, info.version) }
}

/// A list, served from the read view: the whole of it, or one page (`limit`/`continue`) of the
/// list as it was at the first page's resourceVersion.
async fn list(api: &Api, target: Target, query: Query, table: bool) -> Result<Response, ApiError> {
    let kind = target.info.kind.ok_or_else(ApiError::path_not_found)?;
    let view = api.world.view().await?;
    let (at, after) = match &query.continue_from {
        Some(token) => (Some(token.resource_version), Some(&token.after)),
        None => (None, None),
    };
    let snapshot = list_target(view, kind, &target, at, after).map_err(|_| paging::expired())?;
    let (rv, now) = (snapshot.resource_version, snapshot.now);
    // Only a field selector needs an object's JSON to decide; keep it once made.
    let mut selected: Vec<(Arc<Object>, Option<Value>)> = Vec::new();
    let mut rest = snapshot.items.into_iter();
    let limit = query.limit.unwrap_or(usize::MAX);
    let pick = |o: Arc<Object>| -> Option<(Arc<Object>, Option<Value>)> {
        let json = (!query.fields.is_empty()).then(|| to_json(&o));
        let matches = query.labels.matches(&o.meta().labels) && json.as_ref().is_none_or(|j| query.fields.matches(j));
        matches.then_some((o, json))
    };
    for o in rest.by_ref() {
        if selected.len() == limit {
            // One more than a page: put it back by counting it below.
            let more = pick(o).is_some() || rest.clone().any(|o| pick(o).is_some());
            let mut metadata = json!({"resourceVersion": rv.to_string()});
            if more && let Some((last, _)) = selected.last() {
                let after = object_key(last);
                metadata["continue"] = json!(ContinueToken { resource_version: rv, after }.encode());
                if !query.selective {
                    metadata["remainingItemCount"] = json!(1 + rest.len());
                }
            }
            return list_response(&target, &query, table, selected, metadata, now);
        }
        if let Some(item) = pick(o) {
            selected.push(item);
        }
    }
    list_response(&target, &query, table, selected, json!({"resourceVersion": rv.to_string()}), now)
}

fn list_response(
    target: &Target,
    query: &Query,
    table: bool,
    selected: Vec<(Arc<Object>, Option<Value>)>,
    metadata: Value,
    now: crate::clock::Reading,
) -> Result<Response, ApiError> {
    if table {
        let rv = metadata["resourceVersion"].as_str().and_then(|r| r.parse().ok()).unwrap_or(0);
        let rows = selected
            .into_iter()
            .map(|(o, j)| {
                let j = j.unwrap_or_else(|| to_json(&o));
                (row(target, &o, &j, now), j)
            })
            .collect();
        let mut table = table_of(target, rows, rv, query.include_object);
        table["metadata"] = metadata;
        return Ok(json_response(StatusCode::OK, &table));
    }
    // Each object is written straight out, no Value tree for the list.
    let mut body = format!(
        r#"{{"kind":"{}","apiVersion":"{}","metadata":{metadata},"items":["#,
        list_kind(target.info),
        api_version(target.info)
    );
    for (i, (o, j)) in selected.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        match j {
            Some(j) => body.push_str(&j.to_string()),
            None => body.push_str(&serde_json::to_string(o.as_ref()).unwrap_or_default()),
        }
    }
    body.push_str("]}");
    Ok((StatusCode::OK, [("content-type", "application/json")], body).into_response())
}

async fn get(api: &Api, target: Target, query: Query, table: bool) -> Result<Response, ApiError> {
    let kind = target.info.kind.ok_or_else(ApiError::path_not_found)?;
    let key = key_of(&target);
    let snapshot = api.world.view().await?.get(kind, &key);
    let object = snapshot.items.ok_or_else(|| ApiError::not_found(&qualified(target.info), &key.name))?;
    let j = to_json(&object);
    if table {
        return Ok(json_response(
            StatusCode::OK,
            &table_of(
                &target,
                vec![(row(&target, &object, &j, snapshot.now), j)],
                snapshot.resource_version,
                query.include_object,
            ),
        ));
    }
    Ok(json_response(StatusCode::OK, &j))
}

fn qualified(info: &ResourceInfo) -> String {
    if info.group.is_empty() { info.plural.to_string() } else { format!("{}.{}", info.plural, info.group) }
}

/// YAML bodies nesting deeper than this are refused before parsing: the YAML parser takes
/// time quadratic in the depth, and no Kubernetes object comes near it. (JSON needs no scan:
/// serde_json is linear and stops at 128 levels.)
pub const MAX_YAML_DEPTH: usize = 100;

/// A cheap byte scan for YAML nesting: flow brackets, plus block nesting (each column of
/// indentation and each `- ` entry on a line counts as a level, an over-estimate). Quoted
/// scalars and comments are skipped following YAML's token rules (a quote or `#` opens one
/// only at the start of a token).
fn check_yaml_depth(body: &[u8]) -> Result<(), ApiError> {
    let (mut flow, mut block, mut at_line_start) = (0usize, 0usize, true);
    let mut quote: Option<u8> = None;
    let (mut escaped, mut comment) = (false, false);
    let mut previous = b'\n';
    for &b in body {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if q == b'"' && b == b'\\' {
                escaped = true;
            } else if b == q {
                quote = None;
            }
            previous = b;
            continue;
        }
        if comment {
            comment = b != b'\n';
        }
        let token_start = matches!(previous, b' ' | b'\t' | b'\n' | b'\r' | b'[' | b'{' | b',' | b':');
        match b {
            b'\n' => (at_line_start, block) = (true, 0),
            _ if comment => {}
            b' ' | b'-' if at_line_start => block += 1,
            b'#' if token_start => comment = true,
            b'"' | b'\'' if token_start => quote = Some(b),
            b'[' | b'{' => flow += 1,
            b']' | b'}' => flow = flow.saturating_sub(1),
            _ => at_line_start = false,
        }
        if b != b' ' && b != b'-' && b != b'\n' {
            at_line_start = false;
        }
        if flow + block / 2 > MAX_YAML_DEPTH {
            return Err(ApiError::bad_request(format!(
                "the request body is not valid YAML: it nests deeper than {MAX_YAML_DEPTH} levels"
            )));
        }
        previous = b;
    }
    Ok(())
}

/// Decodes a request body into an object of the target's kind, in the target's namespace.
fn decode_body(target: &Target, content_type: &str, body: &[u8]) -> Result<Object, ApiError> {
    let info = target.info;
    let mut value: Value = match content_type {
        "application/json" | "" => serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("the request body is not valid JSON: {e}")))?,
        "application/yaml" => {
            check_yaml_depth(body)?;
            serde_norway::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("the request body is not valid YAML: {e}")))?
        }
        protobuf::CONTENT_TYPE => protobuf::decode(body)?,
        other => {
            return Err(ApiError::unsupported_media_type(
                other,
                "application/json, application/yaml, application/vnd.kubernetes.protobuf",
            ));
        }
    };
    let Some(map) = value.as_object_mut() else {
        return Err(ApiError::bad_request(format!("the request body must be a {} object", info.kind_name)));
    };
    map.entry("kind").or_insert_with(|| json!(info.kind_name));
    map.entry("apiVersion").or_insert_with(|| json!(api_version(info)));
    if map.get("kind").and_then(Value::as_str) != Some(info.kind_name) {
        return Err(ApiError::bad_request(format!("the body is a {} but the URL is for {}", map["kind"], info.plural)));
    }
    if let Some(url_ns) =
        info.kind.filter(|_| info.namespaced).and_then(|kind| kind.namespace_of(target.namespace.as_deref()))
    {
        let Value::Object(meta) = map.entry("metadata").or_insert_with(|| json!({})) else {
            return Err(ApiError::bad_request(format!(
                "{} in version \"v1\" cannot be handled as a {}: metadata must be an object",
                info.kind_name, info.kind_name
            )));
        };
        match meta.get("namespace") {
            Some(Value::String(ns)) if !ns.is_empty() && *ns != url_ns => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            Some(Value::String(_)) | Some(Value::Null) | None => {
                meta.insert("namespace".into(), json!(url_ns));
            }
            Some(_) => return Err(ApiError::bad_request("metadata.namespace must be a string")),
        }
    }
    Object::from_value(value).map_err(|e| {
        ApiError::bad_request(format!(
            "{} in version \"v1\" cannot be handled as a {}: {e}",
            info.kind_name, info.kind_name
        ))
    })
}

/// Runs `parse` on tokio's blocking pool: a slow body must not stall the workers that
/// answer everyone else's requests.
async fn off_the_workers<T: Send + 'static>(
    parse: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(parse).await.map_err(|e| {
        tracing::error!("decoding a request body failed: {e}");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "an internal error occurred while decoding the request body",
        )
    })?
}

async fn decode_off_the_workers(target: &Target, content_type: &str, body: Bytes) -> Result<Object, ApiError> {
    let (target, content_type) = (target.clone(), content_type.to_string());
    off_the_workers(move || decode_body(&target, &content_type, &body)).await
}

async fn create(api: &Api, target: Target, content_type: &str, body: Bytes) -> Result<Response, ApiError> {
    let mut object = decode_off_the_workers(&target, content_type, body).await?;
    if let Object::Node(node) = &mut object {
        crate::cluster::admission::admit_new_node(Arc::make_mut(node));
    }
    if target.info.namespaced {
        api.namespaces.admit(object.meta().namespace())?;
    }
    let created = answered_object(api.world.write(WorldRequest::Create(Box::new(object))).await?)?;
    Ok(json_response(StatusCode::CREATED, &to_json(&created)))
}

async fn replace(api: &Api, target: Target, content_type: &str, body: Bytes) -> Result<Response, ApiError> {
    let object = decode_off_the_workers(&target, content_type, body).await?;
    if Some(&object.meta().name) != target.name.as_ref() {
        return Err(ApiError::bad_request("the name of the object does not match the name on the URL"));
    }
    let replaced = answered_object(api.world.write(replace_request(&target, object)).await?)?;
    Ok(json_response(StatusCode::OK, &to_json(&replaced)))
}

async fn patch_object(api: &Api, target: Target, content_type: &str, body: Bytes) -> Result<Response, ApiError> {
    let kind = target.info.kind.ok_or_else(ApiError::path_not_found)?;
    let key = key_of(&target);
    let qualified = qualified(target.info);
    let content_type = content_type.to_string();
    let patch = off_the_workers(move || patch::parse(&content_type, &body)).await?;
    let info = target.info;
    let view = api.world.view().await?;
    // Read, patch, write back with the read resourceVersion as precondition; a write that lost
    // a race (409) is retried on the newer object, as kube-apiserver's GuaranteedUpdate does.
    let mut attempts = 0;
    loop {
        attempts += 1;
        let current = view.get(kind, &key).items.ok_or_else(|| ApiError::not_found(&qualified, &key.name))?;
        let mut doc = to_json(&current);
        patch.apply(&mut doc)?;
        // A patch that names a resourceVersion is the client's precondition: not retried.
        let precondition =
            doc["metadata"]["resourceVersion"].as_str() != Some(current.meta().resource_version.as_str());
        let decoded_as = Target {
            info,
            custom: target.custom,
            namespace: current.meta().namespace.as_deref().filter(|n| !n.is_empty()).map(str::to_string),
            name: Some(key.name.to_string()),
            sub: None,
        };
        let object = decode_body(&decoded_as, "application/json", doc.to_string().as_bytes())?;
        if object.meta().name != key.name {
            return Err(ApiError::bad_request("a patch cannot change the object's name"));
        }
        match api.world.write(replace_request(&target, object)).await {
            Err(e) if e.code == StatusCode::CONFLICT && !precondition && attempts < PATCH_ATTEMPTS => {
                api.world.published_after(view.resource_version()).await?;
            }
            written => return Ok(json_response(StatusCode::OK, &to_json(&answered_object(written?)?))),
        }
    }
}

/// A PUT or applied PATCH: to `/status`, only the status is written; to the object itself,
/// everything but the status (the World keeps the stored one).
fn replace_request(target: &Target, object: Object) -> WorldRequest {
    match target.sub.as_deref() {
        Some("status") => WorldRequest::ReplaceStatus(Box::new(object)),
        _ => WorldRequest::Replace(Box::new(object)),
    }
}

/// How often a patch is retried when the object changed under it.
const PATCH_ATTEMPTS: usize = 5;

async fn delete(api: &Api, target: Target, body: Bytes) -> Result<Response, ApiError> {
    let kind = target.info.kind.ok_or_else(ApiError::path_not_found)?;
    let key = key_of(&target);
    // `--grace-period=0 --force` sends gracePeriodSeconds 0: skip the kubelet, delete now.
    let force =
        serde_json::from_slice::<Value>(&body).ok().and_then(|v| v.get("gracePeriodSeconds").and_then(Value::as_i64))
            == Some(0);
    let deleted =
        answered_object(api.world.write(WorldRequest::Delete { kind, key, force: force && kind == Kind::Pod }).await?)?;
    Ok(json_response(StatusCode::OK, &status::deleted(target.info.group, target.info.plural, to_json(&deleted))))
}

async fn delete_collection(api: &Api, target: Target, query: Query) -> Result<Response, ApiError> {
    let kind = target.info.kind.ok_or_else(ApiError::path_not_found)?;
    let objects = list_target(api.world.view().await?, kind, &target, None, None).map_err(|_| paging::expired())?;
    let keys: Vec<ObjectKey> = objects
        .items
        .iter()
        .filter(|o| in_scope(&target, &query, o, &to_json(o)))
        .map(|o| ObjectKey::of(o.meta()))
        .collect();
    let deleted: Vec<Value> = match api.world.write(WorldRequest::DeleteCollection { kind, keys }).await? {
        Answer::Objects(objects) => objects.iter().map(to_json).collect(),
        other => return Err(unexpected(other)),
    };
    Ok(json_response(
        StatusCode::OK,
        &json!({"kind": list_kind(target.info), "apiVersion": api_version(target.info), "metadata": {}, "items": deleted}),
    ))
}

/// The Eviction API's refusals as `eviction.go` returns them: 429 TooManyRequests naming the
/// budget (kubectl drain retries), 500 for a pod under several budgets, 403 for a broken status.
fn eviction_refused(e: crate::cluster::controllers::disruption::EvictionError) -> ApiError {
    use crate::cluster::controllers::disruption::EvictionError;
    let message = e.to_string();
    match e {
        EvictionError::Budget { cause, .. } => ApiError::new(StatusCode::TOO_MANY_REQUESTS, "TooManyRequests", message)
            .with_details(json!({"causes": [{"reason": "DisruptionBudget", "message": cause}]})),
        EvictionError::MultipleBudgets => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            format!("Internal error occurred: {message}"),
        )
        .with_details(json!({"causes": [{"message": message}]})),
        EvictionError::Forbidden { budget, .. } => ApiError::new(StatusCode::FORBIDDEN, "Forbidden", message)
            .with_details(json!({"name": budget, "group": "policy", "kind": "poddisruptionbudget"})),
        EvictionError::Store(e) => e.into(),
    }
}

/// `pods/eviction` (what `kubectl drain` uses): a graceful delete, refused with 429 while a
/// PodDisruptionBudget allows no disruption.
async fn evict(api: &Api, target: Target) -> Result<Response, ApiError> {
    let key = key_of(&target);
    api.world.write(WorldRequest::Evict(key)).await?;
    Ok(json_response(
        StatusCode::CREATED,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
    ))
}

/// `deployments/scale`: read, or patch/replace `spec.replicas`.
async fn scale(api: &Api, target: Target, write: Option<(Method, String, Bytes)>) -> Result<Response, ApiError> {
    let key = key_of(&target);
    let scale_of = |d: &Deployment| {
        json!({"kind": "Scale", "apiVersion": "autoscaling/v1",
               "metadata": {"name": d.metadata.name, "namespace": d.metadata.namespace, "uid": d.metadata.uid, "resourceVersion": d.metadata.resource_version, "creationTimestamp": d.metadata.creation_timestamp},
               "spec": {"replicas": d.spec.replicas.unwrap_or(1)},
               "status": {"replicas": d.status.replicas, "selector": d.spec.selector.to_selector_string()}})
    };
    enum ScaleWrite {
        Replace(Value),
        Patch(patch::Patch),
    }
    let write = match write {
        None => {
            let snapshot = api.world.view().await?.get(Kind::Deployment, &key);
            let Some(Object::Deployment(d)) = snapshot.items.as_deref() else {
                return Err(ApiError::not_found("deployments.apps", &key.name));
            };
            return Ok(json_response(StatusCode::OK, &scale_of(d)));
        }
        Some((Method::PUT, _, body)) => Some(ScaleWrite::Replace(
            off_the_workers(move || {
                serde_json::from_slice(&body)
                    .map_err(|e| ApiError::bad_request(format!("the request body is not valid JSON: {e}")))
            })
            .await?,
        )),
        Some((_, content_type, body)) => {
            Some(ScaleWrite::Patch(off_the_workers(move || patch::parse(&content_type, &body)).await?))
        }
    };
    let Some(write) = write else { return Err(ApiError::path_not_found()) };
    let snapshot = api.world.view().await?.get(Kind::Deployment, &key);
    let Some(Object::Deployment(d)) = snapshot.items.as_deref() else {
        return Err(ApiError::not_found("deployments.apps", &key.name));
    };
    let doc = match write {
        ScaleWrite::Replace(doc) => doc,
        ScaleWrite::Patch(patch) => {
            let mut doc = scale_of(d);
            patch.apply(&mut doc)?;
            doc
        }
    };
    check_scale_body(&doc, &key)?;
    let replicas =
        doc["spec"]["replicas"].as_i64().ok_or_else(|| ApiError::bad_request("spec.replicas must be a number"))?;
    let replicas = i32::try_from(replicas).map_err(|_| ApiError::bad_request("spec.replicas is out of range"))?;
    let result = match answered_object(api.world.write(WorldRequest::Scale { deployment: key, replicas }).await?)? {
        Object::Deployment(d) => scale_of(&d),
        other => return Err(unexpected(Answer::Object(Box::new(other)))),
    };
    Ok(json_response(StatusCode::OK, &result))
}

/// `statefulsets/scale`, as `deployments/scale`. The new `spec.replicas` is written as a PUT of
/// the StatefulSet: conditional on the Scale's resourceVersion when a PUT sends one (a patch
/// is not, as kube-apiserver retries a patch on conflict).
async fn statefulset_scale(
    api: &Api,
    target: Target,
    write: Option<(Method, String, Bytes)>,
) -> Result<Response, ApiError> {
    let key = key_of(&target);
    let scale_of = |s: &StatefulSet| {
        json!({"kind": "Scale", "apiVersion": "autoscaling/v1",
               "metadata": {"name": s.metadata.name, "namespace": s.metadata.namespace, "uid": s.metadata.uid, "resourceVersion": s.metadata.resource_version, "creationTimestamp": s.metadata.creation_timestamp},
               "spec": {"replicas": s.spec.replicas.unwrap_or(1)},
               "status": {"replicas": s.status.replicas, "selector": s.spec.selector.to_selector_string()}})
    };
    let current = || async {
        let snapshot = api.world.view().await?.get(Kind::StatefulSet, &key);
        match snapshot.items.as_deref() {
            Some(Object::StatefulSet(s)) => Ok(StatefulSet::clone(s)),
            _ => Err(ApiError::not_found("statefulsets.apps", &key.name)),
        }
    };
    let (doc, resource_version) = match write {
        None => return Ok(json_response(StatusCode::OK, &scale_of(&current().await?))),
        Some((Method::PUT, _, body)) => {
            let doc: Value = off_the_workers(move || {
                serde_json::from_slice(&body)
                    .map_err(|e| ApiError::bad_request(format!("the request body is not valid JSON: {e}")))
            })
            .await?;
            let rv = doc["metadata"]["resourceVersion"].as_str().unwrap_or_default().to_string();
            (doc, rv)
        }
        Some((_, content_type, body)) => {
            let patch = off_the_workers(move || patch::parse(&content_type, &body)).await?;
            let mut doc = scale_of(&current().await?);
            patch.apply(&mut doc)?;
            (doc, String::new())
        }
    };
    check_scale_body(&doc, &key)?;
    let replicas =
        doc["spec"]["replicas"].as_i64().ok_or_else(|| ApiError::bad_request("spec.replicas must be a number"))?;
    let replicas = i32::try_from(replicas).map_err(|_| ApiError::bad_request("spec.replicas is out of range"))?;
    let mut sts = current().await?;
    sts.spec.replicas = Some(replicas);
    sts.metadata.resource_version = resource_version.into();
    let result = match answered_object(api.world.write(WorldRequest::Replace(Box::new(Object::from(sts)))).await?)? {
        Object::StatefulSet(s) => scale_of(&s),
        other => return Err(unexpected(Answer::Object(Box::new(other)))),
    };
    Ok(json_response(StatusCode::OK, &result))
}

/// A `Scale` written by PUT must be a Scale for the deployment on the URL: kube-apiserver's
/// decoder refuses another kind, and its `checkName` another name or namespace.
fn check_scale_body(doc: &Value, key: &ObjectKey) -> Result<(), ApiError> {
    let kind = doc.get("kind").and_then(Value::as_str).unwrap_or("Scale");
    let version = doc.get("apiVersion").and_then(Value::as_str).unwrap_or("autoscaling/v1");
    if kind != "Scale" || version != "autoscaling/v1" {
        let go_type = |version: &str| version.rsplit('/').next().unwrap_or(version).to_string();
        return Err(ApiError::bad_request(format!(
            "{kind} in version {:?} cannot be handled as a Scale: converting ({}.{kind}) to (autoscaling.Scale): unknown conversion",
            go_type(version),
            go_type(version)
        )));
    }
    let meta = doc.get("metadata").and_then(Value::as_object);
    let field = |name: &str| meta.and_then(|m| m.get(name)).and_then(Value::as_str).unwrap_or("");
    let name = field("name");
    if name != key.name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({name}) does not match the name on the URL ({})",
            key.name
        )));
    }
    let namespace = field("namespace");
    if !namespace.is_empty() && namespace != key.namespace {
        return Err(ApiError::bad_request(format!(
            "the namespace of the object ({namespace}) does not match the namespace on the URL ({})",
            key.namespace
        )));
    }
    Ok(())
}

/// One watch stream. A task per watch polls the change log into a bounded queue the response
/// body reads from, so a client that stops reading is noticed (the queue fills) rather than
/// buffered without limit; it is then ended with a 410 Expired, and its queue freed.
async fn watch(api: &Api, target: Target, query: Query, table: bool) -> Result<Response, ApiError> {
    let kind = target.info.kind.ok_or_else(ApiError::path_not_found)?;
    let from = query.resource_version.unwrap_or(0);
    let view = api.world.view().await?;
    let mut initial = Vec::new();
    let current = view.resource_version();
    // A version this server never issued (beyond its current one, or below where its store
    // started): it comes from another server's history (this serve restarted; its store starts
    // afresh, unlike etcd).
    let never_issued = from != 0 && (from > current || from < view.resource_version_base());
    let cursor = if from == 0 {
        // No resourceVersion: the current state first, as ADDED events, then what follows it.
        let snapshot = list_target(view, kind, &target, None, None).map_err(|_| paging::expired())?;
        for o in snapshot.items {
            let j = to_json(&o);
            if in_scope(&target, &query, &o, &j) {
                initial.push(encode_event("ADDED", &target, &o, j, snapshot.now, table, query.include_object));
            }
        }
        snapshot.resource_version
    } else if never_issued {
        // Tell the client to relist, as for one too old, rather than resume silently past
        // what it missed.
        let status = ApiError::new(
            StatusCode::GONE,
            "Expired",
            if from > current {
                format!("too large resource version: {from}, current: {current}")
            } else {
                format!(
                    "too old resource version: {from} (this server's history starts after {})",
                    view.resource_version_base()
                )
            },
        )
        .to_status();
        initial.push(Bytes::from(format!("{}\n", json!({"type": "ERROR", "object": status}))));
        from
    } else {
        from
    };
    let deadline = query.timeout.map(|t| tokio::time::Instant::now() + t);
    let mut state = WatchState {
        api: api.clone(),
        target,
        query,
        table,
        kind,
        cursor,
        pending: VecDeque::new(),
        done: never_issued,
    };
    let (events, queue) = tokio::sync::mpsc::channel::<Bytes>(api.limits.watch_queue);
    let expired = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let fell_behind = expired.clone();
    let mut closing = api.closing.clone();
    tokio::spawn(async move {
        let produce = async {
            // The initial state is sent at the client's pace: it is bounded by the store.
            for event in initial {
                if events.send(event).await.is_err() {
                    return;
                }
            }
            loop {
                while let Some(event) = state.pending.pop_front() {
                    match events.try_send(event) {
                        Ok(()) => {}
                        Err(tokio::sync::mpsc::error::TrySendError::Full(_)) => {
                            fell_behind.store(true, Ordering::Relaxed);
                            return;
                        }
                        Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => return,
                    }
                }
                if state.done {
                    return;
                }
                // Wake when the owner publishes a new resourceVersion, or after a while regardless.
                let wake = tokio::time::timeout(WATCH_IDLE, state.api.world.changed.changed());
                tokio::select! {
                    _ = events.closed() => return,
                    _ = wake => {}
                }
                state.poll().await;
            }
        };
        let timed_out = async {
            match deadline {
                Some(deadline) => tokio::time::sleep_until(deadline).await,
                None => std::future::pending().await,
            }
        };
        // Shutdown ends every watch (as kube-apiserver closes them), even if the World's
        // owner has stopped answering.
        let shutting_down = async {
            if closing.wait_for(|closing| *closing).await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            _ = produce => {}
            _ = timed_out => {}
            _ = shutting_down => {}
        }
    });
    let queue_limit = api.limits.watch_queue;
    let stream = futures::stream::unfold(Some(queue), move |queue| {
        let expired = expired.clone();
        async move {
            let mut queue = queue?;
            if !expired.load(Ordering::Relaxed) {
                if let Some(event) = queue.recv().await {
                    return Some((Ok::<Bytes, std::convert::Infallible>(event), Some(queue)));
                }
                if !expired.load(Ordering::Relaxed) {
                    return None;
                }
            }
            drop(queue);
            let status = ApiError::new(
                StatusCode::GONE,
                "Expired",
                format!("the watcher fell more than {queue_limit} events behind and was closed; list and watch again"),
            )
            .to_status();
            Some((Ok(Bytes::from(format!("{}\n", json!({"type": "ERROR", "object": status})))), None))
        }
    });
    let content_type = if table { "application/json;as=Table;v=v1;g=meta.k8s.io" } else { "application/json" };
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header("content-type", content_type)
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response()))
}

struct WatchState {
    api: Api,
    target: Target,
    query: Query,
    table: bool,
    kind: Kind,
    cursor: u64,
    pending: VecDeque<Bytes>,
    done: bool,
}

impl WatchState {
    /// Turns the view's changes since the cursor into events. Whether a change is ADDED,
    /// MODIFIED or DELETED *for this watch* depends on whether the object before it (`prev`)
    /// and after it are in the watch's scope, as upstream's cacher decides.
    async fn poll(&mut self) {
        let answer = self.api.world.view.changes_since(self.kind, self.cursor);
        let snapshot = match answer {
            Ok(snapshot) => snapshot,
            Err(too_old) => {
                // Fell out of the view's window: tell the client to relist (kube-apiserver's form).
                let status = ApiError::new(
                    StatusCode::GONE,
                    "Expired",
                    format!("too old resource version: {} ({})", self.cursor, too_old.current),
                )
                .to_status();
                self.pending.push_back(Bytes::from(format!("{}\n", json!({"type": "ERROR", "object": status}))));
                self.done = true;
                return;
            }
        };
        self.cursor = self.cursor.max(snapshot.resource_version);
        for change in snapshot.items {
            let mut j = to_json(&change.object);
            if change.type_ == ChangeType::Deleted {
                // A DELETED event carries the delete's resourceVersion (the store keeps the object
                // as it was stored): informers resume their watch from it.
                j["metadata"]["resourceVersion"] = Value::from(change.resource_version.to_string());
            }
            let was = change
                .prev
                .as_ref()
                .is_some_and(|p| in_scope(&self.target, &self.query, p, &to_json_if(p, &self.query)));
            let event = match change.type_ {
                ChangeType::Deleted if in_scope(&self.target, &self.query, &change.object, &j) => "DELETED",
                ChangeType::Deleted => continue,
                ChangeType::Added | ChangeType::Modified => {
                    match (was, in_scope(&self.target, &self.query, &change.object, &j)) {
                        (true, true) => "MODIFIED",
                        (false, true) => "ADDED",
                        (true, false) => "DELETED",
                        (false, false) => continue,
                    }
                }
            };
            self.pending.push_back(encode_event(
                event,
                &self.target,
                &change.object,
                j,
                snapshot.now,
                self.table,
                self.query.include_object,
            ));
        }
    }
}

fn encode_event(
    type_: &str,
    target: &Target,
    object: &Object,
    json: Value,
    now: crate::clock::Reading,
    table: bool,
    include_object: bool,
) -> Bytes {
    let object = if table {
        let rv = json["metadata"]["resourceVersion"].as_str().and_then(|rv| rv.parse().ok()).unwrap_or(0);
        table_of(target, vec![(row(target, object, &json, now), json)], rv, include_object)
    } else {
        json
    };
    Bytes::from(format!("{}\n", json!({"type": type_, "object": object})))
}

/// A kubeconfig for the server at `server`; with a CA (PEM) kubectl verifies the server, and
/// with a token it authenticates (kubectl only sends tokens over https).
pub fn kubeconfig(server: &str, ca_pem: Option<&str>, token: Option<&str>) -> String {
    use base64::Engine;
    let ca = ca_pem.map_or(String::new(), |pem| {
        format!("    certificate-authority-data: {}\n", base64::engine::general_purpose::STANDARD.encode(pem))
    });
    // Plain HTTP has no certificate to verify, but @kubernetes/client-node refuses an http://
    // server unless the kubeconfig says this (kubectl and the other clients ignore it there).
    let ca = if ca.is_empty() && server.starts_with("http://") {
        "    insecure-skip-tls-verify: true\n".to_string()
    } else {
        ca
    };
    let user = token.map_or("{}".to_string(), |t| format!("\n    token: {t}"));
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: pinsetter\n  cluster:\n    server: {server}\n{ca}contexts:\n- name: pinsetter\n  context:\n    cluster: pinsetter\n    user: player\n    namespace: default\ncurrent-context: pinsetter\nusers:\n- name: player\n  user: {user}\n"
    )
}
