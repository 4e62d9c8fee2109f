//! How many SMS segments a text costs, by GSM 03.38 (3GPP TS 23.038).
//!
//! A text in the GSM-7 default alphabet fits 160 septets in one segment, 153 per segment
//! when concatenated (the user-data header takes the rest); an extension-table character
//! costs two septets (escape plus character) and is never split across segments. Any other
//! character makes the whole text UCS-2: 70 UTF-16 units, or 67 per segment, with surrogate
//! pairs kept together.

/// The alphabet a text is sent in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Gsm7,
    Ucs2,
}

/// The GSM 03.38 default alphabet, in code order (0x1B, the escape, left out).
const BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
                     ¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";

/// The default alphabet extension table: each costs an escape septet too.
const EXTENSION: &str = "\u{c}^{}\\[~]|€";

/// The encoding a text needs and the number of segments it takes (at least one).
pub fn segments(text: &str) -> (Encoding, usize) {
    let septets: Option<Vec<usize>> = text.chars().map(gsm_septets).collect();
    match septets {
        Some(units) => (Encoding::Gsm7, count(&units, 160, 153)),
        None => {
            let units: Vec<usize> = text.chars().map(char::len_utf16).collect();
            (Encoding::Ucs2, count(&units, 70, 67))
        }
    }
}

fn gsm_septets(c: char) -> Option<usize> {
    if BASIC.contains(c) {
        Some(1)
    } else if EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// Segments for characters of the given sizes: one if all fit in `single`, else greedy
/// `multi`-sized segments that never split a character.
fn count(units: &[usize], single: usize, multi: usize) -> usize {
    if units.iter().sum::<usize>() <= single {
        return 1;
    }
    let mut n_segments = 1;
    let mut used = 0;
    for &size in units {
        if used + size > multi {
            n_segments += 1;
            used = 0;
        }
        used += size;
    }
    n_segments
}
