/*
 * Licensed under the Apache License, Version 2.0.
 */
package io.tribesd.tomcat.bridge;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One session as {@link NativeBridge#getSession(long, String, String)} returns it (written by
 * crates/tribes-jni/src/session_bytes.rs; docs/java-bridge.md). Values are left as standalone Java
 * serialization streams: the Manager deserializes each one alone with the webapp's class loader.
 */
public final class SessionData {

    public final String id;
    public final long creationTime;
    public final long lastAccessedTime;
    public final long thisAccessedTime;
    public final int maxInactiveInterval;
    public final boolean isNew;
    public final boolean isValid;
    /** Last changed through this node. */
    public final boolean primary;
    public final long version;
    /** A standalone Java stream, or null. */
    public final byte[] principal;
    public final String authType;
    public final Map<String, byte[]> notes;
    /** In the node's order. */
    public final Map<String, byte[]> attributes;
    /** The member whose message last created, changed or transferred this copy, or null. */
    public final String lastSender;

    private SessionData(ByteBuffer b) {
        if (b.remaining() < 4 || b.get() != 'T' || b.get() != 'S') {
            throw new IllegalArgumentException("tribesd: not a session record");
        }
        int version = b.get();
        if (version != 1 && version != 2) {
            throw new IllegalArgumentException("tribesd: session record version " + version + " is not 1 or 2");
        }
        b.get();
        id = str(b);
        creationTime = b.getLong();
        lastAccessedTime = b.getLong();
        thisAccessedTime = b.getLong();
        maxInactiveInterval = b.getInt();
        isNew = b.get() != 0;
        isValid = b.get() != 0;
        primary = b.get() != 0;
        this.version = b.getLong();
        principal = b.get() != 0 ? bytes(b) : null;
        authType = b.get() != 0 ? str(b) : null;
        notes = values(b);
        attributes = values(b);
        lastSender = version >= 2 && b.get() != 0 ? str(b) : null;
        if (b.hasRemaining()) {
            throw new IllegalArgumentException("tribesd: " + b.remaining() + " bytes after the session record");
        }
    }

    /** Reads a record; a malformed one is an IllegalArgumentException. */
    public static SessionData decode(byte[] data) {
        try {
            return new SessionData(ByteBuffer.wrap(data));
        } catch (RuntimeException e) {
            if (e instanceof IllegalArgumentException) {
                throw e;
            }
            throw new IllegalArgumentException("tribesd: truncated session record", e);
        }
    }

    private static Map<String, byte[]> values(ByteBuffer b) {
        int n = b.getInt();
        if (n < 0 || n > b.remaining()) {
            throw new IllegalArgumentException("tribesd: bad value count " + n);
        }
        if (n == 0) {
            return Collections.emptyMap();
        }
        Map<String, byte[]> m = new LinkedHashMap<>();
        for (int i = 0; i < n; i++) {
            String name = str(b);
            m.put(name, bytes(b));
        }
        return m;
    }

    static String str(ByteBuffer b) {
        int len = b.getShort() & 0xFFFF;
        byte[] s = new byte[len];
        b.get(s);
        return new String(s, StandardCharsets.UTF_8);
    }

    static byte[] bytes(ByteBuffer b) {
        int len = b.getInt();
        if (len < 0 || len > b.remaining()) {
            throw new IllegalArgumentException("tribesd: bad value length " + len);
        }
        byte[] v = new byte[len];
        b.get(v);
        return v;
    }

    /** Attribute names, in order. */
    public List<String> attributeNames() {
        return new ArrayList<>(attributes.keySet());
    }
}
