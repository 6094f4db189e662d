/*
 * TribesPeer: a stock Tribes node for the Rust interop tests, built only on Tomcat's public
 * Tribes API (GroupChannel, NioReceiver, PooledParallelSender, MessageDispatchInterceptor,
 * ChannelListener). It has no membership service: messages go to an explicit MemberImpl, and
 * everything that arrives is counted by a ChannelListener.
 *
 * Compiled per Tomcat release by tests/java/run-tribes-peer.sh.
 *
 * Usage: java TribesPeer PORT AUTOBIND
 *   Starts the channel (receiver on 127.0.0.1, first free port of PORT .. PORT+AUTOBIND-1, and
 *   the sender) and prints "ready port=P id=HEX32". Then reads one command per stdin line and
 *   answers with one stdout line:
 *
 *   reset                        forget everything received       -> "ok"
 *   fail K                       the listener throws for the next K messages it is given
 *                                (they count as failed, not as received) -> "ok"
 *   wait N TIMEOUT_MS            wait until N messages were received, or the timeout
 *                                -> "received count= distinct= dups= failed= inversions= crc= bytes=
 *                                    strings= last_string= from_port="
 *   send HOST PORT IDHEX N SIZE OPTIONS TIMEOUT_MS
 *                                send N ByteMessages of SIZE bytes (payload(seq, SIZE), seq 0..N-1)
 *                                with OPTIONS to the member HOST:PORT with unique id IDHEX, one
 *                                after another; with ASYNCHRONOUS wait until the dispatcher's
 *                                queue is empty (every queued send reported)
 *                                -> "sent ok= failed= ms= error="
 *   quit                         stop the channel and exit
 *
 * Payload of message seq with size S (S >= 8), the same in the Rust tests:
 *   bytes 0..8 = seq as a big-endian long, byte i >= 8 = (seq * 31 + i * 7) & 0xff.
 * crc is the sum (wrapping long) of CRC32 over each received payload: independent of order.
 * inversions counts received messages whose seq is lower than the one received before.
 */

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.io.Serializable;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.BitSet;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.Iterator;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.zip.CRC32;

import org.apache.catalina.tribes.ByteMessage;
import org.apache.catalina.tribes.Channel;
import org.apache.catalina.tribes.ChannelException;
import org.apache.catalina.tribes.ChannelInterceptor;
import org.apache.catalina.tribes.ChannelListener;
import org.apache.catalina.tribes.ErrorHandler;
import org.apache.catalina.tribes.Member;
import org.apache.catalina.tribes.UniqueId;
import org.apache.catalina.tribes.group.GroupChannel;
import org.apache.catalina.tribes.group.interceptors.MessageDispatchInterceptor;
import org.apache.catalina.tribes.membership.MemberImpl;
import org.apache.catalina.tribes.transport.ReceiverBase;

public class TribesPeer {

