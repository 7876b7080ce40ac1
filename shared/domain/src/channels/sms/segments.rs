//! How long an SMS is, how it is billed, and how a long reply is cut into requests.
//!
//! # Encodings and segments (3GPP TS 23.038 / 23.040, as Twilio bills)
//!
//! A text is sent in **GSM-7** when every character is in the GSM 03.38 default alphabet or its
//! extension table, otherwise in **UCS-2** (UTF-16 code units on the wire).
//!
//! - GSM-7: a basic character is one septet; an extension character (`^ { } \ [ ~ ] |` `€` and form feed)
//!   is two (escape + code). One SMS holds 160 septets; a concatenated message holds 153 per segment
//!   (the user data header takes the rest), and an escape pair is never split across segments.
//! - UCS-2: one SMS holds 70 UTF-16 units; a concatenated message holds 67 per segment. A character
//!   outside the Basic Multilingual Plane (most emoji) is a surrogate pair, two units, and is never
//!   split across segments.
//!
//! [`segments`] returns the encoding, the length in septets or units, and the segment count.
//!
//! # Provider limits
//!
//! | provider | one request carries | billed per part |
//! |---|---|---|
//! | Twilio | `Body` up to 1 600 characters ([`TWILIO_MAX_REQUEST_CHARS`]); Twilio segments it itself | [`segments`] |
//! | Aliyun (mainland) | 500 characters including the signature `【签名】` ([`ALIYUN_MAX_REQUEST_CHARS`]) | 70 characters, then 67 per part, signature included ([`mainland_billed_parts`]) |
//! | Tencent (mainland) | 500 characters including the signature ([`TENCENT_MAX_REQUEST_CHARS`]) | 70 characters, then 67 per part, signature included |
//!
//! Sources:
//! - Twilio, Message resource: "The message text. Can be up to 1,600 characters long."
//!   (<https://www.twilio.com/docs/messaging/api/message-resource>).
//! - Aliyun, 短信发送规则 (<https://help.aliyun.com/document_detail/44335.htm>, also
//!   <https://help.aliyun.com/zh/sms/user-guide/message-rules>): "短信内容长度(字数)= 短信签名字数 +
//!   短信模板内容字数。其中,短信内容不超过500字" — the signature's count includes the 【】 the platform adds —
//!   and "短信长度≤70个字,按照1条短信计费;>70个字时为长短信,按照67字/条,拆分成多条计费" (example: 160 characters are
//!   billed as 67 + 67 + 26). The customer's phone still shows one message.
//! - Tencent Cloud, Billing Overview (<https://www.tencentcloud.com/document/product/382/18052>, revision
//!   of 2024-01-18): "SMS length = number of characters in the signature + number of characters in the
//!   body. A single SMS message can contain up to 500 characters", and for non-English text "70
//!   characters or less … one message; otherwise … 67 characters per message". A 2025 revision of the
//!   same page raises the maximum to 2 000 characters; 500 is kept here because it holds under both.
//!
//! Both mainland providers count every Chinese character, letter, digit, punctuation mark and space as
//! one character. This module counts UTF-16 units instead (an emoji counts two), which is never fewer,
//! so a piece that fits here fits there; Tencent has announced that some emoji and rare characters
//! count two or more for global SMS.
//!
//! Mainland SMS is sent through an approved template: the fixed text of the template counts too, and a
//! template variable may have its own length cap. [`split_to_fit`] takes the budget left for the
//! free text when those apply; [`split_for_provider_signed`] covers the signature.
//!
//! # Splitting
//!
//! [`split_to_fit`] cuts a text into pieces of at most `max_units` UTF-16 units. Each cut goes after the
//! last whitespace, CJK punctuation mark (`。，、；：！？…`) or closing bracket / quote of the piece, as long
//! as that keeps the piece at least half full; otherwise the piece is cut at the limit. A cut never
//! falls inside a surrogate pair, between `\r` and `\n`, before a combining mark, variation selector,
//! skin-tone modifier or tag character, or around a zero-width joiner. Nothing is trimmed or added:
//! the pieces concatenate back to the text.

