//! The public TLS settings: trusted roots, an optional client certificate, the name checked.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};

use crate::error::{Error, Result};
use crate::net::ServerAddr;

/// TLS settings for the connections of a [`Client`](crate::Client), [`Worker`](crate::Worker)
/// or [`Admin`](crate::Admin) (feature `tls`), given to their builders' `tls` method.
///
/// The server's certificate chain and name are always verified: there is no switch to accept
/// any certificate. TLS 1.2 is the minimum, 1.3 is preferred. Built by [`TlsConfig::builder`];
/// cheap to clone (the parsed certificates are shared).
///
/// ```no_run
/// use gearman_sync::{Client, TlsConfig};
/// let tls = TlsConfig::builder()
///     .ca_file("/etc/gearman/ca.pem")                                 // or .system_roots()
///     .client_cert("/etc/gearman/client.pem", "/etc/gearman/client.key") // when required
///     .build()?;
/// let mut client = Client::builder().servers("gm1.internal:4730").tls(tls).build()?;
/// # Ok::<(), gearman_sync::Error>(())
/// ```
#[derive(Clone)]
pub struct TlsConfig {
    client: Arc<ClientConfig>,
    server_name: Option<ServerName<'static>>,
    roots: String,
    client_cert: bool,
}

impl TlsConfig {
    /// Settings to fill in: at least one source of trusted roots
    /// ([`ca_file`](TlsConfigBuilder::ca_file), [`ca_pem`](TlsConfigBuilder::ca_pem) or
    /// [`system_roots`](TlsConfigBuilder::system_roots)).
    ///
    /// ```
    /// use gearman_sync::TlsConfig;
    /// let missing_roots = TlsConfig::builder().build().unwrap_err();
    /// assert!(missing_roots.to_string().contains("trusted root"));
    /// ```
    pub fn builder() -> TlsConfigBuilder {
        TlsConfigBuilder::default()
    }

    /// The name every server's certificate is checked against, when it was set with
    /// [`TlsConfigBuilder::server_name`]; `None`: each server's own host.
    ///
    /// ```no_run
    /// use gearman_sync::TlsConfig;
    /// let tls = TlsConfig::builder().system_roots().server_name("gearman.internal").build()?;
    /// assert_eq!(tls.server_name().as_deref(), Some("gearman.internal"));
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn server_name(&self) -> Option<String> {
        self.server_name
            .as_ref()
            .map(|name| name.to_str().into_owned())
    }

    /// True when a client certificate is sent to servers that ask for one.
    ///
    /// ```no_run
    /// use gearman_sync::TlsConfig;
    /// let tls = TlsConfig::builder().ca_file("ca.pem").build()?;
    /// assert!(!tls.has_client_cert());
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn has_client_cert(&self) -> bool {
        self.client_cert
    }

    /// The rustls configuration the connections use.
    pub(crate) fn client_config(&self) -> &Arc<ClientConfig> {
        &self.client
    }

    /// The name to verify `server`'s certificate against: the configured one, else the
    /// address's host (an IP literal is matched against the certificate's IP SANs).
    pub(crate) fn name_for(&self, server: &ServerAddr) -> Result<ServerName<'static>> {
        if let Some(name) = &self.server_name {
            return Ok(name.clone());
        }
        ServerName::try_from(server.host().to_owned()).map_err(|error| Error::TlsSetup {
            reason: format!(
                "the host of {server} is no valid TLS server name ({error}); set one with \
                 TlsConfigBuilder::server_name"
            ),
        })
    }
}

impl PartialEq for TlsConfig {
    /// The same built settings (clones of one [`TlsConfig`]).
    fn eq(&self, other: &TlsConfig) -> bool {
        Arc::ptr_eq(&self.client, &other.client) && self.server_name == other.server_name
    }
}

impl Eq for TlsConfig {}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("roots", &self.roots)
            .field("client_cert", &self.client_cert)
            .field("server_name", &self.server_name())
            .finish()
    }
}

/// Where trusted roots come from.
#[derive(Clone)]
enum Roots {
    File(PathBuf),
    Pem(Vec<u8>),
    System,
}

/// Where a certificate chain or key comes from.
#[derive(Clone)]
enum Source {
    File(PathBuf),
    Pem(Vec<u8>),
}

/// PEM given in memory shows as its size only: it may be a private key, which must never
/// reach a log through `{:?}`.
fn fmt_pem(f: &mut fmt::Formatter<'_>, pem: &[u8]) -> fmt::Result {
    write!(f, "Pem(<{} bytes, not shown>)", pem.len())
}

impl fmt::Debug for Roots {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Roots::File(path) => f.debug_tuple("File").field(path).finish(),
            Roots::Pem(pem) => fmt_pem(f, pem),
            Roots::System => f.write_str("System"),
        }
    }
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::File(path) => f.debug_tuple("File").field(path).finish(),
            Source::Pem(pem) => fmt_pem(f, pem),
        }
    }
}

impl Source {
    fn describe(&self) -> String {
        match self {
            Source::File(path) => path.display().to_string(),
            Source::Pem(_) => "the PEM given".to_owned(),
        }
    }
}

