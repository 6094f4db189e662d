//! `tribesd sessions` and `tribesd session ...`: what the running local node holds, and changes
//! made by hand, through its control socket.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{Args, Subcommand, ValueEnum};
use tribes::control::{self, ContextView, Request, Response, ValueSpec};

#[derive(Debug, Args)]
pub struct SocketArg {
    /// The node's control socket [default: $TRIBESD_CONTROL, $XDG_RUNTIME_DIR/tribesd.sock,
    /// /run/tribesd.sock for root, /tmp/tribesd-UID.sock otherwise].
    #[arg(long, value_name = "PATH", global = true)]
    pub control_socket: Option<PathBuf>,
}

impl SocketArg {
    pub fn path(&self) -> PathBuf {
        self.control_socket.clone().unwrap_or_else(control::default_path)
    }
}

#[derive(Debug, Args)]
pub struct SessionsArgs {
    /// Only this context (its manager name: "localhost#/app", "/app", "" for ROOT).
    #[arg(long)]
    pub context: Option<String>,
    /// Print the values of String and primitive-wrapper attributes (never any other class).
    #[arg(long)]
    pub show_values: bool,
    /// One JSON document instead of the table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub socket: SocketArg,
}

#[derive(Debug, Args)]
pub struct SessionArgs {
    #[command(subcommand)]
    pub action: SessionAction,
    #[command(flatten)]
    pub socket: SocketArg,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ValueType {
    /// java.lang.String
    String,
    /// java.lang.Integer
    Int,
    /// java.lang.Long
    Long,
    /// java.lang.Boolean
    Bool,
}

#[derive(Debug, Subcommand)]
pub enum SessionAction {
    /// Set one attribute of a session (replicated to the cluster as a request on this node would).
    Set {
        context: String,
        id: String,
        name: String,
        value: String,
        /// The Java class the value is stored as.
        #[arg(long = "type", value_enum, default_value = "string")]
        value_type: ValueType,
        /// Create the session first when this node does not hold it.
        #[arg(long)]
        create: bool,
    },
    /// Remove one attribute.
    Remove { context: String, id: String, name: String },
    /// Create a session (replicated with EVT_SESSION_CREATED); --count N creates ID-1 .. ID-N.
    Create {
        context: String,
        id: String,
        #[arg(long, default_value_t = 1)]
        count: u32,
        /// maxInactiveInterval in seconds [default: the node's --session-timeout].
        #[arg(long, value_name = "SECONDS")]
        max_inactive: Option<i32>,
        /// Also set a String attribute "a0" of this many characters in each session (the test
        /// webapp's op=bulk&n=1&size=N&prefix=a value), for benchmarks.
        #[arg(long, value_name = "CHARS")]
        value_size: Option<u32>,
    },
    /// Invalidate a session (EVT_SESSION_EXPIRED to the cluster).
    Invalidate { context: String, id: String },
    /// Change a session's id (EVT_CHANGE_SESSION_ID to the cluster).
    Rename { context: String, id: String, new_id: String },
}

const TIMEOUT: Duration = Duration::from_secs(30);

pub fn run_sessions(args: &SessionsArgs) -> ExitCode {
    let path = args.socket.path();
    let request = Request::Sessions { context: args.context.clone(), show_values: args.show_values };
    let contexts = match control::request(&path, &request, TIMEOUT) {
        Ok(Response::Sessions(c)) => c,
        Ok(Response::Error(e)) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
        Ok(other) => {
            eprintln!("error: unexpected answer {other:?}");
            return ExitCode::from(1);
        }
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
    let out = if args.json { json(&contexts, now) } else { table(&contexts, now) };
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(out.as_bytes());
    ExitCode::SUCCESS
}

fn json(contexts: &[ContextView], now: i64) -> String {
    let v: Vec<serde_json::Value> = contexts
        .iter()
        .map(|c| {
            serde_json::json!({
                "context": c.name,
                "sessions": c.sessions.iter().map(|s| serde_json::json!({
                    "id": s.id,
                    "creation_time": s.creation_time,
                    "last_accessed_time": s.last_accessed_time,
                    "age_ms": now - s.creation_time,
                    "idle_ms": now - s.last_accessed_time,
                    "max_inactive_interval": s.max_inactive_interval,
                    "is_new": s.is_new,
                    "primary": s.primary,
                    "principal_class": s.principal_class,
                    "auth_type": s.auth_type,
                    "attributes": s.attributes.iter().map(|a| {
                        let mut o = serde_json::json!({"name": a.name, "class": a.class_name, "size": a.size});
                        if let Some(v) = &a.value {
                            o["value"] = serde_json::Value::String(v.clone());
                        }
                        o
                    }).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let mut s = serde_json::to_string_pretty(&serde_json::json!({ "contexts": v })).unwrap_or_default();
    s.push('\n');
    s
}

fn table(contexts: &[ContextView], now: i64) -> String {
    let mut out = String::new();
    if contexts.is_empty() {
        out.push_str("no contexts held (start tribesd run with --context NAME)\n");
    }
    for c in contexts {
        let shown = if c.name.is_empty() { "\"\" (ROOT)".to_string() } else { c.name.clone() };
        out.push_str(&format!("context {shown}: {} session(s)\n", c.sessions.len()));
        for s in &c.sessions {
            out.push_str(&format!(
                "  {}  age {}  idle {}  max {}s{}{}\n",
                s.id,
                human(now - s.creation_time),
                human(now - s.last_accessed_time),
                s.max_inactive_interval,
                if s.primary { "  primary" } else { "  replica" },
                s.auth_type.as_deref().map(|a| format!("  auth {a}")).unwrap_or_default(),
            ));
            for a in &s.attributes {
                match &a.value {
                    Some(v) => out.push_str(&format!("    {} = {v}  ({}, {} B)\n", a.name, a.class_name, a.size)),
                    None => out.push_str(&format!("    {}  ({}, {} B)\n", a.name, a.class_name, a.size)),
                }
            }
        }
    }
    out
}

fn human(ms: i64) -> String {
    let secs = ms.max(0) / 1000;
    humantime::format_duration(Duration::from_secs(secs as u64)).to_string()
}

pub fn run_session(args: &SessionArgs) -> ExitCode {
    let request = match &args.action {
        SessionAction::Set { context, id, name, value, value_type, create } => {
            let value = match parse_value(value, *value_type) {
                Ok(v) => v,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            Request::Set { context: context.clone(), id: id.clone(), name: name.clone(), value, create: *create }
        }
        SessionAction::Remove { context, id, name } => {
            Request::Remove { context: context.clone(), id: id.clone(), name: name.clone() }
        }
        SessionAction::Create { context, id, count, max_inactive, value_size } => Request::Create {
            context: context.clone(),
            id: id.clone(),
            count: *count,
            max_inactive_interval: *max_inactive,
            value_size: *value_size,
        },
        SessionAction::Invalidate { context, id } => Request::Invalidate { context: context.clone(), id: id.clone() },
        SessionAction::Rename { context, id, new_id } => {
            Request::ChangeId { context: context.clone(), id: id.clone(), new_id: new_id.clone() }
        }
    };
    match control::request(&args.socket.path(), &request, TIMEOUT) {
        Ok(Response::Done) => ExitCode::SUCCESS,
        Ok(Response::Error(e)) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
        Ok(other) => {
            eprintln!("error: unexpected answer {other:?}");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

fn parse_value(value: &str, t: ValueType) -> Result<ValueSpec, String> {
    Ok(match t {
        ValueType::String => ValueSpec::String(value.to_string()),
        ValueType::Int => {
            ValueSpec::Int(value.parse().map_err(|_| format!("--type int: \"{value}\" is not a 32-bit integer"))?)
        }
        ValueType::Long => {
            ValueSpec::Long(value.parse().map_err(|_| format!("--type long: \"{value}\" is not a 64-bit integer"))?)
        }
        ValueType::Bool => ValueSpec::Bool(match value {
            "true" => true,
            "false" => false,
            _ => return Err(format!("--type bool: \"{value}\" is neither true nor false")),
        }),
    })
}
