//! How many SMS segments a text costs, as carriers count them.
//!
//! A text the GSM 03.38 default alphabet can carry is sent in GSM-7: 160
//! septets in one segment, 153 per segment when it is split (the rest of
//! each carries the concatenation header); a character of the alphabet's
//! extension table (`€`, `[`, `{`, …) costs two septets. Any other
//! character sends the whole text in UCS-2: 70 UTF-16 units in one segment,
//! 67 per segment when split. One emoji or `á` thus turns a 160-character
//! text into three segments, which is what a contact center pays for.

/// The GSM 03.38 default alphabet (the escape, 0x1B, left out).
const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";

/// The extension table: each costs the escape and itself.
const GSM7_EXTENSION: &str = "\u{c}^{}\\[~]|€";

/// How a text is encoded on the air.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Gsm7,
    Ucs2,
}

impl Encoding {
    pub fn as_str(&self) -> &'static str {
        match self {
            Encoding::Gsm7 => "GSM-7",
            Encoding::Ucs2 => "UCS-2",
        }
    }
}

/// What sending a text costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segments {
    pub encoding: Encoding,
    /// Septets (GSM-7) or UTF-16 units (UCS-2).
    pub units: usize,
    pub count: usize,
}

/// The segments `text` is sent in; an empty text is one segment.
pub fn segments(text: &str) -> Segments {
    let septets = text.chars().try_fold(0usize, |total, c| {
        if GSM7_BASIC.contains(c) {
            Some(total + 1)
        } else if GSM7_EXTENSION.contains(c) {
            Some(total + 2)
        } else {
            None
        }
    });
    let (encoding, units, single, per_part) = match septets {
        Some(septets) => (Encoding::Gsm7, septets, 160, 153),
        None => (Encoding::Ucs2, text.encode_utf16().count(), 70, 67),
    };
    let count = if units <= single {
        1
    } else {
        units.div_ceil(per_part)
    };
    Segments {
        encoding,
        units,
        count,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gsm7_texts_fit_160_septets_then_153_a_segment() {
        let one = segments(&"a".repeat(160));
        assert_eq!((one.encoding, one.count), (Encoding::Gsm7, 1));
        assert_eq!(segments(&"a".repeat(161)).count, 2);
        assert_eq!(segments(&"a".repeat(306)).count, 2);
        assert_eq!(segments(&"a".repeat(307)).count, 3);
        assert_eq!(segments("").count, 1);
        assert_eq!(
            segments("Hívjon vissza").encoding,
            Encoding::Ucs2,
            "í is not GSM-7"
        );
        assert_eq!(segments("Köszönjük, Ön ügyfelünk").encoding, Encoding::Gsm7);
    }

    #[test]
    fn extension_characters_cost_two_septets() {
        let euros = segments(&"€".repeat(80));
        assert_eq!(
            (euros.encoding, euros.units, euros.count),
            (Encoding::Gsm7, 160, 1)
        );
        assert_eq!(segments(&"€".repeat(81)).count, 2);
    }

    #[test]
    fn anything_else_sends_the_text_in_ucs2() {
        let one = segments(&"á".repeat(70));
        assert_eq!((one.encoding, one.count), (Encoding::Ucs2, 1));
        assert_eq!(segments(&"á".repeat(71)).count, 2);
        // An emoji is two UTF-16 units.
        let emoji = segments(&format!("{}🙂", "a".repeat(68)));
        assert_eq!((emoji.units, emoji.count), (70, 1));
        assert_eq!(segments(&format!("{}🙂", "a".repeat(69))).count, 2);
    }
}