/// Builds a [`TlsConfig`]; files are read by [`build`](TlsConfigBuilder::build).
///
/// ```
/// use gearman_sync::{Error, TlsConfig};
/// let error = TlsConfig::builder().ca_file("/nonexistent/ca.pem").build().unwrap_err();
/// assert!(matches!(error, Error::TlsSetup { .. }));
/// assert!(error.to_string().contains("/nonexistent/ca.pem"));
/// ```
#[derive(Debug, Clone, Default)]
pub struct TlsConfigBuilder {
    roots: Vec<Roots>,
    client_cert: Option<(Source, Source)>,
    server_name: Option<String>,
}

impl TlsConfigBuilder {
    /// Trusts the CA certificates in a PEM file (one or more `CERTIFICATE` blocks). May be
    /// given several times, and combined with the other root sources.
    ///
    /// ```no_run
    /// use gearman_sync::TlsConfig;
    /// let tls = TlsConfig::builder().ca_file("/etc/gearman/ca.pem").build()?;
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn ca_file(mut self, path: impl AsRef<Path>) -> Self {
        self.roots.push(Roots::File(path.as_ref().to_owned()));
        self
    }

    /// Trusts the CA certificates in PEM text held in memory.
    ///
    /// ```
    /// use gearman_sync::TlsConfig;
    /// // Text without a CERTIFICATE block is refused by `build`.
    /// assert!(TlsConfig::builder().ca_pem("not a certificate").build().is_err());
    /// ```
    pub fn ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.roots.push(Roots::Pem(pem.into()));
        self
    }

    /// Trusts the operating system's roots (on Linux the OpenSSL store, `/etc/ssl/certs`,
    /// or `SSL_CERT_FILE` / `SSL_CERT_DIR` when set), loaded once by `build`.
    ///
    /// ```no_run
    /// use gearman_sync::TlsConfig;
    /// let tls = TlsConfig::builder().system_roots().build()?;
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn system_roots(mut self) -> Self {
        self.roots.push(Roots::System);
        self
    }

    /// Sends this client certificate chain (PEM, the client's certificate first) with its
    /// private key (PEM: PKCS#8, PKCS#1 or SEC1) to servers that ask for one, such as a
    /// TLS proxy that requires client certificates.
    ///
    /// ```no_run
    /// use gearman_sync::TlsConfig;
    /// let tls = TlsConfig::builder()
    ///     .ca_file("ca.pem")
    ///     .client_cert("client.pem", "client.key")
    ///     .build()?;
    /// assert!(tls.has_client_cert());
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn client_cert(mut self, chain: impl AsRef<Path>, key: impl AsRef<Path>) -> Self {
        self.client_cert = Some((
            Source::File(chain.as_ref().to_owned()),
            Source::File(key.as_ref().to_owned()),
        ));
        self
    }

    /// [`client_cert`](TlsConfigBuilder::client_cert) from PEM text held in memory.
    ///
    /// ```
    /// use gearman_sync::TlsConfig;
    /// let error = TlsConfig::builder()
    ///     .ca_file("ca.pem")
    ///     .client_cert_pem("no certificate", "no key")
    ///     .build()
    ///     .unwrap_err();
    /// assert!(error.to_string().contains("client certificate"));
    /// ```
    pub fn client_cert_pem(mut self, chain: impl Into<Vec<u8>>, key: impl Into<Vec<u8>>) -> Self {
        self.client_cert = Some((Source::Pem(chain.into()), Source::Pem(key.into())));
        self
    }

    /// The name every server's certificate must be valid for, instead of the host of each
    /// server's address: for servers reached by an IP address or an alias that their
    /// certificate does not name. An IP address here is matched against IP SANs.
    ///
    /// ```no_run
    /// use gearman_sync::TlsConfig;
    /// let tls = TlsConfig::builder().ca_file("ca.pem").server_name("gearman.internal").build()?;
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    /// Reads the files and checks everything: [`Error::TlsSetup`] names what cannot be used
    /// (no root source, a file that cannot be read, PEM without a certificate or key, a key
    /// that does not match its certificate, a name that is no DNS name or IP address).
    ///
    /// ```
    /// use gearman_sync::TlsConfig;
    /// let error = TlsConfig::builder().ca_pem("").build().unwrap_err();
    /// assert!(error.to_string().contains("no CA certificate"));
    /// ```
    pub fn build(self) -> Result<TlsConfig> {
        if self.roots.is_empty() {
            return Err(setup(
                "no trusted root: call ca_file, ca_pem or system_roots".to_owned(),
            ));
        }
        let client_auth = match &self.client_cert {
            None => None,
            Some((chain, key)) => {
                let certs = load_certs(chain)?;
                if certs.is_empty() {
                    return Err(setup(format!(
                        "no client certificate in {}",
                        chain.describe()
                    )));
                }
                Some((certs, load_key(key)?, chain.describe()))
            }
        };
        let mut store = RootCertStore::empty();
        let mut described = Vec::new();
        for roots in &self.roots {
            described.push(add_roots(&mut store, roots)?);
        }
        let server_name = self
            .server_name
            .map(|name| {
                ServerName::try_from(name.clone()).map_err(|error| {
                    setup(format!(
                        "server name {name:?} is no DNS name or IP address: {error}"
                    ))
                })
            })
            .transpose()?;
        let builder = ClientConfig::builder_with_provider(Arc::new(ring_provider()))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|error| setup(format!("TLS versions: {error}")))?
            .with_root_certificates(store);
        let client_cert = client_auth.is_some();
        let client = match client_auth {
            None => builder.with_no_client_auth(),
            Some((certs, key, chain)) => {
                builder.with_client_auth_cert(certs, key).map_err(|error| {
                    setup(format!("client certificate {chain} and its key: {error}"))
                })?
            }
        };
        Ok(TlsConfig {
            client: Arc::new(client),
            server_name,
            roots: described.join(", "),
            client_cert,
        })
    }
}

