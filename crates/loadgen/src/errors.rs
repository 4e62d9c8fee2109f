//! The first message seen for each unexpected status code of a run, so a table row with
//! errors says what they were.

use std::collections::BTreeMap;
use std::sync::Mutex;

static FIRST: Mutex<BTreeMap<&'static str, String>> = Mutex::new(BTreeMap::new());

/// Keeps `message` if it is the first one for `code`.
pub fn note(code: &'static str, message: &str) {
    let mut first = FIRST.lock().unwrap_or_else(|e| e.into_inner());
    first
        .entry(code)
        .or_insert_with(|| message.chars().take(200).collect());
}

/// The messages kept so far, and forgets them.
pub fn take() -> BTreeMap<String, String> {
    let mut first = FIRST.lock().unwrap_or_else(|e| e.into_inner());
    std::mem::take(&mut *first)
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
}
