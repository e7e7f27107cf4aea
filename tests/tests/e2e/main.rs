//! End-to-end tests: real authority and executor processes on 127.0.0.1, real sled, real gRPC.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod admission_bounds;
mod approval_binding;
mod approvals;
mod attacks;
mod authority;
mod claude_code_hook;
mod context_http;
mod context_retrieve;
mod derived;
mod egress;
mod executor;
mod lifecycle;
mod mcp_front;
mod mcp_gateway;
mod net_http;
mod observability;
mod pinned_trust;
mod process;
mod revocation;
mod sandboxed_run;
mod secrets;
mod shell_exec;
mod support;
mod the_loop;
mod tls;
mod tool_invoke;
mod tool_registry;
