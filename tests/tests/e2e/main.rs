//! End-to-end tests: the grantbox host with real plugin components, against provider-like
//! servers over real HTTP on loopback. One binary, one module per topic.

mod azure;
mod conformance;
mod flows;
mod generic;
mod google;
mod hostile;
mod lifecycle;
mod loading;
mod network;
mod providers;
mod reload;
mod service;
