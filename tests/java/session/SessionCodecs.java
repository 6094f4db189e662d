package org.apache.catalina.ha.session;

import java.io.BufferedReader;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.io.Serializable;
import java.lang.reflect.Constructor;
import java.lang.reflect.Field;
import java.nio.charset.StandardCharsets;
import java.security.Principal;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Date;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

import org.apache.catalina.Session;
import org.apache.catalina.authenticator.Constants;
import org.apache.catalina.authenticator.SavedRequest;
import org.apache.catalina.core.StandardContext;
import org.apache.catalina.ha.authenticator.ClusterSingleSignOnListener;
import org.apache.catalina.session.StandardSession;

/**
 * Session-layer payloads made and read by Tomcat's own classes (SessionMessageImpl, DeltaRequest,
 * DeltaManager/DeltaSession), for crates/tribes-proto/tests/session_codecs.rs. Compiled per Tomcat
 * release against its jars by tests/java/run-session.sh; in this package to reach
 * DeltaRequest.serialize() and DeltaManager.serializeSessions().
 *
 * <pre>
 *   gen     prints "NAME\tHEX\tFIELDS" per case: Tomcat's bytes and the fields Tomcat reads back from them
 *   check   reads "NAME\tKIND\tHEX" (KIND msg|delta|state|value|newid), prints "NAME\tFIELDS" or
 *           "NAME\tERROR ..." as Tomcat reads the bytes
 * </pre>
 *
 * FIELDS is one line; every value object is shown as the hex of writeObject(value) in a fresh
 * stream, so a value reads back the same on both sides exactly when these bytes agree.
 */
public class SessionCodecs {

    static final String ID = "0123456789ABCDEF0123456789ABCDEF";
    static final long TS = 1700000000000L;
    static final long NOW = 1700000123456L;

    static String hex(byte[] b) {
        StringBuilder s = new StringBuilder(b.length * 2);
        for (byte x : b) s.append(String.format("%02x", x));
        return s.toString();
    }

    static byte[] unhex(String h) {
        byte[] b = new byte[h.length() / 2];
        for (int i = 0; i < b.length; i++) b[i] = (byte) Integer.parseInt(h.substring(2 * i, 2 * i + 2), 16);
        return b;
    }

