/*
 * Licensed under the Apache License, Version 2.0.
 */
package io.tribesd.tomcat;

import io.tribesd.tomcat.bridge.NativeBridge;
import io.tribesd.tomcat.bridge.NativeLoader;

import org.apache.catalina.LifecycleException;
import org.apache.catalina.LifecycleState;
import org.apache.catalina.ha.ClusterManager;
import org.apache.catalina.ha.ClusterMessage;
import org.apache.catalina.ha.session.ClusterManagerBase;
import org.apache.juli.logging.Log;
import org.apache.juli.logging.LogFactory;

/**
 * SKELETON, NOT A WORKING REPLICATION MANAGER. The {@code <Manager>} that will replace
 * {@code org.apache.catalina.ha.session.DeltaManager} in server.xml (issue 7).
 *
 * <p>What it does today: at start it loads the native library and starts a native node (no
 * network yet); at stop it stops the node. Sessions are kept by {@link
 * org.apache.catalina.session.ManagerBase} in this JVM only: nothing is replicated, nothing is
 * received, and it says so in the log at start. Recording each request's changes into a
 * {@link io.tribesd.tomcat.bridge.ChangeBatch}, serving sessions replicated by other nodes, and
 * the DeltaManager attributes are still to come.
 */
public class TribesdManager extends ClusterManagerBase {

    private static final Log log = LogFactory.getLog(TribesdManager.class);

    private volatile long node;
    private String name;

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
        return node;
    }

    @Override
    protected void startInternal() throws LifecycleException {
        super.startInternal();
        try {
            String library = NativeLoader.load();
            node = NativeBridge.start("{\"name\":\"" + jsonSafe(getName()) + "\"}");
            log.warn("tribesd " + NativeBridge.version() + " (native library " + library + "): TribesdManager is a"
                    + " skeleton; sessions of " + getName() + " are NOT replicated yet");
        } catch (UnsatisfiedLinkError | RuntimeException e) {
            throw new LifecycleException("tribesd: cannot start the native node for " + getName() + ": "
                    + e.getMessage(), e);
        }
        setState(LifecycleState.STARTING);
    }

    @Override
    protected void stopInternal() throws LifecycleException {
        setState(LifecycleState.STOPPING);
        long handle = node;
        node = 0;
        if (handle != 0) {
            NativeBridge.stop(handle);
        }
        super.stopInternal();
    }

    /** Not yet: the native node will receive cluster messages itself. Ignored. */
    @Override
    public void messageDataReceived(ClusterMessage msg) {
        if (log.isDebugEnabled()) {
            log.debug("tribesd: ignoring a cluster message routed by Tomcat's cluster (not implemented yet)");
        }
    }

    /** Not yet: the request's changes will go to the native node as one batch. Returns null. */
    @Override
    public ClusterMessage requestCompleted(String sessionId) {
        return null;
    }

    @Override
    public String[] getInvalidatedSessions() {
        return new String[0];
    }

    @Override
    public ClusterManager cloneFromTemplate() {
        TribesdManager result = new TribesdManager();
        clone(result);
        return result;
    }

    /** Sessions are not persisted across restarts by this manager (as DeltaManager). */
    @Override
    public void load() {
    }

    @Override
    public void unload() {
    }

    private static String jsonSafe(String s) {
        if (s == null) {
            return "";
        }
        StringBuilder sb = new StringBuilder(s.length());
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') {
                sb.append('\\').append(c);
            } else if (c < 0x20) {
                sb.append(String.format("\\u%04x", (int) c));
            } else {
                sb.append(c);
            }
        }
        return sb.toString();
    }
}
