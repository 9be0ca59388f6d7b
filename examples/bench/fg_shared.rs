//! `fg_shared`: foreground round trips from T threads, through one [`SharedClient`] (the
//! default), T separate clients (`BENCH_SHARING=separate`) or one `Mutex<Client>`
//! (`BENCH_SHARING=mutex`). N jobs in all, split over the threads; every echo is checked.

use std::sync::Mutex;
use std::thread;
use std::time::Instant;

use gearman_sync::{Client, SharedClient, Task};

use super::{client, fill_payload, line, payload, Args, Outcome, FN_ECHO};

/// How the threads reach a client.
enum Sharing {
    Shared(SharedClient),
    Separate,
    Mutex(Box<Mutex<Client>>),
}

impl Sharing {
    fn name(&self) -> &'static str {
        match self {
            Sharing::Shared(_) => "shared",
            Sharing::Separate => "separate",
            Sharing::Mutex(_) => "mutex",
        }
    }
}

pub(super) fn fg_shared(args: &Args) -> Outcome {
    let threads = args.batch.max(1);
    let sharing = match std::env::var("BENCH_SHARING").as_deref() {
        Ok("shared") | Err(_) => Sharing::Shared(
            super::client_builder(args)?
                .build_shared()
                .map_err(|error| error.to_string())?,
        ),
        Ok("separate") => Sharing::Separate,
        Ok("mutex") => Sharing::Mutex(Box::new(Mutex::new(client(args)?))),
        Ok(other) => return Err(format!("BENCH_SHARING={other}: shared, separate or mutex")),
    };
    let started = Instant::now();
    let results: Vec<Outcome> = thread::scope(|scope| {
        let running: Vec<_> = (0..threads)
            .map(|t| {
                let sharing = &sharing;
                // Thread t runs sequence numbers t, t + T, t + 2T ... below N.
                scope.spawn(move || run_thread(args, sharing, t, threads))
            })
            .collect();
        running
            .into_iter()
            .map(|thread| {
                thread
                    .join()
                    .unwrap_or_else(|_| Err("thread panicked".into()))
            })
            .collect()
    });
    let secs = started.elapsed().as_secs_f64();
    results.into_iter().collect::<Outcome>()?;
    let extra = format!("ok={} threads={threads} sharing={}", args.n, sharing.name());
    line(args, "fg_shared", secs, &extra);
    Ok(())
}

fn run_thread(args: &Args, sharing: &Sharing, first: u64, step: u64) -> Outcome {
    let mut own = match sharing {
        Sharing::Separate => Some(client(args)?),
        _ => None,
    };
    let mut buf = payload(args.size, first);
    let mut seq = first;
    while seq < args.n {
        fill_payload(&mut buf, seq);
        let task = Task::new(FN_ECHO, &buf);
        let result = match (sharing, own.as_mut()) {
            (Sharing::Shared(shared), _) => shared.do_task(task),
            (Sharing::Mutex(locked), _) => locked
                .lock()
                .map_err(|_| "a thread panicked holding the lock".to_owned())?
                .do_task(task),
            (Sharing::Separate, Some(client)) => client.do_task(task),
            (Sharing::Separate, None) => unreachable!("made above"),
        }
        .map_err(|error| format!("do_task #{seq}: {error}"))?;
        if result != buf {
            return Err(format!("#{seq}: echoed payload differs"));
        }
        seq += step;
    }
    Ok(())
}