use super::SmsProvider;

/// The SMS alphabet a text is sent in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// The GSM 03.38 default alphabet (7-bit septets), with its extension table.
    Gsm7,
    /// UCS-2 / UTF-16 (16-bit units).
    Ucs2,
}

/// Septets in a single GSM-7 SMS.
pub const GSM7_SINGLE_SEPTETS: usize = 160;
/// Septets per segment of a concatenated GSM-7 SMS.
pub const GSM7_PART_SEPTETS: usize = 153;
/// UTF-16 units in a single UCS-2 SMS.
pub const UCS2_SINGLE_UNITS: usize = 70;
/// UTF-16 units per segment of a concatenated UCS-2 SMS.
pub const UCS2_PART_UNITS: usize = 67;
/// Characters (signature included) billed as one mainland SMS.
pub const MAINLAND_SINGLE_CHARS: usize = 70;
/// Characters per billed part of a mainland long SMS.
pub const MAINLAND_PART_CHARS: usize = 67;
/// Longest Twilio `Body`, in characters.
pub const TWILIO_MAX_REQUEST_CHARS: usize = 1600;
/// Longest Aliyun message, signature included, in characters.
pub const ALIYUN_MAX_REQUEST_CHARS: usize = 500;
/// Longest Tencent Cloud message, signature included, in characters.
pub const TENCENT_MAX_REQUEST_CHARS: usize = 500;

/// The GSM 03.38 default alphabet in code order 0x00..=0x7F (0x1B, the escape to the extension table,
/// is not a character of its own).
const GSM7_BASIC: &str = concat!(
    "@£$¥èéùìòÇ\nØø\rÅå",
    "Δ_ΦΓΛΩΠΨΣΘΞ\u{1B}ÆæßÉ",
    " !\"#¤%&'()*+,-./",
    "0123456789:;<=>?",
    "¡ABCDEFGHIJKLMNO",
    "PQRSTUVWXYZÄÖÑÜ§",
    "¿abcdefghijklmno",
    "pqrstuvwxyzäöñüà",
);

/// The extension table characters, each sent as escape + code (two septets).
const GSM7_EXTENSION: &str = "\u{0C}^{}\\[~]|€";

/// Septets `c` takes in GSM-7 (1 or 2), or `None` if GSM-7 cannot carry it.
pub fn gsm7_septets(c: char) -> Option<usize> {
    if c == '\u{1B}' {
        None
    } else if GSM7_BASIC.contains(c) {
        Some(1)
    } else if GSM7_EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// The encoding `text` is sent in.
pub fn encoding(text: &str) -> Encoding {
    if text.chars().all(|c| gsm7_septets(c).is_some()) {
        Encoding::Gsm7
    } else {
        Encoding::Ucs2
    }
}

/// Length in UTF-16 code units.
pub fn utf16_len(text: &str) -> usize {
    text.chars().map(char::len_utf16).sum()
}

/// The size of one SMS text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segments {
    /// GSM-7 or UCS-2.
    pub encoding: Encoding,
    /// Septets (GSM-7) or UTF-16 units (UCS-2).
    pub units: usize,
    /// Segments billed; an empty text is one.
    pub count: usize,
}

/// Encoding, length and segment count of `text` as one SMS (3GPP rules, as Twilio counts).
pub fn segments(text: &str) -> Segments {
    let encoding = encoding(text);
    let weight = |c: char| match encoding {
        Encoding::Gsm7 => gsm7_septets(c).unwrap_or(1),
        Encoding::Ucs2 => c.len_utf16(),
    };
    let units: usize = text.chars().map(weight).sum();
    let (single, part) = match encoding {
        Encoding::Gsm7 => (GSM7_SINGLE_SEPTETS, GSM7_PART_SEPTETS),
        Encoding::Ucs2 => (UCS2_SINGLE_UNITS, UCS2_PART_UNITS),
    };
    let count = if units <= single {
        1
    } else {
        // Fill segments greedily; a character that does not fit whole opens the next segment.
        let mut count = 1;
        let mut used = 0;
        for w in text.chars().map(weight) {
            if used + w > part {
                count += 1;
                used = 0;
            }
            used += w;
        }
        count
    };
    Segments {
        encoding,
        units,
        count,
    }
}

