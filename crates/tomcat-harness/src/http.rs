//! HTTP requests to the stock nodes of a test, and the answers of the session test webapp
//! (`tests/webapp`: `s.jsp` for session operations, `peek.jsp` for a read-only view of a node's
//! sessions).
//!
//! The nodes listen on 127.0.0.1 inside the test's network namespace, which the test process is
//! not in, so each request is one `curl` run in the namespace ([`NetNs::command`]). Proxies from
//! the environment are ignored: every request goes to 127.0.0.1 in the namespace, nowhere else.

use std::collections::BTreeMap;

use crate::netns::NetNs;

/// The session cookie Tomcat sets.
pub const SESSION_COOKIE: &str = "JSESSIONID";

/// One HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// Header names as sent, in order.
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// The value of a `Set-Cookie: JSESSIONID=...` in the answer, if there was one.
    pub session_cookie: Option<String>,
}

impl Response {
    /// The value of the first body line `key=value`.
    pub fn field(&self, key: &str) -> Option<&str> {
        self.fields(key).next()
    }

    /// The values of every body line `key=value`, in order.
    pub fn fields<'a>(&'a self, key: &str) -> impl Iterator<Item = &'a str> + 'a {
        let prefix = format!("{key}=");
        self.body.lines().filter_map(move |l| l.strip_prefix(prefix.as_str()))
    }

    /// Whether the body has the line `line` (markers such as `no-session`).
    pub fn has_line(&self, line: &str) -> bool {
        self.body.lines().any(|l| l == line)
    }

    /// The request's session as `s.jsp` reports it (`session=` line), `None` for `-`.
    pub fn session_id(&self) -> Option<&str> {
        self.field("session").filter(|s| *s != "-")
    }

    /// `s.jsp`'s `new=` line.
    pub fn is_new(&self) -> Option<bool> {
        self.field("new").map(|v| v == "true")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// `GET http://127.0.0.1:PORT{path_and_query}` inside `ns`, with `Cookie: JSESSIONID=ID` when
/// `session` is given. `Err` when no HTTP answer came (refused, timed out after 20 s).
pub fn get(ns: &NetNs, port: u16, path_and_query: &str, session: Option<&str>) -> Result<Response, String> {
    let url = format!("http://127.0.0.1:{port}{path_and_query}");
    let mut command = ns.command("curl");
    command.args(["--silent", "--show-error", "--include", "--globoff", "--noproxy", "*", "--max-time", "20"]);
    if let Some(id) = session {
        command.arg("--header").arg(format!("Cookie: {SESSION_COOKIE}={id}"));
    }
    command.arg(&url);
    let out = command.output().map_err(|e| format!("cannot run curl in the namespace: {e}"))?;
    if !out.status.success() {
        return Err(format!("GET {url}: curl {}: {}", out.status, String::from_utf8_lossy(&out.stderr).trim()));
    }
    parse_response(&out.stdout).map_err(|e| format!("GET {url}: {e}"))
}

/// Splits curl's `--include` output into status, headers and body.
fn parse_response(raw: &[u8]) -> Result<Response, String> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("no end of headers in {:?}", text.chars().take(200).collect::<String>()))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let headers: Vec<(String, String)> =
        lines.filter_map(|l| l.split_once(':')).map(|(n, v)| (n.trim().to_string(), v.trim().to_string())).collect();
    let session_cookie = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
        .filter_map(|(_, v)| v.split(';').next()?.trim().strip_prefix(SESSION_COOKIE)?.strip_prefix('='))
        .next_back()
        .map(str::to_string);
    Ok(Response { status, headers, body: body.to_string(), session_cookie })
}

/// A browser with one session cookie, used against any node of the test (as behind a load
/// balancer): sends the cookie it has and keeps the one each answer sets.
pub struct SessionClient<'a> {
    ns: &'a NetNs,
    session: Option<String>,
}

impl<'a> SessionClient<'a> {
    /// A client without a session.
    pub fn new(ns: &'a NetNs) -> Self {
        SessionClient { ns, session: None }
    }

    /// `GET` with the current cookie; a `Set-Cookie: JSESSIONID` in the answer replaces it (an
    /// empty value removes it).
    pub fn get(&mut self, port: u16, path_and_query: &str) -> Result<Response, String> {
        let response = get(self.ns, port, path_and_query, self.session.as_deref())?;
        if let Some(id) = &response.session_cookie {
            self.session = (!id.is_empty()).then(|| id.clone());
        }
        Ok(response)
    }

    /// `GET {context}/s.jsp?{query}`, e.g. `client.op(18081, "/app", "op=counter")`.
    pub fn op(&mut self, port: u16, context: &str, query: &str) -> Result<Response, String> {
        self.get(port, &op_path(context, query))
    }

    /// The cookie value this client sends (`ID.jvmRoute`).
    pub fn session_id(&self) -> Option<&str> {
        self.session.as_deref()
    }

    /// Sends `id` from now on (`None`: no cookie).
    pub fn set_session_id(&mut self, id: Option<&str>) {
        self.session = id.map(str::to_string);
    }
}

/// The path of `s.jsp` in `context` with `query`: `/app/s.jsp?op=counter`.
pub fn op_path(context: &str, query: &str) -> String {
    format!("{}/s.jsp?{query}", context.trim_end_matches('/'))
}

