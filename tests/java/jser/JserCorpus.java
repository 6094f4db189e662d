import java.io.*;
import java.lang.reflect.InvocationHandler;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.math.RoundingMode;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.*;
import java.util.*;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * Java Object Serialization streams written by the running JVM, for the jser crate's tests
 * (crates/jser/tests/java_corpus.rs). JDK only.
 *
 * <pre>
 *   java JserCorpus gen      prints "NAME HEX" per stream, then "#checkable NAME" per value case
 *                            whose fresh instances compare equal (usable in check mode), then
 *                            "#seq NAME V1,V2,..." for each stream of several value cases
 *   java JserCorpus check    reads "LABEL MODE NAMES HEX" lines from stdin and prints
 *                            "OK LABEL" or "FAIL LABEL reason" for each:
 *                              MODE seq:  the stream holds one object per name, in order
 *                              MODE list: the stream holds one java.util.List of those objects
 *                            NAMES is a comma-separated list of value case names.
 * </pre>
 *
 * Value cases ("v.*") are each one writeObject on a fresh ObjectOutputStream. Stream cases
 * ("s.*") write several contents (block data, resets, shared references, aborted writes).
 */
public class JserCorpus {

    // ---------------------------------------------------------------- user classes

    public enum Color { RED, GREEN { @Override public String toString() { return "green!"; } }, BLUE }

    public interface Greeter { String greet(String who); }

    public static final class Handler implements InvocationHandler, Serializable {
        private static final long serialVersionUID = 1L;
        final String prefix;
        Handler(String prefix) { this.prefix = prefix; }
        @Override public Object invoke(Object proxy, Method m, Object[] args) {
            switch (m.getName()) {
                case "greet": return prefix + args[0];
                case "hashCode": return prefix.hashCode();
                case "equals": return args[0] == proxy;
                case "toString": return "proxy(" + prefix + ")";
                default: return null;
            }
        }
        @Override public boolean equals(Object o) { return o instanceof Handler && ((Handler) o).prefix.equals(prefix); }
        @Override public int hashCode() { return prefix.hashCode(); }
    }

    public static final class Point implements Serializable {
        private static final long serialVersionUID = 7L;
        final int x, y;
        Point(int x, int y) { this.x = x; this.y = y; }
        @Override public boolean equals(Object o) { return o instanceof Point && ((Point) o).x == x && ((Point) o).y == y; }
        @Override public int hashCode() { return 31 * x + y; }
    }

    public static final class AllPrims implements Serializable {
        byte b = -5; char c = '\u00e9'; double d = -2.5e-300; float f = 3.25f; int i = -123456;
        long j = 0x0123456789ABCDEFL; short s = -32000; boolean z = true;
        String str = "field string"; Object obj = Integer.valueOf(99); int[] ints = {1, 2, 3};
        Object nothing = null;
        @Override public boolean equals(Object o) {
            if (!(o instanceof AllPrims)) return false;
            AllPrims a = (AllPrims) o;
            return a.b == b && a.c == c && a.d == d && a.f == f && a.i == i && a.j == j && a.s == s && a.z == z
                    && a.str.equals(str) && a.obj.equals(obj) && Arrays.equals(a.ints, ints) && a.nothing == null;
        }
        @Override public int hashCode() { return i; }
    }

    /** defaultWriteObject, then primitive data, a UTF string and an object. */
    public static final class WithCustom implements Serializable {
        private static final long serialVersionUID = 3L;
        int a;
        transient String extra;
        transient List<Integer> more;
        WithCustom(int a, String extra) { this.a = a; this.extra = extra; this.more = List.of(1, 2, 3); }
        private void writeObject(ObjectOutputStream out) throws IOException {
            out.defaultWriteObject();
            out.writeInt(42);
            out.writeUTF(extra);
            out.writeObject(new ArrayList<>(more));
        }
        @SuppressWarnings("unchecked")
        private void readObject(ObjectInputStream in) throws IOException, ClassNotFoundException {
            in.defaultReadObject();
            if (in.readInt() != 42) throw new InvalidObjectException("magic");
            extra = in.readUTF();
            more = (List<Integer>) in.readObject();
        }
        @Override public boolean equals(Object o) {
            return o instanceof WithCustom && ((WithCustom) o).a == a && ((WithCustom) o).extra.equals(extra)
                    && ((WithCustom) o).more.equals(more);
        }
        @Override public int hashCode() { return a; }
    }

    /** Only transient state: the class data is an empty field list and the annotation. */
    public static final class OnlyCustom implements Serializable {
        transient long when;
        transient Object what;
        OnlyCustom(long when, Object what) { this.when = when; this.what = what; }
        private void writeObject(ObjectOutputStream out) throws IOException {
            out.defaultWriteObject();
            out.writeLong(when);
            out.writeObject(what);
            out.writeLong(~when);
        }
        private void readObject(ObjectInputStream in) throws IOException, ClassNotFoundException {
            in.defaultReadObject();
            when = in.readLong();
            what = in.readObject();
            if (in.readLong() != ~when) throw new InvalidObjectException("check");
        }
        @Override public boolean equals(Object o) {
            return o instanceof OnlyCustom && ((OnlyCustom) o).when == when && Objects.equals(((OnlyCustom) o).what, what);
        }
        @Override public int hashCode() { return (int) when; }
    }

