import io.tribesd.tomcat.bridge.JavaStreams;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.ObjectOutputStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * Checks the Java bridge's JavaStreams against ObjectOutputStream: for each string, the bytes
 * must be identical. Prints "checked N strings" and exits 0, or names the first difference and
 * exits 1. Run by crates/tribesd/tests/java_bridge_streams.rs with the bridge jar on the class path.
 */
public final class StreamCheck {
    public static void main(String[] args) throws IOException {
        List<String> cases = new ArrayList<>();
        cases.add("");
        cases.add("a");
        cases.add("\0");
        cases.add("\u007f\u0080\u07ff\u0800\uffff");
        cases.add("é€😀");
        cases.add("\ud800");
        cases.add("\udc00x\ud800");
        cases.add("x".repeat(1024));
        cases.add("x".repeat(0xFFFF));
        cases.add("x".repeat(0x10000));
        cases.add("\u20ac".repeat(0xFFFF / 3));
        cases.add("\u20ac".repeat(0xFFFF / 3 + 1));
        cases.add("\u00e9".repeat(0x8000));
        cases.add("\0".repeat(0x7FFF) + "a");
        cases.add("\0".repeat(0x8000));
        Random random = new Random(42);
        for (int i = 0; i < 2000; i++) {
            int len = random.nextInt(i < 1900 ? 64 : 40000);
            StringBuilder s = new StringBuilder(len);
            for (int j = 0; j < len; j++) {
                switch (random.nextInt(4)) {
                case 0:
                    s.append((char) random.nextInt(0x80));
                    break;
                case 1:
                    s.append((char) random.nextInt(0x800));
                    break;
                default:
                    s.append((char) random.nextInt(0x10000));
                }
            }
            cases.add(s.toString());
        }
        for (int i = 0; i < cases.size(); i++) {
            String s = cases.get(i);
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
                out.writeObject(s);
            }
            byte[] expected = bytes.toByteArray();
            byte[] got = JavaStreams.string(s);
            if (!Arrays.equals(expected, got)) {
                System.out.println("case " + i + " (" + s.length() + " chars): JavaStreams.string differs from"
                        + " ObjectOutputStream (" + (got == null ? "null" : got.length + " bytes") + " vs "
                        + expected.length + " bytes)");
                System.exit(1);
            }
        }
        System.out.println("checked " + cases.size() + " strings");
    }
}
