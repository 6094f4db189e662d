//! A Java program on stock Tribes, driven line by line over stdin/stdout (tests/java/tribes-peer,
//! tests/java/tribes-bench): it prints `ready port=P id=HEX ...` once listening, then one answer
//! line per command; `quit` ends it. Its stderr (Tomcat's logging) goes to a log file.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::Tomcat;

/// A running Java peer; asked to quit (then killed) when dropped.
pub struct JavaPeer {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
    /// The receiver port it bound.
    pub port: u16,
    /// Its member unique id, as lowercase hex.
    pub id_hex: String,
    /// The whole `ready ...` line (TribesPeer adds `udp=P` there).
    pub ready: String,
    pub log: PathBuf,
    name: String,
}

impl JavaPeer {
    /// Runs `tests/java/SCRIPT TOMCAT_HOME PORT 20` and waits for its `ready` line.
    pub fn start(script: &str, tomcat: &Tomcat, port: u16, log: PathBuf) -> Result<JavaPeer, String> {
        Self::start_with(script, tomcat, port, &[], None, log)
    }

    /// [`JavaPeer::start`] with environment variables (TribesPeer reads its optional features
    /// from them) and, when given, inside a network namespace.
    pub fn start_with(
        script: &str,
        tomcat: &Tomcat,
        port: u16,
        env: &[(&str, &str)],
        ns: Option<&crate::netns::NetNs>,
        log: PathBuf,
    ) -> Result<JavaPeer, String> {
        let root = crate::repo_root();
        std::fs::create_dir_all(log.parent().expect("log has a folder")).map_err(|e| e.to_string())?;
        let mut command = match ns {
            Some(ns) => ns.command("bash"),
            None => Command::new("bash"),
        };
        let mut child = command
            .envs(env.iter().copied())
            .arg(root.join("tests/java").join(script))
            .arg(&tomcat.home)
            .arg(port.to_string())
            .arg("20")
            .current_dir(&root)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).map_err(|e| e.to_string())?)
            .spawn()
            .map_err(|e| format!("cannot start {script}: {e}"))?;
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let name = format!("{script} (Tomcat {})", tomcat.version);
        let mut peer =
            JavaPeer { child, stdin, lines, port: 0, id_hex: String::new(), ready: String::new(), log, name };
        let ready = peer.line(Duration::from_secs(120))?;
        let f = fields(&ready);
        match (ready.starts_with("ready"), f.get("port").and_then(|p| p.parse().ok()), f.get("id")) {
            (true, Some(port), Some(id)) if id.len() == 32 => {
                peer.port = port;
                peer.id_hex = id.clone();
                peer.ready = ready.clone();
                Ok(peer)
            }
            _ => Err(format!("{}: not ready: {ready}\n{}", peer.name, peer.log_text())),
        }
    }

    /// The next line it prints, within `timeout`.
    pub fn line(&mut self, timeout: Duration) -> Result<String, String> {
        self.lines.recv_timeout(timeout).map_err(|e| {
            format!(
                "{} said nothing within {timeout:?} ({e}); log {}:\n{}",
                self.name,
                self.log.display(),
                crate::process::tail(&self.log_text(), 30)
            )
        })
    }

    /// Sends one command line and returns the answer line.
    pub fn cmd(&mut self, command: &str, timeout: Duration) -> Result<String, String> {
        writeln!(self.stdin, "{command}").and_then(|_| self.stdin.flush()).map_err(|e| e.to_string())?;
        self.line(timeout)
    }

    /// Its unique id as 16 bytes.
    pub fn id(&self) -> [u8; 16] {
        let mut id = [0u8; 16];
        for (i, b) in id.iter_mut().enumerate() {
            *b = u8::from_str_radix(&self.id_hex[2 * i..2 * i + 2], 16).expect("hex checked at start");
        }
        id
    }

    /// SIGKILL, as `kill -9`.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for JavaPeer {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "quit");
        let _ = self.stdin.flush();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill9();
    }
}

/// `key=value` tokens of an answer line.
pub fn fields(line: &str) -> std::collections::HashMap<String, String> {
    line.split_whitespace().filter_map(|t| t.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
}
