/*
 * Licensed under the Apache License, Version 2.0.
 */
package io.tribesd.tomcat;

import java.io.Serializable;
import java.security.Principal;
import java.util.ArrayList;
import java.util.List;

import org.apache.catalina.Manager;
import org.apache.catalina.session.StandardSession;

/**
 * A session of a {@link TribesdManager}: a StandardSession that records what each request changes
 * (attributes, maxInactiveInterval, principal, authType, the authenticator's notes, id changes,
 * invalidation) until the request ends, when the manager hands the changes to the native node as
 * one batch. Values are kept as objects and serialized at the end of the request, as DeltaSession
 * does, so changes made to a value after setAttribute in the same request are replicated.
 */
public class TribesdSession extends StandardSession {

    private static final long serialVersionUID = 1L;

    /** The authenticator notes that replicate (Tomcat's own rule for notes in deltas). */
    static final String SESSION_ID_NOTE = "org.apache.catalina.authenticator.SESSION_ID";
    static final String FORM_REQUEST_NOTE = "org.apache.catalina.authenticator.REQUEST";

    /** One recorded change. */
    static final class Op {
        final int kind;
        final String name;
        final Object value;
        final int number;

        Op(int kind, String name, Object value, int number) {
            this.kind = kind;
            this.name = name;
            this.value = value;
            this.number = number;
        }
    }

    static final int CREATE = 1;
    static final int SET_ATTRIBUTE = 2;
    static final int REMOVE_ATTRIBUTE = 3;
    static final int SET_MAX_INACTIVE = 4;
    static final int SET_PRINCIPAL = 5;
    static final int SET_AUTH_TYPE = 6;
    static final int SET_NOTE = 7;
    static final int REMOVE_NOTE = 8;
    static final int CHANGE_ID = 11;
    static final int INVALIDATE = 12;

    private transient final Object lock = new Object();
    private transient List<Op> ops = new ArrayList<>();
    /** The id the native node knows this session by (the id when the pending batch began). */
    private transient volatile String nodeId;
    private transient volatile boolean recording;
    /** Last completed a request here (or created here); false for a copy read from the node. */
    private transient volatile boolean primaryHere;

    public TribesdSession(Manager manager) {
        super(manager);
    }

    /** Starts recording: a session created here (with its create change) or read from the node. */
    void startRecording(boolean created) {
        synchronized (lock) {
            nodeId = getIdInternal();
            ops.clear();
            if (created) {
                ops.add(new Op(CREATE, null, null, getMaxInactiveInterval()));
            }
            primaryHere = created;
            recording = true;
        }
    }

    /** Sets every field from a record read from the node: no listener, nothing recorded. */
    void fill(io.tribesd.tomcat.bridge.SessionData d, Principal principal, java.util.Map<String, Object> notes,
            java.util.Map<String, Object> attributes) {
        this.id = d.id;
        this.creationTime = d.creationTime;
        this.lastAccessedTime = d.lastAccessedTime;
        this.thisAccessedTime = d.thisAccessedTime;
        this.maxInactiveInterval = d.maxInactiveInterval;
        this.isNew = d.isNew;
        this.isValid = true;
        this.authType = d.authType;
        this.principal = principal;
        this.notes.putAll(notes);
        this.attributes.putAll(attributes);
    }

    /**
     * Takes the new id another node gave this session (a replicated id change): nothing recorded,
     * no listener here (the manager fires them as DeltaManager does).
     */
    void renameFromCluster(String newId) {
        synchronized (lock) {
            boolean was = recording;
            recording = false;
            try {
                super.setId(newId, false);
            } finally {
                recording = was;
                nodeId = newId;
            }
        }
    }

    boolean isExpiring() {
        return expiring;
    }

    java.util.Map<String, Object> attributeMap() {
        return attributes;
    }

    boolean isPrimaryHere() {
        return primaryHere;
    }

    boolean hasPendingChanges() {
        synchronized (lock) {
            return !ops.isEmpty();
        }
    }

    /** The pending changes and the id they apply to, taken (cleared); null when nothing is pending. */
    Object[] takeChanges() {
        synchronized (lock) {
            if (!recording) {
                return null;
            }
            List<Op> taken = ops;
            String id = nodeId;
            ops = new ArrayList<>();
            nodeId = getIdInternal();
            return new Object[] {id, taken};
        }
    }

