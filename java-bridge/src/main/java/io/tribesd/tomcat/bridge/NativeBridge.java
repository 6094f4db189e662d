/*
 * Licensed under the Apache License, Version 2.0.
 */
package io.tribesd.tomcat.bridge;

/**
 * The native methods of crates/tribes-jni. Small and coarse: one call per request end.
 *
 * <p>A node is identified by the {@code long} handle {@link #start(String)} returns. Handles are
 * table keys on the native side, not pointers: a stale or stopped handle is an
 * {@link IllegalStateException}, never a crash. Bad input (a malformed batch or configuration) is
 * an {@link IllegalArgumentException}. An internal error in the native code is reported as an
 * {@link IllegalStateException} naming the call; it never unwinds into the JVM.
 *
 * <p>Whether the node runs inside this JVM (today) or in a tribesd sidecar (later) is the native
 * library's business: this class does not change.
 */
public final class NativeBridge {

    static {
        NativeLoader.load();
    }

    private NativeBridge() {
    }

    /** The native library's version (the tribes-jni crate version). */
    public static native String version();

    /**
     * Starts a node.
     *
     * @param configJson the node's configuration as a JSON object ({@code workerThreads},
     *     {@code name}, {@code serverXml}, {@code clusterHost}, {@code contexts}: [{@code name},
     *     {@code sessionTimeout}], {@code controlSocket}, {@code memberWaitMs}); empty or null for
     *     the defaults (a node without network). Unknown fields are refused.
     * @return the node's handle, never 0
     */
    public static native long start(String configJson);

    /** Stops the node; the handle is then unknown. */
    public static native void stop(long handle);

    /**
     * Hands over every change one request made to one session ({@link ChangeBatch}). Returns
     * once the node applied them and queued its messages, never waiting for the network.
     *
     * @return the number of changes taken
     * @throws IllegalArgumentException when the batch is malformed (nothing is applied)
     * @throws IllegalStateException when the node refused the changes (unknown session, ...)
     */
    public static native int requestCompleted(long handle, byte[] batch);

    /** The node's counters as a JSON object (diagnostics and tests). */
    public static native String stats(long handle);

    /**
     * Holds one more context (a webapp started after the node) and asks a member for its session
     * state, as contexts passed at start are; {@link #awaitState} waits for it.
     *
     * @return false if the node already held it (or has no cluster)
     */
    public static native boolean addContext(long handle, String name, int sessionTimeoutMinutes);

    /**
     * One session the node holds ({@link SessionData} reads it), or null when it holds none with
     * this id.
     *
     * @throws IllegalStateException when the node does not hold the context
     */
    public static native byte[] getSession(long handle, String context, String id);

    /** -1: no such session; 0: held as a backup (last changed by another node); 1: primary here. */
    public static native int sessionState(long handle, String context, String id);

    /** The ids of the sessions the node holds for {@code context}. */
    public static native String[] sessionIds(long handle, String context);

    /** How many sessions the node holds for {@code context} (JMX activeSessions). */
    public static native int sessionCount(long handle, String context);

    /**
     * Waits, at most {@code timeoutMs}, for the end of the wait for the session state of
     * {@code context} (DeltaManager's start blocks the same way).
     *
     * @return what happened, for the log ("session state received", "no members: ...", "still
     *     waiting ... after N ms; going on", ...)
     * @throws IllegalStateException when the node does not hold the context
     */
    public static native String awaitState(long handle, String context, long timeoutMs);

    /**
     * The members the node sees now ({@code local}: the node itself), one line each:
     * {@code host port securePort udpPort aliveMs uniqueId domain payload}, tab-separated, byte
     * strings in lower-case hex. Empty without a cluster.
     */
    public static native String[] members(long handle, boolean local);

    /**
     * Waits at most {@code timeoutMs} for listener events (sessions created, changed, renamed or
     * ended by other nodes) and takes a batch of them ({@link ListenerEvents}); null when none
     * came. The node keeps events only once this was called (bounded; over the bound they are
     * dropped and logged, the sessions are unaffected).
     */
    public static native byte[] pollEvents(long handle, long timeoutMs);

    /** How many members the node sees now (0 without a cluster). */
    public static native int memberCount(long handle);
}
