//! Server addresses: `host`, `host:port`, `[v6]`, `[v6]:port`, bare IPv6 literals and
//! comma-separated lists of them, with the default Gearman port 4730.

use std::fmt;
use std::net::{Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::str::FromStr;

/// A server address that could not be parsed; names the bad entry.
///
/// ```
/// use gearman_sync::ServerAddr;
/// let error = ServerAddr::parse("host:0").unwrap_err();
/// assert_eq!(error.entry, "host:0");
/// assert_eq!(error.reason, "port out of range 1..=65535");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid server address {entry:?}: {reason}")]
pub struct AddressError {
    /// The entry as given.
    pub entry: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// The IANA-assigned Gearman port, used when an address names no port.
pub const DEFAULT_PORT: u16 = 4730;
/// Environment variable read when no servers are given (libgearman's convention).
pub const SERVERS_ENV: &str = "GEARMAN_SERVERS";
/// Server used when neither servers nor `GEARMAN_SERVERS` are given.
pub(crate) const DEFAULT_SERVER: &str = "127.0.0.1:4730";

/// One job server: a host name or IP literal and a port.
///
/// ```
/// use gearman_sync::ServerAddr;
/// let addr: ServerAddr = "gearman.example".parse()?;
/// assert_eq!(addr.to_string(), "gearman.example:4730");
/// let v6: ServerAddr = "[::1]:4731".parse()?;
/// assert_eq!((v6.host(), v6.port()), ("::1", 4731));
/// assert_eq!(v6.to_string(), "[::1]:4731");
/// # Ok::<(), gearman_sync::AddressError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServerAddr {
    host: String,
    port: u16,
}

impl ServerAddr {
    /// An address from a host and a port. Refuses port 0, an empty host and characters not
    /// allowed in a host name (an IPv6 literal is given without brackets).
    ///
    /// ```
    /// use gearman_sync::ServerAddr;
    /// let addr = ServerAddr::new("::1", 4731)?;
    /// assert_eq!(addr.to_string(), "[::1]:4731");
    /// assert!(ServerAddr::new("gearman.example", 0).is_err());
    /// assert!(ServerAddr::new("two words", 4730).is_err());
    /// # Ok::<(), gearman_sync::AddressError>(())
    /// ```
    pub fn new(host: &str, port: u16) -> Result<ServerAddr, AddressError> {
        let entry = format!("{host}:{port}");
        check_host(&entry, host)?;
        check_port_value(&entry, u32::from(port))?;
        Ok(ServerAddr {
            host: host.to_owned(),
            port,
        })
    }

    /// Parses one entry: `host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 literal
    /// (surrounding spaces are ignored; the port defaults to 4730). Also available as
    /// `str::parse`.
    ///
    /// ```
    /// use gearman_sync::ServerAddr;
    /// assert_eq!(ServerAddr::parse(" gm1 ")?.to_string(), "gm1:4730");
    /// assert_eq!(ServerAddr::parse("fe80::1")?.port(), 4730);
    /// assert_eq!(ServerAddr::parse("[fe80::1]:4731")?.port(), 4731);
    /// assert!(ServerAddr::parse("gm1:99999").is_err());
    /// # Ok::<(), gearman_sync::AddressError>(())
    /// ```
    pub fn parse(entry: &str) -> Result<ServerAddr, AddressError> {
        let trimmed = entry.trim();
        let error = |reason| AddressError {
            entry: entry.to_owned(),
            reason,
        };
        if trimmed.is_empty() {
            return Err(error("empty address"));
        }
        let (host, port) = if let Some(rest) = trimmed.strip_prefix('[') {
            let (host, after) = rest
                .split_once(']')
                .ok_or_else(|| error("missing ']' after IPv6 address"))?;
            if host.parse::<Ipv6Addr>().is_err() {
                return Err(error("not a valid IPv6 address inside [...]"));
            }
            let port = match after {
                "" => DEFAULT_PORT,
                _ => match after.strip_prefix(':') {
                    Some(port) => parse_port(entry, port)?,
                    None => return Err(error("unexpected text after ']'")),
                },
            };
            (host, port)
        } else if trimmed.matches(':').count() >= 2 {
            if trimmed.parse::<Ipv6Addr>().is_err() {
                return Err(error(
                    "not a valid IPv6 address (use [addr]:port for a port)",
                ));
            }
            (trimmed, DEFAULT_PORT)
        } else if let Some((host, port)) = trimmed.split_once(':') {
            check_host(entry, host)?;
            (host, parse_port(entry, port)?)
        } else {
            check_host(entry, trimmed)?;
            (trimmed, DEFAULT_PORT)
        };
        Ok(ServerAddr {
            host: host.to_owned(),
            port,
        })
    }

    /// The host name or IP literal (IPv6 without brackets).
    ///
    /// ```
    /// use gearman_sync::ServerAddr;
    /// assert_eq!(ServerAddr::parse("[::1]:4731")?.host(), "::1");
    /// # Ok::<(), gearman_sync::AddressError>(())
    /// ```
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The TCP port.
    ///
    /// ```
    /// use gearman_sync::ServerAddr;
    /// assert_eq!(ServerAddr::parse("gm1:4731")?.port(), 4731);
    /// # Ok::<(), gearman_sync::AddressError>(())
    /// ```
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Resolves the address (blocking DNS lookup for host names; IP literals need none).
    ///
    /// ```
    /// use gearman_sync::ServerAddr;
    /// let addrs = ServerAddr::parse("127.0.0.1:4730")?.resolve()?;
    /// assert_eq!(addrs, ["127.0.0.1:4730".parse::<std::net::SocketAddr>()?]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn resolve(&self) -> std::io::Result<Vec<SocketAddr>> {
        Ok((self.host.as_str(), self.port).to_socket_addrs()?.collect())
    }
}

