//! The text admin protocol: command lines and typed replies (work in progress).
