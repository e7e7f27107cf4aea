//! The command's network namespace for egress through the proxy: raises the loopback interface
//! (one `RTM_NEWLINK` request over route netlink, acknowledged) and checks that it is the only
//! interface, so the bridge on `127.0.0.1` is the one way out.

use std::os::fd::AsRawFd;

use nix::sys::socket::{
    recv, sendto, socket, AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType,
};

/// `nlmsghdr` (16 bytes) followed by `ifinfomsg` (16 bytes).
const REQUEST_LEN: usize = 32;
/// Offset of the error code in an `NLMSG_ERROR` answer (after its `nlmsghdr`).
const ERROR_OFFSET: usize = 16;

/// The `RTM_NEWLINK` request that sets `IFF_UP` on interface `index`, asking for an ack.
pub(crate) fn link_up_request(index: u32) -> Result<[u8; REQUEST_LEN], String> {
    let index = i32::try_from(index).map_err(|e| format!("loopback index {index}: {e}"))?;
    let flag = |f: i32| u16::try_from(f).map_err(|e| format!("netlink flag: {e}"));
    let iff_up = u32::try_from(libc::IFF_UP).map_err(|e| format!("IFF_UP: {e}"))?;
    let mut m = [0u8; REQUEST_LEN];
    m[0..4].copy_from_slice(&(REQUEST_LEN as u32).to_ne_bytes());
    m[4..6].copy_from_slice(&libc::RTM_NEWLINK.to_ne_bytes());
    let flags = flag(libc::NLM_F_REQUEST)? | flag(libc::NLM_F_ACK)?;
    m[6..8].copy_from_slice(&flags.to_ne_bytes());
    // Sequence 1; bytes 12..16 (port id 0: the kernel), 16 (AF_UNSPEC), 17 (pad) and 18..20
    // (type) stay zero.
    m[8..12].copy_from_slice(&1u32.to_ne_bytes());
    m[20..24].copy_from_slice(&index.to_ne_bytes());
    m[24..28].copy_from_slice(&iff_up.to_ne_bytes()); // flags
    m[28..32].copy_from_slice(&iff_up.to_ne_bytes()); // change mask
    Ok(m)
}

/// Reads the kernel's acknowledgement: `Ok` for error code 0, the errno otherwise.
pub(crate) fn read_ack(answer: &[u8]) -> Result<(), String> {
    let field = |at: usize| -> Option<[u8; 4]> { answer.get(at..at + 4)?.try_into().ok() };
    let kind = answer
        .get(4..6)
        .and_then(|b| <[u8; 2]>::try_from(b).ok())
        .map(u16::from_ne_bytes);
    let error = field(ERROR_OFFSET).map(i32::from_ne_bytes);
    match (kind, error) {
        (Some(k), Some(0)) if i32::from(k) == libc::NLMSG_ERROR => Ok(()),
        (Some(k), Some(e)) if i32::from(k) == libc::NLMSG_ERROR => Err(format!(
            "raising loopback: {}",
            nix::errno::Errno::from_raw(-e).desc().to_lowercase()
        )),
        _ => Err("raising loopback: unexpected netlink answer".to_string()),
    }
}

/// Raises `lo` in this (fresh) network namespace and checks that no other interface exists.
pub(crate) fn raise_only_loopback() -> Result<(), String> {
    let index = nix::net::if_::if_nametoindex("lo").map_err(|e| format!("finding `lo`: {e}"))?;
    let fd = socket(
        AddressFamily::Netlink,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkRoute,
    )
    .map_err(|e| format!("netlink socket: {e}"))?;
    let request = link_up_request(index)?;
    sendto(
        fd.as_raw_fd(),
        &request,
        &NetlinkAddr::new(0, 0),
        MsgFlags::empty(),
    )
    .map_err(|e| format!("netlink send: {e}"))?;
    let mut answer = [0u8; 1024];
    let n = recv(fd.as_raw_fd(), &mut answer, MsgFlags::empty())
        .map_err(|e| format!("netlink receive: {e}"))?;
    read_ack(&answer[..n])?;
    let interfaces = nix::ifaddrs::getifaddrs().map_err(|e| format!("listing interfaces: {e}"))?;
    let mut others: Vec<String> = interfaces
        .map(|i| i.interface_name)
        .filter(|name| name != "lo")
        .collect();
    others.sort();
    others.dedup();
    if !others.is_empty() {
        return Err(format!(
            "the namespace has interfaces besides loopback: {}",
            others.join(", ")
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_sets_iff_up_on_the_interface_and_asks_for_an_ack() {
        let m = link_up_request(1).unwrap();
        assert_eq!(u32::from_ne_bytes(m[0..4].try_into().unwrap()), 32);
        assert_eq!(u16::from_ne_bytes(m[4..6].try_into().unwrap()), 16); // RTM_NEWLINK
        assert_eq!(u16::from_ne_bytes(m[6..8].try_into().unwrap()), 1 | 4);
        assert_eq!(i32::from_ne_bytes(m[20..24].try_into().unwrap()), 1);
        assert_eq!(u32::from_ne_bytes(m[24..28].try_into().unwrap()), 1);
        assert_eq!(u32::from_ne_bytes(m[28..32].try_into().unwrap()), 1);
    }

    #[test]
    fn an_ack_is_accepted_and_an_error_refused() {
        let mut ack = [0u8; 36];
        ack[4..6].copy_from_slice(&2u16.to_ne_bytes()); // NLMSG_ERROR
        assert_eq!(read_ack(&ack), Ok(()));
        ack[16..20].copy_from_slice(&(-1i32).to_ne_bytes());
        assert_eq!(
            read_ack(&ack),
            Err("raising loopback: operation not permitted".to_string())
        );
        assert!(read_ack(&[0u8; 3]).is_err());
    }
}
