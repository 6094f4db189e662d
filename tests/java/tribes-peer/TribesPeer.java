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
 *   send HOST PORT IDHEX N SIZE OPTIONS TIMEOUT_MS [UDPPORT]
 *                                send N ByteMessages of SIZE bytes (payload(seq, SIZE), seq 0..N-1)
 *                                with OPTIONS to the member HOST:PORT with unique id IDHEX (and
 *                                udpPort UDPPORT, for SEND_OPTIONS_UDP), one after another; with
 *                                ASYNCHRONOUS wait until the dispatcher's queue is empty (every
 *                                queued send reported); SEND_OPTIONS_MULTICAST goes to the group
 *                                -> "sent ok= failed= ms= error="
 *   rpc HOST PORT IDHEX RPCID OPTIONS TIMEOUT_MS
 *                                a stock RpcChannel (rpcId RPCID) sends the String "hello" to that
 *                                member with ALL_REPLY, channel OPTIONS and TIMEOUT_MS, as
 *                                AbstractReplicatedMap does -> "rpc responses= ms= error="
 *   pings                        -> "pings count=" (TCP pings that reached the TcpPingInterceptor)
 *   quit                         stop the channel and exit
 *
 * Optional features, from the environment:
 *   TRIBES_PEER_UDP_PORT=P       the receiver also binds UDP from port P (udpPort, autoBind); the
 *                                ready line then says "udp=BOUND"
 *   TRIBES_PEER_PING=1           a TcpPingInterceptor (useThread false, no TcpFailureDetector)
 *                                with a counter of received pings below it
 *   TRIBES_PEER_MCAST=ADDR:PORT  a McastService on that group, bound to 127.0.0.1, started with
 *                                the channel (membership heartbeats and multicast data)
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
import org.apache.catalina.tribes.ChannelMessage;
import org.apache.catalina.tribes.group.ChannelInterceptorBase;
import org.apache.catalina.tribes.group.Response;
import org.apache.catalina.tribes.group.RpcCallback;
import org.apache.catalina.tribes.group.RpcChannel;
import org.apache.catalina.tribes.group.interceptors.TcpPingInterceptor;
import org.apache.catalina.tribes.membership.McastService;
import java.util.Arrays;
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

    /** interceptors.md §3: TcpPingInterceptor.TCP_PING_DATA. */
    static final byte[] TCP_PING_DATA = unhex("4fa7734879df43c99f6f8980a15b07147dd9525bebdf439ab77ebe8f81671eb6"
            + "3715be8745214ca8bf0a4d1353381532" + "55f694b73adf217891047dd77284c0d5");

    /** Below the TcpPingInterceptor: counts the pings that reach it (which it then drops). */
    static final class PingCounter extends ChannelInterceptorBase {
        final AtomicInteger pings = new AtomicInteger();

        @Override
        public void messageReceived(ChannelMessage msg) {
            if (Arrays.equals(TCP_PING_DATA, msg.getMessage().getBytes())) {
                pings.incrementAndGet();
            }
            super.messageReceived(msg);
        }
    }

    static String rpc(GroupChannel channel, String[] a) {
        MemberImpl dest;
        try {
            dest = new MemberImpl(a[1], Integer.parseInt(a[2]), 0);
        } catch (java.io.IOException x) {
            return "rpc responses=-1 ms=0 error=" + oneLine(x);
        }
        dest.setUniqueId(unhex(a[3]));
        RpcCallback callback = new RpcCallback() {
            @Override
            public Serializable replyRequest(Serializable msg, Member sender) {
                return null;
            }

            @Override
            public void leftOver(Serializable msg, Member sender) {
            }
        };
        RpcChannel rpc = new RpcChannel(a[4].getBytes(StandardCharsets.ISO_8859_1), channel, callback);
        long start = System.nanoTime();
        String error = "-";
        int responses = -1;
        try {
            Response[] r = rpc.send(new Member[] { dest }, "hello", RpcChannel.ALL_REPLY, Integer.parseInt(a[5]),
                    Long.parseLong(a[6]));
            responses = r.length;
        } catch (ChannelException x) {
            error = oneLine(x);
        } finally {
            channel.removeChannelListener(rpc);
        }
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        return "rpc responses=" + responses + " ms=" + ms + " error=" + error;
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
        if (a.length > 8) {
            dest.setUdpPort(Integer.parseInt(a[8]));
        }
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
        String udp = System.getenv("TRIBES_PEER_UDP_PORT");
        if (udp != null) {
            receiver.setUdpPort(Integer.parseInt(udp));
        }
        PingCounter pingCounter = new PingCounter();
        if ("1".equals(System.getenv("TRIBES_PEER_PING"))) {
            // More than one interceptor: GroupChannel no longer adds its default dispatcher.
            channel.addInterceptor(new MessageDispatchInterceptor());
            channel.addInterceptor(new TcpPingInterceptor());
            channel.addInterceptor(pingCounter);
        }
        int services = Channel.SND_RX_SEQ | Channel.SND_TX_SEQ;
        String mcast = System.getenv("TRIBES_PEER_MCAST");
        if (mcast != null) {
            McastService membership = (McastService) channel.getMembershipService();
            membership.setAddress(mcast.substring(0, mcast.lastIndexOf(':')));
            membership.setPort(Integer.parseInt(mcast.substring(mcast.lastIndexOf(':') + 1)));
            membership.setBind("127.0.0.1");
            membership.setFrequency(500);
            membership.setDropTime(3000);
            services = Channel.DEFAULT;
        }
        Counter counter = new Counter();
        channel.addChannelListener(counter);
        channel.start(services);
        Member local = channel.getLocalMember(false);
        out.println("ready port=" + local.getPort() + " id=" + hex(local.getUniqueId()) + " udp=" + local.getUdpPort());

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
                case "rpc":
                    out.println(rpc(channel, a));
                    break;
                case "pings":
                    out.println("pings count=" + pingCounter.pings.get());
                    break;
                case "quit":
                    channel.stop(services);
                    out.println("bye");
                    System.exit(0);
                    break;
                default:
                    out.println("error unknown command " + a[0]);
            }
        }
        channel.stop(services);
        System.exit(0);
    }
}
