package io.tribesd.tomcat.bridge;

/**
 * Standalone Java streams of one value written without an {@link java.io.ObjectOutputStream},
 * for the values whose stream needs no class descriptor. The bytes are exactly those a fresh
 * {@code ObjectOutputStream} leaves after {@code writeObject(value)} (checked against it by
 * tests/java/bridge/StreamCheck.java, run by crates/tribesd/tests/java_bridge_streams.rs).
 */
public final class JavaStreams {
    /** STREAM_MAGIC, STREAM_VERSION. */
    private static final byte[] HEADER = { (byte) 0xAC, (byte) 0xED, 0x00, 0x05 };
    private static final byte TC_STRING = 0x74;
    private static final byte TC_LONGSTRING = 0x7C;

    private JavaStreams() {
    }

    /**
     * A String's stream (header, then TC_STRING with a 2-byte length or TC_LONGSTRING with an
     * 8-byte one, then modified UTF-8, as {@code ObjectOutputStream.writeString}); null when it
     * would not fit in one Java array.
     */
    public static byte[] string(String s) {
        int n = s.length();
        long utf = 0;
        for (int i = 0; i < n; i++) {
            char c = s.charAt(i);
            utf += (c >= 0x0001 && c <= 0x007F) ? 1 : (c <= 0x07FF ? 2 : 3);
        }
        boolean isLong = utf > 0xFFFF;
        int head = HEADER.length + 1 + (isLong ? 8 : 2);
        if (utf > Integer.MAX_VALUE - 16 - head) {
            return null;
        }
        byte[] b = new byte[head + (int) utf];
        System.arraycopy(HEADER, 0, b, 0, HEADER.length);
        int p = HEADER.length;
        if (isLong) {
            b[p++] = TC_LONGSTRING;
            for (int shift = 56; shift >= 0; shift -= 8) {
                b[p++] = (byte) (utf >>> shift);
            }
        } else {
            b[p++] = TC_STRING;
            b[p++] = (byte) (utf >>> 8);
            b[p++] = (byte) utf;
        }
        for (int i = 0; i < n; i++) {
            char c = s.charAt(i);
            if (c >= 0x0001 && c <= 0x007F) {
                b[p++] = (byte) c;
            } else if (c <= 0x07FF) {
                b[p++] = (byte) (0xC0 | ((c >> 6) & 0x1F));
                b[p++] = (byte) (0x80 | (c & 0x3F));
            } else {
                b[p++] = (byte) (0xE0 | ((c >> 12) & 0x0F));
                b[p++] = (byte) (0x80 | ((c >> 6) & 0x3F));
                b[p++] = (byte) (0x80 | (c & 0x3F));
            }
        }
        return b;
    }
}
