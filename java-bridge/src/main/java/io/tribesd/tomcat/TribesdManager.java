/*
 * Licensed under the Apache License, Version 2.0.
 */
package io.tribesd.tomcat;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.security.Principal;
import java.util.List;
import java.util.Map;

import javax.servlet.http.HttpSession;
import javax.servlet.http.HttpSessionAttributeListener;
import javax.servlet.http.HttpSessionBindingEvent;
import javax.servlet.http.HttpSessionBindingListener;
import javax.servlet.http.HttpSessionIdListener;
import javax.servlet.http.HttpSessionListener;

import io.tribesd.tomcat.bridge.ChangeBatch;
import io.tribesd.tomcat.bridge.JavaStreams;
import io.tribesd.tomcat.bridge.ListenerEvents;
import io.tribesd.tomcat.bridge.NativeBridge;
import io.tribesd.tomcat.bridge.NativeLoader;
import io.tribesd.tomcat.bridge.SessionData;

import org.apache.catalina.Cluster;
import org.apache.catalina.Context;
import org.apache.catalina.LifecycleException;
import org.apache.catalina.LifecycleState;
import org.apache.catalina.Session;
import org.apache.catalina.ha.ClusterManager;
import org.apache.catalina.ha.ClusterMessage;
import org.apache.catalina.ha.session.ClusterManagerBase;
import org.apache.juli.logging.Log;
import org.apache.juli.logging.LogFactory;

/**
 * The {@code <Manager>} that replaces {@code org.apache.catalina.ha.session.DeltaManager} (inside a
 * {@link TribesdCluster}). Sessions are replicated by the native node:
 *
 * <ul>
 * <li>A request's changes to a session ({@link TribesdSession} records them) go to the node as ONE
 * batch when ReplicationValve calls {@link #requestCompleted(String)}, which returns null (the
 * valve sends nothing itself). An invalidation goes at once.</li>
 * <li>Sessions replicated from other nodes stay in the native node until a request asks for one:
 * {@link #findSession(String)} then reads it from the node and deserializes each attribute alone
 * with the webapp's class loader (a value that does not deserialize loses that attribute only, and
 * is logged with the session, attribute and class).</li>
 * <li>Freshness rule: a session object in this manager's map is used as is only while the node
 * says the session is primary here (its last change came through this node) or while it has
 * changes not yet handed over; otherwise (another node changed it since) it is read again from the
 * node. A session the node no longer holds (expired or invalidated elsewhere, renamed by another
 * node) is dropped from the map, without telling the cluster.</li>
 * </ul>
 *
 * <p>DeltaManager's attributes in server.xml are accepted; the node reads them from the same
 * {@code <Manager>} element. Used without a TribesdCluster, the manager starts a node of its own
 * without network (nothing is replicated, and the log says so).
 */
public class TribesdManager extends ClusterManagerBase {

    private static final Log log = LogFactory.getLog(TribesdManager.class);

    /** A copy read from the node and not used for this long is dropped from the map. */
    private static final long EVICT_IDLE_MS = 60_000L;

    private volatile long ownNode;
    private String name;

    // DeltaManager's attributes: accepted here so server.xml keeps them; the native node reads
    // their values from the same <Manager> element.
    private int stateTransferTimeout = 60;
    private boolean sendAllSessions = true;
    private int sendAllSessionsSize = 1000;
    private int sendAllSessionsWaitTime = 2000;
    private boolean stateTimestampDrop = true;
    private boolean expireSessionsOnShutdown = false;
    private boolean notifySessionListenersOnReplication = true;
    private boolean notifyContainerListenersOnReplication = true;

    /** The manager's name; the cluster sets it to the context's name (as DeltaManager's). */
    @Override
    public String getName() {
        return name;
    }

    @Override
    public void setName(String name) {
        this.name = name;
    }

    /** The native node's handle while started, else 0. */
    public long getNodeHandle() {
        Cluster cluster = getCluster();
        if (cluster instanceof TribesdCluster) {
            return ((TribesdCluster) cluster).getNodeHandle();
        }
        return ownNode;
    }

