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
     *     {@code name}); empty or null for the defaults. Unknown fields are refused.
     * @return the node's handle, never 0
     */
    public static native long start(String configJson);

    /** Stops the node; the handle is then unknown. */
    public static native void stop(long handle);

    /**
     * Hands over every change one request made to one session ({@link ChangeBatch}). Returns
     * without waiting for the network.
     *
     * @return the number of changes taken
     * @throws IllegalArgumentException when the batch is malformed (nothing is applied)
     */
    public static native int requestCompleted(long handle, byte[] batch);

    /** The node's counters as a JSON object (diagnostics and tests). */
    public static native String stats(long handle);
}
