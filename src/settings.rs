//! The settings core: what [`Client`](crate::Client), [`Worker`](crate::Worker) and
//! [`Admin`](crate::Admin) all have (servers, client ID, prefix, connect and I/O timeouts,
//! keepalive, the largest body accepted, reconnect backoff, and with the `tls` feature TLS), set
//! through the same builder methods, checked by one validation and read back through
//! [`Settings`].

use std::time::Duration;

use crate::error::{AddressError, ArgumentError, Result};
use crate::net::{resolve_server_list, Backoff, ConnectOptions, ServerAddr, ToServers};
use crate::protocol::validate;

/// The settings every [`Client`](crate::Client), [`Worker`](crate::Worker) and
/// [`Admin`](crate::Admin) has, as built (read them with their `settings()`).
///
/// ```
/// use std::time::Duration;
/// use gearman_sync::Client;
/// let client = Client::builder()
///     .servers("gm1,gm2:4731")
///     .client_id("billing-cli")
///     .connect_timeout(Duration::from_secs(2))
///     .build()?;
/// let settings = client.settings();
/// assert_eq!(settings.servers()[1].port(), 4731);
/// assert_eq!(settings.client_id(), Some("billing-cli"));
/// assert_eq!(settings.connect_timeout(), Duration::from_secs(2));
/// assert_eq!(settings.io_timeout(), Duration::from_secs(30));
/// # Ok::<(), gearman_sync::Error>(())
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Settings {
    pub(crate) servers: Vec<ServerAddr>,
    pub(crate) client_id: Option<String>,
    pub(crate) prefix: Vec<u8>,
    pub(crate) connect: ConnectOptions,
    pub(crate) backoff: Backoff,
}

impl Settings {
    /// The servers, in order (an empty list was resolved from `GEARMAN_SERVERS`, then
    /// `127.0.0.1:4730`).
    pub fn servers(&self) -> &[ServerAddr] {
        &self.servers
    }

    /// The label sent with `SET_CLIENT_ID` on every connection, if any.
    pub fn client_id(&self) -> Option<&str> {
        self.client_id.as_deref()
    }

    /// The prefix put before every function name (GearmanBundle's `job_prefix`).
    pub fn prefix(&self) -> &[u8] {
        &self.prefix
    }

    /// The limit on each TCP connect attempt.
    pub fn connect_timeout(&self) -> Duration {
        self.connect.connect_timeout
    }

    /// The limit on a single blocked write, and a safety net on reads.
    pub fn io_timeout(&self) -> Duration {
        self.connect.io_timeout
    }

    /// The TCP keepalive idle time (`None`: keepalive off).
    pub fn keepalive(&self) -> Option<Duration> {
        self.connect.keepalive
    }

    /// The largest packet body accepted from a server.
    pub fn max_body_len(&self) -> u32 {
        self.connect.max_body_len
    }

    /// The reconnect backoff for failed servers.
    pub fn backoff(&self) -> Backoff {
        self.backoff
    }

    /// The TLS settings every connection uses (feature `tls`); `None`: plain TCP.
    ///
    /// ```no_run
    /// use gearman_sync::{Client, TlsConfig};
    /// let tls = TlsConfig::builder().ca_file("ca.pem").build()?;
    /// let client = Client::builder().servers("gm1").tls(tls).build()?;
    /// assert!(client.settings().tls().is_some());
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    #[cfg(feature = "tls")]
    pub fn tls(&self) -> Option<&crate::TlsConfig> {
        self.connect.tls.as_ref()
    }
}

impl Settings {
    /// `function` as sent on the wire: checked, with the prefix before it (and checked again,
    /// since the prefix makes it longer).
    pub(crate) fn wire_function(&self, function: &[u8]) -> Result<Vec<u8>, ArgumentError> {
        validate::function(function)?;
        let mut name = Vec::with_capacity(self.prefix.len() + function.len());
        name.extend_from_slice(&self.prefix);
        name.extend_from_slice(function);
        validate::function(&name)?;
        Ok(name)
    }
}

/// A builder's share of the settings core, before [`build`](SettingsBuilder::build) checks it.
#[derive(Debug, Clone)]
pub(crate) struct SettingsBuilder {
    pub(crate) servers: std::result::Result<Vec<ServerAddr>, AddressError>,
    pub(crate) settings: Settings,
}

