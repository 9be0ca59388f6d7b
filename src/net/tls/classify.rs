//! What a rustls error means for the caller: one [`TlsErrorKind`] and a message.

use rustls::{AlertDescription, CertificateError};

use crate::error::TlsErrorKind;
use crate::net::stream::TlsFailure;

/// The kind and message of a rustls error.
pub(crate) fn classify(error: &rustls::Error) -> TlsFailure {
    let kind = match error {
        rustls::Error::InvalidCertificate(certificate) => certificate_kind(certificate),
        rustls::Error::AlertReceived(alert) => alert_kind(*alert),
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
            TlsErrorKind::Other
        }
        _ => TlsErrorKind::Other,
    };
    let message = match error {
        rustls::Error::AlertReceived(alert) => {
            format!(
                "the peer sent the TLS alert {alert:?}{}",
                alert_hint(*alert)
            )
        }
        other => other.to_string(),
    };
    TlsFailure { kind, message }
}

fn certificate_kind(error: &CertificateError) -> TlsErrorKind {
    match error {
        CertificateError::UnknownIssuer => TlsErrorKind::UnknownIssuer,
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            TlsErrorKind::NameMismatch
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            TlsErrorKind::Expired
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            TlsErrorKind::NotYetValid
        }
        _ => TlsErrorKind::BadCertificate,
    }
}

/// An alert from the peer ends the handshake: it refused us. Alerts about our own
/// certificate are the usual case behind a proxy that requires client certificates.
fn alert_kind(alert: AlertDescription) -> TlsErrorKind {
    match alert {
        AlertDescription::CloseNotify => TlsErrorKind::Other,
        _ => TlsErrorKind::HandshakeRefused,
    }
}

fn alert_hint(alert: AlertDescription) -> &'static str {
    match alert {
        AlertDescription::CertificateRequired => {
            " (it requires a client certificate: configure TlsConfigBuilder::client_cert)"
        }
        AlertDescription::UnknownCA | AlertDescription::BadCertificate => {
            " (it does not trust the client certificate sent)"
        }
        AlertDescription::CertificateExpired => " (the client certificate sent has expired)",
        AlertDescription::HandshakeFailure => {
            " (no common parameters, or a client certificate it wants was not sent)"
        }
        AlertDescription::ProtocolVersion => " (no common TLS version; TLS 1.2 is the minimum)",
        _ => "",
    }
}

/// True when `head` (the first bytes the peer sent) cannot start a TLS record: a content type
/// of 20 to 24 followed by major version 3.
pub(crate) fn looks_like_tls(head: &[u8]) -> bool {
    match head {
        [] => true,
        [content, rest @ ..] => {
            (20..=24).contains(content) && rest.first().map_or(true, |&major| major == 3)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_errors_name_their_cause() {
        let kind = |error| classify(&rustls::Error::InvalidCertificate(error)).kind;
        assert_eq!(
            kind(CertificateError::UnknownIssuer),
            TlsErrorKind::UnknownIssuer
        );
        assert_eq!(
            kind(CertificateError::NotValidForName),
            TlsErrorKind::NameMismatch
        );
        assert_eq!(kind(CertificateError::Expired), TlsErrorKind::Expired);
        assert_eq!(
            kind(CertificateError::NotValidYet),
            TlsErrorKind::NotYetValid
        );
        assert_eq!(
            kind(CertificateError::BadSignature),
            TlsErrorKind::BadCertificate
        );
    }

    #[test]
    fn alerts_are_refusals_with_a_hint() {
        let failure = classify(&rustls::Error::AlertReceived(
            AlertDescription::CertificateRequired,
        ));
        assert_eq!(failure.kind, TlsErrorKind::HandshakeRefused);
        assert!(failure.message.contains("client certificate"), "{failure}");
    }

    #[test]
    fn gearman_bytes_are_not_tls() {
        assert!(!looks_like_tls(b"\0RES"));
        assert!(!looks_like_tls(b"ERR unknown"));
        assert!(looks_like_tls(b"\x16\x03\x03"));
        assert!(looks_like_tls(b"\x15"));
        assert!(!looks_like_tls(b"\x16\x01"));
    }
}