    /** More than 1024 bytes of primitive data in the annotation: TC_BLOCKDATALONG segments. */
    public static final class BigCustom implements Serializable {
        transient int n;
        BigCustom(int n) { this.n = n; }
        private void writeObject(ObjectOutputStream out) throws IOException {
            out.defaultWriteObject();
            out.writeInt(n);
            for (int i = 0; i < n; i++) out.writeInt(i * 7);
            out.writeObject("tail");
            out.writeShort(n);
        }
        private void readObject(ObjectInputStream in) throws IOException, ClassNotFoundException {
            in.defaultReadObject();
            n = in.readInt();
            for (int i = 0; i < n; i++) if (in.readInt() != i * 7) throw new InvalidObjectException("data");
            if (!"tail".equals(in.readObject())) throw new InvalidObjectException("tail");
            if (in.readShort() != (short) n) throw new InvalidObjectException("short");
        }
        @Override public boolean equals(Object o) { return o instanceof BigCustom && ((BigCustom) o).n == n; }
        @Override public int hashCode() { return n; }
    }

    /** Fields written with putFields/writeFields against serialPersistentFields. */
    public static final class PutFields implements Serializable {
        private static final ObjectStreamField[] serialPersistentFields = {
            new ObjectStreamField("count", int.class), new ObjectStreamField("label", String.class),
            new ObjectStreamField("ratio", double.class) };
        transient int count; transient String label;
        PutFields(int count, String label) { this.count = count; this.label = label; }
        private void writeObject(ObjectOutputStream out) throws IOException {
            ObjectOutputStream.PutField f = out.putFields();
            f.put("count", count); f.put("label", label); f.put("ratio", count / 4.0);
            out.writeFields();
        }
        private void readObject(ObjectInputStream in) throws IOException, ClassNotFoundException {
            ObjectInputStream.GetField f = in.readFields();
            count = f.get("count", 0); label = (String) f.get("label", null);
        }
        @Override public boolean equals(Object o) {
            return o instanceof PutFields && ((PutFields) o).count == count && Objects.equals(((PutFields) o).label, label);
        }
        @Override public int hashCode() { return count; }
    }

    public static class Base implements Serializable {
        int baseVal; String baseName;
        Base(int v, String n) { baseVal = v; baseName = n; }
    }
    public static class Mid extends Base {
        transient String midExtra; float midF;
        Mid(int v, String n, String e) { super(v, n); midExtra = e; midF = v / 2f; }
        private void writeObject(ObjectOutputStream out) throws IOException { out.defaultWriteObject(); out.writeObject(midExtra); }
        private void readObject(ObjectInputStream in) throws IOException, ClassNotFoundException {
            in.defaultReadObject(); midExtra = (String) in.readObject();
        }
    }
    public static final class Leaf extends Mid {
        long leafVal; Point where;
        Leaf(int v) { super(v, "base" + v, "mid" + v); leafVal = -v * 1000L; where = new Point(v, -v); }
        @Override public boolean equals(Object o) {
            if (!(o instanceof Leaf)) return false;
            Leaf l = (Leaf) o;
            return l.baseVal == baseVal && l.baseName.equals(baseName) && l.midExtra.equals(midExtra) && l.midF == midF
                    && l.leafVal == leafVal && l.where.equals(where);
        }
        @Override public int hashCode() { return baseVal; }
    }

    public static class NonSerBase {
        int hidden = 5;
        public NonSerBase() { }
    }
    public static final class SerChild extends NonSerBase implements Serializable {
        String shown;
        SerChild(String s) { shown = s; hidden = 77; }
        @Override public boolean equals(Object o) { return o instanceof SerChild && ((SerChild) o).shown.equals(shown); }
        @Override public int hashCode() { return shown.hashCode(); }
    }

    public static final class ExtPoint implements Externalizable {
        int x; String name; List<String> tags;
        public ExtPoint() { }
        ExtPoint(int x, String name) { this.x = x; this.name = name; tags = new ArrayList<>(List.of("a", name)); }
        @Override public void writeExternal(ObjectOutput out) throws IOException { out.writeInt(x); out.writeUTF(name); out.writeObject(tags); }
        @SuppressWarnings("unchecked")
        @Override public void readExternal(ObjectInput in) throws IOException, ClassNotFoundException {
            x = in.readInt(); name = in.readUTF(); tags = (List<String>) in.readObject();
        }
        @Override public boolean equals(Object o) {
            return o instanceof ExtPoint && ((ExtPoint) o).x == x && ((ExtPoint) o).name.equals(name) && ((ExtPoint) o).tags.equals(tags);
        }
        @Override public int hashCode() { return x; }
    }

    public static final class ExtBig implements Externalizable {
        byte[] data;
        public ExtBig() { }
        ExtBig(int n) { data = new byte[n]; for (int i = 0; i < n; i++) data[i] = (byte) (i * 31); }
        @Override public void writeExternal(ObjectOutput out) throws IOException { out.writeInt(data.length); out.write(data); out.writeUTF("end"); }
        @Override public void readExternal(ObjectInput in) throws IOException {
            data = new byte[in.readInt()]; in.readFully(data); if (!in.readUTF().equals("end")) throw new InvalidObjectException("end");
        }
        @Override public boolean equals(Object o) { return o instanceof ExtBig && Arrays.equals(((ExtBig) o).data, data); }
        @Override public int hashCode() { return data.length; }
    }

