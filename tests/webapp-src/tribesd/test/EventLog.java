/*
 * Licensed under the Apache License, Version 2.0.
 */
package tribesd.test;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

import javax.servlet.http.HttpSessionAttributeListener;
import javax.servlet.http.HttpSessionBindingEvent;
import javax.servlet.http.HttpSessionEvent;
import javax.servlet.http.HttpSessionIdListener;
import javax.servlet.http.HttpSessionListener;

/**
 * The test webapp's session listeners (registered in web.xml): every event the container fires,
 * one line each, for events.jsp to show and on standard output (the console log). Written in
 * javax form; the test harness compiles a
 * jakarta copy for Tomcat 10.1 and 11.0. Keeps the last 10,000 lines.
 */
public class EventLog implements HttpSessionListener, HttpSessionAttributeListener, HttpSessionIdListener {

    private static final ArrayDeque<String> LINES = new ArrayDeque<>();

    public static void add(String line) {
        // Also on the console: the events of a webapp that is stopping cannot be asked for.
        System.out.println("tribesd-test-event " + line);
        synchronized (LINES) {
            if (LINES.size() >= 10_000) {
                LINES.removeFirst();
            }
            LINES.addLast(line);
        }
    }

    public static List<String> lines(boolean clear) {
        synchronized (LINES) {
            List<String> copy = new ArrayList<>(LINES);
            if (clear) {
                LINES.clear();
            }
            return Collections.unmodifiableList(copy);
        }
    }

    @Override
    public void sessionCreated(HttpSessionEvent se) {
        add("created " + se.getSession().getId());
    }

    @Override
    public void sessionDestroyed(HttpSessionEvent se) {
        // The attributes are still readable here (the spec's order: destroyed, then removed).
        List<String> names = Collections.list(se.getSession().getAttributeNames());
        Collections.sort(names);
        StringBuilder b = new StringBuilder("destroyed ").append(se.getSession().getId()).append(" attrs=");
        for (String n : names) {
            b.append(n).append(':').append(se.getSession().getAttribute(n)).append(',');
        }
        add(b.toString());
    }

    @Override
    public void sessionIdChanged(HttpSessionEvent se, String oldSessionId) {
        add("idChanged " + oldSessionId + " " + se.getSession().getId());
    }

    @Override
    public void attributeAdded(HttpSessionBindingEvent e) {
        add("added " + e.getSession().getId() + " " + e.getName() + " " + e.getValue());
    }

    @Override
    public void attributeRemoved(HttpSessionBindingEvent e) {
        add("removed " + e.getSession().getId() + " " + e.getName() + " " + e.getValue());
    }

    @Override
    public void attributeReplaced(HttpSessionBindingEvent e) {
        // getValue() is the value replaced; the session holds the new one.
        add("replaced " + e.getSession().getId() + " " + e.getName() + " " + e.getValue() + " -> "
                + e.getSession().getAttribute(e.getName()));
    }
}
