//! Unit tests of the client's [`ConnectionPool`](crate::ConnectionPool) (they were its doc
//! examples before it became crate-private).

#[test]
fn pool_options_default_probe_timeout() -> Result<(), Box<dyn std::error::Error>> {
    use crate::net::{PoolOptions, Routing};
    use std::time::Duration;
    let options = PoolOptions {
        routing: Routing::UniqueHash,
        client_id: Some("billing-cli".into()),
        server_options: vec!["exceptions".into()],
        ..PoolOptions::default()
    };
    assert_eq!(options.probe_timeout, Duration::from_secs(5));
    Ok(())
}

#[test]
fn a_new_pool_is_not_connected() -> Result<(), Box<dyn std::error::Error>> {
    use crate::net::address::parse_server_list;
    use crate::net::{ConnectionPool, PoolOptions};
    let pool = ConnectionPool::new(parse_server_list("gm1,gm2:4731")?, PoolOptions::default());
    assert_eq!(pool.len(), 2);
    assert_eq!(pool.connected().count(), 0);
    Ok(())
}

#[test]
fn options_start_with_round_robin() -> Result<(), Box<dyn std::error::Error>> {
    use crate::net::address::parse_server_list;
    use crate::net::{ConnectionPool, PoolOptions, Routing};
    let pool = ConnectionPool::new(parse_server_list("gm1")?, PoolOptions::default());
    assert_eq!(pool.options().routing, Routing::RoundRobin);
    Ok(())
}

#[test]
fn options_can_be_changed() -> Result<(), Box<dyn std::error::Error>> {
    use crate::net::address::parse_server_list;
    use crate::net::{ConnectionPool, PoolOptions};
    let mut pool = ConnectionPool::new(parse_server_list("gm1,gm2:4731")?, PoolOptions::default());
    pool.options_mut().client_id = Some("report-cli".into());
    assert_eq!(pool.options().client_id.as_deref(), Some("report-cli"));
    Ok(())
}

#[test]
fn len_counts_servers() -> Result<(), Box<dyn std::error::Error>> {
    use crate::net::address::parse_server_list;
    use crate::net::{ConnectionPool, PoolOptions};
    let pool = ConnectionPool::new(parse_server_list("gm1,gm2:4731")?, PoolOptions::default());
    assert_eq!(pool.len(), 2);
    Ok(())
}

#[test]
fn server_by_index() -> Result<(), Box<dyn std::error::Error>> {
    use crate::net::address::parse_server_list;
    use crate::net::{ConnectionPool, PoolOptions};
    let pool = ConnectionPool::new(parse_server_list("gm1,gm2:4731")?, PoolOptions::default());
    assert_eq!(pool.server(1).to_string(), "gm2:4731");
    Ok(())
}

#[test]
fn index_of_finds_a_server() -> Result<(), Box<dyn std::error::Error>> {
    use crate::net::address::parse_server_list;
    use crate::net::{ConnectionPool, PoolOptions};
    use crate::ServerAddr;
    let pool = ConnectionPool::new(parse_server_list("gm1,gm2:4731")?, PoolOptions::default());
    assert_eq!(pool.index_of(&ServerAddr::parse("gm2:4731")?), Some(1));
    assert_eq!(pool.index_of(&ServerAddr::parse("gm3")?), None);
    Ok(())
}

#[test]
fn no_connection_before_first_use() -> Result<(), Box<dyn std::error::Error>> {
    use crate::net::address::parse_server_list;
    use crate::net::{ConnectionPool, PoolOptions};
    let mut pool = ConnectionPool::new(parse_server_list("gm1,gm2:4731")?, PoolOptions::default());
    assert!(pool.connection(0).is_none()); // not connected yet
    Ok(())
}

#[test]
fn mark_failed_keeps_the_error() -> Result<(), Box<dyn std::error::Error>> {
    use crate::net::address::parse_server_list;
    use crate::net::{ConnectionPool, PoolOptions};
    use crate::Error;
    let mut pool = ConnectionPool::new(parse_server_list("gm1,gm2:4731")?, PoolOptions::default());
    pool.mark_failed(
        0,
        &Error::ConnectionClosed {
            server: "gm1:4730".into(),
        },
    );
    let failures = pool.failures();
    assert!(matches!(
        failures[0].error.as_deref(),
        Some(Error::ConnectionClosed { .. })
    ));
    assert_eq!(
        failures[0].to_string(),
        "gm1:4730: connection to gm1:4730 closed by the server"
    );
    assert!(failures[1].error.is_none());
    assert_eq!(failures[1].to_string(), "gm2:4731: not tried");
    Ok(())
}

#[test]
fn untried_servers_say_so() -> Result<(), Box<dyn std::error::Error>> {
    use crate::net::address::parse_server_list;
    use crate::net::{ConnectionPool, PoolOptions};
    let pool = ConnectionPool::new(parse_server_list("gm1")?, PoolOptions::default());
    assert_eq!(pool.failures()[0].to_string(), "gm1:4730: not tried");
    Ok(())
}
