/*
 * Licensed under the Apache License, Version 2.0.
 */
package io.tribesd.tomcat;

import java.io.File;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import io.tribesd.tomcat.bridge.NativeBridge;
import io.tribesd.tomcat.bridge.NativeLoader;

import org.apache.catalina.Container;
import org.apache.catalina.Context;
import org.apache.catalina.Host;
import org.apache.catalina.Lifecycle;
import org.apache.catalina.LifecycleEvent;
import org.apache.catalina.LifecycleException;
import org.apache.catalina.LifecycleListener;
import org.apache.catalina.LifecycleState;
import org.apache.catalina.ha.ClusterManager;
import org.apache.catalina.ha.ClusterMessage;
import org.apache.catalina.ha.tcp.SimpleTcpCluster;
import org.apache.catalina.tribes.Member;
import org.apache.juli.logging.Log;
import org.apache.juli.logging.LogFactory;

/**
 * The {@code <Cluster>} that replaces {@code org.apache.catalina.ha.tcp.SimpleTcpCluster} in
 * server.xml: every child element of the howto configuration stays valid (the {@code <Channel>}
 * and its parts are read by the Digester as usual, but never started: this class opens no Tribes
 * socket), the {@code <Valve>}s are installed as SimpleTcpCluster installs them, and the cluster
 * node is the native one (crates/tribes-jni), configured from the same {@code <Cluster>} element
 * of the server.xml file.
 *
 * <p>The native node starts once the cluster's container (Engine or Host) has started, that is
 * once every webapp deployed at startup has registered its {@link TribesdManager}, so that it
 * holds their contexts from the start (and asks the cluster for their sessions). A webapp started
 * later is added to the running node (its sessions are received from then on).
 *
 * <p>Attributes, besides SimpleTcpCluster's: {@code serverXml} (default
 * {@code ${catalina.base}/conf/server.xml}), {@code workerThreads} (the native node's threads,
 * default 2), {@code controlSocket} (a path for {@code tribesd sessions --control-socket}).
 */
public class TribesdCluster extends SimpleTcpCluster {

    private static final Log log = LogFactory.getLog(TribesdCluster.class);

    private volatile long node;
    private String serverXml;
    private int workerThreads = 2;
    private String controlSocket;
    private final List<String> heldAtStart = new ArrayList<>();
    private volatile Thread eventThread;
    /** The managers by name, for the event thread (SimpleTcpCluster's map is not thread-safe). */
    private final java.util.concurrent.ConcurrentHashMap<String, TribesdManager> tribesdManagers =
            new java.util.concurrent.ConcurrentHashMap<>();

    private final LifecycleListener starter = new LifecycleListener() {
        @Override
        public void lifecycleEvent(LifecycleEvent event) {
            if (Lifecycle.AFTER_START_EVENT.equals(event.getType())) {
                startNode();
            }
        }
    };

    public String getServerXml() {
        return serverXml;
    }

    public void setServerXml(String serverXml) {
        this.serverXml = serverXml;
    }

    public int getWorkerThreads() {
        return workerThreads;
    }

    public void setWorkerThreads(int workerThreads) {
        this.workerThreads = workerThreads;
    }

    public String getControlSocket() {
        return controlSocket;
    }

    public void setControlSocket(String controlSocket) {
        this.controlSocket = controlSocket;
    }

    /** The native node's handle once started, else 0. */
    public long getNodeHandle() {
        return node;
    }

    @Override
    protected void startInternal() throws LifecycleException {
        log.info("tribesd: starting the cluster; the <Channel> of server.xml is not started, the native node"
                + " (configured from the same <Cluster>) replaces it");
        try {
            NativeLoader.load();
        } catch (UnsatisfiedLinkError e) {
            throw new LifecycleException(e.getMessage(), e);
        }
        checkDefaults();
        registerClusterValve();
        warnNotActedOn();
        Container container = getContainer();
        if (container != null) {
            container.addLifecycleListener(starter);
        }
        setState(LifecycleState.STARTING);
    }

    /**
     * Names, at start, what SimpleTcpCluster would run and this cluster does not: the native node
     * receives the cluster's messages itself (only session messages are handled), and webapps are
     * not deployed through the cluster.
     */
    private void warnNotActedOn() {
        for (org.apache.catalina.ha.ClusterListener l : clusterListeners) {
            if (!(l instanceof org.apache.catalina.ha.session.ClusterSessionListener)) {
                log.warn("tribesd: <ClusterListener className=\"" + l.getClass().getName() + "\"> is never called: the"
                        + " native node receives the cluster's messages and handles only session messages");
            }
        }
        if (getClusterDeployer() != null) {
            log.warn("tribesd: <Deployer className=\"" + getClusterDeployer().getClass().getName() + "\"> is not"
                    + " started: tribesd does not deploy webapps through the cluster");
        }
    }

