//! The system-command port: programs run with an argument vector, never through a shell.

use chom_agent_protocol::{AgentError, ErrorCode};
use std::io::Write;
use std::process::{Command, Stdio};

/// What a program printed.
#[derive(Debug, Clone)]
pub struct Output {
    /// Exit status was 0.
    pub success: bool,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Runs system programs.
pub trait Runner {
    /// Runs `program` with `args`, feeding `stdin`.
    ///
    /// # Errors
    /// The program could not be started.
    fn run(&self, program: &str, args: &[&str], stdin: Option<&str>) -> Result<Output, AgentError>;

    /// Runs `program` with `args`, its standard output going straight into `out` (a file the
    /// caller opened safely, so the output never has to pass through a path); `stdout` of the
    /// answer stays empty.
    ///
    /// # Errors
    /// The program could not be started.
    fn run_into_file(
        &self,
        program: &str,
        args: &[&str],
        out: std::fs::File,
    ) -> Result<Output, AgentError>;
}

/// The real machine.
pub struct SystemRunner;

impl Runner for SystemRunner {
    fn run(&self, program: &str, args: &[&str], stdin: Option<&str>) -> Result<Output, AgentError> {
        let mut child = Command::new(program)
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                AgentError::new(
                    ErrorCode::CommandFailed,
                    format!("cannot run {program}: {e}"),
                )
            })?;
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(input.as_bytes()).map_err(|e| {
                AgentError::new(
                    ErrorCode::CommandFailed,
                    format!("cannot feed {program}: {e}"),
                )
            })?;
        }
        let out = child.wait_with_output().map_err(|e| {
            AgentError::new(ErrorCode::CommandFailed, format!("{program} failed: {e}"))
        })?;
        Ok(Output {
            success: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    fn run_into_file(
        &self,
        program: &str,
        args: &[&str],
        out: std::fs::File,
    ) -> Result<Output, AgentError> {
        let done = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| {
                AgentError::new(
                    ErrorCode::CommandFailed,
                    format!("cannot run {program}: {e}"),
                )
            })?;
        Ok(Output {
            success: done.status.success(),
            stdout: String::new(),
            stderr: String::from_utf8_lossy(&done.stderr).into_owned(),
        })
    }
}

/// Runs and requires success.
///
/// # Errors
/// `COMMAND_FAILED` with the program's output.
pub fn must(
    runner: &dyn Runner,
    program: &str,
    args: &[&str],
    stdin: Option<&str>,
) -> Result<Output, AgentError> {
    let out = runner.run(program, args, stdin)?;
    if out.success {
        Ok(out)
    } else {
        Err(AgentError::new(
            ErrorCode::CommandFailed,
            format!(
                "{program} {} failed: {}{}",
                args.join(" "),
                out.stderr.trim(),
                out.stdout.trim()
            ),
        ))
    }
}
