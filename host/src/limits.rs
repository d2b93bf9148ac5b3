//! Resource limits for plugin calls.

use std::time::Duration;

/// Limits applied to every plugin call, and to the pool of plugin instances.
///
/// The defaults suit production: a plugin does a few microseconds of work per call and at
/// most a handful of HTTP requests.
#[derive(Debug, Clone)]
pub struct Limits {
    /// CPU time a call may spend in plugin code (time in host calls, such as HTTP
    /// requests, does not count). Enforced with epoch interruption every `epoch_tick`.
    pub cpu_time: Duration,
    /// Wall-clock time for a whole call, HTTP requests included.
    pub call_timeout: Duration,
    /// Timeout of one HTTP request (connect, send, receive the whole body).
    pub request_timeout: Duration,
    /// Largest response body a plugin may receive, in bytes.
    pub max_response_bytes: u64,
    /// HTTP requests one call may make.
    pub max_requests_per_call: u32,
    /// Linear memory one plugin instance may use, in bytes.
    pub max_memory_bytes: u64,
    /// WebAssembly stack, in bytes.
    pub max_stack_bytes: usize,
    /// Plugin calls running at once (instances in the pool); further calls wait.
    pub max_concurrent_calls: u32,
    /// Log lines one call may emit; later ones are dropped (and counted).
    pub max_log_lines_per_call: u32,
    /// Resolution of CPU-time accounting.
    pub epoch_tick: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            cpu_time: Duration::from_secs(1),
            call_timeout: Duration::from_secs(60),
            request_timeout: Duration::from_secs(30),
            max_response_bytes: 1024 * 1024,
            max_requests_per_call: 16,
            max_memory_bytes: 64 * 1024 * 1024,
            max_stack_bytes: 512 * 1024,
            max_concurrent_calls: 256,
            max_log_lines_per_call: 64,
            epoch_tick: Duration::from_millis(10),
        }
    }
}
