//! jser against ObjectInputStream + ObjectOutputStream (issue: jser bench).

pub fn run() -> Result<String, String> {
    Err("not built yet".into())
}