/// Characters the signature adds to a mainland SMS: its name plus the `【】` around it.
pub fn sign_overhead(sign_name: &str) -> usize {
    utf16_len(sign_name) + 2
}

/// Parts a mainland provider (Aliyun, Tencent) bills for `text` sent with signature `sign_name`
/// (without brackets): one up to 70 characters, signature included, else one per 67.
pub fn mainland_billed_parts(text: &str, sign_name: &str) -> usize {
    let n = utf16_len(text) + sign_overhead(sign_name);
    if n <= MAINLAND_SINGLE_CHARS {
        1
    } else {
        n.div_ceil(MAINLAND_PART_CHARS)
    }
}

impl SmsProvider {
    /// The most characters one send request may carry (for Aliyun and Tencent, signature included).
    pub fn max_request_chars(self) -> usize {
        match self {
            SmsProvider::Twilio => TWILIO_MAX_REQUEST_CHARS,
            SmsProvider::Aliyun => ALIYUN_MAX_REQUEST_CHARS,
            SmsProvider::Tencent => TENCENT_MAX_REQUEST_CHARS,
        }
    }
}

/// `text` cut into pieces of at most the provider's request size (see the module docs). For Aliyun
/// and Tencent this leaves no room for the signature: use [`split_for_provider_signed`] when it is
/// known.
pub fn split_for_provider(text: &str, provider: SmsProvider) -> Vec<String> {
    split_to_fit(text, provider.max_request_chars())
}

/// Like [`split_for_provider`], keeping room in every mainland piece for `【sign_name】` (Twilio has no
/// signature, so `sign_name` is ignored there).
pub fn split_for_provider_signed(
    text: &str,
    provider: SmsProvider,
    sign_name: &str,
) -> Vec<String> {
    let budget = match provider {
        SmsProvider::Twilio => provider.max_request_chars(),
        SmsProvider::Aliyun | SmsProvider::Tencent => provider
            .max_request_chars()
            .saturating_sub(sign_overhead(sign_name)),
    };
    split_to_fit(text, budget)
}

/// `text` cut into pieces of at most `max_units` UTF-16 units (at least 2, so that any character
/// fits), preferring whitespace and punctuation; the pieces concatenate back to `text`. An empty text
/// gives no pieces.
pub fn split_to_fit(text: &str, max_units: usize) -> Vec<String> {
    let max_units = max_units.max(2);
    let mut pieces = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let cut = cut_point(rest, max_units);
        pieces.push(rest[..cut].to_owned());
        rest = &rest[cut..];
    }
    pieces
}

/// Byte index (> 0) where the first piece of `text` ends.
fn cut_point(text: &str, max_units: usize) -> usize {
    let mut units = 0;
    let mut hard = text.len();
    for (i, c) in text.char_indices() {
        if units + c.len_utf16() > max_units {
            hard = i;
            break;
        }
        units += c.len_utf16();
    }
    if hard == text.len() {
        return hard;
    }
    // A soft cut: after the last break opportunity that keeps the piece at least half full.
    let min_units = max_units / 2;
    let mut best = None;
    let mut units = 0;
    let mut chars = text[..hard].char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        units += c.len_utf16();
        let next = chars
            .peek()
            .map(|&(_, n)| n)
            .or_else(|| text[hard..].chars().next());
        if units >= min_units && next.is_some_and(|n| is_break_after(c, n)) {
            best = Some(i + c.len_utf8());
        }
    }
    if let Some(cut) = best {
        return cut;
    }
    // A hard cut at the limit, moved back out of any character sequence it would split.
    let mut cut = hard;
    while cut > 0 && !is_safe_boundary(text, cut) {
        cut = text[..cut].char_indices().next_back().map_or(0, |(i, _)| i);
    }
    if cut == 0 {
        hard
    } else {
        cut
    }
}