/// rustls with *ring*: it builds from crates.io with only a C compiler, where aws-lc-rs (rustls'
/// default) also needs cmake. rustls 0.23.48 deprecated it for lacking post-quantum key
/// exchange (X25519MLKEM768); gearmand's OpenSSL 3.0 offers none either, so nothing is lost
/// against gearmand: X25519 and the NIST curves are negotiated as before.
///
/// The cipher suites are rustls' own, with AES-128-GCM offered before AES-256-GCM (as Go's
/// and the browsers' clients do): gearmand's OpenSSL follows the client's order, and 10 AES
/// rounds instead of 14 make bulk data cheaper on both ends. The key exchange groups are
/// X25519, P-256, P-384 in that order (the ring provider of rustls 0.23.48 puts P-384 first,
/// which made each handshake's key exchange about ten times as costly; BENCHMARKS.md, TLS).
#[allow(deprecated)]
fn ring_provider() -> rustls::crypto::CryptoProvider {
    use rustls::crypto::ring::kx_group::{SECP256R1, SECP384R1, X25519};
    let mut provider = rustls::crypto::ring::default_provider();
    provider.kx_groups = vec![X25519, SECP256R1, SECP384R1];
    provider.cipher_suites.sort_by_key(|suite| {
        !suite
            .suite()
            .as_str()
            .is_some_and(|name| name.contains("AES_128_GCM"))
    });
    provider
}

fn setup(reason: String) -> Error {
    Error::TlsSetup { reason }
}

/// Adds one root source to `store`; returns a description for `Debug`.
fn add_roots(store: &mut RootCertStore, roots: &Roots) -> Result<String> {
    let (certs, what) = match roots {
        Roots::File(path) => (
            load_certs(&Source::File(path.clone()))?,
            path.display().to_string(),
        ),
        Roots::Pem(pem) => (load_certs(&Source::Pem(pem.clone()))?, "PEM".to_owned()),
        Roots::System => {
            let loaded = rustls_native_certs::load_native_certs();
            for error in &loaded.errors {
                log::warn!("loading the system's TLS roots: {error}");
            }
            if loaded.certs.is_empty() {
                return Err(setup(format!(
                    "no system root certificates found ({} errors; is ca-certificates \
                     installed?)",
                    loaded.errors.len()
                )));
            }
            (loaded.certs, "system roots".to_owned())
        }
    };
    if certs.is_empty() {
        return Err(setup(format!("no CA certificate in {what}")));
    }
    let (added, ignored) = store.add_parsable_certificates(certs);
    if added == 0 {
        return Err(setup(format!(
            "none of the {ignored} CA certificates in {what} can be used"
        )));
    }
    if ignored > 0 {
        log::warn!("{ignored} CA certificates in {what} cannot be used and were ignored");
    }
    Ok(what)
}

fn load_certs(source: &Source) -> Result<Vec<CertificateDer<'static>>> {
    let error = |error: rustls::pki_types::pem::Error| {
        setup(format!(
            "reading certificates from {}: {error}",
            source.describe()
        ))
    };
    match source {
        Source::File(path) => CertificateDer::pem_file_iter(path)
            .map_err(error)?
            .collect::<std::result::Result<_, _>>()
            .map_err(error),
        Source::Pem(pem) => CertificateDer::pem_slice_iter(pem)
            .map(|cert| cert.map(CertificateDer::into_owned))
            .collect::<std::result::Result<_, _>>()
            .map_err(error),
    }
}

fn load_key(source: &Source) -> Result<PrivateKeyDer<'static>> {
    let loaded = match source {
        Source::File(path) => PrivateKeyDer::from_pem_file(path),
        Source::Pem(pem) => PrivateKeyDer::from_pem_slice(pem),
    };
    loaded.map_err(|error| {
        setup(format!(
            "reading the client key from {}: {error}",
            source.describe()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_pem_given_in_memory() {
        let key = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n";
        let builder = TlsConfig::builder()
            .ca_pem("-----BEGIN CERTIFICATE-----\n")
            .client_cert_pem("-----BEGIN CERTIFICATE-----\n", key);
        let shown = format!("{builder:?}");
        assert!(
            !shown.contains("c2VjcmV0") && !shown.contains("45, 45"),
            "{shown}"
        );
        assert!(shown.contains("not shown"), "{shown}");
    }
}
