<%@ page session="false" contentType="text/plain; charset=UTF-8" trimDirectiveWhitespaces="true" import="java.util.*" %><%
// The tribesd session interop page: one session operation per request, chosen by ?op=, answered
// as "key=value" lines. Jasper compiles it at runtime, so one source serves javax (9.0) and
// jakarta (10.1, 11.0): HttpSession resolves through the servlet packages Jasper imports itself.
//
// Every answer starts with "op=OP", "session=ID" ("-" when there is none) and, with a session,
// "new=true|false". Then, by op:
//   info                      maxInactive=S, one "attr=NAME CLASS" line per attribute (sorted)
//   counter                   counter=N (Integer attribute "counter", incremented)
//   set&name=N&value=V        set=N (String attribute)
//   get&name=N                value=V, or missing=N
//   remove&name=N             removed=N
//   bulk&n=K&size=B&prefix=P  bulk=K (K String attributes P0..P(K-1) of B chars each), chars=K*B
//   max&interval=S            maxInactive=S
//   changeid                  changed=NEWID (HttpServletRequest.changeSessionId)
//   invalidate                invalidated=ID (never creates a session)
// create=false: do not create a session when the request has none ("no-session" is answered).
String op = request.getParameter("op");
if (op == null) op = "info";
boolean create = !"false".equals(request.getParameter("create")) && !"invalidate".equals(op);
HttpSession s = request.getSession(create);
StringBuilder r = new StringBuilder();
int status = 200;
r.append("op=").append(op).append('\n');
r.append("session=").append(s == null ? "-" : s.getId()).append('\n');
if (s != null) r.append("new=").append(s.isNew()).append('\n');
String name = request.getParameter("name");
if (s == null) {
    r.append("no-session\n");
} else if ("info".equals(op)) {
    r.append("maxInactive=").append(s.getMaxInactiveInterval()).append('\n');
    List<String> names = Collections.list(s.getAttributeNames());
    Collections.sort(names);
    for (String n : names) {
        Object v = s.getAttribute(n);
        r.append("attr=").append(n).append(' ').append(v == null ? "null" : v.getClass().getName()).append('\n');
    }
} else if ("counter".equals(op)) {
    Integer c = (Integer) s.getAttribute("counter");
    c = Integer.valueOf(c == null ? 1 : c.intValue() + 1);
    s.setAttribute("counter", c);
    r.append("counter=").append(c).append('\n');
} else if ("set".equals(op)) {
    String value = request.getParameter("value");
    if (name == null || value == null) {
        status = 400;
        r.append("error=set needs name and value\n");
    } else {
        s.setAttribute(name, value);
        r.append("set=").append(name).append('\n');
    }
} else if ("get".equals(op)) {
    Object v = name == null ? null : s.getAttribute(name);
    if (v == null) r.append("missing=").append(name).append('\n');
    else r.append("value=").append(v).append('\n');
} else if ("remove".equals(op)) {
    s.removeAttribute(name);
    r.append("removed=").append(name).append('\n');
} else if ("bulk".equals(op)) {
    String ns = request.getParameter("n"), bs = request.getParameter("size"), prefix = request.getParameter("prefix");
    int n = ns == null ? 1 : Integer.parseInt(ns);
    int size = bs == null ? 16 : Integer.parseInt(bs);
    if (prefix == null) prefix = "bulk";
    for (int i = 0; i < n; i++) {
        StringBuilder v = new StringBuilder(size);
        for (int j = 0; j < size; j++) v.append((char) ('a' + (i + j) % 26));
        s.setAttribute(prefix + i, v.toString());
    }
    r.append("bulk=").append(n).append('\n').append("chars=").append((long) n * size).append('\n');
} else if ("max".equals(op)) {
    s.setMaxInactiveInterval(Integer.parseInt(request.getParameter("interval")));
    r.append("maxInactive=").append(s.getMaxInactiveInterval()).append('\n');
} else if ("changeid".equals(op)) {
    r.append("changed=").append(request.changeSessionId()).append('\n');
} else if ("invalidate".equals(op)) {
    String id = s.getId();
    s.invalidate();
    r.append("invalidated=").append(id).append('\n');
} else {
    status = 400;
    r.append("error=unknown op\n");
}
response.setStatus(status);
out.print(r);
%>
