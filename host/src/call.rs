//! One plugin call: a fresh instance in a fresh store, with limits, secrets and egress.
//!
//! Every operation (metadata, token exchange, authorization URL, …) runs in its own
//! [`wasmtime::Store`] with a new instance from the plugin's `InstancePre`, so no state
//! survives between calls. The store's data, [`CallState`], owns the call's resource table
//! (where secrets live), its egress context and its budgets.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use wasmtime::component::{Resource, ResourceTable};
use wasmtime::{ResourceLimiter, Store, UpdateDeadline};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::bindings::grantbox::plugin::{http_outbound, log, types};
use crate::egress::OriginPattern;
use crate::error::PluginFault;
use crate::limits::Limits;
use crate::outbound;
use crate::runtime::Runtime;
use crate::secret::{Redactor, SecretEntry, SecretString};

/// Capacity of the captured stderr (panic messages).
const STDERR_CAPACITY: usize = 64 * 1024;
/// Longest log line kept from a plugin.
const MAX_LOG_LINE: usize = 2048;

/// Data of a plugin call's store.
pub(crate) struct CallState {
    wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    limiter: MemoryLimiter,
    pub(crate) plugin: Arc<str>,
    pub(crate) declared: Arc<[OriginPattern]>,
    /// A settings check: outbound requests are answered "denied" without being sent.
    pub(crate) dry_run: bool,
    pub(crate) http: reqwest::Client,
    pub(crate) egress: Arc<crate::egress::EgressPolicy>,
    pub(crate) limits: Limits,
    started: Instant,
    pub(crate) host_time: Duration,
    yielded_nanos: Arc<AtomicU64>,
    pub(crate) requests: u32,
    log_lines: u32,
    stderr: MemoryOutputPipe,
    pub(crate) redactor: Redactor,
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Raised (as a trap) when a plugin exceeds its CPU budget.
#[derive(Debug, thiserror::Error)]
#[error("CPU time limit exceeded")]
struct CpuLimitExceeded;

/// Raised (as a trap) when a plugin grows memory beyond its limit.
#[derive(Debug, thiserror::Error)]
#[error("memory limit exceeded")]
struct MemoryLimitExceeded;

struct MemoryLimiter {
    max_memory: usize,
    max_table_elements: usize,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_memory {
            return Err(wasmtime::Error::new(MemoryLimitExceeded));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_table_elements {
            return Err(wasmtime::Error::new(MemoryLimitExceeded));
        }
        Ok(true)
    }
}

/// What a call needs besides the plugin: where it may connect and what to scrub.
pub(crate) struct CallContext {
    pub(crate) declared: Arc<[OriginPattern]>,
    pub(crate) redactor: Redactor,
    /// See [`CallState::dry_run`].
    pub(crate) dry_run: bool,
}

/// A store ready for one call, holding a pool permit until dropped.
pub(crate) struct PluginCall {
    pub(crate) store: Store<CallState>,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl PluginCall {
    /// Creates a store for one call of `plugin` (waits for a free pool slot).
    pub(crate) async fn new(
        runtime: &Runtime,
        plugin: Arc<str>,
        ctx: CallContext,
    ) -> Result<Self, PluginFault> {
        let permit = Arc::clone(&runtime.permits)
            .acquire_owned()
            .await
            .map_err(|_| PluginFault::Trap("the host is shutting down".into()))?;
        let stderr = MemoryOutputPipe::new(STDERR_CAPACITY);
        // An empty context: no args, no env, no preopens, no sockets, no name lookup.
        let wasi = WasiCtxBuilder::new().stderr(stderr.clone()).build();
        let limits = runtime.limits.clone();
        let yielded_nanos = Arc::new(AtomicU64::new(0));
        let state = CallState {
            wasi,
            table: ResourceTable::new(),
            limiter: MemoryLimiter {
                max_memory: usize::try_from(limits.max_memory_bytes).unwrap_or(usize::MAX),
                max_table_elements: 100_000,
            },
            plugin,
            declared: ctx.declared,
            dry_run: ctx.dry_run,
            http: runtime.http.clone(),
            egress: Arc::clone(&runtime.egress),
            started: Instant::now(),
            host_time: Duration::ZERO,
            yielded_nanos: Arc::clone(&yielded_nanos),
            requests: 0,
            log_lines: 0,
            stderr,
            redactor: ctx.redactor,
            limits,
        };
        let mut store = Store::new(&runtime.engine, state);
        store.limiter(|s| &mut s.limiter);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |ctx| {
            let state = ctx.data();
            let yielded = Duration::from_nanos(state.yielded_nanos.load(Ordering::Relaxed));
            let guest_time = state
                .started
                .elapsed()
                .saturating_sub(state.host_time)
                .saturating_sub(yielded);
            if guest_time > state.limits.cpu_time {
                return Err(wasmtime::Error::new(CpuLimitExceeded));
            }
            // Yield to the executor so a busy plugin does not starve other tasks; the time
            // spent yielded is not charged to the plugin.
            let counter = Arc::clone(&yielded_nanos);
            Ok(UpdateDeadline::YieldCustom(
                1,
                Box::pin(async move {
                    let t = Instant::now();
                    tokio::task::yield_now().await;
                    let nanos = u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX);
                    counter.fetch_add(nanos, Ordering::Relaxed);
                }),
            ))
        });
        Ok(Self {
            store,
            _permit: permit,
        })
    }