    @Override
    protected void startInternal() throws LifecycleException {
        super.startInternal();
        try {
            String library = NativeLoader.load();
            if (!(getCluster() instanceof TribesdCluster)) {
                ownNode = NativeBridge.start("{\"name\":" + TribesdCluster.Json.quote(getName()) + "}");
                log.warn("tribesd " + NativeBridge.version() + " (native library " + library + "): TribesdManager"
                        + " for " + getName() + " is not inside a io.tribesd.tomcat.TribesdCluster: its sessions are"
                        + " NOT replicated");
            }
        } catch (UnsatisfiedLinkError | RuntimeException e) {
            throw new LifecycleException("tribesd: cannot start the native node for " + getName() + ": "
                    + e.getMessage(), e);
        }
        // A webapp started after the cluster's node: the node was asked for its state when the
        // cluster registered this manager; wait for it as DeltaManager's start does. (At the
        // cluster's own start, the node starts after every webapp and the cluster waits.)
        long handle = getNodeHandle();
        if (handle != 0 && getCluster() instanceof TribesdCluster) {
            awaitState(handle, false);
        }
        setState(LifecycleState.STARTING);
    }

    /**
     * Blocks until the node has this context's session state, or stateTransferTimeout seconds
     * (plus the node's first wait for members) passed; logs how it ended. -1 waits without end as
     * DeltaManager does (bounded here to a day), 0 does not wait.
     */
    void awaitState(long handle, boolean atNodeStart) {
        if (stateTransferTimeout == 0) {
            return;
        }
        long timeoutMs = stateTransferTimeout < 0 ? 24L * 3600 * 1000 : stateTransferTimeout * 1000L + 5000L;
        long start = System.currentTimeMillis();
        try {
            String outcome = NativeBridge.awaitState(handle, getName(), timeoutMs);
            log.info("tribesd: " + getName() + ": " + outcome + " (start waited " + (System.currentTimeMillis() - start)
                    + " ms" + (atNodeStart ? ", at the node's start" : "") + ")");
        } catch (RuntimeException e) {
            log.warn("tribesd: " + getName() + ": cannot wait for the session state: " + e.getMessage());
        }
    }

    @Override
    protected void stopInternal() throws LifecycleException {
        setState(LifecycleState.STOPPING);
        // Sessions end here without telling the cluster (DeltaManager's expireSessionsOnShutdown
        // is the node's business).
        java.util.Set<String> expired = new java.util.HashSet<>();
        for (Session s : findSessions()) {
            expired.add(s.getIdInternal());
            if (s instanceof TribesdSession) {
                ((TribesdSession) s).expire(true, false);
            } else {
                s.expire();
            }
        }
        expireNodeSessions(expired);
        long handle = ownNode;
        ownNode = 0;
        if (handle != 0) {
            NativeBridge.stop(handle);
        }
        super.stopInternal();
    }

    /**
     * DeltaManager's stop expires every session it holds, the replicas too, with their listeners
     * (sessionDestroyed, attributeRemoved, valueUnbound) and without telling the cluster. The
     * node's sessions that no request read here are read now for that, each as a copy, when a
     * listener would get it: the webapp has session or attribute listeners, or a value's class is
     * a binding listener.
     */
    private void expireNodeSessions(java.util.Set<String> expired) {
        long handle = getNodeHandle();
        Context context = getContext();
        if (handle == 0 || context == null) {
            return;
        }
        boolean listeners = has(context.getApplicationLifecycleListeners(), HttpSessionListener.class)
                || has(context.getApplicationEventListeners(), HttpSessionAttributeListener.class);
        String[] ids;
        try {
            ids = NativeBridge.sessionIds(handle, getName());
        } catch (RuntimeException e) {
            log.warn("tribesd: " + getName() + ": cannot list the node's sessions to expire them: " + e.getMessage());
            return;
        }
        for (String id : ids) {
            if (expired.contains(id)) {
                continue;
            }
            try {
                SessionData d = nodeSession(id);
                if (d != null && (listeners || anyBindingListener(d.attributes.values()))) {
                    build(d).expire(true, false);
                }
            } catch (RuntimeException e) {
                log.warn("tribesd: " + getName() + ": session " + shortId(id) + " did not expire with its listeners"
                        + " at the stop: " + e, e);
            }
        }
    }

    @Override
    public Session createEmptySession() {
        return new TribesdSession(this);
    }

    @Override
    public Session createSession(String sessionId) {
        Session s = super.createSession(sessionId);
        if (s instanceof TribesdSession) {
            ((TribesdSession) s).startRecording(true);
        }
        return s;
    }

