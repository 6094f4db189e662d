import io.tribesd.tomcat.TribesdManager;
import io.tribesd.tomcat.bridge.ChangeBatch;
import io.tribesd.tomcat.bridge.NativeBridge;
import io.tribesd.tomcat.bridge.NativeLoader;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.ObjectOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Enumeration;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;

import org.apache.catalina.core.StandardContext;
import org.apache.catalina.core.StandardEngine;
import org.apache.catalina.core.StandardHost;
import org.apache.catalina.ha.ClusterManager;

/**
 * Runs a tribesd bridge jar on a stock Tomcat's classpath (tests/java-bridge/run.sh).
 *
 *   BridgeSmoke smoke VERSION javax|jakarta   the plumbing: load, version, start/stop,
 *                                             requestCompleted with good and bad batches, the
 *                                             Manager's lifecycle outside a TribesdCluster; prints key=value lines
 *   BridgeSmoke load-fail                     expects the library not to load; prints its message
 *
 * Exits non-zero on the first failed check.
 */
public class BridgeSmoke {

    public static void main(String[] args) throws Exception {
        if (args.length == 1 && args[0].equals("load-fail")) {
            try {
                String path = NativeLoader.load();
                fail("the native library loaded from " + path + " but was expected to fail");
            } catch (UnsatisfiedLinkError e) {
                System.out.println("load-error=" + e.getMessage());
                // The same error again, without another attempt.
                try {
                    NativeLoader.load();
                    fail("second load succeeded");
                } catch (UnsatisfiedLinkError again) {
                    check(again.getMessage().equals(e.getMessage()), "second failure has the same message");
                }
            }
            System.out.println("ok");
            return;
        }
        if (args.length != 3 || !args[0].equals("smoke")) {
            System.err.println("usage: BridgeSmoke smoke VERSION javax|jakarta | BridgeSmoke load-fail");
            System.exit(2);
        }
        String expectedVersion = args[1];
        String flavour = args[2];

        String path = NativeLoader.load();
        System.out.println("loaded=" + path);
        String version = NativeBridge.version();
        System.out.println("version=" + version);
        check(version.equals(expectedVersion), "version " + version + " is " + expectedVersion);

        checkJarFlavour(flavour);

        long h = NativeBridge.start("{\"name\":\"smoke\",\"workerThreads\":1}");
        check(h != 0, "start returns a handle");

        // The small batch of crates/tribes-jni's golden test, byte for byte.
        byte[] golden = new ChangeBatch("/a", "S1").create(null).setAttribute("k", javaStream("v")).access().toByteArray();
        System.out.println("golden=" + hex(golden));

        ChangeBatch all = new ChangeBatch("/shop", "ABCDEF0123456789.node1")
                .create(1800)
                .setAttribute("cart", javaStream("three apples"))
                .removeAttribute("old")
                .setMaxInactiveInterval(600)
                .setPrincipal(javaStream("alice"))
                .setPrincipal(null)
                .setAuthType("FORM")
                .setAuthType(null)
                .setNote("n", javaStream(42))
                .removeNote("n")
                .setNew(true)
                .access()
                .changeId("NEWID.node1")
                .invalidate();
        int taken = NativeBridge.requestCompleted(h, all.toByteArray());
        check(taken == all.size(), "requestCompleted took " + taken + " of " + all.size() + " changes");
        check(NativeBridge.requestCompleted(h, golden) == 3, "golden batch takes 3 changes");
        System.out.println("taken=" + taken);

        String stats = waitForProcessed(h, 2);
        System.out.println("stats=" + stats);

        byte[] good = all.toByteArray();
        byte[] truncated = new byte[good.length - 3];
        System.arraycopy(good, 0, truncated, 0, truncated.length);
        System.out.println("truncated-error=" + expectThrows(IllegalArgumentException.class,
                () -> NativeBridge.requestCompleted(h, truncated)));
        System.out.println("garbage-error=" + expectThrows(IllegalArgumentException.class,
                () -> NativeBridge.requestCompleted(h, "GET / HTTP/1.1".getBytes(StandardCharsets.US_ASCII))));
        byte[] badValue = new ChangeBatch("/shop", "ABCDEF0123456789").setAttribute("cart", new byte[] {1, 2, 3}).toByteArray();
        System.out.println("bad-value-error=" + expectThrows(IllegalArgumentException.class,
                () -> NativeBridge.requestCompleted(h, badValue)));
        System.out.println("null-error=" + expectThrows(IllegalArgumentException.class,
                () -> NativeBridge.requestCompleted(h, null)));
        System.out.println("config-error=" + expectThrows(IllegalArgumentException.class,
                () -> NativeBridge.start("{\"workerThread\":1}")));
        // The node is still there and still takes batches after all that.
        check(NativeBridge.requestCompleted(h, golden) == 3, "node alive after bad batches");

        NativeBridge.stop(h);
        System.out.println("stopped-error=" + expectThrows(IllegalStateException.class,
                () -> NativeBridge.requestCompleted(h, golden)));
        System.out.println("double-stop-error=" + expectThrows(IllegalStateException.class, () -> NativeBridge.stop(h)));

        managerLifecycle();
        System.out.println("ok");
    }