    /** The batch went to the node: this node is now the session's primary. */
    void submitted() {
        primaryHere = true;
    }

    private void record(Op op) {
        synchronized (lock) {
            if (recording) {
                ops.add(op);
            }
        }
    }

    @Override
    public void setId(String id, boolean notify) {
        String old = this.id;
        super.setId(id, notify);
        if (old != null && !old.equals(id)) {
            record(new Op(CHANGE_ID, id, null, 0));
        }
    }

    @Override
    public void setMaxInactiveInterval(int interval) {
        super.setMaxInactiveInterval(interval);
        record(new Op(SET_MAX_INACTIVE, null, null, interval));
    }

    @Override
    public void setPrincipal(Principal principal) {
        super.setPrincipal(principal);
        record(new Op(SET_PRINCIPAL, null, principal, 0));
    }

    @Override
    public void setAuthType(String authType) {
        super.setAuthType(authType);
        record(new Op(SET_AUTH_TYPE, null, authType, 0));
    }

    @Override
    public void setNote(String name, Object value) {
        super.setNote(name, value);
        if (replicatedNote(name)) {
            record(value == null ? new Op(REMOVE_NOTE, name, null, 0) : new Op(SET_NOTE, name, value, 0));
        }
    }

    @Override
    public void removeNote(String name) {
        super.removeNote(name);
        if (replicatedNote(name)) {
            record(new Op(REMOVE_NOTE, name, null, 0));
        }
    }

    static boolean replicatedNote(String name) {
        return SESSION_ID_NOTE.equals(name) || FORM_REQUEST_NOTE.equals(name);
    }

    @Override
    public void setAttribute(String name, Object value, boolean notify) {
        super.setAttribute(name, value, notify);
        if (value != null) {
            record(new Op(SET_ATTRIBUTE, name, value, 0));
        }
    }

    @Override
    protected void removeAttributeInternal(String name, boolean notify) {
        boolean had = attributes.containsKey(name);
        super.removeAttributeInternal(name, notify);
        if (had && !expiring) {
            record(new Op(REMOVE_ATTRIBUTE, name, null, 0));
        }
    }

    /**
     * Changes still pending when an access ends were not handed over by ReplicationValve: the
     * session of another context changed in a cross-context dispatch (DeltaSession registers those
     * with the valve; this class is no DeltaSession), or a request the valve's filter skips. They
     * go to the node now. The request's own session ends its access after the valve handed its
     * changes over, with nothing pending.
     */
    @Override
    public void endAccess() {
        super.endAccess();
        if (this.isValid && !this.expiring && hasPendingChanges() && getManager() instanceof TribesdManager) {
            ((TribesdManager) getManager()).submit(this);
        }
    }

    /**
     * Distributable contexts refuse values that cannot be serialized (IllegalArgumentException from
     * setAttribute), as StandardSession does, and values the manager's filters refuse.
     */
    @Override
    public boolean isAttributeDistributable(String name, Object value) {
        if (!(value instanceof Serializable)) {
            return false;
        }
        Manager manager = getManager();
        return manager == null || manager.willAttributeDistribute(name, value);
    }

    /**
     * DeltaSession's expiry rule: a session primary here expires after maxInactiveInterval (and
     * the cluster is told), a copy read from the node after twice that (this node only).
     */
    @Override
    public boolean isValid() {
        if (!this.isValid) {
            return false;
        }
        if (this.expiring) {
            return true;
        }
        if (maxInactiveInterval > 0) {
            int idle = (int) (getIdleTimeInternal() / 1000L);
            if (primaryHere) {
                if (idle >= maxInactiveInterval) {
                    expire(true, true);
                }
            } else if (idle >= 2 * maxInactiveInterval) {
                expire(true, false);
            }
        }
        return this.isValid;
    }

    @Override
    public void expire(boolean notify) {
        expire(notify, true);
    }

    /**
     * Expires the session here; with {@code notifyCluster} (invalidate(), or expiry of a primary
     * session) the node is told at once, with the request's pending changes first.
     */
    public void expire(boolean notify, boolean notifyCluster) {
        if (!this.isValid || this.expiring) {
            return;
        }
        if (notifyCluster && getManager() instanceof TribesdManager) {
            record(new Op(INVALIDATE, null, null, 0));
            ((TribesdManager) getManager()).submit(this);
        }
        synchronized (lock) {
            recording = false;
            ops.clear();
        }
        super.expire(notify);
    }
}
