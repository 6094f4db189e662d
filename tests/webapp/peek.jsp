<%@ page session="false" contentType="text/plain; charset=UTF-8" trimDirectiveWhitespaces="true" import="java.util.*,java.lang.management.ManagementFactory,javax.management.MBeanServer,javax.management.ObjectName,org.apache.catalina.Session,org.apache.catalina.ha.ClusterSession" %><%
// A read-only view of this context's session Manager (DeltaManager), for the interop tests: it
// reads every session the node holds, primary or backup, without accessing one (no request
// session, so neither ReplicationValve nor JvmRouteBinderValve has anything to do). The Manager
// is found through Tomcat's own MBean (Catalina:type=Manager,context=PATH,host=HOST) in the
// platform MBeanServer, so the context needs no privileges.
//
// Answer: "sessions=N", then per session (sorted by id)
//   session=ID primary=BOOL new=BOOL valid=true attrs=K
//   attr=ID NAME CLASS LENGTH VALUE      (one per attribute, sorted; VALUE is String.valueOf,
//                                         cut to 200 chars unless full=true, \ and newline escaped)
// or "session=ID valid=false" for a session being expired. ?id=ID restricts it to one session.
// ?active=true answers only "active=N": the MBean's activeSessions (what JMX monitoring reads).
String path = request.getContextPath();
MBeanServer mbs = ManagementFactory.getPlatformMBeanServer();
Set<ObjectName> managers = mbs.queryNames(new ObjectName("*:type=Manager,context=" + (path.isEmpty() ? "/" : path) + ",host=*"), null);
StringBuilder r = new StringBuilder();
if (managers.size() == 1 && "true".equals(request.getParameter("active"))) {
    // ?active=true: only the Manager MBean's activeSessions attribute, "active=N".
    r.append("active=").append(mbs.getAttribute(managers.iterator().next(), "activeSessions")).append('\n');
} else if (managers.size() != 1) {
    response.setStatus(500);
    r.append("error=expected one Manager MBean for ").append(path).append(", found ").append(managers).append('\n');
} else {
    Object[] all = (Object[]) mbs.invoke(managers.iterator().next(), "findSessions", null, null);
    String only = request.getParameter("id");
    boolean full = "true".equals(request.getParameter("full"));
    TreeMap<String, Session> sessions = new TreeMap<String, Session>();
    for (Object o : all) {
        Session cs = (Session) o;
        if (only == null || only.equals(cs.getIdInternal())) sessions.put(cs.getIdInternal(), cs);
    }
    r.append("sessions=").append(sessions.size()).append('\n');
    for (Map.Entry<String, Session> e : sessions.entrySet()) {
        String id = e.getKey();
        Session cs = e.getValue();
        boolean primary = !(cs instanceof ClusterSession) || ((ClusterSession) cs).isPrimarySession();
        HttpSession hs = cs.getSession();
        StringBuilder one = new StringBuilder();
        try {
            List<String> names = Collections.list(hs.getAttributeNames());
            Collections.sort(names);
            one.append("session=").append(id).append(" primary=").append(primary).append(" new=").append(hs.isNew())
                .append(" valid=true attrs=").append(names.size()).append('\n');
            for (String n : names) {
                Object v = hs.getAttribute(n);
                String text = String.valueOf(v);
                int length = text.length();
                if (!full && length > 200) text = text.substring(0, 200);
                text = text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r");
                one.append("attr=").append(id).append(' ').append(n).append(' ')
                    .append(v == null ? "null" : v.getClass().getName()).append(' ').append(length).append(' ').append(text).append('\n');
            }
        } catch (IllegalStateException invalid) {
            one.setLength(0);
            one.append("session=").append(id).append(" valid=false\n");
        }
        r.append(one);
    }
}
out.print(r);
%>
