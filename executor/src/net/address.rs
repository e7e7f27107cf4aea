//! The address ranges `net.http` refuses unless the grant names that exact address.
//!
//! Private, loopback, link-local, shared (CGNAT), multicast, broadcast, unspecified,
//! benchmarking, documentation, reserved and cloud-metadata addresses; in IPv6 also unique-local,
//! site-local, discard, and every range that embeds an IPv4 address (mapped, compatible, NAT64,
//! 6to4, Teredo), so no IPv4 range is reachable through an IPv6 spelling of it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Host names of cloud metadata services, refused whatever they resolve to.
pub const METADATA_NAMES: &[&str] = &[
    "metadata",
    "metadata.google.internal",
    "metadata.goog",
    "instance-data",
    "instance-data.ec2.internal",
    "metadata.azure.internal",
    "metadata.tencentyun.com",
];

/// Why `ip` is refused, or `None` for an ordinary public address.
pub fn refused_range(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refused_v4(v4),
        IpAddr::V6(v6) => refused_v6(v6),
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], bits: u32) -> bool {
    let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
    (u32::from(ip) & mask) == (u32::from(Ipv4Addr::from(net)) & mask)
}

fn refused_v4(ip: Ipv4Addr) -> Option<&'static str> {
    const RANGES: &[([u8; 4], u32, &str)] = &[
        ([169, 254, 169, 254], 32, "a cloud metadata address"),
        ([100, 100, 100, 200], 32, "a cloud metadata address"),
        ([0, 0, 0, 0], 8, "an unspecified (this-network) address"),
        ([127, 0, 0, 0], 8, "a loopback address"),
        ([10, 0, 0, 0], 8, "a private address"),
        ([172, 16, 0, 0], 12, "a private address"),
        ([192, 168, 0, 0], 16, "a private address"),
        ([100, 64, 0, 0], 10, "a shared (CGNAT) address"),
        ([169, 254, 0, 0], 16, "a link-local address"),
        ([192, 0, 0, 0], 24, "an IETF protocol assignment address"),
        ([192, 0, 2, 0], 24, "a documentation address"),
        ([198, 51, 100, 0], 24, "a documentation address"),
        ([203, 0, 113, 0], 24, "a documentation address"),
        ([198, 18, 0, 0], 15, "a benchmarking address"),
        ([192, 88, 99, 0], 24, "a 6to4 relay address"),
        ([255, 255, 255, 255], 32, "the broadcast address"),
        ([224, 0, 0, 0], 4, "a multicast address"),
        ([240, 0, 0, 0], 4, "a reserved address"),
    ];
    RANGES
        .iter()
        .find(|(net, bits, _)| in_v4(ip, *net, *bits))
        .map(|(_, _, why)| *why)
}

fn in_v6(ip: Ipv6Addr, net: [u16; 8], bits: u32) -> bool {
    let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
    (u128::from(ip) & mask) == (u128::from(Ipv6Addr::from(net)) & mask)
}

fn refused_v6(ip: Ipv6Addr) -> Option<&'static str> {
    const RANGES: &[([u16; 8], u32, &str)] = &[
        (
            [0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254],
            128,
            "a cloud metadata address",
        ),
        ([0, 0, 0, 0, 0, 0, 0, 0], 128, "the unspecified address"),
        ([0, 0, 0, 0, 0, 0, 0, 1], 128, "the loopback address"),
        ([0, 0, 0, 0, 0, 0xffff, 0, 0], 96, "an IPv4-mapped address"),
        ([0, 0, 0, 0, 0, 0, 0, 0], 96, "an IPv4-compatible address"),
        (
            [0x64, 0xff9b, 0, 0, 0, 0, 0, 0],
            96,
            "a NAT64 address (embeds IPv4)",
        ),
        (
            [0x64, 0xff9b, 1, 0, 0, 0, 0, 0],
            48,
            "a local NAT64 address (embeds IPv4)",
        ),
        (
            [0x2002, 0, 0, 0, 0, 0, 0, 0],
            16,
            "a 6to4 address (embeds IPv4)",
        ),
        (
            [0x2001, 0, 0, 0, 0, 0, 0, 0],
            32,
            "a Teredo address (embeds IPv4)",
        ),
        (
            [0x2001, 0x2, 0, 0, 0, 0, 0, 0],
            48,
            "a benchmarking address",
        ),
        (
            [0x2001, 0xdb8, 0, 0, 0, 0, 0, 0],
            32,
            "a documentation address",
        ),
        ([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20, "a documentation address"),
        ([0x2001, 0x10, 0, 0, 0, 0, 0, 0], 28, "an ORCHID address"),
        ([0x100, 0, 0, 0, 0, 0, 0, 0], 64, "a discard-only address"),
        (
            [0xfc00, 0, 0, 0, 0, 0, 0, 0],
            7,
            "a unique-local (private) address",
        ),
        ([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10, "a link-local address"),
        ([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10, "a site-local address"),
        ([0xff00, 0, 0, 0, 0, 0, 0, 0], 8, "a multicast address"),
    ];
    RANGES
        .iter()
        .find(|(net, bits, _)| in_v6(ip, *net, *bits))
        .map(|(_, _, why)| *why)
}

/// Whether a host name is a cloud metadata service, refused by name whatever it resolves to.
pub fn refused_name(name: &str) -> Option<&'static str> {
    METADATA_NAMES
        .contains(&name)
        .then_some("names a cloud metadata service")
}