    /** The Manager outside a TribesdCluster starts a node of its own (no network) and stops it. */
    private static void managerLifecycle() throws Exception {
        StandardEngine engine = new StandardEngine();
        engine.setName("Smoke");
        StandardHost host = new StandardHost();
        host.setName("localhost");
        engine.addChild(host);
        StandardContext context = new StandardContext();
        context.setName("/smoke");
        context.setPath("/smoke");
        host.addChild(context);
        TribesdManager manager = new TribesdManager();
        check(manager instanceof ClusterManager, "TribesdManager is a ClusterManager");
        manager.setName("/smoke");
        manager.setContext(context);
        manager.start();
        long handle = manager.getNodeHandle();
        check(handle != 0, "started manager has a native node");
        check(NativeBridge.stats(handle).contains("\"submitted\":0"), "the manager's node is live");
        // A distributable context refuses a value that cannot be serialized, as StandardSession does.
        context.setDistributable(true);
        org.apache.catalina.session.StandardSession session =
                (org.apache.catalina.session.StandardSession) manager.createSession(null);
        session.setAttribute("fine", "serializable");
        System.out.println("non-serializable-error=" + expectThrows(IllegalArgumentException.class,
                () -> session.setAttribute("socket", new Object())));
        check(session.getAttribute("socket") == null && "serializable".equals(session.getAttribute("fine")),
                "the refused value was not set");
        check(manager.cloneFromTemplate() instanceof TribesdManager, "cloneFromTemplate");
        manager.stop();
        check(manager.getNodeHandle() == 0, "stopped manager has no node");
        expectThrows(IllegalStateException.class, () -> NativeBridge.stats(handle));
        System.out.println("manager=started-and-stopped");
    }

    /** The jakarta jar must not mention javax.servlet, the javax jar not jakarta.servlet. */
    private static void checkJarFlavour(String flavour) throws IOException {
        File jar = new File(NativeLoader.class.getProtectionDomain().getCodeSource().getLocation().getPath());
        String forbidden = flavour.equals("jakarta") ? "javax/servlet" : "jakarta/servlet";
        int classes = 0;
        try (JarFile jf = new JarFile(jar)) {
            for (Enumeration<JarEntry> e = jf.entries(); e.hasMoreElements();) {
                JarEntry entry = e.nextElement();
                if (!entry.getName().endsWith(".class")) {
                    continue;
                }
                classes++;
                try (InputStream in = jf.getInputStream(entry)) {
                    String text = new String(readAll(in), StandardCharsets.ISO_8859_1);
                    check(!text.contains(forbidden), entry.getName() + " in " + jar + " refers to " + forbidden);
                }
            }
        }
        check(classes > 0, "classes in " + jar);
        System.out.println("flavour=" + flavour + " classes=" + classes);
    }

    private static String waitForProcessed(long h, int batches) throws InterruptedException {
        long deadline = System.nanoTime() + 5_000_000_000L;
        String stats;
        while (!(stats = NativeBridge.stats(h)).contains("\"processed\":" + batches)) {
            check(System.nanoTime() < deadline, "node processed " + batches + " batches: " + stats);
            Thread.sleep(5);
        }
        return stats;
    }

    interface Call {
        void run() throws Exception;
    }

    private static String expectThrows(Class<? extends Throwable> type, Call call) {
        try {
            call.run();
        } catch (Throwable t) {
            check(type.isInstance(t), "expected " + type.getName() + ", got " + t);
            String m = t.getMessage();
            check(m != null && !m.isEmpty(), "exception has a message");
            return m;
        }
        fail("expected " + type.getName());
        return null;
    }

    private static byte[] javaStream(Object value) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
            out.writeObject(value);
        }
        return bytes.toByteArray();
    }

    private static byte[] readAll(InputStream in) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] buf = new byte[8192];
        int n;
        while ((n = in.read(buf)) > 0) {
            out.write(buf, 0, n);
        }
        return out.toByteArray();
    }

    private static String hex(byte[] b) {
        StringBuilder sb = new StringBuilder();
        for (byte x : b) {
            sb.append(String.format("%02x", x & 0xFF));
        }
        return sb.toString();
    }

    private static void check(boolean ok, String what) {
        if (!ok) {
            fail(what);
        }
    }

    private static void fail(String what) {
        System.out.flush();
        System.err.println("FAILED: " + what);
        System.exit(1);
    }
}
