//! `adgate-sink`: a partner endpoint for benchmarks. Answers every POST with
//! a fixed status (200 by default), counts the NDJSON events it receives and
//! prints events/s once a second, and a total on SIGINT/SIGTERM.
//!
//! ```sh
//! cargo run --release -p adgate-loadgen --bin adgate-sink -- --listen 127.0.0.1:9900 [--status 503]
//! ```
//!
//! It verifies nothing and stores nothing: it exists so the end-to-end
//! benchmark measures adgate's delivery, not a slow partner.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};

#[derive(Parser)]
#[command(about = "Benchmark partner endpoint: answers POSTs, counts NDJSON events")]
struct Args {
    /// Address to listen on (loopback).
    #[arg(long, default_value = "127.0.0.1:9900")]
    listen: SocketAddr,
    /// Status code for every request.
    #[arg(long, default_value_t = 200)]
    status: u16,
    /// Print a line per second.
    #[arg(long)]
    quiet: bool,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() {
    let args = Args::parse();
    let status = StatusCode::from_u16(args.status).expect("valid status");
    let events = Arc::new(AtomicU64::new(0));
    let requests = Arc::new(AtomicU64::new(0));
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .expect("bind");
    println!(
        "adgate-sink listening on http://{}",
        listener.local_addr().unwrap()
    );
    {
        let (events, requests) = (events.clone(), requests.clone());
        let quiet = args.quiet;
        tokio::spawn(async move {
            let start = Instant::now();
            let mut last = 0;
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let now = events.load(Ordering::Relaxed);
                if !quiet {
                    println!(
                        "t={:>4.0}s events/s={} total_events={} requests={}",
                        start.elapsed().as_secs_f64(),
                        now - last,
                        now,
                        requests.load(Ordering::Relaxed)
                    );
                }
                last = now;
            }
        });
    }
    let serve = async {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let (events, requests) = (events.clone(), requests.clone());
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                    let (events, requests) = (events.clone(), requests.clone());
                    async move {
                        let gz = req
                            .headers()
                            .get("content-encoding")
                            .is_some_and(|v| v == "gzip");
                        let body = req
                            .into_body()
                            .collect()
                            .await
                            .map(|c| c.to_bytes())
                            .unwrap_or_default();
                        let n = if gz {
                            use std::io::Read;
                            let mut out = Vec::new();
                            let _ = flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut out);
                            out.iter().filter(|&&b| b == b'\n').count()
                        } else {
                            body.iter().filter(|&&b| b == b'\n').count()
                        };
                        requests.fetch_add(1, Ordering::Relaxed);
                        if status.is_success() {
                            events.fetch_add(n as u64, Ordering::Relaxed);
                        }
                        let mut r = Response::new(Full::new(Bytes::new()));
                        *r.status_mut() = status;
                        Ok::<_, Infallible>(r)
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    };
    let mut term =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("signal");
    tokio::select! {
        _ = serve => {}
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    println!(
        "adgate-sink total_events={} requests={}",
        events.load(Ordering::Relaxed),
        requests.load(Ordering::Relaxed)
    );
}
