//! S5 tasks and connections, leaky: each tick starts a task (a thread) that opens a new
//! connection, scrapes, and then waits for a next tick on a ticker nobody ever stops, holding
//! its connection and its parsed map forever. Threads and descriptors climb by one task, one
//! endpoint thread and two sockets per tick (the endpoint is in this process too); memory
//! climbs slowly with the stacks and the maps.

use std::net::TcpStream;
use std::thread;
use std::time::Instant;

use clap::Parser;
use crossbeam_channel::{unbounded, Sender};
use s5_tasks::{scrape, start_endpoint, threads_and_fds, Args};

fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let tick = args.tick();
    let addr = start_endpoint()?;
    eprintln!(
        "s5-leaky: a task and a new connection per tick ({} ms) to {addr}, neither ever ends; \
         {} s",
        tick.as_millis(),
        args.duration
    );
    let (threads0, fds0) = threads_and_fds();

    // Every task's ticker: kept, never stopped, so every task waits forever.
    let mut tickers: Vec<Sender<()>> = Vec::new();
    let start = Instant::now();
    let mut ticks = 0u32;
    while start.elapsed().as_secs_f64() < args.duration {
        let (ticker, next_tick) = unbounded::<()>();
        tickers.push(ticker);
        let task = thread::Builder::new()
            .name(format!("task-{ticks}"))
            .spawn(move || {
                let Ok(mut conn) = TcpStream::connect(addr) else {
                    return;
                };
                let Ok(metrics) = scrape(&mut conn) else {
                    return;
                };
                // The ticker loop: the next tick never comes, the loop never exits, and the
                // connection and the map stay alive with it.
                for () in next_tick.iter() {}
                drop((metrics, conn));
            });
        if let Err(e) = task {
            eprintln!("s5-leaky: cannot start a task any more: {e}");
            break;
        }
        ticks += 1;
        let next = tick * ticks;
        if let Some(wait) = next.checked_sub(start.elapsed()) {
            thread::sleep(wait);
        }
    }

    let (threads, fds) = threads_and_fds();
    eprintln!(
        "s5-leaky: done: {ticks} ticks; threads {threads0} -> {threads}, descriptors {fds0} -> \
         {fds}; {} tasks still waiting",
        tickers.len()
    );
    // Exit with every task still waiting. Returning would drop the tickers and end all the
    // tasks at once, closing their connections: a cleanup the leaky service never does, and
    // a moment in which a sample would see descriptors fall just before the end.
    std::process::exit(0)
}
