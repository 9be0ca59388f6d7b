//! Checks on caller-supplied fields, so that nothing gearmand would mishandle is ever sent.
//!
//! The limits follow libgearman and what gearmand 1.1.20 really does (PROTOCOL.md 1.4).

use super::error::ArgumentError;

/// Longest function name accepted (libgearman's `GEARMAN_FUNCTION_MAX_SIZE`).
pub const MAX_FUNCTION_LEN: usize = 512;
/// Longest unique ID that gearmand stores intact (64 bytes are silently cut to 63).
pub const MAX_UNIQUE_LEN: usize = 63;
/// Longest job handle gearmand generates or accepts in GET_STATUS.
pub const MAX_HANDLE_LEN: usize = 63;
/// Longest client ID gearmand stores (it cuts longer ones to 127 bytes).
pub const MAX_CLIENT_ID_LEN: usize = 127;
/// Longest option name gearmand accepts.
pub const MAX_OPTION_LEN: usize = 63;
/// Longest reducer name gearmand accepts in SUBMIT_REDUCE_JOB*.
pub const MAX_REDUCER_LEN: usize = 63;

fn no_nul(field: &'static str, value: &[u8]) -> Result<(), ArgumentError> {
    if value.contains(&0) {
        return Err(ArgumentError::NulByte { field });
    }
    Ok(())
}

fn bounded(field: &'static str, value: &[u8], max: usize) -> Result<(), ArgumentError> {
    if value.len() > max {
        return Err(ArgumentError::TooLong {
            field,
            len: value.len(),
            max,
        });
    }
    Ok(())
}

fn non_empty(field: &'static str, value: &[u8]) -> Result<(), ArgumentError> {
    if value.is_empty() {
        return Err(ArgumentError::Empty { field });
    }
    Ok(())
}

/// A function name: 1..=512 bytes, no NUL.
///
/// ```
/// use gearman_sync::protocol::validate;
/// assert!(validate::function(b"reverse").is_ok());
/// assert!(validate::function(b"").is_err());
/// assert!(validate::function(b"a\0b").is_err());
/// ```
pub fn function(name: &[u8]) -> Result<(), ArgumentError> {
    non_empty("function name", name)?;
    bounded("function name", name, MAX_FUNCTION_LEN)?;
    no_nul("function name", name)
}

/// A unique ID: at most 63 bytes, no NUL (empty means "none").
///
/// ```
/// use gearman_sync::protocol::validate;
/// assert!(validate::unique(&[b'u'; 63]).is_ok());
/// assert!(validate::unique(&[b'u'; 64]).is_err());
/// ```
pub fn unique(unique: &[u8]) -> Result<(), ArgumentError> {
    bounded("unique", unique, MAX_UNIQUE_LEN)?;
    no_nul("unique", unique)
}

/// A job handle: 1..=63 bytes, no NUL.
///
/// ```
/// use gearman_sync::protocol::validate;
/// assert!(validate::handle(b"H:vm:1").is_ok());
/// assert!(validate::handle(b"").is_err());
/// assert!(validate::handle(&[b'h'; 64]).is_err());
/// ```
pub fn handle(handle: &[u8]) -> Result<(), ArgumentError> {
    non_empty("job handle", handle)?;
    bounded("job handle", handle, MAX_HANDLE_LEN)?;
    no_nul("job handle", handle)
}

/// A reducer name: at most 63 bytes, no NUL.
///
/// ```
/// use gearman_sync::protocol::validate;
/// assert!(validate::reducer(b"sum").is_ok());
/// assert!(validate::reducer(&[b'r'; 64]).is_err());
/// ```
pub fn reducer(reducer: &[u8]) -> Result<(), ArgumentError> {
    bounded("reducer", reducer, MAX_REDUCER_LEN)?;
    no_nul("reducer", reducer)
}

/// A client ID: 1..=127 printable ASCII bytes without spaces (spaces break the admin
/// `workers` listing).
///
/// ```
/// use gearman_sync::protocol::validate;
/// assert!(validate::client_id(b"worker-1").is_ok());
/// assert!(validate::client_id(b"my worker").is_err());
/// ```
pub fn client_id(id: &[u8]) -> Result<(), ArgumentError> {
    non_empty("client id", id)?;
    bounded("client id", id, MAX_CLIENT_ID_LEN)?;
    match id.iter().find(|byte| !byte.is_ascii_graphic()) {
        Some(&byte) => Err(ArgumentError::InvalidByte {
            field: "client id",
            byte,
        }),
        None => Ok(()),
    }
}

/// An option name: 1..=63 bytes, no NUL.
///
/// ```
/// use gearman_sync::protocol::validate;
/// assert!(validate::option(b"exceptions").is_ok());
/// assert!(validate::option(b"").is_err());
/// ```
pub fn option(name: &[u8]) -> Result<(), ArgumentError> {
    non_empty("option name", name)?;
    bounded("option name", name, MAX_OPTION_LEN)?;
    no_nul("option name", name)
}

/// Any NUL-delimited field: no NUL inside. `field` names it in the error.
///
/// ```
/// use gearman_sync::{protocol::validate, ArgumentError};
/// assert!(validate::delimited("function prefix", b"staging.").is_ok());
/// assert_eq!(
///     validate::delimited("function prefix", b"a\0b"),
///     Err(ArgumentError::NulByte { field: "function prefix" })
/// );
/// ```
pub fn delimited(field: &'static str, value: &[u8]) -> Result<(), ArgumentError> {
    no_nul(field, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits() {
        assert!(function(&[b'f'; 512]).is_ok());
        assert_eq!(
            function(&[b'f'; 513]),
            Err(ArgumentError::TooLong {
                field: "function name",
                len: 513,
                max: 512
            })
        );
        assert!(unique(b"").is_ok());
        assert_eq!(
            unique(b"a\0"),
            Err(ArgumentError::NulByte { field: "unique" })
        );
        assert!(handle(&[b'h'; 63]).is_ok());
        assert!(handle(&[b'h'; 64]).is_err());
        assert!(handle(b"").is_err());
        assert!(client_id(&[b'c'; 127]).is_ok());
        assert!(client_id(&[b'c'; 128]).is_err());
        assert!(client_id(b"a\nb").is_err());
        assert!(option(b"exceptions").is_ok());
        assert!(option(&[b'o'; 64]).is_err());
        assert!(reducer(&[b'r'; 64]).is_err());
    }
}