    static byte[] writeObject(Object o) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
            out.writeObject(o);
        }
        return bytes.toByteArray();
    }

    static Object readObject(byte[] b) throws Exception {
        try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(b))) {
            return in.readObject();
        }
    }

    static String val(Object v) throws IOException {
        return v == null ? "~" : hex(writeObject(v));
    }

    static String str(String s) {
        return s == null ? "~" : s;
    }

    static Object field(Object o, Class<?> c, String name) throws Exception {
        Field f = c.getDeclaredField(name);
        f.setAccessible(true);
        return f.get(o);
    }

    static void setField(Object o, Class<?> c, String name, Object v) throws Exception {
        Field f = c.getDeclaredField(name);
        f.setAccessible(true);
        f.set(o, v);
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

    // ---- descriptions -------------------------------------------------------------------------

    static String describeMessage(SessionMessageImpl m) throws Exception {
        return "evt=" + m.getEventType() + "|ts=" + m.getTimestamp() + "|set=" +
                field(m, SessionMessageImpl.class, "timestampSet") + "|ctx=" + str(m.getContextName()) + "|sid=" +
                str(m.getSessionID()) + "|uid=" + str(m.getUniqueId()) + "|payload=" +
                (m.getSession() == null ? "~" : hex(m.getSession()));
    }

    static String describeDelta(DeltaRequest d) throws Exception {
        StringBuilder s = new StringBuilder();
        Collection<?> actions = (Collection<?>) field(d, DeltaRequest.class, "actions");
        s.append("sid=").append(d.getSessionId()).append("|all=")
                .append(field(d, DeltaRequest.class, "recordAllActions")).append("|n=").append(actions.size());
        for (Object a : actions) {
            Class<?> c = a.getClass();
            s.append('|').append(field(a, c, "type")).append(',').append(field(a, c, "action")).append(',')
                    .append(field(a, c, "name")).append(',').append(val(field(a, c, "value")));
        }
        return s.toString();
    }

    static String describeSessions(List<DeltaSession> sessions) throws Exception {
        StringBuilder s = new StringBuilder("n=" + sessions.size());
        for (DeltaSession d : sessions) {
            Class<?> ss = StandardSession.class;
            s.append("|S ct=").append(field(d, ss, "creationTime")).append(",la=").append(field(d, ss, "lastAccessedTime"))
                    .append(",mi=").append(field(d, ss, "maxInactiveInterval")).append(",new=").append(field(d, ss, "isNew"))
                    .append(",valid=").append(field(d, ss, "isValid")).append(",ta=").append(field(d, ss, "thisAccessedTime"))
                    .append(",ver=").append(field(d, DeltaSession.class, "version")).append(",p=")
                    .append(val(field(d, ss, "principal"))).append(",id=").append(d.getIdInternal()).append(",sidnote=")
                    .append(val(d.getNote(Constants.SESSION_ID_NOTE))).append(",req=")
                    .append(val(d.getNote(Constants.FORM_REQUEST_NOTE))).append(",attrs=[");
            Map<?, ?> attrs = new TreeMap<>((Map<?, ?>) field(d, ss, "attributes"));
            boolean first = true;
            for (Map.Entry<?, ?> e : attrs.entrySet()) {
                if (!first) s.append(';');
                first = false;
                s.append(e.getKey()).append('=').append(val(e.getValue()));
            }
            s.append("],ls=[");
            first = true;
            for (Object l : (List<?>) field(d, ss, "listeners")) {
                if (!first) s.append(';');
                first = false;
                s.append(val(l));
            }
            s.append(']');
        }
        return s.toString();
    }

    // ---- reading (Tomcat's own code paths) ----------------------------------------------------

    static DeltaManager manager() {
        DeltaManager mgr = new DeltaManager();
        StandardContext ctx = new StandardContext();
        ctx.setDistributable(true);
        mgr.setContext(ctx);
        return mgr;
    }

    static DeltaRequest readDelta(byte[] b) throws Exception {
        DeltaRequest d = new DeltaRequest();
        try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(b))) {
            d.readExternal(in);
        }
        return d;
    }

    /** The loop of DeltaManager.deserializeSessions, without adding the sessions to a manager. */
    static List<DeltaSession> readSessions(byte[] b) throws Exception {
        DeltaManager mgr = manager();
        List<DeltaSession> out = new ArrayList<>();
        try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(b))) {
            int n = ((Integer) in.readObject()).intValue();
            for (int i = 0; i < n; i++) {
                DeltaSession s = (DeltaSession) mgr.createEmptySession();
                s.readObjectData(in);
                out.add(s);
            }
        }
        return out;
    }

    static String readNewId(byte[] b) throws Exception {
        try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(b))) {
            return in.readUTF();
        }
    }

    static String describe(String kind, byte[] b) throws Exception {
        switch (kind) {
            case "msg":
                return describeMessage((SessionMessageImpl) readObject(b));
            case "delta":
                return describeDelta(readDelta(b));
            case "state":
                return describeSessions(readSessions(b));
            case "value":
                return val(readObject(b));
            case "newid":
                return readNewId(b);
            default:
                throw new IllegalArgumentException(kind);
        }
    }

    // ---- generating ---------------------------------------------------------------------------

    static final StringBuilder OUT = new StringBuilder();

    static void emit(String name, String kind, byte[] b) throws Exception {
        OUT.append(name).append('\t').append(hex(b)).append('\t').append(describeOrError(kind, b)).append('\n');
    }

    static String describeOrError(String kind, byte[] b) {
        try {
            return describe(kind, b);
        } catch (Exception | Error e) {
            return "ERROR " + e;
        }
    }

    static SessionMessageImpl msg(String ctx, int type, byte[] data, String sid, String uid, Long ts) {
        SessionMessageImpl m = new SessionMessageImpl(ctx, type, data, sid, uid);
        if (ts != null) m.setTimestamp(ts.longValue());
        return m;
    }

    static HashMap<String, Object> map() {
        // The default capacity (16) is what HashMap.readObject picks back for three entries, so
        // the map writes the same bytes after a round trip.
        // Strings are made anew (not literals): Java shares a String object by identity, and
        // interned literals in several values would be one object (see state.literals).
        HashMap<String, Object> m = new HashMap<>();
        m.put(new String("a"), Integer.valueOf(1));
        m.put(new String("b"), new String("x"));
        m.put(new String("c"), Long.valueOf(2));
        return m;
    }

    static String repeat(String s, int n) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < n; i++) b.append(s);
        return b.toString();
    }

    static void gen() throws Exception {
        // Values as a fresh ObjectOutputStream writes them (JavaValue constructors).
        emit("value.string", "value", writeObject("alice"));
        emit("value.string-empty", "value", writeObject(""));
        emit("value.string-utf", "value", writeObject("\u00e9\u0000\ud83d\ude00"));
        emit("value.string-long", "value", writeObject(repeat("x", 70000)));
        emit("value.true", "value", writeObject(Boolean.TRUE));
        emit("value.false", "value", writeObject(Boolean.FALSE));
        emit("value.int7", "value", writeObject(Integer.valueOf(7)));
        emit("value.int1800", "value", writeObject(Integer.valueOf(1800)));
        emit("value.int-min", "value", writeObject(Integer.valueOf(Integer.MIN_VALUE)));
        emit("value.long0", "value", writeObject(Long.valueOf(0)));
        emit("value.long-ts", "value", writeObject(Long.valueOf(TS)));
        emit("value.null", "value", writeObject(null));

        // DeltaRequests.
        DeltaRequest d = new DeltaRequest(ID, false);
        d.setAttribute("user", "alice");
        d.setMaxInactiveInterval(1800);
        d.setNew(true);
        d.removeAttribute("cart");
        d.setAttribute("count", Integer.valueOf(7));
        d.setAttribute("map", map());
        d.setAttribute("bytes", new byte[] {1, 2, 3, (byte) 0xff});
        d.setAttribute("seven", Integer.valueOf(7));
        d.setAttribute("flag", Boolean.TRUE);
        d.setAttribute("big", Integer.valueOf(100000));
        d.setAttribute("user", "bob"); // replaces the first "user" action, moved to the end
        byte[] basic = d.serialize();
        emit("delta.basic", "delta", basic);

        DeltaRequest p = new DeltaRequest("S2", false);
        p.setPrincipal(principal("alice", List.of("user", "admin")));
        p.setAuthType("FORM");
        p.setNote(Constants.SESSION_ID_NOTE, ID);
        p.removeNote(Constants.FORM_REQUEST_NOTE);
        emit("delta.principal", "delta", p.serialize());

        DeltaRequest r = new DeltaRequest("S3", false);
        r.setPrincipal(null);
        r.setAuthType(null);
        r.setNew(false);
        r.setMaxInactiveInterval(-1);
        emit("delta.remove", "delta", r.serialize());

        DeltaRequest l = new DeltaRequest("S4", false);
        l.addSessionListener(new ClusterSingleSignOnListener("SSO-1"));
        emit("delta.listener-add", "delta", l.serialize());
        DeltaRequest l2 = new DeltaRequest("S4", false);
        l2.removeSessionListener(new ClusterSingleSignOnListener("SSO-1"));
        emit("delta.listener-remove", "delta", l2.serialize());

        DeltaRequest lng = new DeltaRequest(repeat("L", 700), false);
        lng.setAttribute(repeat("n", 1500), repeat("v", 3000));
        lng.setAttribute("a\u00e9" + repeat("\u20ac", 400) + "\ud83d\ude00", Integer.valueOf(-128));
        lng.setAttribute(repeat("m", 1020), Integer.valueOf(-128));
        lng.removeAttribute(repeat("r", 2000));
        emit("delta.long-names", "delta", lng.serialize());

        DeltaRequest all = new DeltaRequest("S5", true);
        all.setAttribute("x", "1");
        all.setAttribute("x", "2");
        all.removeAttribute("x");
        all.setNote("note", TimeUnit.SECONDS);
        all.setNote("note2", TimeUnit.SECONDS);
        emit("delta.record-all", "delta", all.serialize());

        // The edges of the valueOf caches: shared objects inside, fresh objects outside.
        DeltaRequest boxes = new DeltaRequest("S6", false);
        Object[] values = {Integer.valueOf(127), Integer.valueOf(127), Integer.valueOf(128), Integer.valueOf(128),
            Integer.valueOf(-128), Integer.valueOf(-128), Integer.valueOf(-129), Integer.valueOf(-129),
            Long.valueOf(127), Long.valueOf(127), Long.valueOf(-129), Long.valueOf(-129),
            Short.valueOf((short) 5), Short.valueOf((short) 5), Short.valueOf((short) 300), Short.valueOf((short) 300),
            Byte.valueOf((byte) -7), Byte.valueOf((byte) -7), Character.valueOf('x'), Character.valueOf('x'),
            Character.valueOf('\u00e9'), Character.valueOf('\u00e9'), Double.valueOf(1.5), Double.valueOf(1.5),
            Boolean.FALSE, Boolean.TRUE, new ArrayList<>(List.of(Integer.valueOf(127), Boolean.TRUE, TimeUnit.SECONDS)),
            TimeUnit.SECONDS, TimeUnit.MINUTES, String.class, String.class};
        for (int i = 0; i < values.length; i++) boxes.setAttribute("v" + i, values[i]);
        emit("delta.boxes", "delta", boxes.serialize());

        emit("delta.empty", "delta", new DeltaRequest("S1", false).serialize());

        // Session state streams (DeltaManager.serializeSessions).
        DeltaManager mgr = manager();
        List<Session> sessions = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            DeltaSession s = (DeltaSession) mgr.createEmptySession();
            s.setValid(true);
            s.setCreationTime(TS + i);
            setField(s, StandardSession.class, "lastAccessedTime", Long.valueOf(TS + 1000 + i));
            setField(s, StandardSession.class, "thisAccessedTime", Long.valueOf(TS + 2000 + i));
            s.setMaxInactiveInterval(i == 1 ? 60 : 1800);
            s.setNew(i == 0);
            s.setId(ID.substring(0, 30) + "0" + i, false);
            s.setAttribute("user", "alice" + i, false);
            s.setAttribute("count", Integer.valueOf(i), false);
            s.setAttribute("flag", Boolean.valueOf(i % 2 == 0), false);
            s.setAttribute("unit", TimeUnit.SECONDS, false);
            if (i >= 1) {
                s.setAttribute("map", map(), false);
                s.setAttribute("big", Integer.valueOf(100000 + i), false);
                s.setAttribute("when", new Date(TS), false);
                s.setAttribute("bytes", new byte[] {9, 8, 7}, false);
                s.setAttribute("list", new ArrayList<>(List.of(new String("a"), 1, 2L)), false);
            }
            if (i == 2) {
                s.setVersion(5);
                s.setPrincipal(principal("alice", List.of("admin")));
                s.setAuthType("FORM");
                s.setNote(Constants.SESSION_ID_NOTE, "OLDID");
                SavedRequest req = new SavedRequest();
                req.setMethod("POST");
                req.setRequestURI("/app/login");
                req.setQueryString("a=b");
                s.setNote(Constants.FORM_REQUEST_NOTE, req);
                s.addSessionListener(new ClusterSingleSignOnListener("SSO-2"), false);
            }
            sessions.add(s);
        }
        emit("state.empty", "state", mgr.serializeSessions(new Session[0]));
        emit("state.one", "state", mgr.serializeSessions(sessions.subList(0, 1).toArray(new Session[0])));
        byte[] three = mgr.serializeSessions(sessions.toArray(new Session[0]));
        emit("state.three", "state", three);
        // 9.0 writes the authentication notes only with persistAuthenticationNotes (10.1+: always).
        try {
            mgr.getClass().getMethod("setPersistAuthenticationNotes", boolean.class).invoke(mgr, Boolean.TRUE);
            emit("state.three-notes", "state", mgr.serializeSessions(sessions.toArray(new Session[0])));
            mgr.getClass().getMethod("setPersistAuthenticationNotes", boolean.class).invoke(mgr, Boolean.FALSE);
        } catch (NoSuchMethodException e) {
            // not on this line
        }
        // The same interned literal inside two values: one String object, so Java writes a
        // back-reference the second time; equal strings in separate values are not shared by us.
        DeltaSession lit = (DeltaSession) mgr.createEmptySession();
        lit.setValid(true);
        lit.setCreationTime(TS);
        lit.setMaxInactiveInterval(1800);
        lit.setId("LITERALS", false);
        lit.setAttribute("l1", new ArrayList<>(List.of("shared")), false);
        lit.setAttribute("l2", new ArrayList<>(List.of("shared")), false);
        emit("state.literals", "state", mgr.serializeSessions(new Session[] {lit}));
        // An attribute that cannot be serialized inside: TC_EXCEPTION in the stream, skipped on read.
        DeltaSession broken = (DeltaSession) mgr.createEmptySession();
        broken.setValid(true);
        broken.setCreationTime(TS);
        broken.setMaxInactiveInterval(1800);
        broken.setId("BROKEN", false);
        broken.setAttribute("ok", "fine", false);
        ArrayList<Object> bad = new ArrayList<>();
        bad.add(new Object());
        broken.setAttribute("bad", bad, false);
        broken.setAttribute("after", Integer.valueOf(3), false);
        emit("state.broken", "state", mgr.serializeSessions(new Session[] {broken}));

        // SessionMessageImpl, one per event type, built as DeltaManager / ClusterSessionListener do.
        emit("newid", "newid", mgr.serializeSessionId("NEWID"));
        byte[] newId = mgr.serializeSessionId("NEWID.node2");
        emit("msg.created", "msg", writeObject(msg("/app", SessionMessage.EVT_SESSION_CREATED, null, ID, ID + "-" + NOW, TS)));
        emit("msg.created-root", "msg", writeObject(msg("", SessionMessage.EVT_SESSION_CREATED, null, ID, ID + "-" + NOW, TS)));
        emit("msg.expired", "msg", writeObject(msg("/app", SessionMessage.EVT_SESSION_EXPIRED, null, ID, ID + "-EXPIRED-MSG", NOW)));
        emit("msg.accessed", "msg", writeObject(msg("/app", SessionMessage.EVT_SESSION_ACCESSED, null, ID, ID + "-" + NOW, NOW)));
        emit("msg.get-all", "msg", writeObject(msg("localhost#/app", SessionMessage.EVT_GET_ALL_SESSIONS, null, "GET-ALL", "GET-ALL-localhost#/app", NOW)));
        emit("msg.all-data", "msg", writeObject(msg("/app", SessionMessage.EVT_ALL_SESSION_DATA, three, "SESSION-STATE", "SESSION-STATE-/app", TS)));
        emit("msg.delta", "msg", writeObject(msg("/app", SessionMessage.EVT_SESSION_DELTA, basic, ID, ID + "-" + NOW, NOW)));
        emit("msg.transfer-complete", "msg", writeObject(msg("/app", SessionMessage.EVT_ALL_SESSION_TRANSFERCOMPLETE, null, "SESSION-STATE-TRANSFERRED", "SESSION-STATE-TRANSFERRED/app", TS)));
        emit("msg.change-id", "msg", writeObject(msg("/app", SessionMessage.EVT_CHANGE_SESSION_ID, newId, ID, ID + "-" + NOW, NOW)));
        emit("msg.no-context", "msg", writeObject(msg("localhost#/gone", SessionMessage.EVT_ALL_SESSION_NOCONTEXTMANAGER, null, "NO-CONTEXT-MANAGER", "NO-CONTEXT-MANAGER-localhost#/gone", null)));

        System.out.print(OUT);
        System.out.flush();
    }

    static void check() throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        StringBuilder out = new StringBuilder();
        String line;
        while ((line = in.readLine()) != null) {
            if (line.isEmpty()) continue;
            String[] f = line.split("\t");
            String desc = describeOrError(f[1], unhex(f[2]));
            out.append(f[0]).append('\t').append(desc).append('\n');
        }
        System.out.print(out);
        System.out.flush();
    }

    public static void main(String[] args) throws Exception {
        if (args.length == 1 && args[0].equals("gen")) {
            gen();
        } else if (args.length == 1 && args[0].equals("check")) {
            check();
        } else {
            System.err.println("usage: SessionCodecs gen|check");
            System.exit(2);
        }
    }
}
