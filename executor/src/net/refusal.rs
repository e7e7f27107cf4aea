//! Why a network request was refused: the named check and a message naming the reason.

/// The checks of `net.http`, each a stable name provenance and clients see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetCheck {
    /// The URL is not a plain absolute `http`/`https` URL (userinfo, backslash, fragment, ...).
    Url,
    /// The host is not a plain name or a canonical IP literal (an alternative address spelling).
    Host,
    /// The grant does not name this host and port.
    Destination,
    /// The address (literal or resolved) is in a refused range.
    Address,
    /// The name did not resolve.
    Resolve,
    /// The method is refused, malformed, or not one the grant allows for the destination.
    Method,
    /// The path is outside the prefixes the grant allows for the destination.
    Path,
    /// A request header is refused or malformed.
    Header,
    /// The request body is larger than the executor allows.
    RequestSize,
    /// A redirect left what the grant allows, or there were too many.
    Redirect,
    /// The response is larger than the executor allows.
    ResponseSize,
    /// No complete response within the time allowed.
    Timeout,
    /// The connection (TCP or TLS) could not be made.
    Connect,
    /// The server broke the HTTP exchange.
    Protocol,
}

impl NetCheck {
    /// The check's name, such as `net-address`.
    pub fn as_str(self) -> &'static str {
        match self {
            NetCheck::Url => "net-url",
            NetCheck::Host => "net-host",
            NetCheck::Destination => "net-destination",
            NetCheck::Address => "net-address",
            NetCheck::Resolve => "net-resolve",
            NetCheck::Method => "net-method",
            NetCheck::Path => "net-path",
            NetCheck::Header => "net-header",
            NetCheck::RequestSize => "net-request-size",
            NetCheck::Redirect => "net-redirect",
            NetCheck::ResponseSize => "net-response-size",
            NetCheck::Timeout => "net-timeout",
            NetCheck::Connect => "net-connect",
            NetCheck::Protocol => "net-protocol",
        }
    }

    /// Whether the request itself is malformed (rather than outside the grant or failed).
    pub fn is_malformed(self) -> bool {
        matches!(
            self,
            NetCheck::Url | NetCheck::Header | NetCheck::RequestSize
        )
    }

    /// Whether the refusal is the destination policy's (the grant or the address rules).
    pub fn is_policy(self) -> bool {
        matches!(
            self,
            NetCheck::Host
                | NetCheck::Destination
                | NetCheck::Address
                | NetCheck::Redirect
                | NetCheck::Method
                | NetCheck::Path
        )
    }
}

/// A refused network request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", check.as_str())]
pub struct NetRefusal {
    pub check: NetCheck,
    pub message: String,
}

impl NetRefusal {
    pub fn new(check: NetCheck, message: impl Into<String>) -> Self {
        Self {
            check,
            message: message.into(),
        }
    }
}