    @Override
    public Session findSession(String id) throws IOException {
        if (id == null) {
            return null;
        }
        Session local = super.findSession(id);
        long handle = getNodeHandle();
        if (handle == 0 || getCluster() == null) {
            return local;
        }
        if (local instanceof TribesdSession && ((TribesdSession) local).hasPendingChanges()) {
            return local;
        }
        int state;
        try {
            state = NativeBridge.sessionState(handle, getName(), id);
        } catch (RuntimeException e) {
            log.warn("tribesd: cannot ask the node about a session of " + getName() + ": " + e.getMessage());
            return local;
        }
        if (state == 1 && local != null) {
            return local;
        }
        if (state == -1) {
            if (local != null) {
                drop(local);
            }
            return null;
        }
        byte[] data;
        try {
            data = NativeBridge.getSession(handle, getName(), id);
        } catch (RuntimeException e) {
            log.warn("tribesd: cannot read a session of " + getName() + " from the node: " + e.getMessage());
            return local;
        }
        if (data == null) {
            if (local != null) {
                drop(local);
            }
            return null;
        }
        if (local != null) {
            drop(local);
        }
        return materialize(SessionData.decode(data));
    }

    /** Forgets a session object here only: no listener, nothing sent. */
    private void drop(Session s) {
        remove(s, false);
    }

    private TribesdSession materialize(SessionData d) {
        TribesdSession s = build(d);
        s.startRecording(false);
        add(s);
        return s;
    }

    /** A session object from a record of the node, not in this manager's map, recording nothing. */
    private TribesdSession build(SessionData d) {
        TribesdSession s = (TribesdSession) createEmptySession();
        Principal principal = null;
        if (d.principal != null) {
            Object p = read(d.id, "principal", d.principal, d.lastSender);
            if (p instanceof Principal) {
                principal = (Principal) p;
            }
        }
        Map<String, Object> notes = new java.util.HashMap<>();
        for (Map.Entry<String, byte[]> e : d.notes.entrySet()) {
            if (TribesdSession.replicatedNote(e.getKey())) {
                Object v = read(d.id, "note " + e.getKey(), e.getValue(), d.lastSender);
                if (v != null) {
                    notes.put(e.getKey(), v);
                }
            }
        }
        Map<String, Object> attributes = new java.util.LinkedHashMap<>();
        for (Map.Entry<String, byte[]> e : d.attributes.entrySet()) {
            Object v = read(d.id, "attribute " + e.getKey(), e.getValue(), d.lastSender);
            if (v != null) {
                attributes.put(e.getKey(), v);
            }
        }
        s.fill(d, principal, notes, attributes);
        return s;
    }

    /**
     * A listener event caused by replication (the node applied it already): the webapp's
     * listeners are told as DeltaManager tells them on a replica. Sessions are read from the node
     * (deserialized, as a copy not kept here) only when the context has a listener for the event,
     * or the value is a HttpSessionBindingListener. Runs on the cluster's event thread, with the webapp's class
     * loader; a listener that throws is logged and the next event goes on.
     */
    void replicated(ListenerEvents.Event e) {
        Context context = getContext();
        if (context == null || !getState().isAvailable()) {
            return;
        }
        Thread thread = Thread.currentThread();
        ClassLoader previous = thread.getContextClassLoader();
        ClassLoader webapp = context.getLoader() == null ? null : context.getLoader().getClassLoader();
        if (webapp != null) {
            thread.setContextClassLoader(webapp);
        }
        try {
            dispatch(context, e);
        } catch (VirtualMachineError t) {
            throw t;
        } catch (Throwable t) {
            // One listener's failure (an Error included) must not end the event thread.
            log.warn("tribesd: a listener of " + getName() + " failed on a replicated event (kind " + e.kind
                    + ", session " + shortId(e.id) + "): " + t, t);
        } finally {
            thread.setContextClassLoader(previous);
        }
    }

