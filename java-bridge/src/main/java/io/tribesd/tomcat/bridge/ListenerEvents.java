/*
 * Licensed under the Apache License, Version 2.0.
 */
package io.tribesd.tomcat.bridge;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * A batch of listener events from {@link NativeBridge#pollEvents(long, long)} (written by
 * crates/tribes-jni/src/events.rs; docs/java-bridge.md): sessions created, changed, renamed or
 * ended by other nodes, for the manager to fire the webapp's listeners as DeltaManager does.
 */
public final class ListenerEvents {

    public static final int SESSION_CREATED = 1;
    public static final int SESSION_DESTROYED = 2;
    public static final int SESSION_ID_CHANGED = 3;
    public static final int ATTRIBUTE_ADDED = 4;
    public static final int ATTRIBUTE_REPLACED = 5;
    public static final int ATTRIBUTE_REMOVED = 6;

    /** One event. */
    public static final class Event {
        public final int kind;
        public final String context;
        /** The session's id (its old id for {@link #SESSION_ID_CHANGED}). */
        public final String id;
        /** The attribute's name, or the new id for {@link #SESSION_ID_CHANGED}; else "". */
        public final String name;
        public final boolean sessionListeners;
        public final boolean containerListeners;
        /** Standalone Java streams, or null: the value set, the value replaced or removed. */
        public final byte[] value;
        public final byte[] old;
        /** {@link #SESSION_DESTROYED}: the session as it ended. */
        public final SessionData session;

        Event(ByteBuffer b) {
            kind = b.get();
            context = SessionData.str(b);
            id = SessionData.str(b);
            name = SessionData.str(b);
            int flags = b.get();
            sessionListeners = (flags & 1) != 0;
            containerListeners = (flags & 2) != 0;
            value = b.get() != 0 ? SessionData.bytes(b) : null;
            old = b.get() != 0 ? SessionData.bytes(b) : null;
            session = b.get() != 0 ? SessionData.decode(SessionData.bytes(b)) : null;
        }
    }

    private ListenerEvents() {
    }

    /** Reads a batch; a malformed one is an IllegalArgumentException. */
    public static List<Event> decode(byte[] data) {
        ByteBuffer b = ByteBuffer.wrap(data);
        try {
            if (b.get() != 'T' || b.get() != 'E' || b.get() != 1) {
                throw new IllegalArgumentException("tribesd: not a version 1 listener event batch");
            }
            b.get();
            int n = b.getInt();
            if (n < 0 || n > b.remaining()) {
                throw new IllegalArgumentException("tribesd: bad event count " + n);
            }
            List<Event> events = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                events.add(new Event(b));
            }
            if (b.hasRemaining()) {
                throw new IllegalArgumentException("tribesd: " + b.remaining() + " bytes after the events");
            }
            return events;
        } catch (java.nio.BufferUnderflowException e) {
            throw new IllegalArgumentException("tribesd: truncated listener event batch", e);
        }
    }
}
