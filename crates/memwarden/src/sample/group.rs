//! What a process is grouped by in the host-wide view: its command's shape, or the systemd
//! unit, container or pod its cgroup says it belongs to. Pure functions of the text `/proc`
//! gives, so every shape is tested without the process.

/// Arguments shaped at most; the rest of a command line reads as one `…`.
const MAX_ARGS: usize = 6;
/// An argument longer than this (a program passed with `-c`, a JSON blob) reads as `…`.
const LONG_ARG: usize = 48;

/// The shape of a command line (`/proc/PID/cmdline`, NUL-separated): the executable's base
/// name, then each argument with every run of digits written `N`, a path by its last
/// component, and an argument with spaces or longer than 48 bytes as `…`; six arguments at
/// most. Processes that differ only in numbers, paths or inline code share a shape, so a
/// program's 69 `python3 -c <code> 8` helpers are one group. A process that rewrote its
/// command line into a title (`nginx: worker process`) is shaped as that title.
///
/// ```
/// use memwarden::sample::group::command_shape;
/// assert_eq!(command_shape(b"/usr/bin/python3\0-c\0import sys\nprint(1)\x008\0"), "python3 -c … N");
/// assert_eq!(command_shape(b"node\0/srv/app/server.js\0--port=8080\0"), "node server.js --port=N");
/// assert_eq!(command_shape(b"sshd: root@pts/3"), "sshd: root@pts/N");
/// ```
pub fn command_shape(cmdline: &[u8]) -> String {
    let cmdline = cmdline.strip_suffix(b"\0").unwrap_or(cmdline);
    let mut words = cmdline.split(|&b| b == 0);
    let Some(first) = words.next().map(String::from_utf8_lossy) else {
        return String::new();
    };
    let mut out = if first.contains(' ') {
        // A title the process wrote over its arguments: numbers in it vary, the rest names it.
        digits_as_n(first.chars().take(2 * LONG_ARG))
    } else {
        last_component(&first).to_string()
    };
    for (shaped, word) in words.enumerate() {
        if shaped == MAX_ARGS {
            push_word(&mut out, "…");
            break;
        }
        push_word(&mut out, &argument_shape(&String::from_utf8_lossy(word)));
    }
    out
}

fn argument_shape(arg: &str) -> String {
    match arg.split_once('=') {
        // `--name=value`: the option is kept, its value shaped.
        Some((name, value)) if name.starts_with('-') && !name.contains(' ') => {
            format!("{name}={}", argument_shape(value))
        }
        _ if arg.len() > LONG_ARG || arg.chars().any(char::is_whitespace) => "…".to_string(),
        _ if arg.contains('/') => digits_as_n(last_component(arg).chars()),
        _ => digits_as_n(arg.chars()),
    }
}

/// Appends `word` after a space, never two `…` in a row.
fn push_word(out: &mut String, word: &str) {
    if word == "…" && out.ends_with('…') {
        return;
    }
    if !out.is_empty() {
        out.push(' ');
    }
    out.push_str(word);
}

fn last_component(path: &str) -> &str {
    let trimmed = path.trim_end_matches('/');
    match trimmed.rsplit('/').next() {
        Some(last) if !last.is_empty() => last,
        _ => path,
    }
}

fn digits_as_n(chars: impl Iterator<Item = char>) -> String {
    let mut out = String::new();
    let mut in_number = false;
    for c in chars {
        if c.is_ascii_digit() {
            if !in_number {
                out.push('N');
            }
            in_number = true;
        } else {
            in_number = false;
            // Control characters never reach a name a terminal will show.
            out.push(if c.is_control() { '?' } else { c });
        }
    }
    out
}

/// What a cgroup path (as `/proc/PID/cgroup` gives it) belongs to: a Kubernetes pod, a
/// container, a systemd unit (the deepest `.service` or `.scope`), a slice, or else the
/// path itself. The name, and the length of the path's prefix that is the group's own
/// directory (its memory limit and usage are read there).
///
/// ```
/// use memwarden::sample::group::cgroup_unit;
/// assert_eq!(cgroup_unit("/system.slice/nginx.service"), ("nginx.service".to_string(), 27));
/// let docker = "/system.slice/docker-4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a.scope";
/// assert_eq!(cgroup_unit(docker).0, "docker:4f3a2b1c0d9e");
/// assert_eq!(cgroup_unit("/").0, "/");
/// ```
pub fn cgroup_unit(path: &str) -> (String, usize) {
    let mut end = 0;
    let mut parent = "";
    let mut unit: Option<(String, usize)> = None;
    let mut slice: Option<(String, usize)> = None;
    for part in path.split('/') {
        if part.is_empty() {
            end += 1;
            continue;
        }
        let start = end;
        end = start + part.len();
        if let Some(pod) = pod_of(part) {
            return (format!("pod:{pod}"), end);
        }
        if let Some(container) = container_of(part, parent) {
            return (container, end);
        }
        if part.ends_with(".service") || part.ends_with(".scope") {
            unit = Some((part.to_string(), end));
        } else if part.ends_with(".slice") {
            slice = Some((part.to_string(), end));
        }
        parent = part;
        end += 1;
    }
    unit.or(slice).unwrap_or_else(|| {
        let trimmed = path.trim_end_matches('/');
        let name = if trimmed.is_empty() { "/" } else { trimmed };
        (name.to_string(), trimmed.len())
    })
}