    private void dispatch(Context context, ListenerEvents.Event e) {
        Session local = sessions.get(e.id);
        switch (e.kind) {
        case ListenerEvents.SESSION_CREATED:
            if (has(context.getApplicationLifecycleListeners(), HttpSessionListener.class)) {
                Session s = snapshot(e.id);
                if (s instanceof TribesdSession) {
                    ((TribesdSession) s).tellNew();
                }
            }
            break;
        case ListenerEvents.SESSION_DESTROYED:
            if (local instanceof TribesdSession) {
                // The copy here ends with its listeners (expire(true, false) as DeltaManager).
                ((TribesdSession) local).expire(true, false);
            } else if (e.session != null && (has(context.getApplicationLifecycleListeners(), HttpSessionListener.class)
                    || has(context.getApplicationEventListeners(), HttpSessionAttributeListener.class)
                    || anyBindingListener(e.session.attributes.values()))) {
                build(e.session).expire(true, false);
            }
            break;
        case ListenerEvents.SESSION_ID_CHANGED: {
            Session s = local;
            if (s instanceof TribesdSession) {
                ((TribesdSession) s).renameFromCluster(e.name);
            } else if ((e.sessionListeners && has(context.getApplicationEventListeners(), HttpSessionIdListener.class))
                    || (e.containerListeners && context.findContainerListeners().length > 0)) {
                s = snapshot(e.name);
            } else {
                s = null;
            }
            if (s instanceof TribesdSession) {
                ((TribesdSession) s).tellChangedSessionId(e.name, e.id, e.sessionListeners, e.containerListeners);
            }
            break;
        }
        case ListenerEvents.ATTRIBUTE_ADDED:
        case ListenerEvents.ATTRIBUTE_REPLACED:
        case ListenerEvents.ATTRIBUTE_REMOVED:
            attributeEvent(context, e);
            break;
        default:
            log.debug("tribesd: unknown listener event kind " + e.kind);
        }
    }

    /** DeltaRequest.execute with notifyListenersOnReplication: StandardSession's own order. */
    private void attributeEvent(Context context, ListenerEvents.Event e) {
        Object[] listeners = context.getApplicationEventListeners();
        boolean attributeListeners = has(listeners, HttpSessionAttributeListener.class);
        boolean valueBinds = e.value != null && anyBindingListener(java.util.Collections.singletonList(e.value));
        boolean oldBinds = e.old != null && anyBindingListener(java.util.Collections.singletonList(e.old));
        if (!attributeListeners && !valueBinds && !oldBinds) {
            return;
        }
        Session s = snapshot(e.id);
        if (!(s instanceof TribesdSession)) {
            return;
        }
        HttpSession session = s.getSession();
        // The values the event carries (a later change may already be in the node's copy), each
        // deserialized only when a listener gets it: attributeAdded the new value,
        // attributeReplaced and attributeRemoved the old one, a binding listener itself.
        boolean added = e.kind == ListenerEvents.ATTRIBUTE_ADDED;
        Object value = e.value != null && (valueBinds || (attributeListeners && added))
                ? read(e.id, "attribute " + e.name, e.value) : null;
        Object old = e.old != null && (oldBinds || (attributeListeners && !added))
                ? read(e.id, "attribute " + e.name + " (replaced value)", e.old) : null;
        if (value instanceof HttpSessionBindingListener) {
            ((HttpSessionBindingListener) value).valueBound(new HttpSessionBindingEvent(session, e.name, value));
        }
        if (old instanceof HttpSessionBindingListener) {
            ((HttpSessionBindingListener) old).valueUnbound(new HttpSessionBindingEvent(session, e.name, old));
        }
        if (!attributeListeners) {
            return;
        }
        for (Object l : listeners) {
            if (!(l instanceof HttpSessionAttributeListener)) {
                continue;
            }
            HttpSessionAttributeListener listener = (HttpSessionAttributeListener) l;
            try {
                if (e.kind == ListenerEvents.ATTRIBUTE_ADDED) {
                    listener.attributeAdded(new HttpSessionBindingEvent(session, e.name, value));
                } else if (e.kind == ListenerEvents.ATTRIBUTE_REPLACED) {
                    listener.attributeReplaced(new HttpSessionBindingEvent(session, e.name, old));
                } else {
                    listener.attributeRemoved(new HttpSessionBindingEvent(session, e.name, old));
                }
            } catch (RuntimeException t) {
                log.warn("tribesd: HttpSessionAttributeListener " + l.getClass().getName() + " of " + getName()
                        + " threw on a replicated attribute event: " + t, t);
            }
        }
    }

