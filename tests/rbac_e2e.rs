//! ServiceAccounts, tokens and RBAC with the real kubectl against `pinsetter serve --tls
//! --token-file` (issue 14): `create token` and a kubeconfig using it, `auth whoami`, `auth
//! can-i`, a RoleBinding granting then revoking access, upstream's 403 on a refused delete,
//! expired, forged and orphaned tokens refused with 401, and no token in the log.

mod common;
use common::kubectl_present;

use pinsetter::api::auth::{ClaimedServiceAccount, Claims, ISSUER, KubernetesClaims, ServiceAccountKey};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// A TLS server with a token file, in its own data directory; killed and cleaned up on drop.
struct Server {
    child: Child,
    dir: PathBuf,
    url: String,
    log: Option<std::thread::JoinHandle<String>>,
}

impl Server {
    fn start(tokens: &str) -> Server {
        let dir = std::env::temp_dir().join(format!("pinsetter-rbac-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("tokens"), tokens).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_pinsetter"))
            .args(["serve", "--listen", "127.0.0.1:0", "--seed", "3", "--tls", "--token-file"])
            .arg(dir.join("tokens"))
            .env("PINSETTER_DATA_DIR", &dir)
            // Debug: the refusals are logged too, and must not show the tokens either.
            .env("RUST_LOG", "debug")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let log = std::thread::spawn(move || {
            let mut all = String::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("serving the Kubernetes API on ").nth(1) {
                    let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_string());
                }
                all.push_str(&line);
                all.push('\n');
            }
            all
        });
        let mut server = Server { child, dir, url: String::new(), log: Some(log) };
        server.url = rx.recv_timeout(Duration::from_secs(20)).expect("serve announces its address");
        server
    }

    /// A kubeconfig for `token`, written as `name` in the server's directory.
    fn kubeconfig(&self, token: &str, name: &str) -> PathBuf {
        let out = Command::new(env!("CARGO_BIN_EXE_pinsetter"))
            .args(["kubeconfig", "--server", &self.url, "--token", token])
            .env("PINSETTER_DATA_DIR", &self.dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let path = self.dir.join(name);
        std::fs::write(&path, out.stdout).unwrap();
        path
    }

    fn kubectl(&self, config: &Path, args: &[&str]) -> Output {
        Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(config)
            .arg("--cache-dir")
            .arg(self.dir.join(format!("cache-{}", config.file_name().unwrap().to_string_lossy())))
            .args(args)
            .output()
            .unwrap()
    }

    /// Runs kubectl and returns stdout, failing with stderr if it fails.
    fn ok(&self, config: &Path, args: &[&str]) -> String {
        let out = self.kubectl(config, args);
        assert!(out.status.success(), "kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs kubectl expecting failure; returns stderr.
    fn refused(&self, config: &Path, args: &[&str]) -> String {
        let out = self.kubectl(config, args);
        assert!(!out.status.success(), "kubectl {args:?} should fail: {}", String::from_utf8_lossy(&out.stdout));
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// Stops the server and returns everything it logged.
    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.log.take().unwrap().join().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Claims for `default/reader` with uid `uid`, valid from `from` to `to` seconds from now.
fn claims(uid: &str, from: i64, to: i64) -> Claims {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    Claims {
        iss: ISSUER.into(),
        sub: "system:serviceaccount:default:reader".into(),
        aud: vec![ISSUER.into()],
        exp: now + to,
        iat: now + from,
        nbf: now + from,
        kubernetes: KubernetesClaims {
            namespace: "default".into(),
            serviceaccount: ClaimedServiceAccount { name: "reader".into(), uid: uid.into() },
        },
    }
}

#[test]
fn a_service_account_token_is_authorized_by_rbac_and_refused_once_revoked_expired_or_forged() {
    if !kubectl_present() {
        return;
    }
    let server = Server::start("admintoken,alice,admin\n");
    let admin = server.kubeconfig("admintoken", "admin.yaml");
    assert!(server.ok(&admin, &["auth", "whoami"]).contains("system:masters"));

    // A ServiceAccount, a token for it, and a kubeconfig using the token.
    server.ok(&admin, &["create", "serviceaccount", "reader"]);
    let token = server.ok(&admin, &["create", "token", "reader", "--duration", "10m"]).trim().to_string();
    assert_eq!(token.split('.').count(), 3, "a JWT: {token}");
    let reader = server.kubeconfig(&token, "reader.yaml");
    let whoami = server.ok(&reader, &["auth", "whoami"]);
    assert!(whoami.contains("system:serviceaccount:default:reader"), "{whoami}");
    assert!(whoami.contains("system:serviceaccounts:default"), "{whoami}");

    // Nothing is bound to it yet: a list is refused with upstream's words.
    let refused = server.refused(&reader, &["get", "pods"]);
    assert!(
        refused.contains(r#"pods is forbidden: User "system:serviceaccount:default:reader" cannot list resource "pods" in API group "" in the namespace "default""#),
        "{refused}"
    );
    assert_eq!(server.kubectl(&reader, &["auth", "can-i", "list", "pods"]).stdout, b"no\n");

    // Granted `view` in default: it reads, and is refused a delete with upstream's message.
    server.ok(
        &admin,
        &["create", "rolebinding", "reader-view", "--clusterrole", "view", "--serviceaccount", "default:reader"],
    );
    // The default lane's pods are listed (whatever their state: a fast machine asks before
    // their containers are up).
    let listed = server.ok(&reader, &["get", "pods"]);
    assert!(listed.starts_with("NAME") && listed.contains("\nweb-"), "{listed}");
    assert_eq!(server.ok(&reader, &["auth", "can-i", "list", "pods"]).trim(), "yes");
    assert_eq!(server.ok(&reader, &["auth", "can-i", "get", "pods", "--subresource", "log"]).trim(), "yes");
    assert_eq!(server.kubectl(&reader, &["auth", "can-i", "delete", "pods"]).stdout, b"no\n");
    assert_eq!(server.kubectl(&reader, &["auth", "can-i", "list", "pods", "-n", "kube-system"]).stdout, b"no\n");
    let pod = server.ok(&admin, &["get", "pods", "-o", "jsonpath={.items[0].metadata.name}"]);
    let refused = server.refused(&reader, &["delete", "pod", &pod]);
    assert!(
        refused.contains(&format!(
            r#"Error from server (Forbidden): pods "{pod}" is forbidden: User "system:serviceaccount:default:reader" cannot delete resource "pods" in API group "" in the namespace "default""#
        )),
        "{refused}"
    );
    assert!(server.ok(&admin, &["get", "pod", &pod]).contains(&pod), "the refused delete changed nothing");

    // Revoked: refused again.
    server.ok(&admin, &["delete", "rolebinding", "reader-view"]);
    assert!(server.refused(&reader, &["get", "pods"]).contains("Forbidden"));

    // Tokens signed by the server's key for this account work until they expire; another
    // key's, an expired one, and one whose account is gone are 401.
    let uid = server.ok(&admin, &["get", "serviceaccount", "reader", "-o", "jsonpath={.metadata.uid}"]);
    let key_pem = std::fs::read_to_string(server.dir.join("serviceaccount/sa.key")).unwrap();
    let key = ServiceAccountKey::from_pem(&key_pem).unwrap();
    let fresh = server.kubeconfig(&key.sign(&claims(&uid, -5, 600)).unwrap(), "fresh.yaml");
    assert!(server.ok(&fresh, &["auth", "whoami"]).contains("system:serviceaccount:default:reader"));
    let expired = server.kubeconfig(&key.sign(&claims(&uid, -700, -60)).unwrap(), "expired.yaml");
    let forged_key = ServiceAccountKey::generate().unwrap();
    let forged = server.kubeconfig(&forged_key.sign(&claims(&uid, -5, 600)).unwrap(), "forged.yaml");
    for config in [&expired, &forged] {
        let refused = server.refused(config, &["auth", "whoami"]);
        assert!(refused.contains("Unauthorized"), "{refused}");
    }
    server.ok(&admin, &["delete", "serviceaccount", "reader"]);
    assert!(server.refused(&reader, &["auth", "whoami"]).contains("Unauthorized"), "the account is gone");

    // A too-short token is refused with upstream's validation message.
    let refused = server.refused(&admin, &["create", "token", "default", "--duration", "1m"]);
    assert!(
        refused.contains("spec.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes"),
        "{refused}"
    );

    let log = server.stop();
    assert!(log.contains("a bearer token was refused"), "the refusals were logged (without their tokens)");
    assert!(!log.contains(&token) && !log.contains("admintoken"), "tokens must never be logged");
    assert!(!log.contains(&token[token.len() - 20..]), "not even a token's signature");
}
