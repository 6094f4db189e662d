/*
 * Licensed under the Apache License, Version 2.0.
 */
package tribesd.test;

import java.io.IOException;
import java.io.InvalidObjectException;
import java.io.ObjectInputStream;
import java.io.Serializable;

/**
 * A session value that refuses to be deserialized in a JVM started with
 * {@code -Dtribesd.test.fragile=true}: the bad-input test's "bytes that fail to deserialize in
 * the webapp", on one node only.
 */
public class Fragile implements Serializable {

    private static final long serialVersionUID = 1L;

    private void readObject(ObjectInputStream in) throws IOException, ClassNotFoundException {
        in.defaultReadObject();
        if (Boolean.getBoolean("tribesd.test.fragile")) {
            throw new InvalidObjectException("tribesd.test.Fragile is not read in this JVM (tribesd.test.fragile=true)");
        }
    }

    @Override
    public String toString() {
        return "Fragile";
    }
}
