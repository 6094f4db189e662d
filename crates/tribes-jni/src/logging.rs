//! The embedded node's logs: `tracing` events to the JVM's stderr (Tomcat's console log), filtered
//! by `TRIBESD_LOG` (`RUST_LOG` syntax; `info` by default). Installed once per process, when the
//! first cluster node starts; a subscriber set by someone else is left alone.

use std::sync::Once;

pub fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        let filter = std::env::var("TRIBESD_LOG").unwrap_or_else(|_| "info".into());
        let filter = tracing_subscriber::EnvFilter::try_new(&filter)
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(false)
            .with_writer(std::io::stderr)
            .with_target(false)
            .try_init();
    });
}