    /**
     * The session as the node holds it now, for a listener: a copy read from the node and NOT
     * kept in this manager's map (a listener that keeps a reference keeps that copy), so firing
     * listeners does not fill the heap with replicas; null when the node no longer holds it.
     */
    private Session snapshot(String id) {
        SessionData d = nodeSession(id);
        return d == null ? null : build(d);
    }

    /**
     * The session's data as the node holds it now, values not deserialized; null when the node
     * does not hold it (logged when it could not be read).
     */
    private SessionData nodeSession(String id) {
        long handle = getNodeHandle();
        if (handle == 0) {
            return null;
        }
        byte[] data;
        try {
            data = NativeBridge.getSession(handle, getName(), id);
        } catch (RuntimeException e) {
            log.warn("tribesd: cannot read a session of " + getName() + " from the node: " + e.getMessage());
            return null;
        }
        return data == null ? null : SessionData.decode(data);
    }

    private static boolean has(Object[] listeners, Class<?> type) {
        if (listeners != null) {
            for (Object l : listeners) {
                if (type.isInstance(l)) {
                    return true;
                }
            }
        }
        return false;
    }

    /** Whether a value's class (read from its stream, loaded, not deserialized) is a binding listener. */
    private boolean anyBindingListener(java.util.Collection<byte[]> values) {
        Context context = getContext();
        ClassLoader loader = context == null || context.getLoader() == null ? null
                : context.getLoader().getClassLoader();
        for (byte[] v : values) {
            String name = topClassName(v);
            if (name == null || loader == null) {
                continue;
            }
            try {
                if (HttpSessionBindingListener.class.isAssignableFrom(Class.forName(name, false, loader))) {
                    return true;
                }
            } catch (ClassNotFoundException | LinkageError ignored) {
                // Not loadable here: it cannot be deserialized either.
            }
        }
        return false;
    }

    /** Deserializes one value with the webapp's class loader; null (logged) when it fails. */
    private Object read(String sessionId, String what, byte[] bytes) {
        return read(sessionId, what, bytes, null);
    }

    /**
     * Deserializes one value with the webapp's class loader; null when it fails, logged with the
     * session, the attribute, its class and the member that sent the session's last change.
     */
    private Object read(String sessionId, String what, byte[] bytes, String sender) {
        try (ObjectInputStream in = getReplicationStream(bytes)) {
            return in.readObject();
        } catch (Exception | LinkageError e) {
            log.warn("tribesd: session " + shortId(sessionId) + " of " + getName() + ": " + what
                    + " could not be deserialized (" + className(bytes) + ", last changed by member "
                    + (sender == null ? "unknown" : sender) + "), dropped from this copy: " + e);
            return null;
        }
    }

    /** The class name at the start of a serialized object, for messages. */
    private static String className(byte[] b) {
        String name = topClassName(b);
        return name == null ? "class unknown" : "class " + name;
    }

    /** The class of the object a standalone stream starts with, or null (not an ordinary object). */
    private static String topClassName(byte[] b) {
        // AC ED 00 05 73 72 <u16 len> <name>: an ordinary object with a new class descriptor.
        if (b.length > 8 && (b[4] & 0xFF) == 0x73 && (b[5] & 0xFF) == 0x72) {
            int len = ((b[6] & 0xFF) << 8) | (b[7] & 0xFF);
            if (8 + len <= b.length) {
                return new String(b, 8, len, java.nio.charset.StandardCharsets.UTF_8);
            }
        }
        return null;
    }

    static String shortId(String id) {
        return id == null ? "null" : (id.length() > 6 ? id.substring(0, 6) + "..." : id);
    }

    /**
     * The end of a request (ReplicationValve): the session's changes go to the node as one batch
     * (or an access when nothing changed). Returns null: the node sends what is needed.
     */
    @Override
    public ClusterMessage requestCompleted(String sessionId) {
        Session s = sessions.get(sessionId);
        if (s instanceof TribesdSession && s.isValid()) {
            submit((TribesdSession) s);
        }
        return null;
    }