fn check_host(entry: &str, host: &str) -> Result<(), AddressError> {
    let error = |reason| AddressError {
        entry: entry.to_owned(),
        reason,
    };
    if host.is_empty() {
        return Err(error("empty host"));
    }
    if host.contains(':') {
        if host.parse::<Ipv6Addr>().is_ok() {
            return Ok(());
        }
        return Err(error("host contains ':'"));
    }
    let valid = host
        .bytes()
        .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_'));
    if !valid {
        return Err(error("host has characters not allowed in a host name"));
    }
    Ok(())
}

fn parse_port(entry: &str, port: &str) -> Result<u16, AddressError> {
    let error = |reason| AddressError {
        entry: entry.to_owned(),
        reason,
    };
    if port.is_empty() {
        return Err(error("empty port"));
    }
    if !port.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(error("port is not a number"));
    }
    let value: u32 = port
        .parse()
        .map_err(|_| error("port out of range 1..=65535"))?;
    check_port_value(entry, value)?;
    Ok(value as u16)
}

fn check_port_value(entry: &str, port: u32) -> Result<(), AddressError> {
    if port == 0 || port > u32::from(u16::MAX) {
        return Err(AddressError {
            entry: entry.to_owned(),
            reason: "port out of range 1..=65535",
        });
    }
    Ok(())
}

impl FromStr for ServerAddr {
    type Err = AddressError;

    fn from_str(entry: &str) -> Result<ServerAddr, AddressError> {
        ServerAddr::parse(entry)
    }
}

impl fmt::Display for ServerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Parses a comma-separated server list such as `"a:4730,b:4731,[::1]"`.
///
/// An empty (or all-blank) list gives an empty vector; an empty entry between commas is an error.
pub(crate) fn parse_server_list(list: &str) -> Result<Vec<ServerAddr>, AddressError> {
    if list.trim().is_empty() {
        return Ok(Vec::new());
    }
    list.split(',').map(ServerAddr::parse).collect()
}

/// The servers from `GEARMAN_SERVERS`, or `127.0.0.1:4730` when it is unset or blank.
pub(crate) fn default_servers() -> Result<Vec<ServerAddr>, AddressError> {
    let from_env = std::env::var(SERVERS_ENV).unwrap_or_default();
    let servers = parse_server_list(&from_env)?;
    if servers.is_empty() {
        return parse_server_list(DEFAULT_SERVER);
    }
    Ok(servers)
}

/// Anything that names a list of servers: `"host:port"`, `"a,b"`, slices and vectors of those,
/// or [`ServerAddr`]s. An empty list means the servers in `GEARMAN_SERVERS` ([`SERVERS_ENV`]),
/// or `127.0.0.1:4730` when it is unset.
///
/// ```
/// use gearman_sync::{Client, ServerAddr};
/// let from_str = Client::new("gm1,gm2")?;
/// let from_list = Client::new(&vec!["gm1".to_string(), "gm2:4731".to_string()])?;
/// let from_addr = Client::new(&ServerAddr::new("gm1", 4730)?)?;
/// assert_eq!(from_str.settings().servers().len() + from_list.settings().servers().len() + from_addr.settings().servers().len(), 5);
/// # Ok::<(), gearman_sync::Error>(())
/// ```
pub trait ToServers {
    /// Parses into addresses (without the default fallback).
    ///
    /// ```
    /// use gearman_sync::ToServers;
    /// assert_eq!(["gm1,gm2", "gm3"].to_servers()?.len(), 3);
    /// assert!("".to_servers()?.is_empty());
    /// # Ok::<(), gearman_sync::AddressError>(())
    /// ```
    fn to_servers(&self) -> Result<Vec<ServerAddr>, AddressError>;
}