    public static final class ExtEmpty implements Externalizable {
        public ExtEmpty() { }
        @Override public void writeExternal(ObjectOutput out) { }
        @Override public void readExternal(ObjectInput in) { }
        @Override public boolean equals(Object o) { return o instanceof ExtEmpty; }
        @Override public int hashCode() { return 1; }
    }

    public static final class Outer implements Serializable {
        int outerVal;
        Outer(int v) { outerVal = v; }
        public final class Inner implements Serializable {
            int innerVal;
            Inner(int v) { innerVal = v; }
            @Override public boolean equals(Object o) {
                return o instanceof Inner && ((Inner) o).innerVal == innerVal && ((Inner) o).outer().outerVal == outerVal;
            }
            Outer outer() { return Outer.this; }
            @Override public int hashCode() { return innerVal; }
        }
        public static final class Nested implements Serializable {
            public static final class Deeper implements Serializable {
                String s;
                Deeper(String s) { this.s = s; }
                @Override public boolean equals(Object o) { return o instanceof Deeper && ((Deeper) o).s.equals(s); }
                @Override public int hashCode() { return s.hashCode(); }
            }
        }
    }

    public record Rec(int a, String b, List<Integer> c) implements Serializable { }

    public static final class Node implements Serializable {
        String name; Node next;
        Node(String name) { this.name = name; }
        @Override public boolean equals(Object o) {
            if (!(o instanceof Node)) return false;
            Node a = this, b = (Node) o;
            // Walk both chains in step, comparing names and where cycles close.
            IdentityHashMap<Node, Integer> sa = new IdentityHashMap<>(), sb = new IdentityHashMap<>();
            for (int i = 0; ; i++) {
                if (a == null || b == null) return a == b;
                Integer pa = sa.put(a, i), pb = sb.put(b, i);
                if (pa != null || pb != null) return Objects.equals(pa, pb);
                if (!a.name.equals(b.name)) return false;
                a = a.next; b = b.next;
            }
        }
        @Override public int hashCode() { return name.hashCode(); }
    }

    /** Two fields that may hold the same object: equality includes whether they do. */
    public static final class Pair implements Serializable {
        Object a, b;
        Pair(Object a, Object b) { this.a = a; this.b = b; }
        @Override public boolean equals(Object o) {
            if (!(o instanceof Pair)) return false;
            Pair p = (Pair) o;
            return same(a, p.a) && same(b, p.b) && ((a == b) == (p.a == p.b));
        }
        @Override public int hashCode() { return 1; }
    }

    public static final class RevCmp implements Comparator<String>, Serializable {
        @Override public int compare(String x, String y) { return y.compareTo(x); }
        @Override public boolean equals(Object o) { return o instanceof RevCmp; }
        @Override public int hashCode() { return 2; }
    }

    public static final class HasNonSer implements Serializable {
        String label = "partial"; Object inner = new Object();
    }

    public static final class FailsInWriteObject implements Serializable {
        int before = 7;
        private void writeObject(ObjectOutputStream out) throws IOException {
            out.defaultWriteObject();
            out.writeInt(1234);
            out.writeObject("written");
            out.writeObject(new Object());
        }
    }

    // ---------------------------------------------------------------- cases

    interface StreamCase { void write(ObjectOutputStream out) throws IOException; }

    static final LinkedHashMap<String, Supplier<Object>> VALUES = new LinkedHashMap<>();
    static final LinkedHashMap<String, StreamCase> STREAMS = new LinkedHashMap<>();
    /** Value cases written one after another on one ObjectOutputStream: later values refer
     *  back to descriptors and objects of earlier ones. Printed as "#seq NAME V1,V2,...". */
    static final LinkedHashMap<String, List<String>> SEQS = new LinkedHashMap<>();

    static void v(String name, Supplier<Object> make) {
        if (VALUES.put("v." + name, make) != null) throw new IllegalStateException("duplicate " + name);
    }

    static void s(String name, StreamCase c) {
        if (STREAMS.put("s." + name, c) != null) throw new IllegalStateException("duplicate " + name);
    }

    static String repeat(String s, int n) { return s.repeat(n); }

