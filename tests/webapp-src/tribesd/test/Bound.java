/*
 * Licensed under the Apache License, Version 2.0.
 */
package tribesd.test;

import java.io.Serializable;

import javax.servlet.http.HttpSessionBindingEvent;
import javax.servlet.http.HttpSessionBindingListener;

/** A session value that logs its own binding events into {@link EventLog}. */
public class Bound implements HttpSessionBindingListener, Serializable {

    private static final long serialVersionUID = 1L;

    private final String label;

    public Bound(String label) {
        this.label = label;
    }

    @Override
    public void valueBound(HttpSessionBindingEvent e) {
        EventLog.add("bound " + e.getSession().getId() + " " + e.getName() + " " + label);
    }

    @Override
    public void valueUnbound(HttpSessionBindingEvent e) {
        EventLog.add("unbound " + e.getSession().getId() + " " + e.getName() + " " + label);
    }

    @Override
    public String toString() {
        return "Bound(" + label + ")";
    }
}
