//! HTTPS for the API server. kubectl never sends a bearer token to an `http://` server, so auth
//! comes with TLS. A local CA is created once (kept in the data directory, so `pinsetter
//! kubeconfig` can embed it and kubectl verifies the server, no insecure-skip), and each start
//! signs a fresh server certificate for the address being served.

use anyhow::{Context, Result};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where the CA lives: `<data dir>/pinsetter/tls/`, or `$PINSETTER_DATA_DIR/tls/`.
pub fn ca_dir() -> PathBuf {
    crate::storage::data_dir().join("tls")
}

/// The CA's certificate (PEM), as `pinsetter kubeconfig` embeds it.
pub fn ca_certificate(dir: &Path) -> Result<String> {
    let path = dir.join("ca.crt");
    std::fs::read_to_string(&path)
        .with_context(|| format!("no CA at {} (start `pinsetter serve --tls` first)", path.display()))
}

fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, "Pinsetter local CA");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    params
}

/// Loads the CA from `dir`, creating it on first use.
fn load_or_create_ca(dir: &Path) -> Result<(String, Issuer<'static, KeyPair>)> {
    let (cert_path, key_path) = (dir.join("ca.crt"), dir.join("ca.key"));
    if let (Ok(cert), Ok(key)) = (std::fs::read_to_string(&cert_path), std::fs::read_to_string(&key_path)) {
        let key = KeyPair::from_pem(&key).with_context(|| format!("reading {}", key_path.display()))?;
        return Ok((cert, Issuer::new(ca_params(), key)));
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let key = KeyPair::generate().context("generating the CA key")?;
    let cert = ca_params().self_signed(&key).context("signing the CA certificate")?;
    std::fs::write(&cert_path, cert.pem()).with_context(|| format!("writing {}", cert_path.display()))?;
    write_private(&key_path, &key.serialize_pem())?;
    Ok((cert.pem(), Issuer::new(ca_params(), key)))
}

/// Writes a private key readable by its owner only.
pub(crate) fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(path).with_context(|| format!("writing {}", path.display()))?;
    file.write_all(text.as_bytes()).with_context(|| format!("writing {}", path.display()))
}

/// A rustls server configuration for `addr`, signed by the local CA in `dir`.
pub fn server_config(dir: &Path, addr: SocketAddr) -> Result<Arc<rustls::ServerConfig>> {
    let (_, issuer) = load_or_create_ca(dir)?;
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, "pinsetter");
    let mut names = vec![
        SanType::DnsName("localhost".try_into().context("the name localhost")?),
        SanType::IpAddress(IpAddr::from([127, 0, 0, 1])),
    ];
    if !addr.ip().is_unspecified() && addr.ip() != IpAddr::from([127, 0, 0, 1]) {
        names.push(SanType::IpAddress(addr.ip()));
    }
    params.subject_alt_names = names;
    let key = KeyPair::generate().context("generating the server key")?;
    let cert = params.signed_by(&key, &issuer).context("signing the server certificate")?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()))
        .context("the server certificate")?;
    // HTTP/1.1 by preference (rustls picks the server's first choice that the client offers), so
    // kubectl and the agents keep it; gRPC clients offer only h2, and get it.
    config.alpn_protocols = vec![b"http/1.1".to_vec(), b"h2".to_vec()];
    Ok(Arc::new(config))
}