impl SettingsBuilder {
    /// Defaults, with `backoff` (clients and workers retry at different paces).
    pub(crate) fn new(backoff: Backoff) -> SettingsBuilder {
        SettingsBuilder {
            servers: Ok(Vec::new()),
            settings: Settings {
                servers: Vec::new(),
                client_id: None,
                prefix: Vec::new(),
                connect: ConnectOptions::default(),
                backoff,
            },
        }
    }

    /// Sets the server list (parsed now, reported by `build`).
    pub(crate) fn servers<S: ToServers + ?Sized>(&mut self, servers: &S) {
        self.servers = servers.to_servers();
    }

    /// The one validation: the server list (an empty one resolved from the environment), the
    /// client ID and the prefix.
    pub(crate) fn build(self) -> Result<Settings> {
        let servers = resolve_server_list(&self.servers?)?;
        let mut settings = self.settings;
        if let Some(id) = &settings.client_id {
            validate::client_id(id.as_bytes())?;
        }
        validate::delimited("function prefix", &settings.prefix)?;
        settings.servers = servers;
        Ok(settings)
    }
}

/// The builder methods of the settings core, written once for the three builders. `$owner` is
/// the type built (for the examples), `$field` the builder's [`SettingsBuilder`].
macro_rules! settings_setters {
    ($owner:ident, $field:ident) => {
        /// The servers (`"host[:port],..."`, `"[::1]:4730"`, a slice or `Vec` of those, or
        /// [`ServerAddr`](crate::ServerAddr)s). Without any: `GEARMAN_SERVERS`, then
        /// `127.0.0.1:4730`. A bad address is reported by `build`.
        ///
        /// ```
        #[doc = concat!("use gearman_sync::", stringify!($owner), ";")]
        #[doc = concat!("let built = ", stringify!($owner), "::builder().servers(&[\"gm1\", \"gm2:4731\"]).build()?;")]
        /// assert_eq!(built.settings().servers()[1].to_string(), "gm2:4731");
        #[doc = concat!("assert!(", stringify!($owner), "::builder().servers(\"gm1:0\").build().is_err());")]
        /// # Ok::<(), gearman_sync::Error>(())
        /// ```
        pub fn servers<S: crate::ToServers + ?Sized>(mut self, servers: &S) -> Self {
            self.$field.servers(servers);
            self
        }

        /// A label sent with `SET_CLIENT_ID` on every (re)connect: 1 to 127 printable ASCII
        /// bytes without spaces, checked by `build`.
        ///
        /// ```
        #[doc = concat!("use gearman_sync::", stringify!($owner), ";")]
        #[doc = concat!("let built = ", stringify!($owner), "::builder().servers(\"gm1\").client_id(\"resize-1\").build()?;")]
        /// assert_eq!(built.settings().client_id(), Some("resize-1"));
        #[doc = concat!("assert!(", stringify!($owner), "::builder().servers(\"gm1\").client_id(\"a b\").build().is_err());")]
        /// # Ok::<(), gearman_sync::Error>(())
        /// ```
        pub fn client_id(mut self, id: impl Into<String>) -> Self {
            self.$field.settings.client_id = Some(id.into());
            self
        }

        /// A prefix put before every function name (GearmanBundle's `job_prefix`), so that
        /// several environments can share servers. A NUL in it is refused by `build`.
        ///
        /// ```
        #[doc = concat!("use gearman_sync::", stringify!($owner), ";")]
        #[doc = concat!("let built = ", stringify!($owner), "::builder().servers(\"gm1\").prefix(\"staging.\").build()?;")]
        /// assert_eq!(built.settings().prefix(), b"staging.");
        /// # Ok::<(), gearman_sync::Error>(())
        /// ```
        pub fn prefix(mut self, prefix: impl Into<Vec<u8>>) -> Self {
            self.$field.settings.prefix = prefix.into();
            self
        }

        /// The limit on each TCP connect attempt (default 5 s).
        ///
        /// ```
        /// use std::time::Duration;
        #[doc = concat!("use gearman_sync::", stringify!($owner), ";")]
        #[doc = concat!("let built = ", stringify!($owner), "::builder().servers(\"gm1\").connect_timeout(Duration::from_secs(1)).build()?;")]
        /// assert_eq!(built.settings().connect_timeout(), Duration::from_secs(1));
        /// # Ok::<(), gearman_sync::Error>(())
        /// ```
        pub fn connect_timeout(mut self, timeout: std::time::Duration) -> Self {
            self.$field.settings.connect.connect_timeout = timeout;
            self
        }

        /// The limit on a single blocked write, and a safety net on reads (default 30 s).
        ///
        /// ```
        /// use std::time::Duration;
        #[doc = concat!("use gearman_sync::", stringify!($owner), ";")]
        #[doc = concat!("let built = ", stringify!($owner), "::builder().servers(\"gm1\").io_timeout(Duration::from_secs(5)).build()?;")]
        /// assert_eq!(built.settings().io_timeout(), Duration::from_secs(5));
        /// # Ok::<(), gearman_sync::Error>(())
        /// ```
        pub fn io_timeout(mut self, timeout: std::time::Duration) -> Self {
            self.$field.settings.connect.io_timeout = timeout;
            self
        }

        /// The TCP keepalive idle time (default 60 s; `None` turns keepalive off).
        ///
        /// ```
        #[doc = concat!("use gearman_sync::", stringify!($owner), ";")]
        #[doc = concat!("let built = ", stringify!($owner), "::builder().servers(\"gm1\").keepalive(None).build()?;")]
        /// assert_eq!(built.settings().keepalive(), None);
        /// # Ok::<(), gearman_sync::Error>(())
        /// ```
        pub fn keepalive(mut self, idle: Option<std::time::Duration>) -> Self {
            self.$field.settings.connect.keepalive = idle;
            self
        }

        /// The largest packet body accepted from a server (default 64 MiB): a larger one is a
        /// [`ProtocolError::BodyTooLarge`](crate::ProtocolError::BodyTooLarge), checked before
        /// anything is allocated for it.
        ///
        /// ```
        #[doc = concat!("use gearman_sync::", stringify!($owner), ";")]
        #[doc = concat!("let built = ", stringify!($owner), "::builder().servers(\"gm1\").max_body_len(1 << 30).build()?;")]
        /// assert_eq!(built.settings().max_body_len(), 1 << 30);
        /// # Ok::<(), gearman_sync::Error>(())
        /// ```
        pub fn max_body_len(mut self, max: u32) -> Self {
            self.$field.settings.connect.max_body_len = max;
            self
        }

        /// The reconnect backoff for a failed server (see [`Backoff`](crate::Backoff)).
        ///
        /// ```
        /// use std::time::Duration;
        #[doc = concat!("use gearman_sync::{Backoff, ", stringify!($owner), "};")]
        /// let backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        #[doc = concat!("let built = ", stringify!($owner), "::builder().servers(\"gm1\").backoff(backoff).build()?;")]
        /// assert_eq!(built.settings().backoff().max(), Duration::from_secs(60));
        /// # Ok::<(), gearman_sync::Error>(())
        /// ```
        pub fn backoff(mut self, backoff: crate::Backoff) -> Self {
            self.$field.settings.backoff = backoff;
            self
        }

        /// TLS for every connection (feature `tls`): the server's certificate chain and name
        /// are verified on each connect, within the connect timeout, and a failure is
        /// [`Error::Tls`](crate::Error::Tls) naming its cause. See
        /// [`TlsConfig`](crate::TlsConfig).
        ///
        /// ```no_run
        #[doc = concat!("use gearman_sync::{", stringify!($owner), ", TlsConfig};")]
        /// let tls = TlsConfig::builder().ca_file("/etc/gearman/ca.pem").build()?;
        #[doc = concat!("let built = ", stringify!($owner), "::builder().servers(\"gm1.internal:4730\").tls(tls).build()?;")]
        /// assert!(built.settings().tls().is_some());
        /// # Ok::<(), gearman_sync::Error>(())
        /// ```
        #[cfg(feature = "tls")]
        pub fn tls(mut self, config: crate::TlsConfig) -> Self {
            self.$field.settings.connect.tls = Some(config);
            self
        }
    };
}

pub(crate) use settings_setters;