    static {
        // Strings
        v("str.empty", () -> "");
        v("str.ascii", () -> "hello world");
        v("str.latin1", () -> "h\u00e9llo w\u00f6rld \u00f1");
        v("str.cjk", () -> "\u4e2d\u6587\u5b57\u7b26");
        v("str.nul", () -> "a\u0000b\u0000");
        v("str.emoji", () -> "\ud83d\ude00 smile \ud83c\udf89");
        v("str.lone-surrogate", () -> "x\ud800y\udc00z");
        v("str.mixed", () -> "A\u0000\u007f\u0080\u07ff\u0800\uffff\ud83d\ude00");
        for (int n : new int[] {1, 2, 3, 31, 32, 100, 127, 200, 254, 255, 256, 257, 511, 512, 1023, 1024, 1025, 2048, 4096, 8192, 16384, 32768, 65535}) v("str.len." + n, () -> repeat("x", n));
        v("str.long.65536", () -> repeat("y", 65536));
        v("str.long.70000", () -> repeat("z", 70000));
        v("str.utf.65535", () -> repeat("\u4e2d", 21845));
        v("str.long.utf.65538", () -> repeat("\u4e2d", 21846));
        v("str.long.emoji", () -> repeat("\ud83d\ude00", 11000));
        v("str.long.nul", () -> repeat("\u0000", 33000));

        // Boxed primitives
        for (int i : new int[] {0, 1, -1, 2, -2, 42, 127, 128, -128, -129, 255, 256, 1000, 65535, 65536, -65536, Integer.MAX_VALUE, Integer.MIN_VALUE})
            v("int." + i, () -> Integer.valueOf(i));
        for (long l : new long[] {0, 1, -1, 127, 128, -129, 1L << 31, -(1L << 31), 1L << 32, 1700000000000L, Long.MAX_VALUE, Long.MIN_VALUE})
            v("long." + l, () -> Long.valueOf(l));
        for (short s : new short[] {0, -1, 300, Short.MAX_VALUE, Short.MIN_VALUE}) v("short." + s, () -> Short.valueOf(s));
        for (byte b : new byte[] {0, -1, 127, -128}) v("byte." + b, () -> Byte.valueOf(b));
        for (char c : new char[] {'a', '\u0000', '\u00e9', '\uffff', '\ud800'}) v("char." + (int) c, () -> Character.valueOf(c));
        v("bool.true", () -> Boolean.TRUE);
        v("bool.false", () -> Boolean.FALSE);
        float[] floats = {0f, -0f, 1.5f, Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.MIN_VALUE, Float.MAX_VALUE};
        for (int i = 0; i < floats.length; i++) { float f = floats[i]; v("float." + i, () -> Float.valueOf(f)); }
        double[] doubles = {0d, -0d, 1.5d, Double.NaN, Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY, Double.MIN_VALUE, Math.PI};
        for (int i = 0; i < doubles.length; i++) { double d = doubles[i]; v("double." + i, () -> Double.valueOf(d)); }

        // Numbers, time, misc JDK value classes
        v("bigint.0", () -> BigInteger.ZERO);
        v("bigint.-1", () -> BigInteger.ONE.negate());
        v("bigint.2p64", () -> BigInteger.TWO.pow(64));
        v("bigint.2p200", () -> BigInteger.TWO.pow(200));
        v("bigint.-3p100", () -> BigInteger.valueOf(3).pow(100).negate());
        v("bigdec.0", () -> BigDecimal.ZERO);
        v("bigdec.1.50", () -> new BigDecimal("1.50"));
        v("bigdec.small", () -> new BigDecimal("-123.456E-20"));
        v("bigdec.huge", () -> new BigDecimal("1E+1000"));
        v("bigdec.pi", () -> new BigDecimal("3.14159265358979323846264338327950288419716939937510"));
        v("date.0", () -> new Date(0));
        v("date.ts", () -> new Date(1700000000000L));
        v("time.localdate", () -> LocalDate.of(2024, 2, 29));
        v("time.localdatetime", () -> LocalDateTime.of(2023, 11, 14, 22, 13, 20, 123456789));
        v("time.instant", () -> Instant.ofEpochMilli(1700000000000L));
        v("time.duration", () -> Duration.ofSeconds(3661, 5));
        v("time.zoned", () -> ZonedDateTime.of(2023, 11, 14, 22, 13, 20, 0, ZoneId.of("Europe/Paris")));
        v("time.offset", () -> ZoneOffset.ofHours(-5));
        v("time.period", () -> Period.of(1, 2, 3));
        v("uuid", () -> new UUID(0x0123456789ABCDEFL, 0xFEDCBA9876543210L));
        v("uri", () -> URI.create("https://example.org/a%20b?q=1#frag"));
        v("locale.us", () -> Locale.US);
        v("locale.fr", () -> Locale.FRENCH);
        v("locale.root", () -> Locale.ROOT);
        v("currency", () -> Currency.getInstance("EUR"));
        v("stringbuilder", () -> new StringBuilder("mutable \u00e9"));
        v("bitset", () -> BitSet.valueOf(new long[] {0x5555L, 1L << 63}));

        // Enums and classes
        v("enum.red", () -> Color.RED);
        v("enum.green-with-body", () -> Color.GREEN);
        v("enum.timeunit", () -> TimeUnit.SECONDS);
        v("enum.thread-state", () -> Thread.State.RUNNABLE);
        v("enum.rounding", () -> RoundingMode.HALF_UP);
        v("class.string", () -> String.class);
        v("class.int", () -> int.class);
        v("class.object", () -> Object.class);
        v("class.point", () -> Point.class);
        v("class.int-array", () -> int[].class);
        v("class.enum", () -> Color.class);
        v("classdesc.point", () -> ObjectStreamClass.lookup(Point.class));

        // Collections
        for (int n : new int[] {0, 1, 3, 20}) {
            v("list.array." + n, () -> { List<Object> l = new ArrayList<>(); for (int i = 0; i < n; i++) l.add(i % 3 == 0 ? "s" + i : Integer.valueOf(i * 1000)); return l; });
            v("list.linked." + n, () -> { List<Object> l = new LinkedList<>(); for (int i = 0; i < n; i++) l.add("e" + i); return l; });
            v("map.hash." + n, () -> { Map<String, Object> m = new HashMap<>(); for (int i = 0; i < n; i++) m.put("k" + i, Long.valueOf(i)); return m; });
            v("set.hash." + n, () -> { Set<Object> s = new HashSet<>(); for (int i = 0; i < n; i++) s.add("m" + i); return s; });
        }
        v("list.vector", () -> new Vector<>(List.of(1, "two", 3.0)));
        v("list.aslist", () -> Arrays.asList("a", "b", "c"));
        v("list.empty", () -> Collections.emptyList());
        v("list.singleton", () -> Collections.singletonList("only"));
        v("list.unmodifiable", () -> Collections.unmodifiableList(new ArrayList<>(List.of("u", "v"))));
        v("list.synchronized", () -> Collections.synchronizedList(new ArrayList<>(List.of("sync"))));
        v("list.copyonwrite", () -> new CopyOnWriteArrayList<>(List.of(1, 2)));
        v("list.of", () -> List.of("x", "y", "z"));
        v("set.of", () -> Set.of("solo"));
        v("map.of", () -> Map.of("k", "v"));
        v("map.linked", () -> { Map<String, Integer> m = new LinkedHashMap<>(); m.put("z", 1); m.put("a", 2); m.put("m", 3); return m; });
        v("map.tree", () -> new TreeMap<>(Map.of("b", 2, "a", 1, "c", 3)));
        v("map.tree.comparator", () -> { TreeMap<String, Integer> m = new TreeMap<>(new RevCmp()); m.put("b", 2); m.put("a", 1); return m; });
        v("map.hashtable", () -> new Hashtable<>(Map.of("h", 1)));
        v("map.enum", () -> { EnumMap<Color, String> m = new EnumMap<>(Color.class); m.put(Color.BLUE, "b"); m.put(Color.RED, "r"); return m; });
        v("map.concurrent", () -> new ConcurrentHashMap<>(Map.of("c", 1, "d", 2)));
        v("map.properties", () -> { Properties p = new Properties(); p.setProperty("key", "value"); return p; });
        v("set.linked", () -> new LinkedHashSet<>(List.of("q", "p")));
        v("set.tree", () -> new TreeSet<>(List.of(3, 1, 2)));
        v("set.tree.comparator", () -> { TreeSet<String> s = new TreeSet<>(new RevCmp()); s.addAll(List.of("a", "b")); return s; });
        v("set.enum", () -> EnumSet.of(Color.RED, Color.BLUE));
        v("deque.array", () -> new ArrayDeque<>(List.of(1, 2, 3)));
        v("queue.priority", () -> new PriorityQueue<>(List.of(5, 1, 3)));
        v("nested.map-of-lists", () -> { Map<String, List<Integer>> m = new TreeMap<>(); m.put("a", new ArrayList<>(List.of(1, 2))); m.put("b", new LinkedList<>(List.of(3))); return m; });
        v("nested.list-of-maps", () -> new ArrayList<>(List.of(new HashMap<>(Map.of("x", 1)), new TreeMap<>(Map.of("y", List.of("z"))))));
        v("list.boxed-cache", () -> new ArrayList<>(List.of(1, 1, 1, 1000, 1000, true, true, false)));

        // Arrays
        int[] sizes = {0, 1, 2, 7, 64, 300};
        for (int n : sizes) {
            v("arr.byte." + n, () -> { byte[] a = new byte[n]; for (int i = 0; i < n; i++) a[i] = (byte) (i * 37); return a; });
            v("arr.short." + n, () -> { short[] a = new short[n]; for (int i = 0; i < n; i++) a[i] = (short) (i * -997); return a; });
            v("arr.int." + n, () -> { int[] a = new int[n]; for (int i = 0; i < n; i++) a[i] = i * 0x01010101; return a; });
            v("arr.long." + n, () -> { long[] a = new long[n]; for (int i = 0; i < n; i++) a[i] = i * 0x0101010101010101L; return a; });
            v("arr.float." + n, () -> { float[] a = new float[n]; for (int i = 0; i < n; i++) a[i] = i / 3f; return a; });
            v("arr.double." + n, () -> { double[] a = new double[n]; for (int i = 0; i < n; i++) a[i] = -i / 7d; return a; });
            v("arr.char." + n, () -> { char[] a = new char[n]; for (int i = 0; i < n; i++) a[i] = (char) (i * 211); return a; });
            v("arr.boolean." + n, () -> { boolean[] a = new boolean[n]; for (int i = 0; i < n; i++) a[i] = i % 3 == 0; return a; });
            v("arr.string." + n, () -> { String[] a = new String[n]; for (int i = 0; i < n; i++) a[i] = i % 5 == 0 ? null : "s" + (i % 4); return a; });
            v("arr.object." + n, () -> { Object[] a = new Object[n]; for (int i = 0; i < n; i++) a[i] = i % 2 == 0 ? Integer.valueOf(i) : "o" + i; return a; });
        }
        v("arr.byte.5000", () -> { byte[] a = new byte[5000]; for (int i = 0; i < a.length; i++) a[i] = (byte) i; return a; });
        v("arr.double.special", () -> new double[] {Double.NaN, -0d, Double.MIN_VALUE, Double.NEGATIVE_INFINITY});
        v("arr.float.special", () -> new float[] {Float.NaN, -0f, Float.MIN_VALUE, Float.POSITIVE_INFINITY});
        v("arr.int.2d", () -> new int[][] {{1, 2}, {3}, {}});
        v("arr.int.2d.ragged-null", () -> new int[][] {{1}, null, {2, 3, 4}});
        v("arr.byte.3d", () -> new byte[][][] {{{1}, {2, 3}}, {{}}, {}});
        v("arr.string.2d", () -> new String[][] {{"a", "b"}, {null}, {}});
        v("arr.object.mixed", () -> new Object[] {1, "two", null, new int[] {3}, List.of(4), Color.BLUE, new Point(5, 6)});
        v("arr.integer", () -> new Integer[] {1, 2, null, 1000});
        v("arr.enum", () -> new Color[] {Color.RED, Color.GREEN, Color.RED});
        v("arr.point", () -> new Point[] {new Point(1, 2), null, new Point(3, 4)});
        v("arr.object.shared", () -> { Point p = new Point(9, 9); return new Object[] {p, p, "x", "x"}; });
        v("arr.object.nested-self", () -> { Object[] a = new Object[2]; a[0] = a; a[1] = "self"; return a; });

        // User classes
        v("user.point", () -> new Point(3, -4));
        v("user.allprims", AllPrims::new);
        v("user.custom", () -> new WithCustom(5, "extra \u00e9"));
        v("user.custom.nul", () -> new WithCustom(-1, "\u0000\ud83d\ude00"));
        v("user.onlycustom", () -> new OnlyCustom(1700000000000L, "what"));
        v("user.onlycustom.null", () -> new OnlyCustom(-1, null));
        v("user.bigcustom", () -> new BigCustom(700));
        v("user.putfields", () -> new PutFields(12, "label"));
        v("user.leaf", () -> new Leaf(8));
        v("user.serchild", () -> new SerChild("shown"));
        v("user.extpoint", () -> new ExtPoint(11, "ext"));
        v("user.extbig", () -> new ExtBig(5000));
        v("user.extempty", ExtEmpty::new);
        v("user.inner", () -> new Outer(3).new Inner(4));
        v("user.nested-deeper", () -> new Outer.Nested.Deeper("deep"));
        v("user.record", () -> new Rec(7, "rec", List.of(1, 2)));
        v("user.proxy", () -> Proxy.newProxyInstance(JserCorpus.class.getClassLoader(),
                new Class<?>[] {Greeter.class, Runnable.class}, new Handler("hi ")));
        v("user.list-of-points", () -> new ArrayList<>(List.of(new Point(1, 1), new Point(2, 2), new Point(1, 1))));
        v("user.map-of-users", () -> { Map<String, Object> m = new LinkedHashMap<>(); m.put("leaf", new Leaf(1)); m.put("ext", new ExtPoint(2, "e")); m.put("custom", new WithCustom(3, "c")); return m; });

        // Shared and cyclic references
        v("ref.pair.same", () -> { Point p = new Point(1, 2); return new Pair(p, p); });
        v("ref.pair.equal-not-same", () -> new Pair(new Point(1, 2), new Point(1, 2)));
        v("ref.pair.same-string", () -> { String s = new String("shared"); return new Pair(s, s); });
        v("ref.node.self", () -> { Node n = new Node("self"); n.next = n; return n; });
        v("ref.node.cycle2", () -> { Node a = new Node("a"), b = new Node("b"); a.next = b; b.next = a; return a; });
        v("ref.node.chain50", () -> { Node head = new Node("n0"), cur = head; for (int i = 1; i < 50; i++) { cur.next = new Node("n" + i); cur = cur.next; } return head; });
        v("ref.node.chain200", () -> { Node head = new Node("n0"), cur = head; for (int i = 1; i < 200; i++) { cur.next = new Node("n" + i); cur = cur.next; } return head; });
        v("ref.list.self", () -> { List<Object> l = new ArrayList<>(); l.add("first"); l.add(l); return l; });
        v("ref.map.shared-values", () -> { List<String> shared = new ArrayList<>(List.of("s")); Map<String, Object> m = new LinkedHashMap<>(); m.put("a", shared); m.put("b", shared); return m; });

        // Throwables
        v("exc.ise", () -> { IllegalStateException e = new IllegalStateException("boom"); e.setStackTrace(new StackTraceElement[0]); return e; });
        v("exc.with-cause", () -> { IOException e = new IOException("outer", new IllegalArgumentException("inner")); return e; });

        // Streams with several contents
        s("empty", out -> { });
        s("two-points", out -> { out.writeObject(new Point(1, 2)); out.writeObject(new Point(3, 4)); });
        s("same-object-twice", out -> { List<String> l = new ArrayList<>(List.of("x")); out.writeObject(l); out.writeObject(l); });
        s("reset", out -> { Point p = new Point(1, 2); out.writeObject(p); out.reset(); out.writeObject(p); });
        s("reset-twice", out -> { out.writeObject("a"); out.reset(); out.reset(); out.writeObject("a"); });
        s("blockdata-interleaved", out -> {
            out.writeInt(1); out.writeObject("x"); out.writeUTF("y"); out.writeLong(2); out.writeObject(List.of(1, 2));
            out.writeBoolean(true); out.writeDouble(1.5); out.writeChar('c'); out.writeShort(-2); out.writeByte(7); out.writeFloat(0.5f);
        });
        s("blockdata-big", out -> { for (int i = 0; i < 1250; i++) out.writeInt(i); out.writeObject("after"); });
        s("blockdata-utf-straddle", out -> { out.write(new byte[1022]); out.writeUTF("hello straddling world"); });
        s("blockdata-flush", out -> { out.writeInt(1); out.flush(); out.writeInt(2); });
        s("blockdata-only", out -> out.writeInt(5));
        s("blockdata-reset-between", out -> { out.writeInt(1); out.reset(); out.writeInt(2); });
        s("blockdata-1024-exact", out -> { out.write(new byte[1024]); out.writeObject(null); out.write(new byte[1025]); });
        s("unshared", out -> { Point p = new Point(5, 5); out.writeUnshared(p); out.writeObject(p); out.writeObject(p); });
        s("many-points", out -> { for (int i = 0; i < 50; i++) out.writeObject(new Point(i, i * i)); });
        s("delta-request-like", out -> {
            out.writeUTF("0123456789ABCDEF"); out.writeBoolean(false); out.writeInt(4);
            Object[] values = {"alice", 1800, Boolean.FALSE, new Point(1, 1)};
            String[] names = {"user", "__SET__MAXINTERVAL__", "__SET__ISNEW__", "point"};
            for (int i = 0; i < 4; i++) { out.writeInt(i); out.writeInt(0); out.writeUTF(names[i]); out.writeBoolean(true); out.writeObject(values[i]); }
        });
        s("session-like", out -> {
            out.writeObject(Integer.valueOf(2));
            for (int i = 0; i < 2; i++) {
                out.writeObject(Long.valueOf(1700000000000L)); out.writeObject(Long.valueOf(1700000000000L));
                out.writeObject(Integer.valueOf(1800)); out.writeObject(Boolean.FALSE); out.writeObject(Boolean.TRUE);
                out.writeObject(Long.valueOf(1700000000000L)); out.writeObject(Long.valueOf(0)); out.writeBoolean(false);
                out.writeObject("S" + i); out.writeObject(null); out.writeObject(null); out.writeObject(Integer.valueOf(1));
                out.writeObject("attr"); out.writeObject(new Leaf(i)); out.writeObject(Integer.valueOf(0));
            }
        });
        s("exception-in-field", out -> { abort(out, new HasNonSer()); out.writeObject("after"); });
        s("exception-at-top", out -> { out.writeObject("before"); abort(out, new Object()); out.writeObject(Integer.valueOf(1)); });
        s("exception-in-writeobject", out -> { out.writeInt(9); abort(out, new FailsInWriteObject()); out.writeInt(10); out.writeObject(new Point(0, 0)); });
        s("exception-in-array", out -> { abort(out, new Object[] {"a", new Point(1, 1), new Object(), "never"}); out.writeObject("next"); });
        s("exception-in-list", out -> { abort(out, new ArrayList<>(List.of("ok", new Object()))); out.writeObject(new ArrayList<>(List.of("ok"))); });
        s("exception-twice", out -> { abort(out, new HasNonSer()); abort(out, new HasNonSer()); out.writeObject(new HasNonSer().label); });
    }

