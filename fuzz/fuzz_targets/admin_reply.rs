//! Fuzzes the admin reply parser: the first byte picks the command, the rest is the reply.
#![no_main]

use gearman_sync::protocol::admin::{AdminCommand, AdminParser, MaxQueue};
use libfuzzer_sys::fuzz_target;

fn command(selector: u8) -> AdminCommand {
    match selector % 12 {
        0 => AdminCommand::Status,
        1 => AdminCommand::PriorityStatus,
        2 => AdminCommand::Workers,
        3 => AdminCommand::ShowJobs,
        4 => AdminCommand::ShowUniqueJobs,
        5 => AdminCommand::CancelJob(b"H:vm:1".to_vec()),
        6 => AdminCommand::CreateFunction(b"f".to_vec()),
        7 => AdminCommand::DropFunction(b"f".to_vec()),
        8 => AdminCommand::MaxQueue {
            function: b"f".to_vec(),
            limit: MaxQueue::All(1),
        },
        9 => AdminCommand::GetPid,
        10 => AdminCommand::Verbose,
        _ => AdminCommand::Version,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, input)) = data.split_first() else {
        return;
    };
    let command = command(selector);
    let parser = AdminParser::new()
        .with_max_line(4096)
        .with_max_reply(1 << 20);
    let result = parser.parse(&command, input);
    if let Ok(Some((reply, used))) = &result {
        assert!(*used > 0 && *used <= input.len());
        // The reply is decided by its own bytes alone.
        assert_eq!(
            parser.parse(&command, &input[..*used]),
            Ok(Some((reply.clone(), *used)))
        );
    }
    assert_eq!(parser.parse(&command, input), result);
});
