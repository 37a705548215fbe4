//! A network namespace for tests that run rollcall the way a pod does: its own loopback, its own
//! `/etc/resolv.conf` (`ip netns exec` bind-mounts `/etc/netns/<name>/resolv.conf` over it),
//! optionally a veth pair to the host. Needs root; [`Netns::create`] says why it cannot, and the
//! test then skips loudly. Everything (server process, veth, namespace, /etc/netns entry) is
//! removed on drop, also when the test panics.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Child, Command, Output};

pub struct Netns {
    pub name: String,
    etc: PathBuf,
    /// A process started in the namespace; killed on drop.
    pub server: Option<Child>,
    /// The host end of the veth pair, deleted on drop.
    host_veth: Option<String>,
}

/// The addresses of a veth pair between the host and a namespace.
#[derive(Debug, Clone, Copy)]
pub struct Veth {
    pub host: Ipv4Addr,
    pub ns: Ipv4Addr,
}

fn run(args: &[&str]) -> Result<Output, String> {
    Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| format!("cannot run `{}` (install iproute2): {e}", args.join(" ")))
}

fn check(args: &[&str]) -> Result<(), String> {
    let out = run(args)?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Netns {
    /// Creates namespace `rollcall-<tag><pid>` whose /etc/resolv.conf reads `resolv_conf`, with
    /// lo up, or says why it cannot (then the test is skipped, loudly).
    pub fn create(tag: &str, resolv_conf: &str) -> Result<Netns, String> {
        let name = format!("rollcall-{tag}{}", std::process::id());
        let out = run(&["ip", "netns", "add", &name])?;
        if !out.status.success() {
            return Err(format!(
                "`ip netns add` failed (needs root and CAP_SYS_ADMIN): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let etc = PathBuf::from("/etc/netns").join(&name);
        let ns = Netns {
            name,
            etc,
            server: None,
            host_veth: None,
        };
        std::fs::create_dir_all(&ns.etc)
            .map_err(|e| format!("creating {}: {e}", ns.etc.display()))?;
        std::fs::write(ns.etc.join("resolv.conf"), resolv_conf).map_err(|e| e.to_string())?;
        let up = ns.exec(&["ip", "link", "set", "lo", "up"]);
        if !up.status.success() {
            return Err(format!(
                "cannot bring lo up: {}",
                String::from_utf8_lossy(&up.stderr)
            ));
        }
        Ok(ns)
    }

    /// Connects the namespace to the host with a veth pair on the `slot`th /30 of
    /// 10.253.`n`.0/24 (slot < 64): the host end is its first address, the namespace end the
    /// second (slot 0: .1 and .2). Tests that run at the same time use different slots, so
    /// their interfaces and addresses never collide.
    pub fn add_veth(&mut self, n: u8, slot: u8) -> Result<Veth, String> {
        assert!(slot < 64, "slot {slot}: a /24 holds 64 /30s");
        let pid = std::process::id();
        let host = format!("rcv{pid}s{slot}h");
        let peer = format!("rcv{pid}s{slot}n");
        check(&[
            "ip", "link", "add", &host, "type", "veth", "peer", "name", &peer,
        ])?;
        self.host_veth = Some(host.clone());
        check(&["ip", "link", "set", &peer, "netns", &self.name])?;
        let veth = Veth {
            host: Ipv4Addr::new(10, 253, n, slot * 4 + 1),
            ns: Ipv4Addr::new(10, 253, n, slot * 4 + 2),
        };
        check(&[
            "ip",
            "addr",
            "add",
            &format!("{}/30", veth.host),
            "dev",
            &host,
        ])?;
        check(&["ip", "link", "set", &host, "up"])?;
        let in_ns = |args: &[&str]| {
            let out = self.exec(args);
            if out.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "`{}` in {} failed: {}",
                    args.join(" "),
                    self.name,
                    String::from_utf8_lossy(&out.stderr).trim()
                ))
            }
        };
        in_ns(&[
            "ip",
            "addr",
            "add",
            &format!("{}/30", veth.ns),
            "dev",
            &peer,
        ])?;
        in_ns(&["ip", "link", "set", &peer, "up"])?;
        Ok(veth)
    }

    /// `ip netns exec NAME args…`, waiting for it.
    pub fn exec(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("ip netns exec")
    }

    /// `sh -c SCRIPT` in the namespace, in a mount namespace of its own (`unshare --mount
    /// --propagation private`): the script may mount over /run or /var/run as kubelet does for
    /// a pod, and the host never sees it.
    pub fn mount_ns_command(&self, script: &str) -> Command {
        self.command(&[
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            script,
        ])
    }

    /// `ip netns exec NAME args…`, to spawn or run.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name]).args(args);
        cmd
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Some(mut child) = self.server.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(host) = self.host_veth.take() {
            let _ = Command::new("ip").args(["link", "del", &host]).output();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
        let _ = std::fs::remove_dir_all(&self.etc);
    }
}
