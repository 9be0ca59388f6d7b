//! The `--tls-*` options shared by the reverse examples (included with `#[path]`, not an
//! example of its own).
//!
//! ```text
//! --tls-ca FILE                    trust the CA certificates in FILE (PEM); turns TLS on
//! --tls-system-roots               trust the system's roots instead; turns TLS on
//! --tls-cert FILE --tls-key FILE   send this client certificate chain and key (PEM)
//! --tls-name NAME                  check the server's certificate against NAME
//! ```
//! Without the `tls` feature every option is refused with a hint to build with it.

/// The TLS options seen so far.
#[derive(Debug, Default)]
pub struct TlsArgs {
    ca: Option<String>,
    system_roots: bool,
    cert: Option<String>,
    key: Option<String>,
    name: Option<String>,
}

impl TlsArgs {
    /// Takes `arg` (and its value from `rest`) when it is a TLS option: `Some(Ok(()))` when
    /// taken, `Some(Err(why))` when it is one but cannot be used, `None` when it is not one.
    pub fn take(
        &mut self,
        arg: &str,
        rest: &mut impl Iterator<Item = String>,
    ) -> Option<Result<(), String>> {
        let slot = match arg {
            "--tls-ca" => &mut self.ca,
            "--tls-cert" => &mut self.cert,
            "--tls-key" => &mut self.key,
            "--tls-name" => &mut self.name,
            "--tls-system-roots" => {
                self.system_roots = true;
                return Some(Ok(()));
            }
            _ => return None,
        };
        Some(match rest.next() {
            Some(value) => {
                *slot = Some(value);
                Ok(())
            }
            None => Err(format!("{arg} needs a value")),
        })
    }

    /// True when any TLS option was given.
    pub fn wanted(&self) -> bool {
        self.ca.is_some()
            || self.system_roots
            || self.cert.is_some()
            || self.key.is_some()
            || self.name.is_some()
    }

    /// The settings, when TLS was asked for.
    #[cfg(feature = "tls")]
    pub fn config(&self) -> Result<Option<gearman_sync::TlsConfig>, String> {
        if !self.wanted() {
            return Ok(None);
        }
        let mut builder = gearman_sync::TlsConfig::builder();
        if let Some(ca) = &self.ca {
            builder = builder.ca_file(ca);
        }
        if self.system_roots || self.ca.is_none() {
            builder = builder.system_roots();
        }
        match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => builder = builder.client_cert(cert, key),
            (None, None) => {}
            _ => return Err("--tls-cert and --tls-key go together".to_owned()),
        }
        if let Some(name) = &self.name {
            builder = builder.server_name(name);
        }
        builder.build().map(Some).map_err(|error| error.to_string())
    }

    /// Without the `tls` feature: an error when TLS was asked for.
    #[cfg(not(feature = "tls"))]
    pub fn config(&self) -> Result<Option<()>, String> {
        if self.wanted() {
            return Err("the --tls-* options need the example built with --features tls".into());
        }
        Ok(None)
    }
}
