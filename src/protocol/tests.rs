//! Table tests for the binary codec (filled in by the codec test suite).
