//! Clients of the gRPC service: [`follow`] (a live game, for a spectator's replica World),
//! [`join`] (a seat in it, for `pinsetter play --join`) and [`watch`] (`pinsetter ctl --grpc
//! watch`).

use super::proto;
use crate::alley::AlleyInput;
use crate::driver::{FeedLine, LogHeader};
use anyhow::{Context, Result, bail};
use tonic::transport::{Channel, Endpoint};

/// A client of the service, sending the bearer token (if any) with every call.
pub type Client =
    proto::pinsetter_client::PinsetterClient<tonic::service::interceptor::InterceptedService<Channel, Bearer>>;

/// Adds `authorization: Bearer …` to every call.
#[derive(Clone)]
pub struct Bearer(Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>);

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(token) = &self.0 {
            request.metadata_mut().insert("authorization", token.clone());
        }
        Ok(request)
    }
}

/// The endpoint for `grpc://HOST:PORT` (plain HTTP/2) or `grpcs://HOST:PORT` (TLS, verified
/// against the local CA that `serve --tls` made, as `pinsetter kubeconfig` embeds it).
pub fn endpoint(address: &str) -> Result<Endpoint> {
    let (scheme, rest) = address
        .split_once("://")
        .with_context(|| format!("{address:?} is not a gRPC address (grpc://HOST:PORT or grpcs://HOST:PORT)"))?;
    let endpoint = match scheme {
        "grpc" | "http" => Endpoint::from_shared(format!("http://{rest}"))?,
        "grpcs" | "https" => {
            let ca = crate::api::tls::ca_certificate(&crate::api::tls::ca_dir())
                .context("reading the local CA to verify the server")?;
            Endpoint::from_shared(format!("https://{rest}"))?.tls_config(
                tonic::transport::ClientTlsConfig::new().ca_certificate(tonic::transport::Certificate::from_pem(ca)),
            )?
        }
        other => bail!("{address:?}: unknown scheme {other:?} (grpc:// or grpcs://)"),
    };
    Ok(endpoint)
}

/// Connects to the service at `address` (see [`endpoint`]).
pub async fn connect(address: &str, token: Option<&str>) -> Result<Client> {
    let channel = endpoint(address)?.connect().await.with_context(|| format!("cannot reach {address}"))?;
    let token =
        token.map(|t| format!("Bearer {t}").parse()).transpose().context("the token must be printable ASCII")?;
    Ok(proto::pinsetter_client::PinsetterClient::with_interceptor(channel, Bearer(token)))
}

/// Follows the live game at `address` (`Game`): returns the session's header and a channel of
/// what follows, fed from a background thread: every input applied so far, then the live inputs
/// and tick marks. It ends with [`FeedLine::End`]: the session's digest when it ended, `None`
/// when the server went away (or the follower fell too far behind).
pub fn follow(address: &str, token: Option<&str>) -> Result<(LogHeader, std::sync::mpsc::Receiver<FeedLine>)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the gRPC client's runtime")?;
    let mut updates = runtime.block_on(async {
        let mut client = connect(address, token).await?;
        let updates = client.game(proto::GameRequest {}).await.context("following the game")?.into_inner();
        anyhow::Ok(updates)
    })?;
    let first = runtime
        .block_on(updates.message())
        .context("reading the game's header")?
        .context("the server ended the game stream before its header")?;
    let Some(proto::game_update::Update::Header(header)) = first.update else {
        bail!("the game stream did not start with its header");
    };
    let header: LogHeader = serde_json::from_slice(&header).context("the game's header")?;
    let (lines, received) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("pinsetter-follow".into())
        .spawn(move || {
            runtime.block_on(async move {
                use proto::game_update::Update;
                loop {
                    let line = match updates.message().await {
                        Ok(Some(proto::GameUpdate { update: Some(update) })) => match update {
                            Update::Input(input) => match serde_json::from_slice(&input.input) {
                                Ok(parsed) => FeedLine::Input { tick: input.tick, input: parsed },
                                Err(e) => {
                                    tracing::error!("an input in the game stream is not one this build knows: {e}");
                                    break;
                                }
                            },
                            Update::Reached(tick) => FeedLine::Reached(tick),
                            Update::End(end) => {
                                let digest = Some(end.digest).filter(|d| !d.is_empty());
                                // The follower may have stopped listening: nothing left to tell.
                                lines.send(FeedLine::End { digest }).ok();
                                return;
                            }
                            Update::Header(_) | Update::State(_) => continue,
                        },
                        Ok(Some(proto::GameUpdate { update: None })) => continue,
                        Ok(None) => break,
                        Err(status) => {
                            tracing::warn!("the game stream ended: {status}");
                            break;
                        }
                    };
                    if lines.send(line).is_err() {
                        return;
                    }
                }
                lines.send(FeedLine::End { digest: None }).ok();
            });
        })
        .context("starting the game follower's thread")?;
    Ok((header, received))
}

/// Controls a bowler may have queued for the server; key presses beyond it are refused on the
/// spot rather than piling up.
const SEAT_QUEUE: usize = 32;

