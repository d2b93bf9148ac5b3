//! Device flows started through the API: polled in background tasks, one per connection,
//! cancellable.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use utoipa::ToSchema;

use crate::broker::{Broker, DeviceFlow};

/// Where a device flow stands.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub(crate) enum DeviceStatus {
    /// Waiting for the user.
    Pending {
        /// The code the user enters.
        user_code: String,
        /// Where.
        verification_uri: String,
        /// A URI including the code.
        verification_uri_complete: Option<String>,
        /// When the code expires (Unix seconds).
        expires_at: u64,
    },
    /// The user approved: the connection holds tokens.
    Connected,
    /// Denied, expired or failed.
    Failed {
        /// Why.
        message: String,
    },
    /// Cancelled through the API or by shutdown.
    Cancelled,
}

struct Job {
    status: Arc<Mutex<DeviceStatus>>,
    task: tokio::task::JoinHandle<()>,
}

/// The device flows in progress, by connection.
#[derive(Default)]
pub(crate) struct DeviceJobs {
    jobs: Mutex<HashMap<String, Job>>,
}

impl DeviceJobs {
    /// Starts polling `flow` in the background (replacing a previous flow of the connection).
    pub(crate) fn start(&self, broker: Broker, flow: DeviceFlow) -> DeviceStatus {
        let id = flow.connection().to_owned();
        let pending = DeviceStatus::Pending {
            user_code: flow.user_code().to_owned(),
            verification_uri: flow.verification_uri().to_owned(),
            verification_uri_complete: flow.verification_uri_complete().map(str::to_owned),
            expires_at: flow
                .expires_at()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        };
        let status = Arc::new(Mutex::new(pending.clone()));
        let task = tokio::spawn({
            let status = Arc::clone(&status);
            async move {
                let outcome = match broker.finish_device_flow(flow).await {
                    Ok(_) => DeviceStatus::Connected,
                    Err(e) => DeviceStatus::Failed {
                        message: e.to_string(),
                    },
                };
                if let Ok(mut s) = status.lock() {
                    *s = outcome;
                }
            }
        });
        if let Ok(mut jobs) = self.jobs.lock()
            && let Some(old) = jobs.insert(id, Job { status, task })
        {
            old.task.abort();
        }
        pending
    }

    /// The status of the connection's device flow, if one was started.
    pub(crate) fn status(&self, id: &str) -> Option<DeviceStatus> {
        let jobs = self.jobs.lock().ok()?;
        let job = jobs.get(id)?;
        job.status.lock().ok().map(|s| s.clone())
    }

    /// Cancels the connection's device flow. Returns whether one was pending.
    pub(crate) fn cancel(&self, id: &str) -> bool {
        let Ok(jobs) = self.jobs.lock() else {
            return false;
        };
        let Some(job) = jobs.get(id) else {
            return false;
        };
        let Ok(mut status) = job.status.lock() else {
            return false;
        };
        if !matches!(*status, DeviceStatus::Pending { .. }) {
            return false;
        }
        job.task.abort();
        *status = DeviceStatus::Cancelled;
        true
    }

    /// Cancels every pending device flow (shutdown).
    pub(crate) fn cancel_all(&self) {
        let ids: Vec<String> = match self.jobs.lock() {
            Ok(jobs) => jobs.keys().cloned().collect(),
            Err(_) => return,
        };
        for id in ids {
            self.cancel(&id);
        }
    }
}
