/*
 * Licensed under the Apache License, Version 2.0.
 */
package io.tribesd.tomcat.bridge;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;

/**
 * Writes the request batch: every change one request made to one session, in the order made,
 * sent to the native side in one {@link NativeBridge#requestCompleted(long, byte[])} call.
 *
 * <p>Format (docs/java-bridge.md; the Rust decoder is crates/tribes-jni/src/batch.rs): {@code "TB"},
 * version 1, flags 0, context and session id as strings, an operation count (u32), then the
 * operations. Strings are a u16 length and UTF-8 bytes, values a u32 length and a standalone Java
 * serialization stream ({@code AC ED 00 05} and one object), integers big-endian.
 *
 * <p>Not thread-safe; one instance per request.
 */
public final class ChangeBatch {

    public static final int VERSION = 1;

    static final int CREATE = 0x01;
    static final int SET_ATTRIBUTE = 0x02;
    static final int REMOVE_ATTRIBUTE = 0x03;
    static final int SET_MAX_INACTIVE = 0x04;
    static final int SET_PRINCIPAL = 0x05;
    static final int SET_AUTH_TYPE = 0x06;
    static final int SET_NOTE = 0x07;
    static final int REMOVE_NOTE = 0x08;
    static final int SET_NEW = 0x09;
    static final int ACCESS = 0x0A;
    static final int CHANGE_ID = 0x0B;
    static final int INVALIDATE = 0x0C;

    private final String context;
    private final String sessionId;
    private final ByteArrayOutputStream ops = new ByteArrayOutputStream(256);
    private final DataOutputStream out = new DataOutputStream(ops);
    private int count;

    public ChangeBatch(String context, String sessionId) {
        this.context = checkString("context", context);
        this.sessionId = checkString("session id", sessionId);
    }

    /** The session was created by this request; {@code maxInactiveInterval} null for the context's default. */
    public ChangeBatch create(Integer maxInactiveInterval) {
        op(CREATE);
        if (maxInactiveInterval == null) {
            u8(0);
        } else {
            u8(1);
            i32(maxInactiveInterval);
        }
        return this;
    }

    /** {@code value}: the attribute as a standalone Java stream (ObjectOutputStream, one writeObject). */
    public ChangeBatch setAttribute(String name, byte[] value) {
        checkString("attribute name", name);
        checkBytes("attribute value", value);
        op(SET_ATTRIBUTE);
        str("attribute name", name);
        bytes("attribute value", value);
        return this;
    }

    public ChangeBatch removeAttribute(String name) {
        checkString("attribute name", name);
        op(REMOVE_ATTRIBUTE);
        str("attribute name", name);
        return this;
    }

    public ChangeBatch setMaxInactiveInterval(int seconds) {
        op(SET_MAX_INACTIVE);
        i32(seconds);
        return this;
    }

    /** {@code principal}: a standalone Java stream, or null when the principal was removed. */
    public ChangeBatch setPrincipal(byte[] principal) {
        op(SET_PRINCIPAL);
        if (principal == null) {
            u8(0);
        } else {
            u8(1);
            bytes("principal", principal);
        }
        return this;
    }

    public ChangeBatch setAuthType(String authType) {
        if (authType != null) {
            checkString("auth type", authType);
        }
        op(SET_AUTH_TYPE);
        if (authType == null) {
            u8(0);
        } else {
            u8(1);
            str("auth type", authType);
        }
        return this;
    }

    public ChangeBatch setNote(String name, byte[] value) {
        checkString("note name", name);
        checkBytes("note value", value);
        op(SET_NOTE);
        str("note name", name);
        bytes("note value", value);
        return this;
    }

    public ChangeBatch removeNote(String name) {
        checkString("note name", name);
        op(REMOVE_NOTE);
        str("note name", name);
        return this;
    }

    public ChangeBatch setNew(boolean isNew) {
        op(SET_NEW);
        u8(isNew ? 1 : 0);
        return this;
    }

    /** The request used the session without changing it. */
    public ChangeBatch access() {
        op(ACCESS);
        return this;
    }

    public ChangeBatch changeId(String newId) {
        checkString("new session id", newId);
        op(CHANGE_ID);
        str("new session id", newId);
        return this;
    }

    public ChangeBatch invalidate() {
        op(INVALIDATE);
        return this;
    }

    /** The number of operations written so far. */
    public int size() {
        return count;
    }

    /** The whole batch: header, context, session id, count and operations. */
    public byte[] toByteArray() {
        try {
            ByteArrayOutputStream whole = new ByteArrayOutputStream(ops.size() + 16 + context.length() + sessionId.length());
            DataOutputStream w = new DataOutputStream(whole);
            w.writeByte('T');
            w.writeByte('B');
            w.writeByte(VERSION);
            w.writeByte(0);
            writeStr(w, "context", context);
            writeStr(w, "session id", sessionId);
            w.writeInt(count);
            out.flush();
            ops.writeTo(w);
            w.flush();
            return whole.toByteArray();
        } catch (IOException e) {
            throw new IllegalStateException("writing to memory cannot fail", e);
        }
    }

    private void op(int tag) {
        u8(tag);
        count++;
    }

    private void u8(int v) {
        try {
            out.writeByte(v);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    private void i32(int v) {
        try {
            out.writeInt(v);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    private void str(String field, String s) {
        try {
            writeStr(out, field, s);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    private void bytes(String field, byte[] b) {
        checkBytes(field, b);
        try {
            out.writeInt(b.length);
            out.write(b);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void checkBytes(String field, byte[] b) {
        if (b == null) {
            throw new IllegalArgumentException(field + " is null");
        }
    }

    private static String checkString(String field, String s) {
        if (s == null) {
            throw new IllegalArgumentException(field + " is null");
        }
        if (s.getBytes(StandardCharsets.UTF_8).length > 0xFFFF) {
            throw new IllegalArgumentException(field + " is over 65535 UTF-8 bytes");
        }
        return s;
    }

    private static void writeStr(DataOutputStream w, String field, String s) throws IOException {
        byte[] b = checkString(field, s).getBytes(StandardCharsets.UTF_8);
        w.writeShort(b.length);
        w.write(b);
    }
}