/// A bowler's seat in someone else's game (`pinsetter play --join`): one `Act` stream that
/// joined, whose controls are that bowler's. Each control sent is answered on `answers`, in
/// order: `Ok` applied, `Err` the server's refusal (not this bowler's turn). The stream lives on
/// a background thread until the seat is dropped or the server ends it (`answers` then closes
/// after saying why).
pub struct Seat {
    /// The bowler's index on the lane (into `Alley::bowlers`).
    pub bowler: u8,
    pub name: String,
    controls: tokio::sync::mpsc::Sender<AlleyInput>,
    pub answers: std::sync::mpsc::Receiver<Result<(), String>>,
}

impl Seat {
    /// Sends one control; refused at once when the queue is full or the stream has ended.
    pub fn send(&self, control: AlleyInput) -> Result<(), String> {
        use tokio::sync::mpsc::error::TrySendError;
        self.controls.try_send(control).map_err(|e| match e {
            TrySendError::Full(_) => "too many controls waiting for the server: slow down".to_string(),
            TrySendError::Closed(_) => "the game's Act stream has ended".to_string(),
        })
    }
}

/// A control as the `Bowl` action says it (a new game is not a remote bowler's to start).
fn bowl_action(control: AlleyInput) -> Option<proto::Action> {
    use proto::bowl::Control;
    let control = match control {
        AlleyInput::Move(n) => Control::Move(n.into()),
        AlleyInput::Aim(n) => Control::Aim(n.into()),
        AlleyInput::Hook(n) => Control::Hook(n.into()),
        AlleyInput::Power => Control::Power(true),
        AlleyInput::NewGame => return None,
    };
    Some(proto::Action { action: Some(proto::action::Action::Bowl(proto::Bowl { control: Some(control) })) })
}

/// Joins the game at `address` as bowler `name` (see [`Seat`]). A refused join (a name taken,
/// a full lane, no permission) is an error saying why.
pub fn join(address: &str, token: Option<&str>, name: &str) -> Result<Seat> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the gRPC client's runtime")?;
    let (actions, queue) = tokio::sync::mpsc::channel::<proto::Action>(SEAT_QUEUE);
    let (mut results, bowler) = runtime.block_on(async {
        let mut client = connect(address, token).await?;
        let join = proto::Action { action: Some(proto::action::Action::Join(proto::Join { name: name.to_string() })) };
        actions.send(join).await.context("queueing the join")?;
        let mut results = client
            .act(tokio_stream::wrappers::ReceiverStream::new(queue))
            .await
            .map_err(status_error)
            .context("opening the game's Act stream")?
            .into_inner();
        let joined = results
            .message()
            .await
            .map_err(status_error)
            .context("joining the game")?
            .context("the server ended the Act stream before answering the join")?;
        if joined.code != tonic::Code::Ok as i32 {
            bail!("joining the game as {name:?} was refused: {}", joined.message);
        }
        let bowler = joined.bowler.context("the server answered the join without a bowler index")?;
        anyhow::Ok((results, u8::try_from(bowler).context("a bowler index beyond the lane")?))
    })?;
    let (controls, mut wanted) = tokio::sync::mpsc::channel::<AlleyInput>(SEAT_QUEUE);
    let (answered, answers) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("pinsetter-seat".into())
        .spawn(move || {
            runtime.block_on(async move {
                loop {
                    tokio::select! {
                        control = wanted.recv() => {
                            let Some(control) = control else { return };
                            let Some(action) = bowl_action(control) else {
                                answered.send(Err("a new game is the host's to start".to_string())).ok();
                                continue;
                            };
                            if actions.send(action).await.is_err() {
                                answered.send(Err("the game's Act stream has ended".to_string())).ok();
                                return;
                            }
                        }
                        result = results.message() => {
                            let ended = !matches!(result, Ok(Some(_)));
                            let answer = match result {
                                Ok(Some(result)) if result.code == tonic::Code::Ok as i32 => Ok(()),
                                Ok(Some(result)) => Err(result.message),
                                Ok(None) => Err("the host ended the game's Act stream".to_string()),
                                Err(status) => Err(format!("the game's Act stream ended: {}", status.message())),
                            };
                            // The player may have quit: nobody is left to tell.
                            if answered.send(answer).is_err() || ended {
                                return;
                            }
                        }
                    }
                }
            });
        })
        .context("starting the bowler's thread")?;
    Ok(Seat { bowler, name: name.trim().to_string(), controls, answers })
}

/// Streams `kind`'s changes over gRPC, calling `each` per event until the stream or `each` ends
/// (`each` returns false to stop).
pub fn watch(
    address: &str,
    token: Option<&str>,
    kind: &str,
    mut each: impl FnMut(&proto::WatchEvent, &serde_json::Value) -> bool,
) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the gRPC client's runtime")?;
    runtime.block_on(async {
        let mut client = connect(address, token).await?;
        let request = proto::WatchRequest { kinds: vec![kind.to_string()], ..Default::default() };
        let mut events = client.watch(request).await.map_err(status_error)?.into_inner();
        while let Some(event) = events.message().await.map_err(status_error)? {
            let object = serde_json::from_slice(&event.object).unwrap_or(serde_json::Value::Null);
            if !each(&event, &object) {
                break;
            }
        }
        Ok(())
    })
}

/// A gRPC status as an error a person reads: the code and the server's message.
fn status_error(status: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("{:?}: {}", status.code(), status.message())
}
