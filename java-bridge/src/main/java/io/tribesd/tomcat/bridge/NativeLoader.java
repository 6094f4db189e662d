/*
 * Licensed under the Apache License, Version 2.0.
 */
package io.tribesd.tomcat.bridge;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.Locale;
import java.util.Set;

/**
 * Finds the native library (crates/tribes-jni) inside this jar, extracts it and loads it.
 *
 * <p>The library is stored at {@code META-INF/native/OS-ARCH/libtribes_jni.so} (for example
 * {@code linux-x86_64}). It is extracted to {@code DIR/libtribes_jni-HASH.so}, where HASH is the
 * start of the SHA-256 of its bytes and DIR is the system property {@value #DIR_PROPERTY} or
 * {@code java.io.tmpdir/tribesd-native-USER}. A file already there with the right hash is reused;
 * otherwise the bytes are written to a temporary file in DIR and moved into place atomically, so
 * several JVMs starting at once (and different versions side by side) are safe. DIR is created
 * owner-only, and one that belongs to another user or that others may write to is refused.
 *
 * <p>The system property {@value #LIBRARY_PROPERTY} names a library file to load instead (a
 * development build, or a library placed by an administrator); then nothing is extracted.
 *
 * <p>Every failure is an {@link UnsatisfiedLinkError} whose message says which resource, which
 * file, and why. The first outcome is remembered: later calls return or fail the same way.
 */
public final class NativeLoader {

    /** Directory to extract into. */
    public static final String DIR_PROPERTY = "tribesd.native.dir";
    /** A library file to load instead of the one in the jar. */
    public static final String LIBRARY_PROPERTY = "tribesd.native.library";
    /** The library's base name, as {@link System#mapLibraryName(String)} takes it. */
    public static final String LIBRARY = "tribes_jni";

    private static final Object LOCK = new Object();
    private static String loadedFrom;
    private static String failure;

    private NativeLoader() {
    }

    /**
     * Loads the library once per class loader.
     *
     * @return the absolute path of the file that was loaded
     * @throws UnsatisfiedLinkError saying which resource, which file and why, when it cannot be
     *     loaded (now or at an earlier call)
     */
    public static String load() {
        synchronized (LOCK) {
            if (loadedFrom != null) {
                return loadedFrom;
            }
            if (failure != null) {
                throw new UnsatisfiedLinkError(failure);
            }
            try {
                loadedFrom = doLoad();
                return loadedFrom;
            } catch (LoadFailure e) {
                failure = e.getMessage();
                UnsatisfiedLinkError error = new UnsatisfiedLinkError(failure);
                if (e.getCause() != null) {
                    error.initCause(e.getCause());
                }
                throw error;
            }
        }
    }

    /** {@code linux-x86_64}, {@code linux-aarch64}, {@code macos-aarch64}, {@code windows-x86_64}, ... */
    public static String platform() {
        String os = System.getProperty("os.name", "unknown").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch", "unknown").toLowerCase(Locale.ROOT);
        if (os.startsWith("linux")) {
            os = "linux";
        } else if (os.startsWith("mac") || os.startsWith("darwin")) {
            os = "macos";
        } else if (os.startsWith("windows")) {
            os = "windows";
        } else {
            os = os.replaceAll("[^a-z0-9]+", "");
        }
        if (arch.equals("amd64") || arch.equals("x86_64") || arch.equals("x64")) {
            arch = "x86_64";
        } else if (arch.equals("aarch64") || arch.equals("arm64")) {
            arch = "aarch64";
        }
        return os + "-" + arch;
    }

    /** The resource path of the library for this JVM's OS and architecture. */
    public static String resourcePath() {
        return "META-INF/native/" + platform() + "/" + System.mapLibraryName(LIBRARY);
    }

    private static String doLoad() throws LoadFailure {
        String explicit = System.getProperty(LIBRARY_PROPERTY);
        if (explicit != null && !explicit.isEmpty()) {
            File file = new File(explicit).getAbsoluteFile();
            if (!file.isFile()) {
                throw new LoadFailure("tribesd: cannot load the native library " + file + " (set by -D"
                        + LIBRARY_PROPERTY + "): no such file", null);
            }
            systemLoad(file.getPath(), "the file " + file + " (set by -D" + LIBRARY_PROPERTY + ")");
            return file.getPath();
        }

        String resource = resourcePath();
        byte[] bytes = readResource(resource);
        String hash = sha256(bytes).substring(0, 16);
        String name = System.mapLibraryName(LIBRARY);
        int dot = name.lastIndexOf('.');
        String fileName = name.substring(0, dot) + "-" + hash + name.substring(dot);

        Path dir = extractDir();
        Path target = dir.resolve(fileName);
        String what = "resource " + resource + " extracted to " + target;
        prepareDir(dir, what);
        if (!sameContent(target, bytes, hash)) {
            Path tmp = null;
            try {
                tmp = Files.createTempFile(dir, fileName + ".", ".tmp");
                try (OutputStream out = Files.newOutputStream(tmp)) {
                    out.write(bytes);
                }
                try {
                    Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
                } catch (AtomicMoveNotSupportedException e) {
                    Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
                }
                tmp = null;
            } catch (IOException e) {
                throw new LoadFailure("tribesd: cannot load the native library: " + what + ": cannot write "
                        + (tmp != null ? tmp : dir) + ": " + describe(e)
                        + " (choose another directory with -D" + DIR_PROPERTY + "=DIR)", e);
            } finally {
                if (tmp != null) {
                    try {
                        Files.deleteIfExists(tmp);
                    } catch (IOException ignored) {
                        // best effort: a stray .tmp file is harmless
                    }
                }
            }
        }
        systemLoad(target.toString(), what);
        return target.toString();
    }

