//! A long-running command in the sandbox whose standard input and output stay open (an MCP
//! server over stdio, say): the same launcher, layers and checks as [`Sandbox::run`], in
//! [`Mode::Serve`], so both launcher stages relay stdin and pass stdout and stderr through.
//!
//! [`Sandbox::serve`] returns once every layer is applied and the command started (or with
//! the reason it was refused: nothing runs with less confinement than required). Dropping the
//! [`ServedCommand`] kills the launcher, which takes the whole namespace down with it.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::process::{Child, ChildStderr, ChildStdout};

use crate::cgroup::CgroupLeaf;
use crate::error::{io_text, SandboxError};
use crate::policy::SandboxPolicy;
use crate::protocol::{Message, Mode};
use crate::run::Sandbox;
use crate::start::Launched;

/// A command started by [`Sandbox::serve`]: its pipes, and the launcher that confines it.
#[derive(Debug)]
pub struct ServedCommand {
    /// The command's standard input (relayed by the launcher's two stages).
    pub stdin: OwnedWriteHalf,
    /// The command's standard output.
    pub stdout: ChildStdout,
    /// The command's standard error.
    pub stderr: ChildStderr,
    /// What ends the command and reports how it ended.
    pub handle: ServedHandle,
}

/// The launcher of a served command; dropping it kills the command's whole tree.
#[derive(Debug)]
pub struct ServedHandle {
    launcher: Child,
    messages: Lines<BufReader<OwnedReadHalf>>,
    _leaf: Option<CgroupLeaf>,
}

impl ServedHandle {
    /// Waits until the command ends; says how (exit code or signal, as the init reported it).
    /// Closing its stdin ends it too: the launcher then kills the namespace.
    pub async fn ended(&mut self) -> String {
        let mut status = None;
        while let Ok(Some(line)) = self.messages.next_line().await {
            match serde_json::from_str::<Message>(&line) {
                Ok(Message::Exited(code)) => status = Some(format!("exited with {code}")),
                Ok(Message::Signaled(signal)) => {
                    status = Some(format!("killed by signal {signal}"))
                }
                Ok(Message::SetupFailed(reason)) => status = Some(format!("failed: {reason}")),
                Ok(Message::InitEnded(code)) if status.is_none() && code < 0 => {
                    status = Some(format!(
                        "stopped: its sandbox was taken down (signal {})",
                        -code
                    ))
                }
                _ => {}
            }
        }
        let _ = self.launcher.wait().await;
        status.unwrap_or_else(|| "ended without a report".to_string())
    }
}

impl Sandbox {
    /// Starts `argv` (no shell) confined by `policy`, with its stdin, stdout and stderr open
    /// to the caller, and no timeout: it runs until it exits or the [`ServedCommand`] is
    /// dropped. Refuses (starting nothing) when the required level is not met or the policy
    /// is invalid; fails when the launcher reports that a layer could not be applied or the
    /// program is missing, or says nothing within `start_timeout`.
    pub async fn serve(
        &self,
        policy: &SandboxPolicy,
        argv: &[String],
        start_timeout: Duration,
    ) -> Result<ServedCommand, SandboxError> {
        let Launched {
            mut child,
            request_line: line,
            control_read: read_half,
            control_write: mut write_half,
            leaf,
        } = self.launch(Mode::Serve, policy, argv)?;
        let io = |e: std::io::Error| SandboxError::Io(io_text(&e));
        let mut messages = BufReader::new(read_half).lines();
        let started = tokio::time::timeout(start_timeout, async {
            write_half.write_all(&line).await.map_err(io)?;
            loop {
                let Some(line) = messages.next_line().await.map_err(io)? else {
                    return Err(SandboxError::Setup(
                        "the launcher ended before the command started".to_string(),
                    ));
                };
                match serde_json::from_str::<Message>(&line) {
                    Ok(Message::Started) => return Ok(()),
                    Ok(Message::SetupFailed(reason)) => return Err(SandboxError::Setup(reason)),
                    Ok(Message::NotFound(program)) => {
                        return Err(SandboxError::ProgramNotFound(program))
                    }
                    Ok(_) => {}
                    Err(_) => {
                        return Err(SandboxError::Setup(
                            "unreadable message from the launcher".to_string(),
                        ))
                    }
                }
            }
        })
        .await;
        match started {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                return Err(SandboxError::Setup(format!(
                    "the command did not start within {} ms",
                    start_timeout.as_millis()
                )))
            }
        }
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            return Err(SandboxError::Io(
                "the launcher's pipes are missing".to_string(),
            ));
        };
        Ok(ServedCommand {
            stdin: write_half,
            stdout,
            stderr,
            handle: ServedHandle {
                launcher: child,
                messages,
                _leaf: leaf,
            },
        })
    }
}