    static {
        SEQS.put("s.seq.points", List.of("v.user.point", "v.user.list-of-points", "v.arr.point", "v.user.point", "v.ref.pair.same"));
        SEQS.put("s.seq.boxed", List.of("v.int.1", "v.int.1000", "v.long.1700000000000", "v.int.1", "v.bool.true", "v.bool.true",
                "v.list.boxed-cache", "v.double.3", "v.map.hash.3"));
        SEQS.put("s.seq.users", List.of("v.user.leaf", "v.user.custom", "v.user.extpoint", "v.user.map-of-users", "v.user.leaf",
                "v.user.record", "v.user.inner", "v.user.proxy", "v.user.proxy", "v.enum.green-with-body", "v.arr.enum"));
        SEQS.put("s.seq.collections", List.of("v.list.array.20", "v.map.tree.comparator", "v.set.tree.comparator", "v.map.enum",
                "v.set.enum", "v.nested.map-of-lists", "v.list.of", "v.str.long.70000", "v.arr.string.7", "v.arr.int.2d"));
        SEQS.put("s.seq.refs", List.of("v.ref.node.cycle2", "v.ref.node.self", "v.ref.list.self", "v.ref.map.shared-values",
                "v.arr.object.shared", "v.ref.pair.same-string", "v.exc.with-cause", "v.time.zoned", "v.bigdec.pi"));
    }

