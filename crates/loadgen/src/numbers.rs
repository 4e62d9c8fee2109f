//! Distinct valid US phone numbers, `+1 AAA EEE LLLL`, by index. The per-number limit is 10
//! code sends a day, so the accepted-StartLogin scenarios need many numbers; every run
//! uses a fresh tenant, whose limits start empty.

use twostep_core::phone::{PhoneNumber, Region};

/// Area codes in service (checked against libphonenumber at start-up; any it rejects is
/// dropped).
const AREA_CODES: &[u16] = &[
    201, 202, 203, 205, 206, 207, 208, 209, 210, 212, 213, 214, 215, 216, 217, 218, 219, 224, 225,
    228, 229, 231, 234, 239, 240, 248, 251, 252, 253, 254, 256, 260, 262, 267, 269, 270, 276, 281,
    301, 302, 303, 304, 305, 307, 308, 309, 310, 312, 313, 314, 315, 316, 317, 318, 319, 320, 321,
    323, 325, 330, 334, 336, 337, 339, 347, 351, 352, 360, 361, 386, 401, 402, 404, 405, 406, 407,
    408, 409, 410, 412, 413, 414, 415, 417, 419, 423, 424, 425, 430, 432, 434, 435, 440, 443, 469,
    478, 479, 480, 484, 501, 502, 503, 504, 505, 507, 508, 509, 510, 512, 513, 515, 516, 517, 518,
    520, 530, 540, 541, 551, 559, 561, 562, 563, 567, 570, 571, 573, 574, 575, 580, 585, 586, 601,
    602, 603, 605, 606, 607, 608, 609, 610, 612, 614, 615, 616, 617, 618, 619, 620, 623, 626, 630,
    631, 636, 641, 646, 650, 651, 660, 661, 662, 678, 682, 701, 702, 703, 704, 706, 707, 708, 712,
    713, 714, 715, 716, 717, 718, 719, 720, 724, 727, 731, 732, 734, 740, 754, 757, 760, 763, 765,
    770, 772, 773, 774, 775, 781, 785, 786, 801, 802, 803, 804, 805, 806, 810, 812, 813, 814, 815,
    816, 817, 818, 828, 830, 831, 832, 843, 845, 847, 848, 850, 856, 857, 858, 859, 860, 862, 863,
    864, 865, 870, 872, 901, 903, 904, 906, 908, 909, 910, 912, 913, 914, 915, 916, 917, 918, 919,
    920, 925, 928, 931, 936, 937, 940, 941, 947, 949, 951, 952, 954, 956, 970, 971, 972, 973, 978,
    979, 980, 985, 989,
];

/// Exchanges (the three digits after the area code); `555` first, as in the brief.
const EXCHANGES: &[u16] = &[555, 234, 345, 456, 567, 678, 789, 872, 963, 274];

/// Maps an index to a number; distinct for the first `capacity()` indexes. Each run starts
/// at a random place, so two runs (whose SMS may still be in an outbox) rarely share numbers.
pub struct Numbers {
    areas: Vec<u16>,
    base: u64,
}

impl Numbers {
    pub fn new() -> anyhow::Result<Self> {
        let us = Region::parse("US").map_err(|e| anyhow::anyhow!("region US: {e}"))?;
        let areas: Vec<u16> = AREA_CODES
            .iter()
            .copied()
            .filter(|a| {
                EXCHANGES
                    .iter()
                    .all(|e| PhoneNumber::parse(&format!("+1{a}{e}2368"), Some(us)).is_ok())
            })
            .collect();
        if areas.len() < 50 {
            anyhow::bail!(
                "only {} usable US area codes; the phone number rules changed?",
                areas.len()
            );
        }
        let mut numbers = Self { areas, base: 0 };
        numbers.base = rand::random_range(0..numbers.capacity());
        Ok(numbers)
    }

    pub fn capacity(&self) -> u64 {
        (self.areas.len() * EXCHANGES.len()) as u64 * 10_000
    }

    /// The `i`-th number, E.164. Consecutive indexes spread over area codes first.
    pub fn get(&self, i: u64) -> String {
        let i = self.base.wrapping_add(i) % self.capacity().max(1);
        let areas = self.areas.len() as u64;
        let area = self.areas[usize::try_from(i % areas).unwrap_or(0)];
        let rest = i / areas;
        let line = rest % 10_000;
        let exchange = EXCHANGES[usize::try_from(rest / 10_000).unwrap_or(0) % EXCHANGES.len()];
        format!("+1{area}{exchange}{line:04}")
    }
}

/// One valid number (the numbering plan's example, mobile where there is one) for each
/// country but `home`, in a fixed order.
pub fn of_other_countries(home: &str) -> Vec<String> {
    let mut numbers: Vec<(String, String)> = phonenumber::metadata::DATABASE
        .iter()
        .filter(|region| region.id() != home)
        .filter_map(|region| {
            let descriptors = region.descriptors();
            let example = descriptors
                .mobile()
                .or(descriptors.fixed_line())
                .and_then(|d| d.example())?;
            let e164 = format!("+{}{example}", region.country_code());
            let parsed = PhoneNumber::parse(&e164, None).ok()?;
            let country = parsed.region()?;
            (country.as_str() == region.id()).then(|| (region.id().to_owned(), e164))
        })
        .collect();
    numbers.sort();
    numbers.into_iter().map(|(_, e164)| e164).collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn numbers_are_distinct_and_valid() {
        let mut numbers = Numbers::new().unwrap();
        numbers.base = 0;
        assert!(numbers.capacity() > 1_000_000);
        let us = Region::parse("US").unwrap();
        let step = numbers.capacity() / 997;
        for k in 0..997u64 {
            for i in [k, k * step, k * step + 9_999] {
                let n = numbers.get(i);
                assert!(PhoneNumber::parse(&n, Some(us)).is_ok(), "{n} is not valid");
            }
        }
        let distinct: HashSet<String> = (0..50_000u64).map(|i| numbers.get(i)).collect();
        assert_eq!(distinct.len(), 50_000);
    }

    #[test]
    fn other_countries_numbers_are_valid_and_foreign() {
        let numbers = of_other_countries("US");
        assert!(numbers.len() > 200, "{} countries", numbers.len());
        for n in &numbers {
            let parsed = PhoneNumber::parse(n, None).unwrap();
            assert_ne!(
                parsed.region().map(|r| r.to_string()),
                Some("US".to_owned()),
                "{n}"
            );
        }
    }
}