    /** Hands the session's pending changes to the node. */
    void submit(TribesdSession s) {
        long handle = getNodeHandle();
        if (handle == 0) {
            return;
        }
        Object[] taken = s.takeChanges();
        if (taken == null) {
            return;
        }
        String id = (String) taken[0];
        @SuppressWarnings("unchecked")
        List<TribesdSession.Op> ops = (List<TribesdSession.Op>) taken[1];
        try {
            NativeBridge.requestCompleted(handle, batch(id, ops).toByteArray());
            s.submitted();
        } catch (RuntimeException e) {
            String msg = String.valueOf(e.getMessage());
            if (msg.contains("no session") && !s.isExpiring()) {
                // The node lost it (expired or removed elsewhere while in use here): send it whole.
                try {
                    NativeBridge.requestCompleted(handle, whole(s).toByteArray());
                    s.submitted();
                    return;
                } catch (RuntimeException again) {
                    msg = msg + "; sending it whole: " + again.getMessage();
                }
            }
            log.warn("tribesd: the changes of session " + shortId(id) + " of " + getName()
                    + " were not replicated: " + msg);
        }
    }

    private ChangeBatch batch(String id, List<TribesdSession.Op> ops) {
        ChangeBatch b = new ChangeBatch(getName(), id);
        for (TribesdSession.Op op : ops) {
            switch (op.kind) {
            case TribesdSession.CREATE:
                b.create(Integer.valueOf(op.number));
                break;
            case TribesdSession.SET_ATTRIBUTE: {
                byte[] v = serialize(id, op.name, op.value);
                if (v != null) {
                    b.setAttribute(op.name, v);
                }
                break;
            }
            case TribesdSession.REMOVE_ATTRIBUTE:
                b.removeAttribute(op.name);
                break;
            case TribesdSession.SET_MAX_INACTIVE:
                b.setMaxInactiveInterval(op.number);
                break;
            case TribesdSession.SET_PRINCIPAL:
                b.setPrincipal(op.value == null ? null : serialize(id, "principal", op.value));
                break;
            case TribesdSession.SET_AUTH_TYPE:
                b.setAuthType((String) op.value);
                break;
            case TribesdSession.SET_NOTE: {
                byte[] v = serialize(id, "note " + op.name, op.value);
                if (v != null) {
                    b.setNote(op.name, v);
                }
                break;
            }
            case TribesdSession.REMOVE_NOTE:
                b.removeNote(op.name);
                break;
            case TribesdSession.CHANGE_ID:
                b.changeId(op.name);
                break;
            case TribesdSession.INVALIDATE:
                b.invalidate();
                break;
            default:
                throw new IllegalStateException("unknown op " + op.kind);
            }
        }
        if (b.size() == 0) {
            b.access();
        }
        return b;
    }

    /** The whole session as a new one (create and every attribute). */
    private ChangeBatch whole(TribesdSession s) {
        String id = s.getIdInternal();
        ChangeBatch b = new ChangeBatch(getName(), id);
        b.create(Integer.valueOf(s.getMaxInactiveInterval()));
        for (Map.Entry<String, Object> e : s.attributeMap().entrySet()) {
            byte[] v = serialize(id, e.getKey(), e.getValue());
            if (v != null) {
                b.setAttribute(e.getKey(), v);
            }
        }
        if (s.getPrincipal() != null) {
            b.setPrincipal(serialize(id, "principal", s.getPrincipal()));
        }
        if (s.getAuthType() != null) {
            b.setAuthType(s.getAuthType());
        }
        return b;
    }