/// Whether a piece may end between `prev` and `next` by preference (whitespace, punctuation).
fn is_break_after(prev: char, next: char) -> bool {
    if !can_split_between(prev, next) {
        return false;
    }
    if prev.is_whitespace() {
        return true;
    }
    let keeps_company = is_clause_punctuation(next) || is_closing(next);
    if is_clause_punctuation(prev) || is_closing(prev) {
        return !keeps_company;
    }
    matches!(prev, '.' | ',' | '!' | '?' | ';' | ':') && next.is_whitespace()
}

fn is_clause_punctuation(c: char) -> bool {
    matches!(
        c,
        '。' | '，' | '、' | '；' | '：' | '！' | '？' | '…' | '．' | '｡' | '､'
    )
}

fn is_closing(c: char) -> bool {
    matches!(
        c,
        '」' | '』' | '）' | '】' | '》' | '〉' | '〕' | '］' | '｝' | '”' | '’'
    )
}

fn is_safe_boundary(text: &str, at: usize) -> bool {
    let prev = text[..at].chars().next_back();
    let next = text[at..].chars().next();
    match (prev, next) {
        (Some(prev), Some(next)) => can_split_between(prev, next),
        _ => true,
    }
}

/// Whether a cut between `prev` and `next` leaves both characters' sequences whole.
fn can_split_between(prev: char, next: char) -> bool {
    !(prev == '\r' && next == '\n' || prev == '\u{200D}' || is_extender(next))
}

/// Characters that attach to the one before them.
fn is_extender(c: char) -> bool {
    matches!(c,
        '\u{0300}'..='\u{036F}'   // combining diacritical marks
        | '\u{1AB0}'..='\u{1AFF}' // combining diacritical marks extended
        | '\u{1DC0}'..='\u{1DFF}' // combining diacritical marks supplement
        | '\u{20D0}'..='\u{20FF}' // combining marks for symbols (keycap U+20E3)
        | '\u{FE00}'..='\u{FE0F}' // variation selectors
        | '\u{FE20}'..='\u{FE2F}' // combining half marks
        | '\u{200D}'              // zero-width joiner
        | '\u{3099}'..='\u{309A}' // combining kana voicing marks
        | '\u{1F3FB}'..='\u{1F3FF}' // emoji skin-tone modifiers
        | '\u{E0020}'..='\u{E007F}' // tag characters (subdivision flags)
        | '\u{E0100}'..='\u{E01EF}' // variation selectors supplement
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gsm7_tables() {
        let basic: Vec<char> = GSM7_BASIC.chars().collect();
        assert_eq!(basic.len(), 128);
        let mut sorted = basic.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 128, "the basic table has no duplicates");
        assert_eq!(basic[0x00], '@');
        assert_eq!(basic[0x1B], '\u{1B}');
        assert_eq!(basic[0x24], '¤');
        assert_eq!(basic[0x40], '¡');
        assert_eq!(basic[0x7F], 'à');
        assert_eq!(GSM7_EXTENSION.chars().count(), 10);
        assert!(GSM7_EXTENSION.chars().all(|c| !GSM7_BASIC.contains(c)));
        assert_eq!(gsm7_septets('\u{1B}'), None);
        assert_eq!(
            gsm7_septets('ç'),
            None,
            "only the capital Ç is in the table"
        );
        assert_eq!(gsm7_septets('`'), None);
    }

    #[test]
    fn boundaries() {
        assert!(!can_split_between('\r', '\n'));
        assert!(!can_split_between('e', '\u{0301}'));
        assert!(!can_split_between('\u{200D}', '👩'));
        assert!(can_split_between('。', '好'));
        assert!(is_break_after('。', '好'));
        assert!(!is_break_after('。', '」'));
        assert!(is_break_after('」', '好'));
        assert!(is_break_after(' ', 'a'));
        assert!(!is_break_after('.', 'c'));
        assert!(is_break_after('.', ' '));
    }
}
