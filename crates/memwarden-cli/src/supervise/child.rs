//! Starting the command: its own process group (so the tree can be found and stopped as one),
//! a death signal (it dies if memwarden dies), its cgroup joined *before* it executes (so not
//! one allocation escapes the group), the terminal handed to it when memwarden had it, and
//! memwarden's raised descriptor limit given back.

use std::ffi::OsString;
use std::io;
use std::os::fd::RawFd;
use std::os::unix::process::CommandExt;
use std::process::Command;

use crate::exit;

/// How the command could not be started, with the exit status that reports it.
#[derive(Debug)]
pub struct SpawnError {
    /// 126 (not executable) or 127 (not found), or 125 for anything else.
    pub status: u8,
    /// What went wrong, for the user.
    pub message: String,
}

/// What the child must do between fork and exec.
#[derive(Debug, Clone, Copy)]
pub struct ChildSetup {
    /// Write "0" here to join the run's cgroup.
    pub cgroup_procs: Option<RawFd>,
    /// Take the terminal's foreground (memwarden had it).
    pub take_terminal: bool,
    /// The soft descriptor limit to restore (memwarden raised its own).
    pub nofile_soft: Option<u64>,
}

/// Whether memwarden is the terminal's foreground job (then the command should be).
pub fn owns_terminal() -> bool {
    // SAFETY: plain queries on fd 0, no memory involved.
    unsafe { libc::isatty(0) == 1 && libc::tcgetpgrp(0) == libc::getpgrp() }
}

/// Gives the terminal back to memwarden's group after the command ended.
pub fn reclaim_terminal() {
    // SAFETY: SIGTTOU is ignored first, so a background memwarden may set the foreground group.
    unsafe {
        libc::signal(libc::SIGTTOU, libc::SIG_IGN);
        libc::tcsetpgrp(0, libc::getpgrp());
    }
}

/// Starts `argv` with inherited stdin, stdout and stderr, and `env` added to memwarden's
/// environment; returns its PID.
pub fn spawn(
    argv: &[OsString],
    env: &[(OsString, OsString)],
    setup: ChildSetup,
) -> Result<u32, SpawnError> {
    let (program, args) = argv.split_first().ok_or_else(|| SpawnError {
        status: exit::USAGE,
        message: "no command given".into(),
    })?;
    let parent = std::process::id() as libc::pid_t;
    let mut command = Command::new(program);
    command.args(args).envs(env.iter().map(|(k, v)| (k, v)));
    // SAFETY: the closure runs in the forked child before exec and only makes
    // async-signal-safe system calls; it allocates nothing.
    unsafe {
        command.pre_exec(move || {
            if libc::setpgid(0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            if let Some(fd) = setup.cgroup_procs {
                if libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                    return Err(io::Error::last_os_error());
                }
            }
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                return Err(io::Error::last_os_error());
            }
            // memwarden may have died before the death signal was armed.
            if libc::getppid() != parent {
                libc::_exit(exit::INTERNAL as i32);
            }
            if setup.take_terminal {
                libc::signal(libc::SIGTTOU, libc::SIG_IGN);
                libc::tcsetpgrp(0, libc::getpid());
                libc::signal(libc::SIGTTOU, libc::SIG_DFL);
            }
            if let Some(soft) = setup.nofile_soft {
                let mut lim = libc::rlimit {
                    rlim_cur: 0,
                    rlim_max: 0,
                };
                if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
                    lim.rlim_cur = soft as libc::rlim_t;
                    libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
                }
            }
            Ok(())
        });
    }
    match command.spawn() {
        Ok(child) => Ok(child.id()),
        Err(e) => {
            let name = program.to_string_lossy();
            Err(match e.raw_os_error() {
                Some(libc::ENOENT) => SpawnError {
                    status: exit::NOT_FOUND,
                    message: format!("{name}: command not found"),
                },
                Some(libc::EACCES) | Some(libc::ENOEXEC) | Some(libc::EISDIR)
                | Some(libc::EPERM) => SpawnError {
                    status: exit::NOT_EXECUTABLE,
                    message: format!("{name}: cannot execute: {e}"),
                },
                _ => SpawnError {
                    status: exit::INTERNAL,
                    message: format!("{name}: cannot start: {e}"),
                },
            })
        }
    }
}

/// Raises memwarden's soft descriptor limit to the hard one (a held `statm` per process) and
/// returns the old soft limit, for the command to get back.
pub fn raise_nofile() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit on a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 || lim.rlim_cur >= lim.rlim_max {
            return None;
        }
        #[allow(clippy::unnecessary_cast)] // rlim_t is not u64 everywhere
        let old = lim.rlim_cur as u64;
        lim.rlim_cur = lim.rlim_max;
        (libc::setrlimit(libc::RLIMIT_NOFILE, &lim) == 0).then_some(old)
    }
}
