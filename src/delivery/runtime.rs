//! The runtime push delivery runs on: its own worker threads, apart from
//! the runtime serving HTTP. Under closed-loop saturation the ingest tasks
//! kept every worker of a shared runtime busy and delivery fell behind
//! what was accepted (delivered 35-68 k/s against 121-166 k/s accepted);
//! on threads of its own, delivery gets its share of the CPU from the
//! operating system's scheduler however many requests are queued.
//! docs/performance.md has the measurements.

use std::thread::JoinHandle;

use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// Worker threads of the delivery runtime. Delivery is mostly waiting on
/// partners and copying stored bytes; one thread keeps pace with two
/// ingest threads (docs/performance.md).
pub const DELIVERY_THREADS: usize = 1;

/// How many nice values the delivery runtime's threads run below the
/// process. Below capacity, a delivery burst (reading, framing and signing
/// a batch) preempted a request being scrubbed, which then finished later;
/// at this priority the scheduler lets the request finish first and
/// delivery runs in the gaps (at 140-150 k events/s on 2 cores, the
/// slowest request was faster in each of 9 alternated rounds). Under
/// saturation the weight still gives delivery about a quarter of a core
/// against two busy ingest threads, more than it needs: delivered / routed
/// stayed at 1.000 over 60 s, and throughput did not move
/// (docs/performance.md).
pub const DELIVERY_NICE: i32 = 5;

/// A tokio runtime on threads of its own, running until dropped.
#[derive(Debug)]
pub struct DeliveryRuntime {
    handle: Handle,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl DeliveryRuntime {
    pub fn start() -> std::io::Result<DeliveryRuntime> {
        // Taken here, on the thread starting the gateway: a thread the
        // runtime starts later (its blocking pool's) may be started from
        // one of its own workers, already lowered.
        let nice = match crate::util::thread_nice() {
            Ok(n) => Some(n + DELIVERY_NICE),
            Err(e) => {
                tracing::debug!(error = %e, "delivery: thread priority not read");
                None
            }
        };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(DELIVERY_THREADS)
            .thread_name("adgate-delivery")
            .on_thread_start(move || {
                if let Some(Err(e)) = nice.map(crate::util::set_thread_nice) {
                    tracing::debug!(error = %e, "delivery: thread priority not lowered");
                }
            })
            .enable_all()
            .build()?;
        let handle = rt.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        // The runtime lives and is shut down on a thread of its own: a
        // runtime may not be dropped from async code, and the gateway's
        // state (which owns this) is dropped there.
        let thread = std::thread::Builder::new()
            .name("adgate-delivery-rt".into())
            .spawn(move || {
                rt.block_on(async {
                    let _ = stopped.await;
                });
                rt.shutdown_timeout(std::time::Duration::from_secs(1));
            })?;
        Ok(DeliveryRuntime {
            handle,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    pub fn handle(&self) -> &Handle {
        &self.handle
    }
}

impl Drop for DeliveryRuntime {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        // Not joined: dropping may happen on an async worker, which must
        // not block; the thread ends by itself within a second.
        drop(self.thread.take());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Delivery yields the CPU to ingest: the runtime's worker and blocking
    /// threads run DELIVERY_NICE values below the thread that started it,
    /// which is left as it was.
    #[test]
    fn delivery_threads_run_below_the_thread_that_started_them() {
        let before = crate::util::thread_nice().unwrap();
        let rt = DeliveryRuntime::start().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let h = rt.handle().clone();
        rt.handle().spawn(async move {
            let worker = crate::util::thread_nice().unwrap();
            // Started from a worker thread, already lowered.
            let blocking = h
                .spawn_blocking(|| crate::util::thread_nice().unwrap())
                .await
                .unwrap();
            tx.send((worker, blocking)).unwrap();
        });
        let (worker, blocking) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        let want = (before + DELIVERY_NICE).min(19);
        assert_eq!(worker, want, "a worker thread");
        assert_eq!(blocking, want, "a blocking-pool thread");
        assert_eq!(crate::util::thread_nice().unwrap(), before);
    }
}