    /**
     * Starts the native node with the contexts registered so far, then waits for their session
     * state (outside the lock, so a stop during the wait is not blocked behind it).
     */
    void startNode() {
        long handle = createNode();
        if (handle == 0) {
            return;
        }
        startEventThread(handle);
        // As DeltaManager's start waits for the session state (getAllClusterSessions), the
        // container's start waits here, so the connectors open once the sessions are in.
        for (String name : new ArrayList<>(heldAtStart)) {
            TribesdManager manager = tribesdManagers.get(name);
            if (manager != null && node == handle) {
                manager.awaitState(handle, true);
            }
        }
    }

    /** The native node, started once; 0 when it did not start (logged). */
    private synchronized long createNode() {
        if (node != 0) {
            return 0;
        }
        StringBuilder json = new StringBuilder(256);
        json.append("{\"name\":").append(Json.quote("cluster"));
        json.append(",\"workerThreads\":").append(workerThreads);
        json.append(",\"serverXml\":").append(Json.quote(serverXmlPath()));
        if (getContainer() instanceof Host) {
            json.append(",\"clusterHost\":").append(Json.quote(getContainer().getName()));
        }
        if (controlSocket != null && !controlSocket.isEmpty()) {
            json.append(",\"controlSocket\":").append(Json.quote(controlSocket));
        }
        json.append(",\"contexts\":[");
        boolean first = true;
        heldAtStart.clear();
        for (Map.Entry<String, ClusterManager> e : getManagers().entrySet()) {
            if (!first) {
                json.append(',');
            }
            first = false;
            json.append("{\"name\":").append(Json.quote(e.getKey()));
            Context context = e.getValue().getContext();
            if (context != null) {
                json.append(",\"sessionTimeout\":").append(context.getSessionTimeout());
            }
            json.append('}');
            heldAtStart.add(e.getKey());
        }
        json.append("]}");
        try {
            node = NativeBridge.start(json.toString());
            log.info("tribesd " + NativeBridge.version() + ": native cluster node started (" + serverXmlPath()
                    + "), holding " + heldAtStart);
            return node;
        } catch (RuntimeException e) {
            log.error("tribesd: the native cluster node did not start; sessions are NOT replicated: "
                    + e.getMessage(), e);
            return 0;
        }
    }

    /**
     * The thread that takes listener events from the node (sessions created, changed, renamed or
     * ended by other nodes) and has each context's manager fire the webapp's listeners; it ends
     * when the node stops.
     */
    private void startEventThread(long handle) {
        Thread t = new Thread(() -> {
            while (node == handle) {
                byte[] batch;
                try {
                    batch = NativeBridge.pollEvents(handle, 500);
                } catch (RuntimeException e) {
                    if (node == handle) {
                        log.warn("tribesd: listener events: " + e.getMessage());
                    }
                    return;
                }
                if (batch == null) {
                    continue;
                }
                List<io.tribesd.tomcat.bridge.ListenerEvents.Event> events;
                try {
                    events = io.tribesd.tomcat.bridge.ListenerEvents.decode(batch);
                } catch (IllegalArgumentException e) {
                    log.error("tribesd: a listener event batch from the node did not decode: " + e.getMessage());
                    continue;
                }
                for (io.tribesd.tomcat.bridge.ListenerEvents.Event e : events) {
                    TribesdManager manager = tribesdManagers.get(e.context);
                    if (manager != null) {
                        manager.replicated(e);
                    }
                }
            }
        }, "tribesd-listener-events");
        t.setDaemon(true);
        eventThread = t;
        t.start();
    }

    private String serverXmlPath() {
        if (serverXml != null && !serverXml.isEmpty()) {
            return new File(serverXml).isAbsolute() ? serverXml
                    : new File(System.getProperty("catalina.base", "."), serverXml).getPath();
        }
        return new File(System.getProperty("catalina.base", "."), "conf/server.xml").getPath();
    }

    @Override
    public void registerManager(org.apache.catalina.Manager manager) {
        super.registerManager(manager);
        if (manager instanceof TribesdManager) {
            tribesdManagers.put(((TribesdManager) manager).getName(), (TribesdManager) manager);
        }
        long handle = node;
        if (handle != 0 && manager instanceof ClusterManager) {
            String name = ((ClusterManager) manager).getName();
            Context context = manager.getContext();
            int timeout = context == null ? 30 : context.getSessionTimeout();
            try {
                if (NativeBridge.addContext(handle, name, timeout)) {
                    log.info("tribesd: now holding " + name + " (started after the node; its session state is"
                            + " asked for, and the manager's start waits for it)");
                }
            } catch (RuntimeException e) {
                log.error("tribesd: the native node could not take " + name + "; its sessions are NOT replicated: "
                        + e.getMessage());
            }
        }
    }