    /**
     * Creates DIR (owner-only where POSIX permissions exist) and refuses one that another user
     * owns or may write to: a library planted there would run in this JVM.
     */
    private static void prepareDir(Path dir, String what) throws LoadFailure {
        String choose = " (choose another with -D" + DIR_PROPERTY + "=DIR)";
        boolean posix = FileSystems.getDefault().supportedFileAttributeViews().contains("posix");
        try {
            if (!Files.isDirectory(dir)) {
                if (posix) {
                    Files.createDirectories(dir,
                            PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
                } else {
                    Files.createDirectories(dir);
                }
            }
        } catch (IOException e) {
            throw new LoadFailure("tribesd: cannot load the native library: " + what
                    + ": cannot create directory " + dir + ": " + describe(e) + choose, e);
        }
        if (!posix) {
            return;
        }
        try {
            PosixFileAttributes attrs = Files.readAttributes(dir, PosixFileAttributes.class);
            String me = System.getProperty("user.name");
            Set<PosixFilePermission> perms = attrs.permissions();
            if (me != null && !attrs.owner().getName().equals(me)) {
                throw new LoadFailure("tribesd: cannot load the native library: " + what + ": directory " + dir
                        + " belongs to " + attrs.owner().getName() + ", not " + me + choose, null);
            }
            if (perms.contains(PosixFilePermission.GROUP_WRITE) || perms.contains(PosixFilePermission.OTHERS_WRITE)) {
                throw new LoadFailure("tribesd: cannot load the native library: " + what + ": directory " + dir
                        + " is writable by other users (" + PosixFilePermissions.toString(perms) + ")" + choose, null);
            }
        } catch (IOException e) {
            throw new LoadFailure("tribesd: cannot load the native library: " + what
                    + ": cannot check directory " + dir + ": " + describe(e) + choose, e);
        }
    }

    private static void systemLoad(String path, String what) throws LoadFailure {
        try {
            System.load(path);
        } catch (UnsatisfiedLinkError e) {
            throw new LoadFailure("tribesd: cannot load the native library: " + what + ": the JVM refused it: "
                    + e.getMessage() + " (this jar's library is built for " + platform() + " with glibc)", e);
        }
    }

    private static byte[] readResource(String resource) throws LoadFailure {
        ClassLoader loader = NativeLoader.class.getClassLoader();
        InputStream in = loader == null ? ClassLoader.getSystemResourceAsStream(resource)
                : loader.getResourceAsStream(resource);
        if (in == null) {
            throw new LoadFailure("tribesd: cannot load the native library: resource " + resource
                    + " is not in " + jarOf() + ": this build has no native library for " + platform()
                    + " (os.name=" + System.getProperty("os.name") + ", os.arch=" + System.getProperty("os.arch")
                    + "); build one with `cargo build --release -p tribes-jni` and point -D" + LIBRARY_PROPERTY
                    + " at it", null);
        }
        try (InputStream stream = in) {
            ByteArrayOutputStream out = new ByteArrayOutputStream(1 << 20);
            byte[] buf = new byte[1 << 16];
            int n;
            while ((n = stream.read(buf)) > 0) {
                out.write(buf, 0, n);
            }
            return out.toByteArray();
        } catch (IOException e) {
            throw new LoadFailure("tribesd: cannot load the native library: cannot read resource " + resource
                    + " from " + jarOf() + ": " + describe(e), e);
        }
    }

    private static Path extractDir() {
        String dir = System.getProperty(DIR_PROPERTY);
        if (dir != null && !dir.isEmpty()) {
            return Paths.get(dir).toAbsolutePath();
        }
        String user = System.getProperty("user.name", "user").replaceAll("[^A-Za-z0-9._-]", "_");
        return Paths.get(System.getProperty("java.io.tmpdir"), "tribesd-native-" + user).toAbsolutePath();
    }

    private static boolean sameContent(Path target, byte[] bytes, String hash) {
        try {
            if (!Files.isRegularFile(target) || Files.size(target) != bytes.length) {
                return false;
            }
            byte[] existing = Files.readAllBytes(target);
            return Arrays.equals(existing, bytes) && sha256(existing).startsWith(hash);
        } catch (IOException e) {
            return false;
        }
    }

    private static String sha256(byte[] bytes) {
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256").digest(bytes);
            StringBuilder sb = new StringBuilder(digest.length * 2);
            for (byte b : digest) {
                sb.append(Character.forDigit((b >> 4) & 0xF, 16)).append(Character.forDigit(b & 0xF, 16));
            }
            return sb.toString();
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is required of every JVM", e);
        }
    }

    private static String jarOf() {
        try {
            return String.valueOf(NativeLoader.class.getProtectionDomain().getCodeSource().getLocation());
        } catch (RuntimeException e) {
            return "this jar";
        }
    }

    private static String describe(IOException e) {
        String m = e.getMessage();
        return e.getClass().getSimpleName() + (m == null ? "" : ": " + m);
    }

    private static final class LoadFailure extends Exception {
        private static final long serialVersionUID = 1L;

        LoadFailure(String message, Throwable cause) {
            super(message, cause);
        }
    }
}