    /** Writes an object that fails part way, as DeltaSession.writeObjectData tolerates. */
    static void abort(ObjectOutputStream out, Object o) throws IOException {
        try {
            out.writeObject(o);
            throw new IllegalStateException("expected the write to fail");
        } catch (NotSerializableException expected) {
            // ObjectOutputStream wrote TC_EXCEPTION and the exception object
        }
    }

    // ---------------------------------------------------------------- comparing

    static boolean same(Object a, Object b) {
        if (a == b) return true;
        if (a == null || b == null) return false;
        if (a.getClass().isArray() && b.getClass().isArray()) {
            if (a instanceof Object[] && b instanceof Object[]) {
                Object[] x = (Object[]) a, y = (Object[]) b;
                if (x.length != y.length || x.getClass() != y.getClass()) return false;
                for (int i = 0; i < x.length; i++) {
                    if (x[i] == x && y[i] == y) continue; // self-containing arrays
                    if (!same(x[i], y[i])) return false;
                }
                return true;
            }
            return Objects.deepEquals(a, b);
        }
        if (Proxy.isProxyClass(a.getClass())) {
            return Proxy.isProxyClass(b.getClass()) && Proxy.getInvocationHandler(a).equals(Proxy.getInvocationHandler(b))
                    && Arrays.equals(a.getClass().getInterfaces(), b.getClass().getInterfaces());
        }
        if (a instanceof Throwable) {
            return a.getClass() == b.getClass() && Objects.equals(((Throwable) a).getMessage(), ((Throwable) b).getMessage())
                    && same(((Throwable) a).getCause(), ((Throwable) b).getCause());
        }
        if (a instanceof StringBuilder) return b instanceof StringBuilder && a.toString().contentEquals((StringBuilder) b);
        if (a instanceof List && b instanceof List && a.getClass() == b.getClass()) {
            List<?> x = (List<?>) a, y = (List<?>) b;
            if (x.size() != y.size()) return false;
            for (int i = 0; i < x.size(); i++) {
                if (x.get(i) == x && y.get(i) == y) continue; // self-containing lists
                if (!same(x.get(i), y.get(i))) return false;
            }
            return true;
        }
        if (a instanceof PriorityQueue && b instanceof PriorityQueue) {
            return Arrays.equals(((PriorityQueue<?>) a).toArray(), ((PriorityQueue<?>) b).toArray());
        }
        if (a instanceof ArrayDeque && b instanceof ArrayDeque) {
            return Arrays.equals(((ArrayDeque<?>) a).toArray(), ((ArrayDeque<?>) b).toArray());
        }
        if (a instanceof Map && b instanceof Map && a.getClass() == b.getClass()) {
            Map<?, ?> x = (Map<?, ?>) a, y = (Map<?, ?>) b;
            if (x.size() != y.size()) return false;
            for (Map.Entry<?, ?> e : x.entrySet()) {
                if (!y.containsKey(e.getKey()) || !same(e.getValue(), y.get(e.getKey()))) return false;
            }
            boolean sx = x.size() == 2 && new ArrayList<>(x.values()).get(0) == new ArrayList<>(x.values()).get(1);
            boolean sy = y.size() == 2 && new ArrayList<>(y.values()).get(0) == new ArrayList<>(y.values()).get(1);
            return sx == sy;
        }
        return a.equals(b) && a.getClass() == b.getClass();
    }

