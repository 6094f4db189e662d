/*
 * TribesBench: a stock Tribes node for `make bench` (crates/bench/src/channel.rs), built only on
 * Tomcat's public Tribes API (GroupChannel with its default NioReceiver, PooledParallelSender and
 * MessageDispatchInterceptor). Unlike TribesPeer (the interop tests' peer) it checks nothing: the
 * listener only counts, and the sender sends the same payload array again and again, so the
 * figures measure Tribes itself.
 *
 * Usage: java TribesBench PORT AUTOBIND
 *   Starts the channel (receiver on 127.0.0.1) and prints "ready port=P id=HEX32", then answers
 *   one stdout line per stdin command:
 *
 *   reset                              forget everything received          -> "ok"
 *   wait N TIMEOUT_MS                  wait until N messages arrived       -> "received count= bytes="
 *   send HOST PORT IDHEX N SIZE OPTIONS TIMEOUT_MS
 *                                      send N ByteMessages of SIZE bytes to that member, one after
 *                                      another; with ASYNCHRONOUS wait until the queue is empty
 *                                      -> "sent ok= failed= ms= error="
 *   quit                               stop the channel and exit
 */

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.util.Iterator;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

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

public class TribesBench {

    static final PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);

    static final class Counter implements ChannelListener {
        final AtomicLong count = new AtomicLong();
        final AtomicLong bytes = new AtomicLong();
        volatile long target = Long.MAX_VALUE;

        @Override
        public boolean accept(Serializable msg, Member sender) {
            return msg instanceof ByteMessage;
        }

        @Override
        public void messageReceived(Serializable msg, Member sender) {
            bytes.addAndGet(((ByteMessage) msg).getMessage().length);
            if (count.incrementAndGet() >= target) {
                synchronized (this) {
                    notifyAll();
                }
            }
        }

        String waitFor(long n, long timeoutMs) throws InterruptedException {
            long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
            target = n;
            synchronized (this) {
                while (count.get() < n) {
                    long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
                    if (left <= 0) {
                        break;
                    }
                    wait(Math.min(left, 10));
                }
            }
            target = Long.MAX_VALUE;
            return "received count=" + count.get() + " bytes=" + bytes.get();
        }
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
        Member[] to = new Member[] { dest };
        int n = Integer.parseInt(a[4]);
        int size = Integer.parseInt(a[5]);
        int options = Integer.parseInt(a[6]);
        long timeoutMs = Long.parseLong(a[7]);
        boolean async = (options & Channel.SEND_OPTIONS_ASYNCHRONOUS) != 0;
        AtomicInteger failed = new AtomicInteger();
        AtomicReference<String> error = new AtomicReference<>("-");
        ErrorHandler handler = new ErrorHandler() {
            @Override
            public void handleError(ChannelException x, UniqueId id) {
                failed.incrementAndGet();
                error.compareAndSet("-", String.valueOf(x).replaceAll("\\s+", "_"));
            }

            @Override
            public void handleCompletion(UniqueId id) {
            }
        };
        byte[] payload = new byte[size];
        for (int i = 0; i < size; i++) {
            payload[i] = (byte) (i * 7);
        }
        long start = System.nanoTime();
        for (int seq = 0; seq < n; seq++) {
            try {
                channel.send(to, new ByteMessage(payload), options, async ? handler : null);
            } catch (ChannelException x) {
                failed.incrementAndGet();
                error.compareAndSet("-", String.valueOf(x).replaceAll("\\s+", "_"));
            }
        }
        if (async) {
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
        }
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        return "sent ok=" + (n - failed.get()) + " failed=" + failed.get() + " ms=" + ms + " error=" + error.get();
    }

    public static void main(String[] args) throws Exception {
        int port = Integer.parseInt(args[0]);
        int autoBind = args.length > 1 ? Integer.parseInt(args[1]) : 1;
        GroupChannel channel = new GroupChannel();
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
                    counter.count.set(0);
                    counter.bytes.set(0);
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
