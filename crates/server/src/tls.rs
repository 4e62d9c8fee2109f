//! Serving over TLS (rustls with the `ring` provider, through tonic), and mutual TLS when a
//! client CA is configured: a client without a certificate signed by it is refused during the
//! handshake, before any RPC.

use tonic::transport::server::ServerTlsConfig;
use tonic::transport::{Certificate, Identity, Server};

use crate::config::TlsSettings;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {key} ({path}): {source}")]
    Read {
        key: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid certificate or key: {0}")]
    Config(#[source] tonic::transport::Error),
}

/// A server builder: plaintext without settings, TLS (and mTLS) with them.
pub fn server_builder(tls: Option<&TlsSettings>) -> Result<Server, TlsError> {
    let Some(tls) = tls else {
        return Ok(Server::builder());
    };
    let cert = read("server.tls.cert_path", &tls.cert_path)?;
    let key = read("server.tls.key_path", &tls.key_path)?;
    let mut config = ServerTlsConfig::new().identity(Identity::from_pem(cert, key));
    if let Some(ca) = &tls.client_ca_path {
        let ca = read("server.tls.client_ca_path", ca)?;
        config = config.client_ca_root(Certificate::from_pem(ca));
    }
    Server::builder()
        .tls_config(config)
        .map_err(TlsError::Config)
}

fn read(key: &'static str, path: &std::path::Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        key,
        path: path.display().to_string(),
        source,
    })
}
