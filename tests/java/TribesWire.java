/*
 * TribesWire: a small harness that lets the Rust test suite compare its wire
 * encoding with the one produced by Apache Tomcat's own Tribes classes.
 *
 * It is compiled against one Tomcat line's catalina-tribes.jar (+ tomcat-juli.jar)
 * by tests/java/run-tribeswire.sh and driven by the shared case file
 * tests/wire-cases.txt. It only *calls* Tomcat's public API (plus reflection
 * for a few non-public constants); it contains no Tomcat code.
 *
 * Usage:
 *   java TribesWire emit   CASEFILE   one "NAME HEX" line per case: the bytes Tomcat produces
 *   java TribesWire read   CASEFILE   stdin "NAME HEX" lines -> Tomcat decodes each, prints a case line
 *   java TribesWire stream CASEFILE   stdin HEX chunks -> one XByteBuffer; prints count= and frames
 *
 * Case-file format (one case per line, '#' comments and blank lines ignored,
 * tokens separated by single spaces, byte fields lowercase hex, integers decimal):
 *   member NAME alive=I64 port=I32 secure_port=I32 udp_port=I32 host=HEX command=HEX domain=HEX id=HEX payload=HEX
 *   frame NAME options=I32 timestamp=I64 id=HEX member=MEMBERNAME message=HEX|repeat:HEXBYTE:COUNT
 *   ack ack | ack fail_ack
 *   constant NAME
 *
 * Output is deterministic; Tomcat's logging goes to stderr (java.util.logging
 * console handler), never to stdout.
 */

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.lang.reflect.Field;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import org.apache.catalina.tribes.Member;
import org.apache.catalina.tribes.io.ChannelData;
import org.apache.catalina.tribes.io.XByteBuffer;
import org.apache.catalina.tribes.membership.MemberImpl;
import org.apache.catalina.tribes.transport.Constants;

public class TribesWire {

    /** The keys of each case kind, in the order they appear in the case file and in our output. */
    private static final Map<String, List<String>> KEYS = new LinkedHashMap<>();
    static {
        KEYS.put("member", List.of("alive", "port", "secure_port", "udp_port", "host", "command", "domain", "id",
                "payload"));
        KEYS.put("frame", List.of("options", "timestamp", "id", "member", "message"));
        KEYS.put("ack", List.of());
        KEYS.put("constant", List.of());
    }

    /** One parsed line of the case file. */
    private static final class Case {
        final String kind;
        final String name;
        final Map<String, String> fields; // insertion order == KEYS order
        final int lineNo;

        Case(String kind, String name, Map<String, String> fields, int lineNo) {
            this.kind = kind;
            this.name = name;
            this.fields = fields;
            this.lineNo = lineNo;
        }

        String str(String key) {
            return fields.get(key);
        }

        byte[] bytes(String key) {
            return parseBytes(fields.get(key));
        }

        int i32(String key) {
            return Integer.parseInt(fields.get(key));
        }

        long i64(String key) {
            return Long.parseLong(fields.get(key));
        }
    }

    /** All cases, in file order, by name. */
    private final Map<String, Case> cases = new LinkedHashMap<>();
    /** Member cases as Tomcat MemberImpl objects (built once, alive time fixed). */
    private final Map<String, MemberImpl> members = new LinkedHashMap<>();
    /** Member cases' Tomcat encodings, used to name the address of decoded frames. */
    private final Map<String, byte[]> memberBytes = new LinkedHashMap<>();

    private final PrintStream out;

    private TribesWire(PrintStream out) {
        this.out = out;
    }

