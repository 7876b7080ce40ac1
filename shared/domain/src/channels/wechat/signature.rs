//! Request signatures: `sha1(concat(sort(parts)))` as lowercase hex.

use sha1::{Digest, Sha1};

/// Length of a SHA-1 digest in lowercase hex.
const HEX_LEN: usize = 40;

/// SHA-1 of the byte-wise sorted concatenation of `parts`, as lowercase hex, on the stack.
fn sorted_sha1_hex<const N: usize>(mut parts: [&str; N]) -> [u8; HEX_LEN] {
    parts.sort_unstable();
    let mut hasher = Sha1::new();
    for part in parts {
        hasher.update(part.as_bytes());
    }
    let digest = hasher.finalize();
    let mut out = [0u8; HEX_LEN];
    hex::encode_to_slice(digest, &mut out).expect("40 bytes hold a hex SHA-1");
    out
}

fn into_string(hex: [u8; HEX_LEN]) -> String {
    hex.iter().map(|&b| char::from(b)).collect()
}

/// Compares the expected lowercase hex with a received signature (hex digits in either case) in time
/// independent of where they differ.
fn ct_eq_hex(expected: &[u8; HEX_LEN], received: &str) -> bool {
    let received = received.as_bytes();
    if received.len() != HEX_LEN {
        return false;
    }
    let diff = expected
        .iter()
        .zip(received)
        .fold(0u8, |acc, (&e, &r)| acc | (e ^ r.to_ascii_lowercase()));
    diff == 0
}

/// The plain-mode request signature: `sha1(sort([token, timestamp, nonce]))` in lowercase hex.
///
/// ```
/// use kefu_domain::channels::wechat::signature;
/// assert_eq!(
///     signature("spamtest", "1409735669", "1320562132"),
///     "16120ec1b8dbb870f510d87ce6bc2463eae6ca1a"
/// );
/// ```
pub fn signature(token: &str, timestamp: &str, nonce: &str) -> String {
    into_string(sorted_sha1_hex([token, timestamp, nonce]))
}

/// Checks a plain-mode `signature` query parameter in constant time.
pub fn verify_signature(token: &str, timestamp: &str, nonce: &str, signature: &str) -> bool {
    ct_eq_hex(&sorted_sha1_hex([token, timestamp, nonce]), signature)
}

/// The safe-mode message signature: `sha1(sort([token, timestamp, nonce, encrypt]))` in lowercase hex.
pub fn msg_signature(token: &str, timestamp: &str, nonce: &str, encrypt: &str) -> String {
    into_string(sorted_sha1_hex([token, timestamp, nonce, encrypt]))
}

/// Checks a safe-mode `msg_signature` query parameter against the `Encrypt` value in constant time.
pub fn verify_msg_signature(
    token: &str,
    timestamp: &str,
    nonce: &str,
    encrypt: &str,
    msg_signature: &str,
) -> bool {
    ct_eq_hex(
        &sorted_sha1_hex([token, timestamp, nonce, encrypt]),
        msg_signature,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_wrong_length_and_accepts_uppercase_hex() {
        let good = signature("spamtest", "1409735669", "1320562132");
        assert!(verify_signature(
            "spamtest",
            "1409735669",
            "1320562132",
            &good.to_ascii_uppercase()
        ));
        assert!(!verify_signature(
            "spamtest",
            "1409735669",
            "1320562132",
            &good[..39]
        ));
        assert!(!verify_signature(
            "spamtest",
            "1409735669",
            "1320562132",
            ""
        ));
        assert!(!verify_signature(
            "spamtest",
            "1409735669",
            "1320562133",
            &good
        ));
    }

    #[test]
    fn sort_is_bytewise() {
        // "B" (0x42) sorts before "a" (0x61): the concatenation is "Ba".
        let expected = hex::encode(Sha1::digest(b"Ba"));
        assert_eq!(into_string(sorted_sha1_hex(["a", "B"])), expected);
    }
}
