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

/// A tokio runtime on threads of its own, running until dropped.
#[derive(Debug)]
pub struct DeliveryRuntime {
    handle: Handle,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl DeliveryRuntime {
    pub fn start() -> std::io::Result<DeliveryRuntime> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(DELIVERY_THREADS)
            .thread_name("adgate-delivery")
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