    public static void main(String[] args) throws Exception {
        // Tomcat's StringManager picks messages by the default locale: pin it so
        // error texts (printed by "read") are the same everywhere.
        Locale.setDefault(Locale.ENGLISH);
        // Tomcat logs through juli -> java.util.logging (console handler = stderr). Keep only
        // warnings and errors (e.g. XByteBuffer's "discarded invalid header") to cut the noise.
        java.util.logging.Logger.getLogger("").setLevel(java.util.logging.Level.WARNING);
        if (args.length != 2 || !List.of("emit", "read", "stream").contains(args[0])) {
            System.err.println("usage: java TribesWire emit|read|stream CASEFILE");
            System.exit(2);
        }
        PrintStream out = new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), false,
                StandardCharsets.US_ASCII);
        TribesWire tw = new TribesWire(out);
        try {
            tw.load(args[1]);
        } catch (IllegalArgumentException | IOException e) {
            System.err.println("TribesWire: bad case file " + args[1] + ": " + e);
            System.exit(2);
        }
        switch (args[0]) {
            case "emit":
                tw.emit();
                break;
            case "read":
                tw.read(new BufferedReader(new InputStreamReader(System.in, StandardCharsets.US_ASCII)));
                break;
            default:
                tw.stream(new BufferedReader(new InputStreamReader(System.in, StandardCharsets.US_ASCII)));
                break;
        }
        out.flush();
        if (out.checkError()) {
            System.exit(1);
        }
    }

    // ------------------------------------------------------------------ case file

    private void load(String file) throws IOException {
        List<String> lines = Files.readAllLines(Paths.get(file), StandardCharsets.UTF_8);
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i);
            if (line.isBlank() || line.startsWith("#")) {
                continue;
            }
            Case c = parseCase(line, i + 1);
            if (cases.containsKey(c.name)) {
                throw new IllegalArgumentException("line " + c.lineNo + ": duplicate case name " + c.name);
            }
            if (c.kind.equals("frame") && !members.containsKey(c.str("member"))) {
                throw new IllegalArgumentException(
                        "line " + c.lineNo + ": member=" + c.str("member") + " is not an earlier member case");
            }
            cases.put(c.name, c);
            if (c.kind.equals("member")) {
                MemberImpl m = buildMember(c);
                members.put(c.name, m);
                memberBytes.put(c.name, m.getData(false, false));
            } else if (c.kind.equals("ack")) {
                ackBytes(c.name); // validates the name
            } else if (c.kind.equals("constant")) {
                constantBytes(c.name); // validates the name
            }
            // Validate frame fields early (numbers and hex).
            if (c.kind.equals("frame")) {
                c.i32("options");
                c.i64("timestamp");
                c.bytes("id");
                c.bytes("message");
            }
        }
    }

    private static Case parseCase(String line, int lineNo) {
        String[] tok = line.split(" ", -1);
        if (tok.length < 2) {
            throw new IllegalArgumentException("line " + lineNo + ": expected KIND NAME ...");
        }
        List<String> keys = KEYS.get(tok[0]);
        if (keys == null) {
            throw new IllegalArgumentException("line " + lineNo + ": unknown kind " + tok[0]);
        }
        if (tok.length != 2 + keys.size()) {
            throw new IllegalArgumentException("line " + lineNo + ": " + tok[0] + " needs keys " + keys);
        }
        Map<String, String> fields = new LinkedHashMap<>();
        for (int k = 0; k < keys.size(); k++) {
            String t = tok[2 + k];
            String want = keys.get(k) + "=";
            if (!t.startsWith(want)) {
                throw new IllegalArgumentException("line " + lineNo + ": expected " + want + "... got " + t);
            }
            fields.put(keys.get(k), t.substring(want.length()));
        }
        return new Case(tok[0], tok[1], fields, lineNo);
    }

    // ------------------------------------------------------------------ building Tomcat objects

    /**
     * member: a MemberImpl built with its setters (setHost, setPort, setSecurePort, setUdpPort,
     * setCommand, setDomain, setUniqueId, setPayload), encoded by MemberImpl.getData(boolean, boolean).
     * <p>
     * The alive field is NOT taken from memberAliveTime: getData always writes
     * {@code System.currentTimeMillis() - getServiceStartTime()} when it (re)builds the packet, and
     * getData(false, ...) afterwards returns that cached packet unchanged. So we set the service start
     * time to {@code now - alive}, rebuild with getData(true, true), decode the result with
     * MemberImpl.getMember to check the alive field, and retry if the clock ticked in between.
     * The cached packet is what getData(false) (and therefore ChannelData) uses from then on.
     */
    private static MemberImpl buildMember(Case c) {
        MemberImpl m = new MemberImpl();
        m.setHost(c.bytes("host"));
        m.setPort(c.i32("port"));
        m.setSecurePort(c.i32("secure_port"));
        m.setUdpPort(c.i32("udp_port"));
        m.setCommand(c.bytes("command"));
        m.setDomain(c.bytes("domain"));
        byte[] id = c.bytes("id");
        if (id.length != 16) {
            throw new IllegalArgumentException("line " + c.lineNo + ": member id must be 16 bytes");
        }
        m.setUniqueId(id);
        m.setPayload(c.bytes("payload"));
        long alive = c.i64("alive");
        for (int attempt = 0; attempt < 1000; attempt++) {
            m.setServiceStartTime(System.currentTimeMillis() - alive); // wraps like getData's subtraction
            byte[] data = m.getData(true, true);
            if (MemberImpl.getMember(data).getMemberAliveTime() == alive) {
                return m;
            }
        }
        throw new IllegalStateException("could not pin alive time for " + c.name);
    }

    /**
     * frame: ChannelData(false) + setOptions/setTimestamp/setUniqueId/setAddress(MemberImpl)/
     * setMessage(new XByteBuffer(bytes, false)), encoded by XByteBuffer.createDataPackage(ChannelData).
     */
    private byte[] encodeFrame(Case c) {
        ChannelData cd = new ChannelData(false);
        cd.setOptions(c.i32("options"));
        cd.setTimestamp(c.i64("timestamp"));
        cd.setUniqueId(c.bytes("id"));
        cd.setAddress(members.get(c.str("member")));
        cd.setMessage(new XByteBuffer(c.bytes("message"), false));
        return XByteBuffer.createDataPackage(cd);
    }

    /** ack: org.apache.catalina.tribes.transport.Constants.ACK_COMMAND / FAIL_ACK_COMMAND. */
    private static byte[] ackBytes(String name) {
        switch (name) {
            case "ack":
                return Constants.ACK_COMMAND.clone();
            case "fail_ack":
                return Constants.FAIL_ACK_COMMAND.clone();
            default:
                throw new IllegalArgumentException("unknown ack " + name);
        }
    }

    /** constant: the named static byte[] field (reflection for the protected / private ones). */
    private static byte[] constantBytes(String name) {
        switch (name) {
            case "tcp_fail_detect":
                return field("org.apache.catalina.tribes.group.interceptors.TcpFailureDetector", "TCP_FAIL_DETECT");
            case "tcp_ping_data":
                return field("org.apache.catalina.tribes.group.interceptors.TcpPingInterceptor", "TCP_PING_DATA");
            case "member_start":
                return field("org.apache.catalina.tribes.group.interceptors.StaticMembershipInterceptor",
                        "MEMBER_START");
            case "member_stop":
                return field("org.apache.catalina.tribes.group.interceptors.StaticMembershipInterceptor",
                        "MEMBER_STOP");
            case "shutdown_payload":
                return Member.SHUTDOWN_PAYLOAD.clone();
            case "mbr_begin":
                return MemberImpl.TRIBES_MBR_BEGIN.clone();
            case "mbr_end":
                return MemberImpl.TRIBES_MBR_END.clone();
            case "frame_start":
                return field("org.apache.catalina.tribes.io.XByteBuffer", "START_DATA"); // private
            case "frame_end":
                return field("org.apache.catalina.tribes.io.XByteBuffer", "END_DATA"); // private
            case "ack_data":
                return Constants.ACK_DATA.clone();
            case "fail_ack_data":
                return Constants.FAIL_ACK_DATA.clone();
            default:
                throw new IllegalArgumentException("unknown constant " + name);
        }
    }

    private static byte[] field(String className, String fieldName) {
        try {
            Field f = Class.forName(className).getDeclaredField(fieldName);
            f.setAccessible(true);
            return ((byte[]) f.get(null)).clone();
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("cannot read " + className + "." + fieldName, e);
        }
    }

    // ------------------------------------------------------------------ emit

    private void emit() {
        for (Case c : cases.values()) {
            byte[] b;
            switch (c.kind) {
                case "member":
                    b = members.get(c.name).getData(false, false); // cached packet, alive pinned
                    break;
                case "frame":
                    b = encodeFrame(c);
                    break;
                case "ack":
                    b = ackBytes(c.name);
                    break;
                default:
                    b = constantBytes(c.name);
                    break;
            }
            out.println(c.name + " " + hex(b));
        }
    }

    // ------------------------------------------------------------------ read

    private void read(BufferedReader in) throws IOException {
        String line;
        while ((line = in.readLine()) != null) {
            if (line.isBlank()) {
                continue;
            }
            int sp = line.indexOf(' ');
            String name = sp < 0 ? line : line.substring(0, sp);
            String hexText = sp < 0 ? "" : line.substring(sp + 1).trim();
            Case c = cases.get(name);
            if (c == null) {
                out.println("unknown " + name + " error=UnknownCase");
                continue;
            }
            try {
                byte[] b = parseHex(hexText);
                switch (c.kind) {
                    case "member":
                        out.println(memberLine(c.name, (MemberImpl) MemberImpl.getMember(b)));
                        break;
                    case "frame":
                        out.println(readFrame(c, b));
                        break;
                    case "ack":
                        out.println(compareLine(c, b, ackBytes(c.name)));
                        break;
                    default:
                        out.println(compareLine(c, b, constantBytes(c.name)));
                        break;
                }
            } catch (Throwable e) { // includes e.g. NegativeArraySizeException, OutOfMemoryError
                out.println(c.kind + " " + c.name + " error=" + describe(e));
            }
        }
    }

    /**
     * frame: append to an XByteBuffer(discard=true) as a receiver does, require countPackages() == 1,
     * XByteBuffer.extractPackage(true) (which calls ChannelData.getDataFromPackage(XByteBuffer)), and
     * require that nothing is left in the buffer.
     */
    private String readFrame(Case c, byte[] b) throws IOException {
        XByteBuffer buf = new XByteBuffer(Math.max(b.length, 1), true);
        buf.append(b, 0, b.length);
        int count = buf.countPackages();
        if (count != 1) {
            return "frame " + c.name + " error=countPackages:" + count;
        }
        ChannelData cd = buf.extractPackage(true);
        if (buf.getLength() != 0) {
            return "frame " + c.name + " error=trailingBytes:" + buf.getLength();
        }
        return frameLine(c.name, cd, c.str("member"));
    }

    private static String compareLine(Case c, byte[] got, byte[] want) {
        if (Arrays.equals(got, want)) {
            return c.kind + " " + c.name;
        }
        return c.kind + " " + c.name + " mismatch=" + hex(want);
    }

    // ------------------------------------------------------------------ stream

    /**
     * stream: every stdin line is a hex chunk appended (XByteBuffer.append) to one
     * XByteBuffer(1024, discard=true). After each append print "count=N" (countPackages()), then
     * take out every complete package with extractPackage(true) and print it as a frame line named
     * "stream".
     */
    private void stream(BufferedReader in) throws IOException {
        XByteBuffer buf = new XByteBuffer(1024, true);
        String line;
        while ((line = in.readLine()) != null) {
            byte[] chunk;
            try {
                chunk = parseHex(line.trim());
            } catch (IllegalArgumentException e) {
                out.println("error=" + describe(e));
                continue;
            }
            buf.append(chunk, 0, chunk.length);
            int count = buf.countPackages();
            out.println("count=" + count);
            for (int i = 0; i < count; i++) {
                try {
                    out.println(frameLine("stream", buf.extractPackage(true), null));
                } catch (Throwable e) {
                    out.println("frame stream error=" + describe(e));
                }
            }
        }
    }

    // ------------------------------------------------------------------ output lines

    /** A member case line from a decoded MemberImpl (getters of the Member interface). */
    private static String memberLine(String name, MemberImpl m) {
        return "member " + name + " alive=" + m.getMemberAliveTime() + " port=" + m.getPort() + " secure_port=" +
                m.getSecurePort() + " udp_port=" + m.getUdpPort() + " host=" + hex(m.getHost()) + " command=" +
                hex(m.getCommand()) + " domain=" + hex(m.getDomain()) + " id=" + hex(m.getUniqueId()) +
                " payload=" + hex(m.getPayload());
    }

    /**
     * A frame case line from a decoded ChannelData. member= is the name of the member case whose
     * Tomcat encoding equals the decoded address bytes (preferring {@code preferred}), else ?HEX.
     */
    private String frameLine(String name, ChannelData cd, String preferred) {
        byte[] addr = cd.getAddress().getData(false, false); // decoded member keeps the received bytes
        String memberName = null;
        if (preferred != null && Arrays.equals(memberBytes.get(preferred), addr)) {
            memberName = preferred;
        } else {
            for (Map.Entry<String, byte[]> e : memberBytes.entrySet()) {
                if (Arrays.equals(e.getValue(), addr)) {
                    memberName = e.getKey();
                    break;
                }
            }
        }
        return "frame " + name + " options=" + cd.getOptions() + " timestamp=" + cd.getTimestamp() + " id=" +
                hex(cd.getUniqueId()) + " member=" + (memberName != null ? memberName : "?" + hex(addr)) +
                " message=" + hex(cd.getMessage().getBytes());
    }

    /** Exception class and message with all whitespace replaced by '_'. */
    private static String describe(Throwable e) {
        String s = e.getClass().getName();
        if (e.getMessage() != null) {
            s += ":" + e.getMessage();
        }
        return s.replaceAll("\\s+", "_");
    }

    // ------------------------------------------------------------------ hex helpers

    private static final char[] HEX = "0123456789abcdef".toCharArray();

    private static String hex(byte[] b) {
        if (b == null) {
            return "";
        }
        char[] c = new char[b.length * 2];
        for (int i = 0; i < b.length; i++) {
            c[2 * i] = HEX[(b[i] >> 4) & 0xf];
            c[2 * i + 1] = HEX[b[i] & 0xf];
        }
        return new String(c);
    }

    /** A case-file byte value: plain hex, or repeat:HEXBYTE:COUNT. */
    private static byte[] parseBytes(String s) {
        if (s.startsWith("repeat:")) {
            String[] p = s.split(":", -1);
            if (p.length != 3 || p[1].length() != 2) {
                throw new IllegalArgumentException("bad repeat value " + s);
            }
            byte[] b = new byte[Integer.parseInt(p[2])];
            Arrays.fill(b, parseHex(p[1])[0]);
            return b;
        }
        return parseHex(s);
    }

    private static byte[] parseHex(String s) {
        if (s.length() % 2 != 0) {
            throw new IllegalArgumentException("odd-length hex");
        }
        byte[] b = new byte[s.length() / 2];
        for (int i = 0; i < b.length; i++) {
            int hi = Character.digit(s.charAt(2 * i), 16);
            int lo = Character.digit(s.charAt(2 * i + 1), 16);
            if (hi < 0 || lo < 0) {
                throw new IllegalArgumentException("bad hex digit near offset " + (2 * i));
            }
            b[i] = (byte) ((hi << 4) | lo);
        }
        return b;
    }
}
