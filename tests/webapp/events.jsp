<%@ page session="false" contentType="text/plain; charset=UTF-8" trimDirectiveWhitespaces="true" import="java.util.*" %><%
// The session events this node's container fired (tribesd.test.EventLog, registered in web.xml;
// tests/webapp-src, compiled by the test harness), one per line, oldest first:
//   created ID | destroyed ID attrs=N:V,... | idChanged OLD NEW | added ID NAME VALUE
//   replaced ID NAME OLD -> NEW | removed ID NAME OLD | bound ID NAME LABEL | unbound ID NAME LABEL
// ?clear=true empties the log after the answer. ?op=bind&name=N&label=L sets a
// tribesd.test.Bound(L) (a HttpSessionBindingListener) as attribute N of the request's session
// (created when needed) and answers "session=ID". ?op=fragile&name=N sets a tribesd.test.Fragile
// (not deserializable in a JVM run with -Dtribesd.test.fragile=true) the same way.
if ("bind".equals(request.getParameter("op"))) {
    HttpSession s = request.getSession(true);
    s.setAttribute(request.getParameter("name"), new tribesd.test.Bound(request.getParameter("label")));
    out.print("session=" + s.getId() + "\n");
    return;
}
if ("fragile".equals(request.getParameter("op"))) {
    HttpSession s = request.getSession(true);
    s.setAttribute(request.getParameter("name"), new tribesd.test.Fragile());
    out.print("session=" + s.getId() + "\n");
    return;
}
StringBuilder r = new StringBuilder();
for (String line : tribesd.test.EventLog.lines("true".equals(request.getParameter("clear")))) {
    r.append(line).append('\n');
}
out.print(r);
%>
