import java.io.*;
import java.nio.file.*;
import java.util.*;

/**
 * The JDK side of the jser bench (crates/bench/src/jser_bench.rs).
 *
 *   java JserBench gen DIR      writes DIR/session-1k.ser and DIR/session-100k.ser: session-state
 *                               streams as DeltaManager.serializeSessions / DeltaSession.writeObjectData
 *                               write them (top-level objects, one ObjectOutputStream)
 *   java JserBench bench FILE... for each file: ObjectInputStream.readObject until EOF, then an
 *                               ObjectOutputStream writing the same objects; timed after JIT warm-up;
 *                               prints "FILE BYTES MBPS ITERATIONS"
 */
public class JserBench {
    static final long T0 = 1_700_000_000_000L;

    static void writeSession(ObjectOutputStream out, int n, int attrs) throws IOException {
        out.writeObject(Long.valueOf(T0 + n));          // creationTime
        out.writeObject(Long.valueOf(T0 + n + 1000));   // lastAccessedTime
        out.writeObject(Integer.valueOf(1800));          // maxInactiveInterval
        out.writeObject(Boolean.FALSE);                  // isNew
        out.writeObject(Boolean.TRUE);                   // isValid
        out.writeObject(Long.valueOf(T0 + n + 2000));   // thisAccessedTime
        out.writeObject(Long.valueOf(n));                // version
        out.writeObject(String.format("%032X", n));     // id
        out.writeObject(Integer.valueOf(attrs));         // attribute count
        for (int i = 0; i < attrs; i++) {
            out.writeObject("attr" + i);
            switch (i % 4) {
                case 0 -> out.writeObject("value of attribute " + i + " for session " + n);
                case 1 -> out.writeObject(Integer.valueOf(i * 7 + n));
                case 2 -> {
                    HashMap<String, Object> m = new HashMap<>();
                    m.put("lang", "en");
                    m.put("theme", "dark");
                    m.put("visits", Integer.valueOf(n + i));
                    out.writeObject(m);
                }
                default -> {
                    byte[] b = new byte[64];
                    for (int k = 0; k < b.length; k++) b[k] = (byte) (k * 31 + i + n);
                    out.writeObject(b);
                }
            }
        }
    }

    static byte[] sessions(int count, int attrs) throws IOException {
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bos)) {
            out.writeObject(Integer.valueOf(count)); // DeltaManager.serializeSessions: the count first
            for (int n = 0; n < count; n++) writeSession(out, n, attrs);
        }
        return bos.toByteArray();
    }

    static int roundTrip(byte[] data) throws Exception {
        ArrayList<Object> objects = new ArrayList<>();
        try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(data))) {
            while (true) {
                try {
                    objects.add(in.readObject());
                } catch (EOFException e) {
                    break;
                }
            }
        }
        ByteArrayOutputStream bos = new ByteArrayOutputStream(data.length + 64);
        try (ObjectOutputStream out = new ObjectOutputStream(bos)) {
            for (Object o : objects) out.writeObject(o);
        }
        return bos.size();
    }

    public static void main(String[] args) throws Exception {
        if (args.length >= 2 && args[0].equals("gen")) {
            Path dir = Paths.get(args[1]);
            Files.createDirectories(dir);
            Files.write(dir.resolve("session-1k.ser"), sessions(1, 14));
            Files.write(dir.resolve("session-100k.ser"), sessions(88, 20));
            return;
        }
        if (args.length >= 2 && args[0].equals("bench")) {
            for (int a = 1; a < args.length; a++) {
                byte[] data = Files.readAllBytes(Paths.get(args[a]));
                long sink = 0;
                long warmEnd = System.nanoTime() + 2_000_000_000L;
                while (System.nanoTime() < warmEnd) sink += roundTrip(data);
                long iters = 0;
                long start = System.nanoTime();
                long elapsed;
                do {
                    for (int k = 0; k < 16; k++) sink += roundTrip(data);
                    iters += 16;
                    elapsed = System.nanoTime() - start;
                } while (elapsed < 2_000_000_000L);
                double mbps = (double) data.length * iters / (elapsed / 1e9) / 1e6;
                System.out.printf(Locale.ROOT, "%s %d %.3f %d%n", args[a], data.length, mbps, iters);
                if (sink == 42) System.out.println();
            }
            return;
        }
        System.err.println("usage: JserBench gen DIR | bench FILE...");
        System.exit(2);
    }
}
