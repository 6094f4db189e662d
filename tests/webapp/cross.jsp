<%@ page session="true" contentType="text/plain; charset=UTF-8" trimDirectiveWhitespaces="true" %><%
// Cross-context dispatch (the context has crossContext="true", META-INF/context.xml): includes
// ?to=CONTEXT's s.jsp with the rest of the query (op=set&name=N&value=V), so the session of the
// other context changes inside this context's request. Answers "session=ID" (this context's
// session) then the included page's answer.
ServletContext other = application.getContext(request.getParameter("to"));
if (other == null) {
    response.setStatus(500);
    out.print("error=no context " + request.getParameter("to") + " (crossContext off?)\n");
    return;
}
out.print("session=" + session.getId() + "\n");
out.flush();
other.getRequestDispatcher("/s.jsp?op=" + request.getParameter("op") + "&name=" + request.getParameter("name")
        + "&value=" + request.getParameter("value")).include(request, response);
%>
