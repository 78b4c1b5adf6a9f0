//! The remote executor over HTTPS: B's real `/v2` API behind a TLS front
//! (tokio-rustls, a certificate for 127.0.0.1 from a CA made here with
//! rcgen), called by A with that CA in its operator's `remote.ca_file`,
//! and without it.

use std::net::SocketAddr;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use serde_json::json;
use smstrigger_host::actions::remote::{REMOTE_UNAVAILABLE, RemoteExecutor};
use smstrigger_host::config::RemoteConfig;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::aws_lc_rs;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::super::Server;
use super::{mirrored, pair_via};

/// A test CA and a server certificate it signed for the IP 127.0.0.1.
struct Pki {
    ca_pem: String,
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
}

fn pki() -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "smstrigger test CA");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut server = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    server
        .distinguished_name
        .push(DnType::CommonName, "remote contact center");
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = server.signed_by(&key, &issuer).unwrap();
    Pki {
        ca_pem: ca_cert.pem(),
        cert: cert.der().clone(),
        key: PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
    }
}

/// Serves TLS on a free loopback port and forwards each connection's
/// plaintext to `upstream` (B's listener); returns the port.
fn tls_front(pki: &Pki, upstream: SocketAddr) -> u16 {
    let config = ServerConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![pki.cert.clone()], pki.key.clone_key())
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let (ready, port) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            ready.send(listener.local_addr().unwrap().port()).unwrap();
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    // A handshake the client aborts (unknown CA) ends here.
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let Ok(mut plain) = tokio::net::TcpStream::connect(upstream).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                });
            }
        });
    });
    port.recv().unwrap()
}

/// A's `[remote]` section: https only, loopback allowed, `ca_file` trusted.
fn https_remote(ca_file: Option<std::path::PathBuf>) -> RemoteConfig {
    RemoteConfig {
        allow_http: false,
        allow_networks: vec!["127.0.0.0/8".parse().unwrap()],
        ca_file,
    }
}

fn upstream(b: &Server) -> SocketAddr {
    b.url.trim_start_matches("http://").parse().unwrap()
}

#[test]
fn remote_tls_an_action_executes_over_https_with_the_operators_ca() {
    let pki = pki();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &pki.ca_pem).unwrap();
    let p = pair_via(json!({}), mirrored, https_remote(Some(ca_file)), |b| {
        format!("https://127.0.0.1:{}", tls_front(&pki, upstream(b)))
    });
    let event = p.settled(&p.not_traceable("m-1"), 1);
    assert_eq!(event["state"], "done", "{event}");
    let verdict = super::verdict(&event);
    assert_eq!(verdict["executed"], true, "{event}");
    assert_eq!(verdict["remote"]["recordid"], p.b_record, "{event}");
    let remote = p.b_record();
    assert_eq!(remote["dispositionid"], 2, "{remote}");
    assert_eq!(remote["events"].as_array().unwrap().len(), 1, "{remote}");
}

#[test]
fn remote_tls_without_the_ca_the_certificate_is_refused_and_the_action_waits() {
    let pki = pki();
    let p = pair_via(json!({}), mirrored, https_remote(None), |b| {
        format!("https://127.0.0.1:{}", tls_front(&pki, upstream(b)))
    });
    let event = p.settled(&p.not_traceable("m-1"), 1);
    assert_eq!(
        event["outbox"][0]["state"], "pending",
        "retried later: {event}"
    );
    let verdict = super::verdict(&event);
    assert_eq!(
        verdict["remoteError"]["errorcode"], REMOTE_UNAVAILABLE,
        "{event}"
    );
    assert_eq!(p.b_record()["events"], json!([]));
}

#[test]
fn remote_tls_an_unreadable_ca_file_stops_start_up_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(smstrigger_host::store::SqliteStore::open(dir.path()).unwrap());
    let missing = dir.path().join("missing.pem");
    let error = RemoteExecutor::from_config(store.clone(), &https_remote(Some(missing)))
        .err()
        .expect("a missing CA file is an error");
    assert!(error.to_string().contains("missing.pem"), "{error}");
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate").unwrap();
    let error = RemoteExecutor::from_config(store, &https_remote(Some(junk)))
        .err()
        .expect("a file without certificates is an error");
    assert!(error.to_string().contains("junk.pem"), "{error}");
}
