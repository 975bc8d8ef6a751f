//! `MemoryGate::acquire_async` on a tokio runtime, alone and mixed with blocking threads.
//! Every wait is bounded by a tokio timeout.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use memwarden::guard::{GateError, MemoryGate};

const DEADLINE: Duration = Duration::from_secs(30);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    tokio::time::timeout(DEADLINE, async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting for {what}"));
}

#[test]
fn an_async_waiter_is_admitted_when_a_thread_releases() {
    runtime().block_on(async {
        let gate = MemoryGate::new(100);
        let held = gate.acquire(80).unwrap();
        let g = gate.clone();
        let waiter = tokio::spawn(async move { g.acquire_async(50).await.map(|p| p.bytes()) });
        wait_until("the waiter to queue", || gate.waiting() == 1).await;
        assert!(!waiter.is_finished());
        // Released from a plain thread, as a blocking worker would.
        std::thread::spawn(move || drop(held)).join().unwrap();
        let got = tokio::time::timeout(DEADLINE, waiter)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, Ok(50));
        assert_eq!(gate.in_use(), 0);
    });
}

#[test]
fn a_dropped_future_gives_up_its_place() {
    runtime().block_on(async {
        let gate = MemoryGate::new(100);
        let held = gate.acquire(100).unwrap();
        let timed_out =
            tokio::time::timeout(Duration::from_millis(5), gate.acquire_async(10)).await;
        assert!(timed_out.is_err());
        assert_eq!(
            gate.waiting(),
            0,
            "a cancelled request still stands in line"
        );
        drop(held);
        let p = tokio::time::timeout(DEADLINE, gate.acquire_async(100))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(p.bytes(), 100);
    });
}

#[test]
fn emergency_stop_wakes_async_waiters() {
    runtime().block_on(async {
        let gate = MemoryGate::new(100);
        let _held = gate.acquire(100).unwrap();
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let g = gate.clone();
                tokio::spawn(async move { g.acquire_async(10).await.map(|p| p.bytes()) })
            })
            .collect();
        wait_until("three waiters", || gate.waiting() == 3).await;
        gate.emergency_stop();
        for w in waiters {
            let got = tokio::time::timeout(DEADLINE, w).await.unwrap().unwrap();
            assert_eq!(got, Err(GateError::Stopped));
        }
        assert_eq!(gate.acquire_async(1).await.unwrap_err(), GateError::Stopped);
        assert!(matches!(
            gate.acquire_async(101).await,
            Err(GateError::TooLarge { .. })
        ));
    });
}

#[test]
fn tasks_and_threads_share_one_budget() {
    const BUDGET: u64 = 1000;
    let gate = MemoryGate::new(BUDGET);
    let in_flight = Arc::new(AtomicU64::new(0));
    let check = |in_flight: &AtomicU64, bytes: u64| {
        let now = in_flight.fetch_add(bytes, Ordering::SeqCst) + bytes;
        assert!(now <= BUDGET, "{now} in flight, budget {BUDGET}");
    };
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let (gate, in_flight) = (gate.clone(), Arc::clone(&in_flight));
            std::thread::spawn(move || {
                for i in 0..200u64 {
                    let bytes = 1 + (t * 131 + i * 37) % 400;
                    let _p = gate.acquire_timeout(bytes, DEADLINE).unwrap();
                    check(&in_flight, bytes);
                    std::thread::yield_now();
                    in_flight.fetch_sub(bytes, Ordering::SeqCst);
                }
            })
        })
        .collect();
    runtime().block_on(async {
        let tasks: Vec<_> = (0..8u64)
            .map(|t| {
                let (gate, in_flight) = (gate.clone(), Arc::clone(&in_flight));
                tokio::spawn(async move {
                    for i in 0..200u64 {
                        let bytes = 1 + (t * 97 + i * 53) % 400;
                        let _p = tokio::time::timeout(DEADLINE, gate.acquire_async(bytes))
                            .await
                            .expect("stuck past the deadline")
                            .unwrap();
                        check(&in_flight, bytes);
                        tokio::task::yield_now().await;
                        in_flight.fetch_sub(bytes, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!((gate.in_use(), gate.waiting()), (0, 0));
}
