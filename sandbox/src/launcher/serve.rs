//! The init stage's half of [`Mode::Serve`](crate::protocol::Mode::Serve): the bytes the
//! launcher relays from the executor over the socket become the command's standard input.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::process::ChildStdin;

/// Copies the socket's input to `stdin` on a thread of its own until either side closes (the
/// command then sees end of file). The init's main thread goes on reaping.
pub(super) fn relay_stdin(socket: &UnixStream, mut stdin: ChildStdin) -> Result<(), String> {
    let mut input = socket
        .try_clone()
        .map_err(|e| format!("duplicating the control socket for stdin: {e}"))?;
    std::thread::Builder::new()
        .name("stdin-relay".to_string())
        .spawn(move || {
            // A plain read/write loop: `std::io::copy` would splice, which holds back a short
            // line from a socket until more arrives.
            let mut buf = [0u8; 16 << 10];
            loop {
                match input.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if stdin
                            .write_all(&buf[..n])
                            .and_then(|()| stdin.flush())
                            .is_err()
                        {
                            break;
                        }
                    }
                }
            }
        })
        .map_err(|e| format!("starting the stdin relay: {e}"))?;
    Ok(())
}
