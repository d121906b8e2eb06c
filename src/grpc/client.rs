//! Clients of the gRPC service: [`follow`] (a live game, for a spectator's replica World) and
//! [`watch`] (`pinsetter ctl --grpc watch`).

use super::proto;
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
