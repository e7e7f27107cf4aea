//! `net.http` and the destination policy every network reach of the executor goes through.
//!
//! [`DestinationPolicy`] turns a grant's `(net.http, HOST[:PORT])` claims into the one answer
//! "may this host and port be reached, and at which checked addresses"; [`Target`] parses a URL
//! strictly (one spelling per address, plain letter-digit-hyphen names only); [`address`] names
//! the ranges refused unless the grant names that exact address; [`exchange`] runs one request
//! with a maintained client (hyper over rustls) on a connection to a checked address, following
//! redirects by hand and re-checking each hop. Nothing here reads the environment: no ambient
//! proxy, no executor credential ever reaches a request.

pub mod address;
mod destination;
mod exchange;
mod headers;
mod refusal;
mod target;

#[cfg(test)]
mod tests;

pub use destination::{DestinationPolicy, Permit};
pub use exchange::{exchange, HttpCall, HttpLimits, HttpOutcome};
pub use headers::{assemble_outgoing_headers, check_agent_headers, check_method};
pub use refusal::{NetCheck, NetRefusal};
pub use target::{parse_host, Host, Scheme, Target};
