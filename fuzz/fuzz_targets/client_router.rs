//! Arbitrary server replies (and connection losses, resubmissions, abandons) driven through
//! the client's sans-IO reply router: its tables must stay consistent and every reply must be
//! routed to a task in the right state. Also drives the worker's grab/sleep/wake machine.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    gearman_sync::__fuzz::client_router(data);
    gearman_sync::__fuzz::worker_session(data);
});
