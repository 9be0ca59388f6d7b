//! Unit tests of [`Connection`](crate::Connection) against a plain `TcpListener` standing
//! in for gearmand (they were its doc examples before it became crate-private).

use std::net::TcpListener;

use crate::net::{ConnectOptions, Connection, ServerAddr};

/// A listener standing in for gearmand, and a connection to it.
fn stand_in() -> Result<(TcpListener, Connection), Box<dyn std::error::Error>> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let server = ServerAddr::new("127.0.0.1", listener.local_addr()?.port())?;
    let conn = Connection::connect(&server, &ConnectOptions::default())?;
    Ok((listener, conn))
}

#[test]
fn server_is_the_address_connected_to() -> Result<(), Box<dyn std::error::Error>> {
    let (listener, conn) = stand_in()?;
    assert_eq!(conn.server().port(), listener.local_addr()?.port());
    Ok(())
}

#[test]
fn queue_request_checks_the_argument_count() -> Result<(), Box<dyn std::error::Error>> {
    let (_listener, mut conn) = stand_in()?;
    use crate::protocol::PacketType;
    conn.queue_request(PacketType::EchoReq, &[b"ping"])?;
    assert_eq!(conn.pending_write(), 12 + 4);
    assert!(conn.queue_request(PacketType::EchoReq, &[]).is_err()); // wrong argument count
    Ok(())
}

#[test]
fn queue_packet_adds_to_the_write_buffer() -> Result<(), Box<dyn std::error::Error>> {
    let (_listener, mut conn) = stand_in()?;
    use crate::protocol::Packet;
    conn.queue_packet(&Packet::can_do(b"reverse")?);
    assert_eq!(conn.pending_write(), 12 + 7);
    Ok(())
}

#[test]
fn queue_raw_adds_bytes_as_given() -> Result<(), Box<dyn std::error::Error>> {
    let (_listener, mut conn) = stand_in()?;
    conn.queue_raw(b"version\r\n");
    assert_eq!(conn.pending_write(), 9);
    Ok(())
}

#[test]
fn pending_write_counts_queued_bytes() -> Result<(), Box<dyn std::error::Error>> {
    let (_listener, mut conn) = stand_in()?;
    assert_eq!(conn.pending_write(), 0);
    conn.queue_raw(b"status\n");
    assert_eq!(conn.pending_write(), 7);
    Ok(())
}

#[test]
fn flush_empties_the_write_buffer() -> Result<(), Box<dyn std::error::Error>> {
    let (_listener, mut conn) = stand_in()?;
    use crate::protocol::PacketType;
    conn.queue_request(PacketType::GrabJobUniq, &[])?;
    conn.queue_request(PacketType::PreSleep, &[])?;
    conn.flush()?; // both packets in one write
    assert_eq!(conn.pending_write(), 0);
    Ok(())
}

#[test]
fn send_writes_at_once() -> Result<(), Box<dyn std::error::Error>> {
    let (_listener, mut conn) = stand_in()?;
    use crate::protocol::Packet;
    conn.send(&Packet::echo_req(b"ping")?)?;
    assert_eq!(conn.pending_write(), 0);
    Ok(())
}

#[test]
fn next_buffered_decodes_whole_packets_only() -> Result<(), Box<dyn std::error::Error>> {
    let (listener, mut conn) = stand_in()?;
    let (mut peer, _) = listener.accept()?;
    use crate::protocol::PacketType;
    use std::io::Write;
    assert!(conn.next_buffered()?.is_none()); // nothing read yet
    peer.write_all(b"\0RES\0\0\0\x06\0\0\0\0")?; // NOOP
    conn.read_some()?;
    assert_eq!(
        conn.next_buffered()?.map(|p| p.kind()),
        Some(PacketType::Noop)
    );
    Ok(())
}

#[test]
fn parse_buffered_consumes_what_the_parser_used() -> Result<(), Box<dyn std::error::Error>> {
    let (listener, mut conn) = stand_in()?;
    let (mut peer, _) = listener.accept()?;
    use std::io::Write;
    peer.write_all(b"OK 1.1.20\n")?;
    conn.read_some()?;
    let line = conn.parse_buffered(|buf| {
        Ok(buf
            .iter()
            .position(|&b| b == b'\n')
            .map(|end| (buf[..end].to_vec(), end + 1)))
    })?;
    assert_eq!(line.as_deref(), Some(&b"OK 1.1.20"[..]));
    assert_eq!(conn.buffered(), 0);
    Ok(())
}

#[test]
fn buffered_counts_unread_bytes() -> Result<(), Box<dyn std::error::Error>> {
    let (listener, mut conn) = stand_in()?;
    let (mut peer, _) = listener.accept()?;
    use std::io::Write;
    assert_eq!(conn.buffered(), 0);
    peer.write_all(b"\0RES")?; // the start of a packet
    conn.read_some()?;
    assert_eq!(conn.buffered(), 4);
    assert!(conn.next_buffered()?.is_none());
    Ok(())
}

#[test]
fn read_some_reads_and_reports_a_close() -> Result<(), Box<dyn std::error::Error>> {
    let (listener, mut conn) = stand_in()?;
    let (mut peer, _) = listener.accept()?;
    use crate::Error;
    use std::io::Write;
    peer.write_all(b"OK\n")?;
    assert_eq!(conn.read_some()?, 3);
    drop(peer); // the server closes the connection
    assert!(matches!(
        conn.read_some(),
        Err(Error::ConnectionClosed { .. })
    ));
    Ok(())
}

#[test]
fn read_available_never_blocks() -> Result<(), Box<dyn std::error::Error>> {
    let (_listener, mut conn) = stand_in()?;
    assert_eq!(conn.read_available()?, 0); // nothing sent yet
    Ok(())
}

#[test]
fn read_until_waits_until_the_deadline() -> Result<(), Box<dyn std::error::Error>> {
    let (listener, mut conn) = stand_in()?;
    let (mut peer, _) = listener.accept()?;
    use std::io::Write;
    use std::time::{Duration, Instant};
    assert_eq!(
        conn.read_until(Some(Instant::now() + Duration::from_millis(20)))?,
        0
    );
    peer.write_all(b"OK\n")?;
    assert_eq!(
        conn.read_until(Some(Instant::now() + Duration::from_secs(5)))?,
        3
    );
    Ok(())
}

#[test]
fn check_alive_keeps_buffered_bytes() -> Result<(), Box<dyn std::error::Error>> {
    let (_listener, mut conn) = stand_in()?;
    conn.check_alive()?; // the server has not closed it
    Ok(())
}

#[test]
fn io_timeout_comes_from_the_options() -> Result<(), Box<dyn std::error::Error>> {
    let (_listener, conn) = stand_in()?;
    use std::time::Duration;
    assert_eq!(conn.io_timeout(), Duration::from_secs(30));
    Ok(())
}

#[test]
fn shutdown_closes_both_ways() -> Result<(), Box<dyn std::error::Error>> {
    let (_listener, mut conn) = stand_in()?;
    conn.shutdown();
    conn.queue_raw(b"version\r\n");
    assert!(conn.flush().is_err());
    Ok(())
}