/// One session as `peek.jsp` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeekSession {
    /// The full id, with the jvmRoute of the node that created it (`ID.node1`).
    pub id: String,
    /// `false` for a session this node holds as a backup (received by replication).
    pub primary: bool,
    pub is_new: bool,
    /// `false` when the session was being expired when looked at (no other field is known).
    pub valid: bool,
    pub attributes: BTreeMap<String, PeekAttribute>,
}

/// One attribute as `peek.jsp` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeekAttribute {
    /// The value's Java class, `java.lang.String`.
    pub class: String,
    /// The length of `String.valueOf(value)`.
    pub length: usize,
    /// `String.valueOf(value)`, cut to 200 chars unless `full`, with `\` and newlines escaped.
    pub value: String,
}

/// Every session the node on `port` holds for `context` (primary and backup), read from its
/// Manager without touching any of them (no cookie is sent, no session is accessed, nothing is
/// replicated). Sorted by id.
pub fn peek(ns: &NetNs, port: u16, context: &str) -> Result<Vec<PeekSession>, String> {
    peek_path(ns, port, &format!("{}/peek.jsp", context.trim_end_matches('/')))
}

/// As [`peek`], with whole values (`full=true`) and only session `id` when given.
pub fn peek_with(
    ns: &NetNs,
    port: u16,
    context: &str,
    id: Option<&str>,
    full: bool,
) -> Result<Vec<PeekSession>, String> {
    let mut path = format!("{}/peek.jsp?full={full}", context.trim_end_matches('/'));
    if let Some(id) = id {
        path.push_str("&id=");
        path.push_str(id);
    }
    peek_path(ns, port, &path)
}

fn peek_path(ns: &NetNs, port: u16, path: &str) -> Result<Vec<PeekSession>, String> {
    let response = get(ns, port, path, None)?;
    if response.status != 200 {
        return Err(format!("GET {path} on port {port}: status {}: {}", response.status, response.body));
    }
    parse_peek(&response.body).map_err(|e| format!("GET {path} on port {port}: {e}"))
}

/// Reads `peek.jsp`'s answer (format in its header).
pub fn parse_peek(body: &str) -> Result<Vec<PeekSession>, String> {
    let mut lines = body.lines();
    let count: usize = lines
        .next()
        .and_then(|l| l.strip_prefix("sessions="))
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("no sessions= line in {body:?}"))?;
    let mut sessions: Vec<PeekSession> = Vec::with_capacity(count);
    for line in lines {
        if let Some(rest) = line.strip_prefix("session=") {
            let mut words = rest.split(' ');
            let id = words.next().unwrap_or_default().to_string();
            let flags: BTreeMap<&str, &str> = words.filter_map(|w| w.split_once('=')).collect();
            let flag = |name: &str| flags.get(name).is_some_and(|v| *v == "true");
            sessions.push(PeekSession {
                id,
                primary: flag("primary"),
                is_new: flag("new"),
                valid: flag("valid"),
                attributes: BTreeMap::new(),
            });
        } else if let Some(rest) = line.strip_prefix("attr=") {
            let mut parts = rest.splitn(5, ' ');
            let (Some(id), Some(name), Some(class), Some(length), value) =
                (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Err(format!("bad attribute line {line:?}"));
            };
            let session = sessions
                .last_mut()
                .filter(|s| s.id == id)
                .ok_or_else(|| format!("attribute line {line:?} outside its session"))?;
            let length = length.parse().map_err(|_| format!("bad length in {line:?}"))?;
            let attribute =
                PeekAttribute { class: class.to_string(), length, value: value.unwrap_or_default().to_string() };
            session.attributes.insert(name.to_string(), attribute);
        } else if !line.is_empty() {
            return Err(format!("unexpected line {line:?}"));
        }
    }
    if sessions.len() != count {
        return Err(format!("sessions={count} but {} listed", sessions.len()));
    }
    Ok(sessions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_curl_answer_splits_into_status_headers_body_and_session_cookie() {
        let raw = b"HTTP/1.1 200 \r\nSet-Cookie: JSESSIONID=ABC.node1; Path=/app; HttpOnly\r\n\
                    Content-Type: text/plain;charset=UTF-8\r\n\r\nop=set\nsession=ABC.node1\nnew=true\nset=first\n";
        let r = parse_response(raw).unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.session_cookie.as_deref(), Some("ABC.node1"));
        assert_eq!(r.session_id(), Some("ABC.node1"));
        assert_eq!(r.is_new(), Some(true));
        assert_eq!(r.field("set"), Some("first"));
        assert_eq!(r.header("content-type"), Some("text/plain;charset=UTF-8"));
        let none = parse_response(b"HTTP/1.1 404 \r\n\r\n").unwrap();
        assert_eq!((none.status, none.session_cookie, none.body.as_str()), (404, None, ""));
    }

    #[test]
    fn a_peek_answer_lists_sessions_and_attributes() {
        let body = "sessions=2\nsession=A.node1 primary=false new=false valid=true attrs=2\n\
                    attr=A.node1 counter java.lang.Integer 1 3\nattr=A.node1 first java.lang.String 7 a b  c\n\
                    session=B.node1 valid=false\n";
        let s = parse_peek(body).unwrap();
        assert_eq!(s.len(), 2);
        assert!(!s[0].primary && s[0].valid && !s[1].valid);
        assert_eq!(s[0].attributes["first"].value, "a b  c");
        assert_eq!(s[0].attributes["counter"].class, "java.lang.Integer");
        assert!(parse_peek("sessions=1\n").is_err());
        assert!(parse_peek("sessions=0\nattr=X a b 1 c\n").is_err());
    }
}
