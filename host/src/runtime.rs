//! The WebAssembly runtime: engine, linker, epoch ticker, instance pool and HTTP client.
//!
//! # What a plugin is linked against
//!
//! Only the contract's own interfaces (`grantbox:plugin/types`, `http-outbound`, `log`)
//! and the WASI 0.2 interfaces that Rust's standard library for `wasm32-wasip2` imports
//! even when a plugin does no I/O:
//!
//! - `wasi:io/{error,poll,streams}` — the stream types behind stdio;
//! - `wasi:cli/{environment,exit,stdin,stdout,stderr,terminal-*}` — the environment is
//!   empty (no variables, no arguments), stdin is empty, stdout is discarded and stderr is
//!   captured (bounded) so a panic message can be reported;
//! - `wasi:clocks/{wall-clock,monotonic-clock}` — reading the time (JWT `iat`/`exp`);
//! - `wasi:random/{random,insecure,insecure-seed}` — randomness (nonces, `jti`, hash
//!   map seeds).
//!
//! Nothing else: no filesystem, no sockets, no name lookup, no HTTP other than
//! `http-outbound`. A plugin importing anything more is refused at load time, naming the
//! import.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use tokio::sync::Semaphore;
use wasmtime::component::{HasData, Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::bindings;
use crate::call::CallState;
use crate::egress::{EgressPolicy, PolicyResolver};
use crate::error::{Error, Result};
use crate::limits::Limits;

/// Shared runtime of a host.
pub(crate) struct Runtime {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<CallState>,
    pub(crate) limits: Limits,
    pub(crate) http: reqwest::Client,
    pub(crate) egress: Arc<EgressPolicy>,
    pub(crate) permits: Arc<Semaphore>,
    pub(crate) metrics: Arc<crate::metrics::Metrics>,
    _ticker: EpochTicker,
}

impl Runtime {
    pub(crate) fn new(limits: Limits, egress: EgressPolicy) -> Result<Self> {
        let engine = build_engine(&limits)?;
        let linker = build_linker(&engine)?;
        let egress = Arc::new(egress);
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(PolicyResolver {
                policy: Arc::clone(&egress),
            }))
            .connect_timeout(limits.request_timeout)
            .timeout(limits.request_timeout)
            .tcp_nodelay(true)
            .user_agent(concat!("grantbox/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Engine(format!("HTTP client: {e}")))?;
        let ticker = EpochTicker::start(engine.clone(), limits.epoch_tick);
        Ok(Self {
            permits: Arc::new(Semaphore::new(limits.max_concurrent_calls as usize)),
            engine,
            linker,
            limits,
            http,
            egress,
            metrics: Arc::new(crate::metrics::Metrics::new()),
            _ticker: ticker,
        })
    }
}

fn build_engine(limits: &Limits) -> Result<Engine> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config.max_wasm_stack(limits.max_stack_bytes);
    // Host futures (HTTP requests) are polled on the fiber stack too: keep ample room.
    config.async_stack_size(limits.max_stack_bytes + 2 * 1024 * 1024);
    config.memory_init_cow(true);
    // Wasmtime unwinds its own traps and carries host panics across wasm frames itself;
    // native unwind tables only help external profilers, and registering them makes
    // loading a cached plugin several times slower.
    config.native_unwind_info(false);
    // Reserve only what a plugin may use, so a large pool costs little address space.
    config.memory_reservation(limits.max_memory_bytes);
    config.memory_guard_size(2 * 1024 * 1024);

    let n = limits.max_concurrent_calls.max(1);
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(n)
        .total_core_instances(n * 24)
        .total_memories(n * 4)
        .total_tables(n * 24)
        .total_stacks(n)
        .max_memory_size(limits.max_memory_bytes as usize)
        .max_core_instances_per_component(24)
        .max_memories_per_component(4)
        .max_tables_per_component(24)
        // Reset a used slot by rewriting only its dirty pages (PAGEMAP_SCAN on Linux 6.7+,
        // else memset of the low pages) instead of `madvise`, whose TLB shootdowns cost
        // more than a whole plugin call.
        .linear_memory_keep_resident(4 * 1024 * 1024)
        .table_keep_resident(64 * 1024)
        .pagemap_scan(wasmtime::Enabled::Auto);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config).map_err(|e| Error::Engine(format!("{e:#}")))
}

struct HasIo;

impl HasData for HasIo {
    type Data<'a> = &'a mut ResourceTable;
}

fn build_linker(engine: &Engine) -> Result<Linker<CallState>> {
    let mut linker = Linker::new(engine);
    link(&mut linker).map_err(|e| Error::Engine(format!("linking host interfaces: {e:#}")))?;
    Ok(linker)
}

fn link(l: &mut Linker<CallState>) -> wasmtime::Result<()> {
    use wasmtime_wasi::cli::WasiCli;
    use wasmtime_wasi::clocks::WasiClocks;
    use wasmtime_wasi::p2::bindings::{cli, clocks, io, random};
    use wasmtime_wasi::random::WasiRandom;
    use wasmtime_wasi::{WasiView, cli::WasiCliView, clocks::WasiClocksView};

    io::error::add_to_linker::<CallState, HasIo>(l, |t| &mut t.table)?;
    io::poll::add_to_linker::<CallState, HasIo>(l, |t| &mut t.table)?;
    io::streams::add_to_linker::<CallState, HasIo>(l, |t| &mut t.table)?;

    cli::exit::add_to_linker::<CallState, WasiCli>(l, CallState::cli)?;
    cli::environment::add_to_linker::<CallState, WasiCli>(l, CallState::cli)?;
    cli::stdin::add_to_linker::<CallState, WasiCli>(l, CallState::cli)?;
    cli::stdout::add_to_linker::<CallState, WasiCli>(l, CallState::cli)?;
    cli::stderr::add_to_linker::<CallState, WasiCli>(l, CallState::cli)?;
    cli::terminal_input::add_to_linker::<CallState, WasiCli>(l, CallState::cli)?;
    cli::terminal_output::add_to_linker::<CallState, WasiCli>(l, CallState::cli)?;
    cli::terminal_stdin::add_to_linker::<CallState, WasiCli>(l, CallState::cli)?;
    cli::terminal_stdout::add_to_linker::<CallState, WasiCli>(l, CallState::cli)?;
    cli::terminal_stderr::add_to_linker::<CallState, WasiCli>(l, CallState::cli)?;

    clocks::wall_clock::add_to_linker::<CallState, WasiClocks>(l, CallState::clocks)?;
    clocks::monotonic_clock::add_to_linker::<CallState, WasiClocks>(l, CallState::clocks)?;

    random::random::add_to_linker::<CallState, WasiRandom>(l, |t| t.ctx().ctx.random())?;
    random::insecure::add_to_linker::<CallState, WasiRandom>(l, |t| t.ctx().ctx.random())?;
    random::insecure_seed::add_to_linker::<CallState, WasiRandom>(l, |t| t.ctx().ctx.random())?;

    bindings::Provider::add_to_linker::<CallState, wasmtime::component::HasSelf<CallState>>(
        l,
        |t| t,
    )?;
    Ok(())
}

/// Increments the engine's epoch at a fixed interval, from a thread, until dropped.
struct EpochTicker {
    stop: Arc<AtomicBool>,
}

impl EpochTicker {
    fn start(engine: Engine, tick: std::time::Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let spawned = thread::Builder::new()
            .name("grantbox-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    thread::sleep(tick);
                    engine.increment_epoch();
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "could not start the epoch thread; CPU limits will not be enforced");
        }
        Self { stop }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