    @Override
    public void removeManager(org.apache.catalina.Manager manager) {
        if (manager instanceof TribesdManager) {
            tribesdManagers.remove(((TribesdManager) manager).getName(), manager);
        }
        super.removeManager(manager);
    }

    @Override
    protected void stopInternal() throws LifecycleException {
        setState(LifecycleState.STOPPING);
        Container container = getContainer();
        if (container != null) {
            container.removeLifecycleListener(starter);
        }
        long handle;
        synchronized (this) {
            handle = node;
            node = 0;
        }
        Thread events = eventThread;
        eventThread = null;
        if (events != null) {
            // It sees node == 0 after its current poll (at most 500 ms).
            try {
                events.join(2000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        if (handle != 0) {
            try {
                NativeBridge.stop(handle);
            } catch (RuntimeException e) {
                log.warn("tribesd: stopping the native node: " + e.getMessage());
            }
        }
        this.managers.clear();
        unregisterClusterValve();
    }

    /** Messages are sent by the native node; nothing goes through this object. */
    @Override
    public void send(ClusterMessage msg) {
        logIgnored(msg);
    }

    @Override
    public void send(ClusterMessage msg, Member dest) {
        logIgnored(msg);
    }

    @Override
    public void send(ClusterMessage msg, Member dest, int sendOptions) {
        logIgnored(msg);
    }

    private static void logIgnored(ClusterMessage msg) {
        if (log.isDebugEnabled()) {
            log.debug("tribesd: not sending " + (msg == null ? "null" : msg.getClass().getName())
                    + " through the Java cluster (the native node replicates)");
        }
    }

    /**
     * True while the native node runs, members or not: ReplicationValve then always hands the
     * request to {@link TribesdManager#requestCompleted(String)}, and the node decides what to send.
     */
    @Override
    public boolean hasMembers() {
        return node != 0;
    }

    /** The members the native node sees now, as Tribes members (what {@code tribesd members} lists). */
    @Override
    public Member[] getMembers() {
        long handle = node;
        if (handle == 0) {
            return new Member[0];
        }
        try {
            return Members.parse(NativeBridge.members(handle, false));
        } catch (RuntimeException e) {
            log.warn("tribesd: cannot list the native node's members: " + e.getMessage());
            return new Member[0];
        }
    }

    /** The native node itself as a Tribes member; null before it started. */
    @Override
    public Member getLocalMember() {
        long handle = node;
        if (handle == 0) {
            return null;
        }
        try {
            Member[] local = Members.parse(NativeBridge.members(handle, true));
            return local.length == 0 ? null : local[0];
        } catch (RuntimeException e) {
            log.warn("tribesd: cannot read the native node's own member: " + e.getMessage());
            return null;
        }
    }

    /** Tribes {@code MemberImpl}s from the lines of {@link NativeBridge#members(long, boolean)}. */
    static final class Members {
        private Members() {
        }

        static Member[] parse(String[] lines) {
            List<Member> out = new ArrayList<>(lines.length);
            for (String line : lines) {
                String[] f = line.split("\t", -1);
                if (f.length != 8) {
                    throw new IllegalStateException("a member line of " + f.length + " fields, 8 expected");
                }
                org.apache.catalina.tribes.membership.MemberImpl m = new org.apache.catalina.tribes.membership.MemberImpl();
                m.setHost(hex(f[0]));
                m.setPort(Integer.parseInt(f[1]));
                m.setSecurePort(Integer.parseInt(f[2]));
                m.setUdpPort(Integer.parseInt(f[3]));
                m.setMemberAliveTime(Long.parseLong(f[4]));
                m.setUniqueId(hex(f[5]));
                m.setDomain(hex(f[6]));
                m.setPayload(hex(f[7]));
                out.add(m);
            }
            return out.toArray(new Member[0]);
        }

        static byte[] hex(String s) {
            byte[] b = new byte[s.length() / 2];
            for (int i = 0; i < b.length; i++) {
                b[i] = (byte) Integer.parseInt(s.substring(2 * i, 2 * i + 2), 16);
            }
            return b;
        }
    }

    /** Minimal JSON string quoting. */
    static final class Json {
        private Json() {
        }

        static String quote(String s) {
            if (s == null) {
                return "null";
            }
            StringBuilder sb = new StringBuilder(s.length() + 2).append('"');
            for (char c : s.toCharArray()) {
                if (c == '"' || c == '\\') {
                    sb.append('\\').append(c);
                } else if (c < 0x20) {
                    sb.append(String.format("\\u%04x", (int) c));
                } else {
                    sb.append(c);
                }
            }
            return sb.append('"').toString();
        }
    }
}