    /** One value as a standalone Java stream; null (logged) when it cannot be serialized. */
    private byte[] serialize(String sessionId, String what, Object value) {
        if (value instanceof String) {
            // The most common value, written without an ObjectOutputStream (same bytes).
            byte[] b = JavaStreams.string((String) value);
            if (b != null) {
                return b;
            }
        }
        try {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream(128);
            try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
                out.writeObject(value);
            }
            return bytes.toByteArray();
        } catch (IOException | RuntimeException e) {
            log.warn("tribesd: session " + shortId(sessionId) + " of " + getName() + ": " + what + " ("
                    + (value == null ? "null" : value.getClass().getName()) + ") could not be serialized, not"
                    + " replicated: " + e);
            return null;
        }
    }

    /**
     * Expiry, and the eviction of copies read from the node: a copy that another node changed
     * since, or that was not used for a minute, is dropped (it is read again when asked for).
     */
    @Override
    public void processExpires() {
        long handle = getNodeHandle();
        long now = System.currentTimeMillis();
        for (Session s : findSessions()) {
            if (!(s instanceof TribesdSession) || handle == 0) {
                continue;
            }
            TribesdSession t = (TribesdSession) s;
            if (t.hasPendingChanges()) {
                continue;
            }
            int state;
            try {
                state = NativeBridge.sessionState(handle, getName(), t.getIdInternal());
            } catch (RuntimeException e) {
                continue;
            }
            if (state != 1 && now - t.getThisAccessedTimeInternal() > EVICT_IDLE_MS) {
                drop(t);
            }
        }
        super.processExpires();
    }

    /**
     * Every session the node holds for this context, primary here or replicated (as
     * DeltaManager's count, which holds them all): what JMX's {@code activeSessions} shows.
     * Sessions replicated from other nodes are not in this manager's map until asked for.
     */
    @Override
    public int getActiveSessions() {
        long handle = getNodeHandle();
        if (handle == 0 || getCluster() == null) {
            return super.getActiveSessions();
        }
        try {
            return NativeBridge.sessionCount(handle, getName());
        } catch (RuntimeException e) {
            return super.getActiveSessions();
        }
    }

    /** The ids of every session the node holds for this context (JMX {@code listSessionIds}). */
    @Override
    public String listSessionIds() {
        long handle = getNodeHandle();
        if (handle == 0 || getCluster() == null) {
            return super.listSessionIds();
        }
        try {
            return String.join(" ", NativeBridge.sessionIds(handle, getName()));
        } catch (RuntimeException e) {
            return super.listSessionIds();
        }
    }

    /** Messages are received by the native node; nothing reaches this method. */
    @Override
    public void messageDataReceived(ClusterMessage msg) {
        if (log.isDebugEnabled()) {
            log.debug("tribesd: ignoring a cluster message routed by the Java cluster (the native node receives)");
        }
    }

    @Override
    public String[] getInvalidatedSessions() {
        return new String[0];
    }

    @Override
    public ClusterManager cloneFromTemplate() {
        TribesdManager result = new TribesdManager();
        clone(result);
        result.stateTransferTimeout = stateTransferTimeout;
        result.sendAllSessions = sendAllSessions;
        result.sendAllSessionsSize = sendAllSessionsSize;
        result.sendAllSessionsWaitTime = sendAllSessionsWaitTime;
        result.stateTimestampDrop = stateTimestampDrop;
        result.expireSessionsOnShutdown = expireSessionsOnShutdown;
        result.notifySessionListenersOnReplication = notifySessionListenersOnReplication;
        result.notifyContainerListenersOnReplication = notifyContainerListenersOnReplication;
        return result;
    }

    /** Sessions are not persisted across restarts by this manager (as DeltaManager). */
    @Override
    public void load() {
    }

    @Override
    public void unload() {
    }

    public int getStateTransferTimeout() {
        return stateTransferTimeout;
    }

    public void setStateTransferTimeout(int v) {
        stateTransferTimeout = v;
    }

    public boolean isSendAllSessions() {
        return sendAllSessions;
    }

    public void setSendAllSessions(boolean v) {
        sendAllSessions = v;
    }

    public int getSendAllSessionsSize() {
        return sendAllSessionsSize;
    }

    public void setSendAllSessionsSize(int v) {
        sendAllSessionsSize = v;
    }

    public int getSendAllSessionsWaitTime() {
        return sendAllSessionsWaitTime;
    }

    public void setSendAllSessionsWaitTime(int v) {
        sendAllSessionsWaitTime = v;
    }

    public boolean isStateTimestampDrop() {
        return stateTimestampDrop;
    }

    public void setStateTimestampDrop(boolean v) {
        stateTimestampDrop = v;
    }

    public boolean isExpireSessionsOnShutdown() {
        return expireSessionsOnShutdown;
    }

    public void setExpireSessionsOnShutdown(boolean v) {
        expireSessionsOnShutdown = v;
    }

    public boolean isNotifySessionListenersOnReplication() {
        return notifySessionListenersOnReplication;
    }

    public void setNotifySessionListenersOnReplication(boolean v) {
        notifySessionListenersOnReplication = v;
    }

    public boolean isNotifyContainerListenersOnReplication() {
        return notifyContainerListenersOnReplication;
    }

    public void setNotifyContainerListenersOnReplication(boolean v) {
        notifyContainerListenersOnReplication = v;
    }
}
