//! The Tribes channel: tribesd against stock Tribes (issue: receiver, sender, channel bench).

pub fn run() -> Result<String, String> {
    Err("not built yet".into())
}
