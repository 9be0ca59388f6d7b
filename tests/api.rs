//! API properties that need no server: thread-safety markers and the server-list defaults.

use gearman_sync::{Admin, Client, ConcurrentWorker, Worker};

fn assert_send<T: Send>() {}

#[test]
fn client_worker_and_admin_are_send() {
    assert_send::<Client>();
    assert_send::<Worker>();
    assert_send::<ConcurrentWorker>();
    assert_send::<Admin>();
    assert_send::<gearman_sync::StopHandle>();
}

#[test]
fn servers_default_to_gearman_servers_then_localhost() {
    // The only test in this binary that touches the environment.
    std::env::remove_var("GEARMAN_SERVERS");
    let default = Client::new("").expect("client");
    assert_eq!(
        default.settings().servers()[0].to_string(),
        "127.0.0.1:4730"
    );
    std::env::set_var("GEARMAN_SERVERS", "alpha:4731, [::1]");
    let from_env = Client::new("").expect("client");
    let listed: Vec<String> = from_env
        .settings()
        .servers()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(listed, ["alpha:4731", "[::1]:4730"]);
    let worker = Worker::new(&Vec::<String>::new()).expect("worker");
    assert_eq!(worker.settings().servers().len(), 2);
    let explicit = Client::new(&["beta", "gamma:1"]).expect("client");
    assert_eq!(explicit.settings().servers().len(), 2);
    std::env::set_var("GEARMAN_SERVERS", "bad:0");
    match Client::new("") {
        Err(gearman_sync::Error::Address(error)) => assert_eq!(error.entry, "bad:0"),
        other => panic!("expected an address error, got {other:?}"),
    }
    std::env::remove_var("GEARMAN_SERVERS");
}
