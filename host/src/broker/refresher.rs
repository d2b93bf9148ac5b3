//! The background refresher: keeps auto-refresh connections fresh ahead of expiry, asking
//! the store only for connections that are due (an index scan, not a full table scan).

use std::time::{Duration, SystemTime};

use futures::StreamExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::Broker;

/// A running background refresher; stops when [`Refresher::stop`] is called or it is
/// dropped.
#[derive(Debug)]
pub struct Refresher {
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl Refresher {
    /// Starts scanning every `every` (and at once), refreshing up to `concurrency`
    /// connections at a time.
    pub fn start(broker: Broker, every: Duration, concurrency: usize) -> Self {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            loop {
                let refreshed = run_once(&broker, concurrency).await;
                if refreshed > 0 {
                    tracing::debug!(refreshed, "background refresh pass done");
                }
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = stopped.changed() => return,
                }
            }
        });
        Self {
            stop,
            task: Some(task),
        }
    }

    /// Stops and waits for the current pass to finish.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Refresher {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// One pass: refreshes every due connection. Returns how many were attempted.
pub(super) async fn run_once(broker: &Broker, concurrency: usize) -> usize {
    let mut attempted = 0;
    for _ in 0..64 {
        let due = match broker.store().due_connections(SystemTime::now(), 256).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "background refresh: scan failed");
                return attempted;
            }
        };
        if due.is_empty() {
            return attempted;
        }
        let n = due.len();
        attempted += n;
        futures::stream::iter(due)
            .for_each_concurrent(concurrency.max(1), |id| async move {
                if let Err(e) = broker.get_token(&id).await {
                    tracing::warn!(connection = %id, error = %e, "background refresh failed");
                }
            })
            .await;
        // Failed connections moved their due time forward (or out of the scan), so the
        // next query returns others; stop when a whole batch was below the page size.
        if n < 256 {
            return attempted;
        }
    }
    attempted
}

impl Broker {
    /// Refreshes every due auto-refresh connection once. Returns how many were attempted.
    pub async fn refresh_due(&self, concurrency: usize) -> usize {
        run_once(self, concurrency).await
    }
}