/// `pod<uid>` (cgroupfs driver) or `kubepods[-qos]-pod<uid>.slice` (systemd driver).
fn pod_of(part: &str) -> Option<String> {
    let uid = if let Some(rest) = part.strip_prefix("kubepods-") {
        let rest = rest.strip_suffix(".slice")?;
        rest.rsplit_once("pod").map(|(_, uid)| uid)?
    } else {
        part.strip_prefix("pod")?
    };
    let looks_like_uid = uid.len() >= 8
        && uid
            .chars()
            .all(|c| c.is_ascii_hexdigit() || c == '-' || c == '_');
    // systemd escapes the uid's dashes as underscores.
    looks_like_uid.then(|| uid.replace('_', "-"))
}

/// A container's cgroup: `docker-<id>.scope`, `cri-containerd-<id>.scope`, `crio-<id>.scope`,
/// `libpod-<id>.scope` (systemd), `<id>` under `docker` or `libpod_parent` (cgroupfs), or LXC's
/// `lxc.payload.<name>` / `lxc/<name>`. Named `runtime:<first 12 of the id>`.
fn container_of(part: &str, parent: &str) -> Option<String> {
    if let Some(name) = part.strip_prefix("lxc.payload.") {
        return Some(format!("lxc:{name}"));
    }
    if parent == "lxc" {
        return Some(format!("lxc:{part}"));
    }
    let scoped = part.strip_suffix(".scope").and_then(|p| {
        ["docker-", "cri-containerd-", "crio-", "libpod-"]
            .iter()
            .find_map(|prefix| Some((prefix.trim_end_matches('-'), p.strip_prefix(prefix)?)))
    });
    let (runtime, id) = match scoped {
        Some(found) => found,
        None if matches!(parent, "docker" | "libpod_parent") => (parent, part),
        None => return None,
    };
    let runtime = runtime.trim_end_matches("_parent");
    let is_id = id.len() >= 12 && id.chars().all(|c| c.is_ascii_hexdigit());
    is_id.then(|| format!("{runtime}:{}", &id[..12]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers_that_differ_in_numbers_and_code_share_a_shape() {
        let a = command_shape(b"/usr/bin/python3\0-c\0\nimport sys\nblock = 1\n\x008\0");
        let b = command_shape(b"/usr/local/bin/python3\0-c\0\nimport os\n\x0016\0");
        assert_eq!(a, "python3 -c … N");
        assert_eq!(a, b);
        assert_ne!(a, command_shape(b"python3\0server.py\0"));
    }

    #[test]
    fn commands_are_shaped_by_paths_options_and_titles() {
        for (cmdline, shape) in [
            (
                &b"java\0-Xmx512m\0-cp\0/opt/a.jar\0Main\0"[..],
                "java -XmxNm -cp a.jar Main",
            ),
            (b"/usr/sbin/nginx\0-g\0daemon off;\0", "nginx -g …"),
            (b"nginx: worker process\0", "nginx: worker process"),
            (
                b"postgres: 14/main: checkpointer",
                "postgres: N/main: checkpointer",
            ),
            (b"a\0b\0c\0d\0e\0f\0g\0h\0i\0", "a b c d e f g …"),
            (
                b"x\0--token=0123456789abcdef0123456789abcdef0123456789abcdef0123\0",
                "x --token=…",
            ),
            (b"bad\0\x1b[31m\0", "bad ?[Nm"),
            (b"", ""),
        ] {
            assert_eq!(command_shape(cmdline), shape, "{cmdline:?}");
        }
    }

    #[test]
    fn cgroups_name_their_unit_container_or_pod() {
        let id = "4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a";
        for (path, name, dir) in [
            ("/system.slice/nginx.service".to_string(), "nginx.service", "/system.slice/nginx.service"),
            // A service's own sub-groups belong to it.
            ("/system.slice/app.service/workers/w1".into(), "app.service", "/system.slice/app.service"),
            // The deepest unit: a user's app inside their manager.
            ("/user.slice/user-1000.slice/user@1000.service/app.slice/app-term.scope".into(),
             "app-term.scope", "/user.slice/user-1000.slice/user@1000.service/app.slice/app-term.scope"),
            ("/user.slice/user-1000.slice".into(), "user-1000.slice", "/user.slice/user-1000.slice"),
            (format!("/docker/{id}"), "docker:4f3a2b1c0d9e", &format!("/docker/{id}")),
            (format!("/system.slice/cri-containerd-{id}.scope"), "cri-containerd:4f3a2b1c0d9e",
             &format!("/system.slice/cri-containerd-{id}.scope")),
            (format!("/kubepods/burstable/pod0a1b2c3d-1111-2222-3333-444455556666/{id}"),
             "pod:0a1b2c3d-1111-2222-3333-444455556666",
             "/kubepods/burstable/pod0a1b2c3d-1111-2222-3333-444455556666"),
            (format!("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0a1b2c3d_1111_2222.slice/cri-containerd-{id}.scope"),
             "pod:0a1b2c3d-1111-2222",
             "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0a1b2c3d_1111_2222.slice"),
            ("/lxc.payload.web/init.scope".into(), "lxc:web", "/lxc.payload.web"),
            ("/process_api/3ede".into(), "/process_api/3ede", "/process_api/3ede"),
            ("/".into(), "/", ""),
        ] {
            let (got, len) = cgroup_unit(&path);
            assert_eq!((got.as_str(), &path[..len]), (name, dir), "{path}");
        }
        // Not ids: ordinary names that happen to start like a runtime's.
        assert_eq!(cgroup_unit("/docker/compose").0, "/docker/compose");
        assert_eq!(cgroup_unit("/podcast.service").0, "podcast.service");
    }
}
