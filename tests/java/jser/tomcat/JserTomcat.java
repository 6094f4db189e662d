package org.apache.catalina.ha.session;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.ObjectOutputStream;
import java.io.Serializable;
import java.lang.reflect.Constructor;
import java.security.Principal;
import java.util.ArrayList;
import java.util.Date;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.apache.catalina.ha.ClusterMessage;
import org.apache.catalina.tribes.group.RpcMessage;
import org.apache.catalina.tribes.membership.MemberImpl;

/**
 * Streams written by Tomcat's own session-replication classes, for the jser crate's tests
 * (crates/jser/tests/java_corpus.rs). Compiled per Tomcat release against its jars by
 * tests/java/run-jser.sh; in this package to reach DeltaRequest.serialize().
 *
 * <pre>
 *   java org.apache.catalina.ha.session.JserTomcat gen    prints "NAME HEX" per stream
 * </pre>
 */
public class JserTomcat {

    static final String ID = "0123456789ABCDEF0123456789ABCDEF";
    static final long TS = 1700000000000L;

    static String hex(byte[] b) {
        StringBuilder s = new StringBuilder(b.length * 2);
        for (byte x : b) s.append(String.format("%02x", x));
        return s.toString();
    }

    static byte[] writeObject(Object o) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
            out.writeObject(o);
        }
        return bytes.toByteArray();
    }

    static SessionMessageImpl message(String ctx, int type, byte[] data, String sessionId, String uniqueId) {
        SessionMessageImpl m = new SessionMessageImpl(ctx, type, data, sessionId, uniqueId);
        m.setTimestamp(TS);
        return m;
    }

    /** GenericPrincipal(name, roles) on 10.1/11.0, (name, password, roles) on 9.0. */
    static Principal principal(String name, List<String> roles) throws Exception {
        Class<?> gp = Class.forName("org.apache.catalina.realm.GenericPrincipal");
        for (Constructor<?> c : gp.getConstructors()) {
            Class<?>[] p = c.getParameterTypes();
            if (p.length == 2 && p[0] == String.class && p[1] == List.class) return (Principal) c.newInstance(name, roles);
        }
        for (Constructor<?> c : gp.getConstructors()) {
            Class<?>[] p = c.getParameterTypes();
            if (p.length == 3 && p[0] == String.class && p[1] == String.class && p[2] == List.class) {
                return (Principal) c.newInstance(name, null, roles);
            }
        }
        throw new IllegalStateException("no GenericPrincipal constructor");
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 1 || !args[0].equals("gen")) {
            System.err.println("usage: JserTomcat gen");
            System.exit(2);
        }
        Map<String, byte[]> out = new LinkedHashMap<>();

        DeltaRequest empty = new DeltaRequest("S1", false);
        out.put("t.delta.empty", empty.serialize());

        DeltaRequest d = new DeltaRequest(ID, false);
        d.setAttribute("user", "alice");
        d.setMaxInactiveInterval(1800);
        d.setNew(false);
        d.removeAttribute("cart");
        d.setAttribute("count", Integer.valueOf(7));
        d.setAttribute("when", new Date(TS));
        d.setAttribute("list", new ArrayList<>(List.of("a", 1, 2L)));
        d.setAttribute("big", "x".repeat(3000));
        d.setAuthType("FORM");
        d.setNote("org.apache.catalina.authenticator.SESSION_ID", ID);
        byte[] delta = d.serialize();
        out.put("t.delta.actions", delta);

        DeltaRequest p = new DeltaRequest("S2", true);
        p.setPrincipal(principal("alice", List.of("admin", "user")));
        p.setAuthType("BASIC");
        out.put("t.delta.principal", p.serialize());

        DeltaRequest many = new DeltaRequest("S3", false);
        for (int i = 0; i < 40; i++) many.setAttribute("attr" + i, i % 2 == 0 ? Integer.valueOf(i * 1000) : "value " + i);
        out.put("t.delta.many", many.serialize());

        out.put("t.msg.get-all", writeObject(message("/app", SessionMessage.EVT_GET_ALL_SESSIONS, null, "GET-ALL", "GET-ALL-/app")));
        out.put("t.msg.created", writeObject(message("", SessionMessage.EVT_SESSION_CREATED, null, ID, ID + "-" + TS)));
        out.put("t.msg.delta", writeObject(message("/app", SessionMessage.EVT_SESSION_DELTA, delta, ID, ID + "-" + TS)));
        out.put("t.msg.expired", writeObject(message("/app", SessionMessage.EVT_SESSION_EXPIRED, null, ID, ID + "-" + TS)));
        ByteArrayOutputStream newId = new ByteArrayOutputStream();
        try (ObjectOutputStream o = new ObjectOutputStream(newId)) {
            o.writeUTF("NEWID");
        }
        out.put("t.msg.change-id", writeObject(message("/app", SessionMessage.EVT_CHANGE_SESSION_ID, newId.toByteArray(), ID, ID)));

        MemberImpl member = new MemberImpl("127.0.0.1", 4000, 1000);
        member.setUniqueId(new byte[] {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15});
        out.put("t.member", writeObject(member));
        byte[] uuid = new byte[16];
        for (int i = 0; i < 16; i++) uuid[i] = (byte) (0x50 + i);
        out.put("t.rpc", writeObject(new RpcMessage("rpc-id".getBytes("ISO-8859-1"), uuid, (Serializable) List.of("payload", 42))));
        out.put("t.rpc.member", writeObject(new RpcMessage("rpc-id".getBytes("ISO-8859-1"), uuid, member)));
        ClusterMessage undeploy = message("/app", SessionMessage.EVT_ALL_SESSION_NOCONTEXTMANAGER, null, "x", "y");
        out.put("t.msg.nocontext", writeObject(undeploy));

        // Session state (payload of EVT_ALL_SESSION_DATA): DeltaManager.serializeSessions. 9.0 writes
        // no authentication notes by default; 10.1 and 11.0 always write two.
        DeltaManager mgr = new DeltaManager();
        org.apache.catalina.core.StandardContext ctx = new org.apache.catalina.core.StandardContext();
        ctx.setDistributable(true);
        mgr.setContext(ctx);
        List<org.apache.catalina.Session> sessions = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            DeltaSession s = (DeltaSession) mgr.createEmptySession();
            s.setValid(true);
            s.setCreationTime(TS + i);
            s.setMaxInactiveInterval(1800);
            s.setId(ID.substring(0, 30) + "0" + i, false);
            s.setAttribute("user", "alice" + i, false);
            s.setAttribute("count", Integer.valueOf(i), false);
            if (i == 2) {
                s.setAttribute("list", new ArrayList<>(List.of("a", 1, 2L)), false);
                s.setPrincipal(principal("alice", List.of("admin")));
                s.setAuthType("FORM");
            }
            sessions.add(s);
        }
        out.put("t.state.one", mgr.serializeSessions(sessions.subList(0, 1).toArray(new org.apache.catalina.Session[0])));
        out.put("t.state.three", mgr.serializeSessions(sessions.toArray(new org.apache.catalina.Session[0])));

        StringBuilder sb = new StringBuilder();
        for (Map.Entry<String, byte[]> e : out.entrySet()) sb.append(e.getKey()).append(' ').append(hex(e.getValue())).append('\n');
        System.out.print(sb);
        System.out.flush();
    }
}