    static boolean checkable(String name) {
        if (!VALUES.containsKey(name) || name.startsWith("v.classdesc.")) return false;
        try {
            return same(VALUES.get(name).get(), VALUES.get(name).get());
        } catch (StackOverflowError | RuntimeException e) {
            return false;
        }
    }

    // ---------------------------------------------------------------- main

    static final char[] HEX = "0123456789abcdef".toCharArray();

    static String hex(byte[] b) {
        char[] c = new char[b.length * 2];
        for (int i = 0; i < b.length; i++) { c[2 * i] = HEX[(b[i] >> 4) & 15]; c[2 * i + 1] = HEX[b[i] & 15]; }
        return new String(c);
    }

    static byte[] unhex(String s) {
        byte[] b = new byte[s.length() / 2];
        for (int i = 0; i < b.length; i++) b[i] = (byte) Integer.parseInt(s.substring(2 * i, 2 * i + 2), 16);
        return b;
    }

    static byte[] write(StreamCase c) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
            c.write(out);
        }
        return bytes.toByteArray();
    }

    public static void main(String[] args) throws Exception {
        PrintStream out = new PrintStream(new BufferedOutputStream(new FileOutputStream(FileDescriptor.out), 1 << 16), false, "UTF-8");
        switch (args.length > 0 ? args[0] : "") {
            case "gen":
                for (Map.Entry<String, Supplier<Object>> e : VALUES.entrySet()) {
                    Object value = e.getValue().get();
                    out.println(e.getKey() + " " + hex(write(o -> o.writeObject(value))));
                }
                for (Map.Entry<String, StreamCase> e : STREAMS.entrySet()) {
                    out.println(e.getKey() + " " + hex(write(e.getValue())));
                }
                for (Map.Entry<String, List<String>> e : SEQS.entrySet()) {
                    out.println(e.getKey() + " " + hex(write(o -> { for (String n : e.getValue()) o.writeObject(VALUES.get(n).get()); })));
                }
                for (String name : VALUES.keySet()) if (checkable(name)) out.println("#checkable " + name);
                for (Map.Entry<String, List<String>> e : SEQS.entrySet()) out.println("#seq " + e.getKey() + " " + String.join(",", e.getValue()));
                break;
            case "check":
                BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.US_ASCII));
                for (String line; (line = in.readLine()) != null; ) {
                    if (line.isBlank()) continue;
                    String[] f = line.trim().split(" ");
                    out.println(check(f[0], f[1], f[2].split(","), unhex(f[3])));
                }
                break;
            default:
                System.err.println("usage: JserCorpus gen|check");
                System.exit(2);
        }
        out.flush();
    }

    static String check(String label, String mode, String[] names, byte[] stream) {
        try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(stream))) {
            List<Object> got = new ArrayList<>();
            if (mode.equals("seq")) {
                for (String ignored : names) got.add(in.readObject());
            } else if (mode.equals("list")) {
                Object o = in.readObject();
                if (!(o instanceof List)) return "FAIL " + label + " not a list: " + o.getClass().getName();
                got.addAll((List<?>) o);
            } else {
                return "FAIL " + label + " unknown mode " + mode;
            }
            if (in.read() != -1) return "FAIL " + label + " trailing data";
            if (got.size() != names.length) return "FAIL " + label + " read " + got.size() + " values for " + names.length + " names";
            for (int i = 0; i < names.length; i++) {
                Supplier<Object> make = VALUES.get(names[i]);
                if (make == null) return "FAIL " + label + " unknown value " + names[i];
                if (!same(make.get(), got.get(i))) return "FAIL " + label + " value " + i + " (" + names[i] + ") differs: " + got.get(i);
            }
            return "OK " + label;
        } catch (Exception | StackOverflowError e) {
            return "FAIL " + label + " " + e;
        }
    }
}
