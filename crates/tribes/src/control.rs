//! The control socket of a running node: a Unix stream socket on which local tools (`tribesd
//! sessions`, `tribesd session ...`, later the Java bridge in sidecar mode) ask the node what it
//! holds and change sessions by hand.
//!
//! Frames are a 4-byte big-endian length and a bincode 2 body (Rust to Rust only; nothing of it
//! reaches the Tribes wire). One request, one response, any number of times per connection. A
//! frame over [`MAX_FRAME`] or a body that does not decode closes that connection with a log
//! line; the node goes on.

use std::future::Future;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::net::UnixListener;
use tokio::task::JoinHandle;
use tokio_util::codec::{Framed, LengthDelimitedCodec};

/// Largest request or response body (a listing of many sessions is the big one).
pub const MAX_FRAME: usize = 256 << 20;

/// Where the node listens unless told otherwise: `$TRIBESD_CONTROL`, else
/// `$XDG_RUNTIME_DIR/tribesd.sock`, else `/run/tribesd.sock` for root and
/// `/tmp/tribesd-UID.sock` for anyone else.
pub fn default_path() -> PathBuf {
    if let Some(p) = std::env::var_os("TRIBESD_CONTROL").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    if let Some(d) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("tribesd.sock");
    }
    let uid = nix::unistd::getuid();
    if uid.is_root() {
        PathBuf::from("/run/tribesd.sock")
    } else {
        PathBuf::from(format!("/tmp/tribesd-{uid}.sock"))
    }
}