    /// Puts a secret into the call's table; the plugin will see only the handle.
    pub(crate) fn secret(
        &mut self,
        name: &str,
        value: &SecretString,
    ) -> Result<Resource<SecretEntry>, PluginFault> {
        let data = self.store.data_mut();
        data.redactor.add(value);
        data.table
            .push(SecretEntry::new(name, value.clone()))
            .map_err(|e| PluginFault::Trap(format!("resource table: {e}")))
    }

    /// Classifies a failed call.
    pub(crate) fn fault(&self, err: &wasmtime::Error) -> PluginFault {
        let state = self.store.data();
        if err.downcast_ref::<CpuLimitExceeded>().is_some() {
            return PluginFault::CpuLimit(state.limits.cpu_time);
        }
        if err.downcast_ref::<MemoryLimitExceeded>().is_some() {
            return PluginFault::MemoryLimit(state.limits.max_memory_bytes);
        }
        let stderr = String::from_utf8_lossy(&state.stderr.contents()).into_owned();
        let stderr = state.redactor.scrub(&stderr);
        let trap = err.downcast_ref::<wasmtime::Trap>().copied().or_else(|| {
            err.chain()
                .find_map(|cause| cause.downcast_ref::<wasmtime::Trap>().copied())
        });
        match trap {
            Some(wasmtime::Trap::StackOverflow) => return PluginFault::StackOverflow,
            Some(wasmtime::Trap::Interrupt) => return PluginFault::CpuLimit(state.limits.cpu_time),
            _ => {}
        }
        if let Some(pos) = stderr.find("panicked at") {
            let msg: String = stderr[pos..].chars().take(1024).collect();
            return PluginFault::Panic(msg.trim().to_owned());
        }
        // The root cause names the trap; the wasm backtrace is for debugging only.
        let text = match trap {
            Some(t) => t.to_string(),
            None => err.root_cause().to_string(),
        };
        tracing::debug!(plugin = %state.plugin, error = %state.redactor.scrub(&format!("{err:?}")), "plugin trap");
        PluginFault::Trap(state.redactor.scrub(&text).chars().take(1024).collect())
    }
}

impl types::Host for CallState {}

impl types::HostSecret for CallState {
    async fn name(&mut self, secret: Resource<SecretEntry>) -> wasmtime::Result<String> {
        Ok(self.table.get(&secret)?.name.clone())
    }

    async fn drop(&mut self, secret: Resource<SecretEntry>) -> wasmtime::Result<()> {
        // The plugin only ever receives borrowed handles; an owned one would be the host's.
        if secret.owned() {
            self.table.delete(secret)?;
        }
        Ok(())
    }
}

impl http_outbound::Host for CallState {
    async fn send(
        &mut self,
        request: http_outbound::Request,
    ) -> wasmtime::Result<Result<http_outbound::Response, http_outbound::Error>> {
        let started = Instant::now();
        let result = outbound::send(self, request).await;
        self.host_time += started.elapsed();
        Ok(result)
    }
}

impl log::Host for CallState {
    async fn log(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        self.log_lines += 1;
        if self.log_lines > self.limits.max_log_lines_per_call {
            if self.log_lines == self.limits.max_log_lines_per_call + 1 {
                tracing::warn!(target: "grantbox::plugin", plugin = %self.plugin, "log line limit reached; dropping further lines of this call");
            }
            return Ok(());
        }
        let mut message = self.redactor.scrub(&message);
        if message.len() > MAX_LOG_LINE {
            let mut cut = MAX_LOG_LINE;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
        let plugin = &*self.plugin;
        match level {
            log::Level::Trace => tracing::trace!(target: "grantbox::plugin", plugin, "{message}"),
            log::Level::Debug => tracing::debug!(target: "grantbox::plugin", plugin, "{message}"),
            log::Level::Info => tracing::info!(target: "grantbox::plugin", plugin, "{message}"),
            log::Level::Warn => tracing::warn!(target: "grantbox::plugin", plugin, "{message}"),
            log::Level::Error => tracing::error!(target: "grantbox::plugin", plugin, "{message}"),
        }
        Ok(())
    }
}