impl ToServers for str {
    fn to_servers(&self) -> Result<Vec<ServerAddr>, AddressError> {
        parse_server_list(self)
    }
}

impl ToServers for String {
    fn to_servers(&self) -> Result<Vec<ServerAddr>, AddressError> {
        parse_server_list(self)
    }
}

impl ToServers for ServerAddr {
    fn to_servers(&self) -> Result<Vec<ServerAddr>, AddressError> {
        Ok(vec![self.clone()])
    }
}

impl<T: ToServers + ?Sized> ToServers for &T {
    fn to_servers(&self) -> Result<Vec<ServerAddr>, AddressError> {
        (**self).to_servers()
    }
}

impl<T: ToServers> ToServers for [T] {
    fn to_servers(&self) -> Result<Vec<ServerAddr>, AddressError> {
        let mut all = Vec::new();
        for item in self {
            all.extend(item.to_servers()?);
        }
        Ok(all)
    }
}

impl<T: ToServers, const N: usize> ToServers for [T; N] {
    fn to_servers(&self) -> Result<Vec<ServerAddr>, AddressError> {
        self[..].to_servers()
    }
}

impl<T: ToServers> ToServers for Vec<T> {
    fn to_servers(&self) -> Result<Vec<ServerAddr>, AddressError> {
        self[..].to_servers()
    }
}

/// Parses `servers`, falling back to [`default_servers`] when the list is empty.
pub(crate) fn resolve_server_list<S: ToServers + ?Sized>(
    servers: &S,
) -> Result<Vec<ServerAddr>, AddressError> {
    let list = servers.to_servers()?;
    if list.is_empty() {
        return default_servers();
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_lists() -> Result<(), AddressError> {
        let servers = parse_server_list("a, b:4731")?;
        assert_eq!(servers.len(), 2);
        assert_eq!(servers[0].port(), 4730);
        assert!(parse_server_list("a,,b").is_err());
        assert_eq!(resolve_server_list("gm1:4731")?[0].to_string(), "gm1:4731");
        Ok(())
    }

    /// The only unit test that touches `GEARMAN_SERVERS`.
    #[test]
    fn an_empty_list_means_the_environment_then_the_default() -> Result<(), AddressError> {
        std::env::remove_var(SERVERS_ENV);
        assert_eq!(default_servers()?[0].to_string(), "127.0.0.1:4730");
        assert_eq!(resolve_server_list("")?[0].to_string(), "127.0.0.1:4730");
        std::env::set_var(SERVERS_ENV, "gm1,gm2:4731");
        assert_eq!(default_servers()?.len(), 2);
        assert_eq!(resolve_server_list("")?.len(), 2);
        std::env::remove_var(SERVERS_ENV);
        Ok(())
    }

    fn parsed(entry: &str) -> (String, u16) {
        let addr = ServerAddr::parse(entry).expect(entry);
        (addr.host().to_owned(), addr.port())
    }

    #[test]
    fn accepted_forms() {
        assert_eq!(parsed("host"), ("host".into(), 4730));
        assert_eq!(parsed(" host:4731 "), ("host".into(), 4731));
        assert_eq!(parsed("10.0.0.1:1"), ("10.0.0.1".into(), 1));
        assert_eq!(parsed("[::1]"), ("::1".into(), 4730));
        assert_eq!(parsed("[::1]:4731"), ("::1".into(), 4731));
        assert_eq!(parsed("::1"), ("::1".into(), 4730));
        assert_eq!(parsed("fe80::1:2"), ("fe80::1:2".into(), 4730));
        assert_eq!(parsed("host:65535"), ("host".into(), 65535));
    }

    #[test]
    fn refused_forms_name_the_entry() {
        for bad in [
            "",
            ":4730",
            "host:0",
            "host:65536",
            "host:99999999999",
            "host:x",
            "host:",
            "[::1",
            "[::1]x",
            "[nothost]:1",
            "ho st",
            "a:b:c",
            "host:-1",
        ] {
            let error = ServerAddr::parse(bad).expect_err(bad);
            assert_eq!(error.entry, bad);
        }
    }

    #[test]
    fn lists_and_display() {
        let list = parse_server_list("a:1, [::1]:2 ,b").expect("list");
        let shown: Vec<String> = list.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["a:1", "[::1]:2", "b:4730"]);
        assert!(parse_server_list(" ").expect("blank").is_empty());
        assert_eq!(
            parse_server_list("a,,b").expect_err("empty entry").entry,
            ""
        );
        let from_vec = vec!["a", "b:2"].to_servers().expect("vec");
        assert_eq!(from_vec.len(), 2);
        let from_array = ["a,b", "c"].to_servers().expect("array");
        assert_eq!(from_array.len(), 3);
        assert!(ServerAddr::new("h", 0).is_err());
    }
}