/// A value given on the command line, stored as the Java object of that class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ValueSpec {
    /// `java.lang.String`.
    String(String),
    /// `java.lang.Integer`.
    Int(i32),
    /// `java.lang.Long`.
    Long(i64),
    /// `java.lang.Boolean`.
    Bool(bool),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// The contexts held and their sessions; values only for strings and primitive wrappers, and
    /// only when asked.
    Sessions {
        context: Option<String>,
        show_values: bool,
    },
    /// Create a session (as a request on this node would); `count` > 1 creates `ID-1 .. ID-count`.
    Create {
        context: String,
        id: String,
        count: u32,
        /// Seconds; the node's default (sessionTimeout x 60) when absent.
        max_inactive_interval: Option<i32>,
        /// With `Some(n)`: each session also gets a String attribute `a0` of `n` characters, the
        /// test webapp's `op=bulk&n=1&size=n&prefix=a` value (`'a' + j % 26`).
        value_size: Option<u32>,
    },
    /// Set one attribute (the session is created first when `create` and it is missing).
    Set {
        context: String,
        id: String,
        name: String,
        value: ValueSpec,
        create: bool,
    },
    Remove {
        context: String,
        id: String,
        name: String,
    },
    Invalidate {
        context: String,
        id: String,
    },
    /// Change a session's id (as JvmRouteBinderValve or changeSessionId do).
    ChangeId {
        context: String,
        id: String,
        new_id: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    Sessions(Vec<ContextView>),
    Done,
    Error(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContextView {
    /// The manager name, as Tomcat names it ("localhost#/app", "/app", "" for ROOT).
    pub name: String,
    pub sessions: Vec<SessionView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionView {
    pub id: String,
    pub creation_time: i64,
    pub last_accessed_time: i64,
    pub max_inactive_interval: i32,
    pub is_new: bool,
    /// Changed through this node (else a replica of another node's session).
    pub primary: bool,
    pub principal_class: Option<String>,
    pub auth_type: Option<String>,
    pub attributes: Vec<AttributeView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributeView {
    pub name: String,
    pub class_name: String,
    /// Bytes of the value's own Java stream.
    pub size: usize,
    /// The value as text, for strings and primitive wrappers when values were asked for.
    pub value: Option<String>,
}

/// What answers requests on the node side.
pub trait Handler: Send + Sync + 'static {
    fn handle(&self, request: Request) -> Pin<Box<dyn Future<Output = Response> + Send + '_>>;
}

/// Errors of the client side.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to the control socket {path}: {source} (is `tribesd run` running, with --control-socket {path}?)")]
    Connect { path: String, source: std::io::Error },
    #[error("control socket {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("control socket {path}: {what}")]
    Protocol { path: String, what: String },
}

/// A running control socket; removes its file when stopped.
pub struct ControlServer {
    path: PathBuf,
    task: JoinHandle<()>,
}

impl ControlServer {
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn stop(self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Binds `path` (a stale socket file left by a dead node is replaced; a live one is refused) and
/// serves requests with `handler`.
pub fn serve(path: &Path, handler: Arc<dyn Handler>) -> std::io::Result<ControlServer> {
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                format!("{} is in use by another running node (choose another with --control-socket)", path.display()),
            ));
        }
        std::fs::remove_file(path)?;
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let listener = UnixListener::bind(path)?;
    // Owner only: the socket changes sessions.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    let task = tokio::spawn(async move {
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "control socket accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let handler = handler.clone();
            tokio::spawn(async move {
                let codec = LengthDelimitedCodec::builder().max_frame_length(MAX_FRAME).new_codec();
                let mut framed = Framed::new(stream, codec);
                while let Some(frame) = framed.next().await {
                    let frame = match frame {
                        Ok(f) => f,
                        Err(e) => {
                            tracing::warn!(error = %e, "control socket: bad frame, closing the connection");
                            return;
                        }
                    };
                    let request: Request = match decode(&frame) {
                        Ok(r) => r,
                        Err(e) => {
                            tracing::warn!(error = %e, len = frame.len(), "control socket: undecodable request, closing the connection");
                            return;
                        }
                    };
                    let response = handler.handle(request).await;
                    let body = match encode(&response) {
                        Ok(b) => b,
                        Err(e) => {
                            tracing::warn!(error = %e, "control socket: cannot encode a response");
                            return;
                        }
                    };
                    if framed.send(Bytes::from(body)).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    Ok(ControlServer { path: path.to_path_buf(), task })
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_FRAME>()
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, bincode::error::EncodeError> {
    bincode::serde::encode_to_vec(value, config())
}

fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, bincode::error::DecodeError> {
    let (value, used) = bincode::serde::decode_from_slice(bytes, config())?;
    if used != bytes.len() {
        return Err(bincode::error::DecodeError::OtherString(format!("{} bytes after the value", bytes.len() - used)));
    }
    Ok(value)
}

/// One request to the node at `path`, blocking (for command-line tools).
pub fn request(path: &Path, request: &Request, timeout: Duration) -> Result<Response, ClientError> {
    let p = path.display().to_string();
    let io = |source| ClientError::Io { path: p.clone(), source };
    let mut stream = std::os::unix::net::UnixStream::connect(path)
        .map_err(|source| ClientError::Connect { path: p.clone(), source })?;
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    stream.set_write_timeout(Some(timeout)).map_err(io)?;
    let body = encode(request).map_err(|e| ClientError::Protocol { path: p.clone(), what: e.to_string() })?;
    let len = u32::try_from(body.len())
        .map_err(|_| ClientError::Protocol { path: p.clone(), what: "request too large".into() })?;
    stream.write_all(&len.to_be_bytes()).map_err(io)?;
    stream.write_all(&body).map_err(io)?;
    let mut head = [0u8; 4];
    stream.read_exact(&mut head).map_err(io)?;
    let len = u32::from_be_bytes(head) as usize;
    if len > MAX_FRAME {
        return Err(ClientError::Protocol {
            path: p,
            what: format!("response of {len} bytes is over the {MAX_FRAME} byte cap"),
        });
    }
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).map_err(io)?;
    decode(&body).map_err(|e| ClientError::Protocol { path: p, what: format!("undecodable response: {e}") })
}

/// Answers requests from a node's [`crate::session::SessionService`].
pub struct SessionsHandler {
    pub service: Arc<crate::session::SessionService>,
}

impl SessionsHandler {
    fn list(&self, context: Option<&str>, show_values: bool) -> Response {
        let store = self.service.store();
        let names = match context {
            Some(c) if !store.has_context(c) => return Response::Error(unknown_context(c, &store.contexts())),
            Some(c) => vec![c.to_string()],
            None => store.contexts(),
        };
        let views = names
            .into_iter()
            .map(|name| {
                let mut sessions: Vec<SessionView> = store
                    .sessions(&name)
                    .unwrap_or_default()
                    .iter()
                    .map(|s| SessionView {
                        id: s.id.clone(),
                        creation_time: s.creation_time,
                        last_accessed_time: s.last_accessed_time,
                        max_inactive_interval: s.max_inactive_interval,
                        is_new: s.is_new,
                        primary: s.primary,
                        principal_class: s.principal.as_ref().map(|p| p.class_name().to_string()),
                        auth_type: s.auth_type.clone(),
                        attributes: s
                            .attributes
                            .iter()
                            .map(|(n, v)| AttributeView {
                                name: n.clone(),
                                class_name: v.class_name().to_string(),
                                size: v.len(),
                                value: if show_values { v.preview() } else { None },
                            })
                            .collect(),
                    })
                    .collect();
                sessions.sort_by(|a, b| a.id.cmp(&b.id));
                ContextView { name, sessions }
            })
            .collect();
        Response::Sessions(views)
    }

    async fn change(&self, context: &str, id: &str, changes: Vec<crate::session::LocalChange>) -> Response {
        match self.service.apply(context, id, changes).await {
            Ok(()) => Response::Done,
            Err(e) => Response::Error(e.to_string()),
        }
    }
}

fn unknown_context(c: &str, held: &[String]) -> String {
    let held: Vec<String> = held.iter().map(|h| format!("\"{h}\"")).collect();
    format!(
        "this node does not hold context \"{c}\" (held: {})",
        if held.is_empty() { "none; start tribesd run with --context NAME".to_string() } else { held.join(", ") }
    )
}

fn java_value(v: &ValueSpec) -> tribes_proto::session::JavaValue {
    use tribes_proto::session::JavaValue;
    match v {
        ValueSpec::String(s) => JavaValue::string(s),
        ValueSpec::Int(i) => JavaValue::integer(*i),
        ValueSpec::Long(l) => JavaValue::long(*l),
        ValueSpec::Bool(b) => JavaValue::boolean(*b),
    }
}

impl Handler for SessionsHandler {
    fn handle(&self, request: Request) -> Pin<Box<dyn Future<Output = Response> + Send + '_>> {
        use crate::session::LocalChange;
        Box::pin(async move {
            match request {
                Request::Sessions { context, show_values } => self.list(context.as_deref(), show_values),
                Request::Create { context, id, count, max_inactive_interval, value_size } => {
                    let bulk: Option<String> =
                        value_size.map(|n| (0..n).map(|j| char::from(b'a' + (j % 26) as u8)).collect());
                    // A value of its own for each session, as each request makes its own String.
                    let create = || {
                        let mut changes = vec![LocalChange::Create { max_inactive_interval }];
                        if let Some(v) = &bulk {
                            let value = tribes_proto::session::JavaValue::string(v);
                            changes.push(LocalChange::SetAttribute { name: "a0".into(), value });
                        }
                        changes
                    };
                    if count <= 1 {
                        return self.change(&context, &id, create()).await;
                    }
                    for n in 1..=count {
                        let r = self.change(&context, &format!("{id}-{n}"), create()).await;
                        if r != Response::Done {
                            return r;
                        }
                    }
                    Response::Done
                }
                Request::Set { context, id, name, value, create } => {
                    let mut changes = Vec::new();
                    if create && !self.service.store().contains(&context, &id) {
                        changes.push(LocalChange::Create { max_inactive_interval: None });
                    }
                    changes.push(LocalChange::SetAttribute { name, value: java_value(&value) });
                    self.change(&context, &id, changes).await
                }
                Request::Remove { context, id, name } => {
                    self.change(&context, &id, vec![LocalChange::RemoveAttribute { name }]).await
                }
                Request::Invalidate { context, id } => self.change(&context, &id, vec![LocalChange::Invalidate]).await,
                Request::ChangeId { context, id, new_id } => {
                    self.change(&context, &id, vec![LocalChange::ChangeId { new_id }]).await
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Echo;

    impl Handler for Echo {
        fn handle(&self, request: Request) -> Pin<Box<dyn Future<Output = Response> + Send + '_>> {
            Box::pin(async move {
                match request {
                    Request::Sessions { context, .. } => Response::Sessions(vec![ContextView {
                        name: context.unwrap_or_default(),
                        sessions: Vec::new(),
                    }]),
                    Request::Invalidate { id, .. } => Response::Error(format!("no session {id}")),
                    _ => Response::Done,
                }
            })
        }
    }

    fn socket_path(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tribes-control-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("c.sock")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn requests_are_answered_and_garbage_closes_only_its_connection() {
        let path = socket_path("echo");
        let server = serve(&path, Arc::new(Echo)).unwrap();
        // A second node on the same path is refused while the first runs.
        assert_eq!(serve(&path, Arc::new(Echo)).err().unwrap().kind(), std::io::ErrorKind::AddrInUse);
        let p = path.clone();
        let r = tokio::task::spawn_blocking(move || {
            let sessions = request(
                &p,
                &Request::Sessions { context: Some("/app".into()), show_values: false },
                Duration::from_secs(5),
            );
            // Garbage: a frame whose body is not a request. The server closes that connection.
            let mut s = std::os::unix::net::UnixStream::connect(&p).unwrap();
            s.write_all(&[0, 0, 0, 3, 0xff, 0xff, 0xff]).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut buf = [0u8; 1];
            let closed = matches!(s.read(&mut buf), Ok(0));
            // A huge length: closed too, nothing allocated for it.
            let mut s = std::os::unix::net::UnixStream::connect(&p).unwrap();
            s.write_all(&[0xff, 0xff, 0xff, 0xff]).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let closed_huge = matches!(s.read(&mut buf), Ok(0) | Err(_));
            let after =
                request(&p, &Request::Invalidate { context: "/app".into(), id: "X".into() }, Duration::from_secs(5));
            (sessions, closed, closed_huge, after)
        })
        .await
        .unwrap();
        assert_eq!(r.0.unwrap(), Response::Sessions(vec![ContextView { name: "/app".into(), sessions: Vec::new() }]));
        assert!(r.1, "garbage request: connection closed");
        assert!(r.2, "huge length: connection closed");
        assert_eq!(r.3.unwrap(), Response::Error("no session X".into()));
        server.stop();
        assert!(!path.exists());
    }

    #[test]
    fn a_missing_socket_names_its_path() {
        let e = request(
            Path::new("/nonexistent/tribesd.sock"),
            &Request::Sessions { context: None, show_values: false },
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert!(e.to_string().contains("/nonexistent/tribesd.sock"), "{e}");
    }
}
