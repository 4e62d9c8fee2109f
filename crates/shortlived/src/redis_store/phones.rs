//! A bounded cache of parsed phone numbers, for decoding challenges.
//!
//! A challenge keeps its number in E.164 and every read must turn it back into a
//! `PhoneNumber`. `PhoneNumber::from_e164` runs the full libphonenumber parse (about 20 µs),
//! which was most of the CPU a verify costs the adapter. Parsing is deterministic, so the
//! result can be reused: numbers are remembered when a challenge is created (so the verify
//! of a challenge created by this process never parses) and when parsed. When the cache is
//! full it starts over, which bounds its memory without bookkeeping.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use twostep_core::phone::PhoneNumber;

/// At most this many numbers (a few hundred KiB).
const CAPACITY: usize = 4096;

#[derive(Default)]
pub(super) struct PhoneCache {
    numbers: Mutex<HashMap<String, PhoneNumber>>,
}

impl PhoneCache {
    pub(super) fn remember(&self, phone: &PhoneNumber) {
        let mut numbers = self.lock();
        if !numbers.contains_key(phone.e164()) {
            insert(&mut numbers, phone.clone());
        }
    }

    /// The number stored as `e164`; `None` when it is not a valid E.164 number.
    pub(super) fn parse(&self, e164: &str) -> Option<PhoneNumber> {
        if let Some(phone) = self.lock().get(e164) {
            return Some(phone.clone());
        }
        // Parsed outside the lock: it is the slow part.
        let phone = PhoneNumber::from_e164(e164).ok()?;
        insert(&mut self.lock(), phone.clone());
        Some(phone)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, PhoneNumber>> {
        // A map of immutable values stays consistent whatever panicked.
        self.numbers.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn insert(numbers: &mut HashMap<String, PhoneNumber>, phone: PhoneNumber) {
    if numbers.len() >= CAPACITY {
        numbers.clear();
    }
    numbers.insert(phone.e164().to_owned(), phone);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_once_and_stays_bounded() {
        let cache = PhoneCache::default();
        let phone = cache.parse("+14155550100").unwrap();
        assert_eq!(phone, PhoneNumber::from_e164("+14155550100").unwrap());
        assert_eq!(cache.parse("+14155550100").unwrap(), phone);
        assert!(cache.parse("not a number").is_none());
        for n in 0..CAPACITY + 10 {
            let e164 = format!("+1415555{:04}", n % 10_000);
            if let Some(p) = cache.parse(&e164) {
                cache.remember(&p);
            }
        }
        assert!(cache.lock().len() <= CAPACITY);
    }
}