    static final PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);

    /** What the listener has seen since the last reset. Guarded by the Counter's monitor. */
    static final class Counter implements ChannelListener {
        long count, dups, failed, inversions, crc, bytes, strings;
        long lastSeq = -1;
        int fromPort = -1;
        String lastString = "-";
        int failNext;
        final BitSet seen = new BitSet();

        @Override
        public boolean accept(Serializable msg, Member sender) {
            return msg instanceof ByteMessage || msg instanceof String;
        }

        @Override
        public synchronized void messageReceived(Serializable msg, Member sender) {
            if (failNext > 0) {
                failNext--;
                failed++;
                notifyAll();
                throw new IllegalStateException("TribesPeer: failing this message on purpose");
            }
            fromPort = sender.getPort();
            if (msg instanceof String) {
                strings++;
                lastString = (String) msg;
                notifyAll();
                return;
            }
            byte[] p = ((ByteMessage) msg).getMessage();
            count++;
            bytes += p.length;
            CRC32 c = new CRC32();
            c.update(p, 0, p.length);
            crc += c.getValue();
            if (p.length >= 8) {
                long seq = ByteBuffer.wrap(p, 0, 8).getLong();
                if (seq >= 0 && seq < Integer.MAX_VALUE) {
                    if (seen.get((int) seq)) {
                        dups++;
                    }
                    seen.set((int) seq);
                }
                if (seq < lastSeq) {
                    inversions++;
                }
                lastSeq = seq;
            }
            notifyAll();
        }

        synchronized void reset() {
            count = dups = failed = inversions = crc = bytes = strings = 0;
            lastSeq = -1;
            fromPort = -1;
            lastString = "-";
            seen.clear();
        }

        synchronized String waitFor(long n, long timeoutMs) throws InterruptedException {
            long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
            while (count + strings < n) {
                long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
                if (left <= 0) {
                    break;
                }
                wait(left);
            }
            return "received count=" + count + " distinct=" + seen.cardinality() + " dups=" + dups + " failed="
                    + failed + " inversions=" + inversions + " crc=" + Long.toUnsignedString(crc) + " bytes="
                    + bytes + " strings=" + strings + " last_string=" + lastString.replace(' ', '_')
                    + " from_port=" + fromPort;
        }
    }

    static byte[] payload(long seq, int size) {
        byte[] p = new byte[size];
        ByteBuffer.wrap(p).putLong(seq);
        for (int i = 8; i < size; i++) {
            p[i] = (byte) ((seq * 31L + i * 7L) & 0xff);
        }
        return p;
    }

    static byte[] unhex(String s) {
        byte[] b = new byte[s.length() / 2];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) Integer.parseInt(s.substring(2 * i, 2 * i + 2), 16);
        }
        return b;
    }

    static String hex(byte[] b) {
        StringBuilder sb = new StringBuilder();
        for (byte x : b) {
            sb.append(String.format("%02x", x & 0xff));
        }
        return sb.toString();
    }

    static String send(GroupChannel channel, String[] a) throws Exception {
        MemberImpl dest = new MemberImpl(a[1], Integer.parseInt(a[2]), 0);
        dest.setUniqueId(unhex(a[3]));
        int n = Integer.parseInt(a[4]);
        int size = Integer.parseInt(a[5]);
        int options = Integer.parseInt(a[6]);
        long timeoutMs = Long.parseLong(a[7]);
        boolean async = (options & Channel.SEND_OPTIONS_ASYNCHRONOUS) != 0;
        AtomicInteger failed = new AtomicInteger();
        AtomicReference<String> error = new AtomicReference<>("-");
        // Queued messages report to the handler; when the queue is full MessageDispatchInterceptor
        // sends on this thread instead (alwaysSend) and only an exception would tell.
        ErrorHandler handler = new ErrorHandler() {
            @Override
            public void handleError(ChannelException x, UniqueId id) {
                failed.incrementAndGet();
                error.compareAndSet("-", oneLine(x));
            }

            @Override
            public void handleCompletion(UniqueId id) {
            }
        };
        long start = System.nanoTime();
        for (int seq = 0; seq < n; seq++) {
            try {
                channel.send(new Member[] { dest }, new ByteMessage(payload(seq, size)), options,
                        async ? handler : null);
            } catch (ChannelException x) {
                failed.incrementAndGet();
                error.compareAndSet("-", oneLine(x));
            }
        }
        if (async) {
            // The queue's byte count drops after each queued send reported to the handler.
            MessageDispatchInterceptor dispatcher = null;
            for (Iterator<ChannelInterceptor> i = channel.getInterceptors(); i.hasNext();) {
                ChannelInterceptor c = i.next();
                if (c instanceof MessageDispatchInterceptor) {
                    dispatcher = (MessageDispatchInterceptor) c;
                }
            }
            long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
            while (dispatcher != null && dispatcher.getCurrentSize() > 0 && System.nanoTime() < deadline) {
                Thread.sleep(1);
            }
            if (dispatcher == null || dispatcher.getCurrentSize() > 0) {
                error.compareAndSet("-", "timed_out_waiting_for_the_queue");
            }
        }
        int ok = n - failed.get();
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        return "sent ok=" + ok + " failed=" + failed.get() + " ms=" + ms + " error=" + error.get();
    }

    static String oneLine(Throwable x) {
        StringBuilder sb = new StringBuilder();
        for (Throwable t = x; t != null; t = t.getCause()) {
            if (sb.length() > 0) {
                sb.append("|");
            }
            sb.append(t.getClass().getSimpleName()).append(":").append(t.getMessage());
        }
        if (x instanceof ChannelException) {
            for (ChannelException.FaultyMember f : ((ChannelException) x).getFaultyMembers()) {
                sb.append("|faulty:").append(f.getCause() == null ? "null" : f.getCause().getClass().getSimpleName());
            }
        }
        return sb.toString().replaceAll("\\s+", "_");
    }

    public static void main(String[] args) throws Exception {
        int port = Integer.parseInt(args[0]);
        int autoBind = args.length > 1 ? Integer.parseInt(args[1]) : 1;
        GroupChannel channel = new GroupChannel();
        // As a Tomcat server does; without it GroupChannel warns that it makes its own.
        channel.setUtilityExecutor(new ScheduledThreadPoolExecutor(1));
        ReceiverBase receiver = (ReceiverBase) channel.getChannelReceiver();
        receiver.setAddress("127.0.0.1");
        receiver.setPort(port);
        receiver.setAutoBind(autoBind);
        Counter counter = new Counter();
        channel.addChannelListener(counter);
        channel.start(Channel.SND_RX_SEQ | Channel.SND_TX_SEQ);
        Member local = channel.getLocalMember(false);
        out.println("ready port=" + local.getPort() + " id=" + hex(local.getUniqueId()));

        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            String[] a = line.trim().split("\\s+");
            switch (a[0]) {
                case "reset":
                    counter.reset();
                    out.println("ok");
                    break;
                case "fail":
                    synchronized (counter) {
                        counter.failNext = Integer.parseInt(a[1]);
                    }
                    out.println("ok");
                    break;
                case "wait":
                    out.println(counter.waitFor(Long.parseLong(a[1]), Long.parseLong(a[2])));
                    break;
                case "send":
                    out.println(send(channel, a));
                    break;
                case "quit":
                    channel.stop(Channel.SND_RX_SEQ | Channel.SND_TX_SEQ);
                    out.println("bye");
                    System.exit(0);
                    break;
                default:
                    out.println("error unknown command " + a[0]);
            }
        }
        channel.stop(Channel.SND_RX_SEQ | Channel.SND_TX_SEQ);
        System.exit(0);
    }
}
