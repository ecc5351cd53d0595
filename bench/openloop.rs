//! An open-loop HTTP load generator for the reload scenario (bench/run compiles it with
//! `rustc -O`; the standard library only).
//!
//!     openloop ADDRESS RATE SECONDS [WORKERS]
//!
//! Sends `GET /` at a fixed RATE (requests per second) for SECONDS, each on a new connection
//! (HTTP/1.0, one request per connection, like the example server answers), whatever the
//! server's pace: request i is due at start + i / RATE. Latency is measured from that due time,
//! not from when a worker got round to sending it, so a server that stalls is charged for every
//! request that waited behind the stall (no coordinated omission, unlike a closed loop such as
//! wrk, which sends less while the server is slow). WORKERS (default 256) bounds the requests in
//! flight; a request that finds them all busy is late, and its latency counts that.
//!
//! Prints one line of `key=value` pairs: requests due and done, failed, the achieved rate, and
//! the latency percentiles in milliseconds; then up to five failures, one a line.

use std::env;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(5);

fn main() -> ExitCode {
    let args: Vec<String> = env::args().collect();
    if args.len() < 4 || args.len() > 5 {
        eprintln!("usage: openloop ADDRESS RATE SECONDS [WORKERS]");
        return ExitCode::from(2);
    }
    let parsed = (
        args[1].parse::<SocketAddr>(),
        args[2].parse::<f64>(),
        args[3].parse::<f64>(),
        args.get(4).map_or(Ok(256), |text| text.parse::<usize>()),
    );
    let (Ok(address), Ok(rate), Ok(seconds), Ok(workers)) = parsed else {
        eprintln!("openloop: ADDRESS is host:port, RATE and SECONDS numbers, WORKERS a count");
        return ExitCode::from(2);
    };
    if !(rate > 0.0 && seconds > 0.0 && workers > 0) {
        eprintln!("openloop: RATE, SECONDS and WORKERS must be positive");
        return ExitCode::from(2);
    }
    let total = (rate * seconds).round() as u64;
    let next = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let start = Instant::now() + Duration::from_millis(50);
    let handles: Vec<_> = (0..workers)
        .map(|_| {
            let next = Arc::clone(&next);
            let failures = Arc::clone(&failures);
            thread::Builder::new()
                .stack_size(64 * 1024)
                .spawn(move || {
                    let mut latencies = Vec::new();
                    loop {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        if index >= total {
                            return latencies;
                        }
                        let due = start + Duration::from_secs_f64(index as f64 / rate);
                        if let Some(wait) = due.checked_duration_since(Instant::now()) {
                            thread::sleep(wait);
                        }
                        match get(address) {
                            Ok(()) => latencies.push(due.elapsed()),
                            Err(error) => failures.lock().expect("lock").push(error),
                        }
                    }
                })
                .expect("spawn a worker")
        })
        .collect();
    let mut latencies: Vec<Duration> = handles
        .into_iter()
        .flat_map(|handle| handle.join().expect("a worker"))
        .collect();
    let elapsed = start.elapsed().as_secs_f64();
    let failures = failures.lock().expect("lock");
    latencies.sort_unstable();
    let percentile = |p: f64| -> f64 {
        if latencies.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * latencies.len() as f64).ceil() as usize;
        latencies[rank.clamp(1, latencies.len()) - 1].as_secs_f64() * 1000.0
    };
    println!(
        "due={total} ok={} failed={} rate={:.1} p50={:.3} p90={:.3} p99={:.3} p999={:.3} max={:.3}",
        latencies.len(),
        failures.len(),
        latencies.len() as f64 / elapsed,
        percentile(50.0),
        percentile(90.0),
        percentile(99.0),
        percentile(99.9),
        percentile(100.0),
    );
    for failure in failures.iter().take(5) {
        println!("failure: {failure}");
    }
    ExitCode::SUCCESS
}

/// One GET / on a new connection, read to the end: Ok for a 200.
fn get(address: SocketAddr) -> Result<(), String> {
    let mut stream = TcpStream::connect_timeout(&address, TIMEOUT)
        .map_err(|error| format!("connect: {error}"))?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .map_err(|error| format!("set_read_timeout: {error}"))?;
    stream
        .write_all(b"GET / HTTP/1.0\r\nHost: bench\r\n\r\n")
        .map_err(|error| format!("write: {error}"))?;
    let mut response = Vec::with_capacity(512);
    stream
        .read_to_end(&mut response)
        .map_err(|error| format!("read: {error}"))?;
    match response.get(..12) {
        Some(b"HTTP/1.0 200") | Some(b"HTTP/1.1 200") => Ok(()),
        _ => Err(format!(
            "answer: {:?}",
            String::from_utf8_lossy(&response[..response.len().min(60)])
        )),
    }
}
