//! Safe mode: AES-256-CBC with the EncodingAESKey, 32-byte PKCS#7 padding, and the app id trailer.

use std::fmt;
use std::ops::Range;

use aes::Aes256;
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};

use super::signature::{msg_signature, verify_msg_signature};
use super::xml::{
    is_json, parse_envelope, parse_envelope_json, parse_push, parse_push_json, push_cdata,
    push_escaped,
};
use super::{Push, WechatError};

/// Safe mode pads to 32-byte blocks (twice the AES block size).
const PAD_BLOCK: usize = 32;
/// 16 random bytes followed by the 4-byte big-endian message length.
const HEADER: usize = 20;
/// Characters in an EncodingAESKey.
const ENCODING_AES_KEY_LEN: usize = 43;

/// Standard alphabet; padding optional and non-zero trailing bits accepted when decoding, because an
/// EncodingAESKey is 43 characters whose last one usually carries non-zero trailing bits. Encoding
/// always pads.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

fn crypto_error(what: &str) -> WechatError {
    WechatError::Crypto(what.to_owned())
}

/// The safe-mode cipher of one app: the 32-byte key decoded from its EncodingAESKey and the app id (or
/// WeCom corp id) every payload must end with.
///
/// Always check `msg_signature` ([`verify_msg_signature`](super::verify_msg_signature)) before
/// decrypting: the scheme has no MAC of its own, the signature is what binds the ciphertext to the token.
#[derive(Clone)]
pub struct Cipher {
    key: [u8; 32],
    app_id: String,
}

impl fmt::Debug for Cipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cipher")
            .field("key", &"<redacted>")
            .field("app_id", &self.app_id)
            .finish()
    }
}

impl Cipher {
    /// Builds the cipher from the 43-character EncodingAESKey (`key = base64_decode(key + "=")`) and the
    /// app id (Official Account / Mini Program) or corp id (WeCom).
    pub fn new(encoding_aes_key: &str, app_id: impl Into<String>) -> Result<Self, WechatError> {
        if encoding_aes_key.len() != ENCODING_AES_KEY_LEN {
            return Err(crypto_error("EncodingAESKey must be 43 characters"));
        }
        let decoded = BASE64
            .decode(encoding_aes_key)
            .map_err(|_| crypto_error("EncodingAESKey is not valid base64"))?;
        let key: [u8; 32] = decoded
            .try_into()
            .map_err(|_| crypto_error("EncodingAESKey does not decode to 32 bytes"))?;
        Ok(Cipher {
            key,
            app_id: app_id.into(),
        })
    }

    /// The app id (or corp id) this cipher expects.
    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    fn iv(&self) -> &[u8] {
        &self.key[..16]
    }

    /// Decrypts a base64 `Encrypt` value (or WeCom's encrypted `echostr`) and returns the message bytes.
    ///
    /// Fails with [`WechatError::Crypto`] on bad base64, a ciphertext that is not a positive multiple of
    /// 32 bytes, invalid 32-byte PKCS#7 padding or an inner length that overruns the payload, and with
    /// [`WechatError::AppIdMismatch`] when the trailer is not this cipher's app id.
    pub fn decrypt(&self, encrypt_b64: &str) -> Result<Vec<u8>, WechatError> {
        let mut buf = BASE64
            .decode(encrypt_b64.trim())
            .map_err(|_| crypto_error("Encrypt is not valid base64"))?;
        if buf.is_empty() || buf.len() % PAD_BLOCK != 0 {
            return Err(crypto_error(
                "ciphertext length is not a positive multiple of 32 bytes",
            ));
        }
        cbc::Decryptor::<Aes256>::new_from_slices(&self.key, self.iv())
            .map_err(|_| crypto_error("invalid key length"))?
            .decrypt_padded_mut::<NoPadding>(&mut buf)
            .map_err(|_| crypto_error("ciphertext is not block-aligned"))?;
        let message = split_payload(&buf, self.app_id.as_bytes())?;
        buf.truncate(message.end);
        buf.drain(..message.start);
        Ok(buf)
    }

    /// Encrypts `msg` with the given 16 leading random bytes and returns the base64 `Encrypt` value.
    ///
    /// # Panics
    ///
    /// If `msg` is longer than `u32::MAX` bytes (the wire format cannot express it).
    pub fn encrypt(&self, msg: &[u8], random16: [u8; 16]) -> String {
        let msg_len = u32::try_from(msg.len()).expect("safe-mode messages are shorter than 4 GiB");
        let unpadded = HEADER + msg.len() + self.app_id.len();
        let pad = PAD_BLOCK - unpadded % PAD_BLOCK;
        let mut buf = Vec::with_capacity(unpadded + pad);
        buf.extend_from_slice(&random16);
        buf.extend_from_slice(&msg_len.to_be_bytes());
        buf.extend_from_slice(msg);
        buf.extend_from_slice(self.app_id.as_bytes());
        // `pad` is 1..=32, so it fits in a byte.
        buf.resize(unpadded + pad, pad as u8);
        let len = buf.len();
        cbc::Encryptor::<Aes256>::new_from_slices(&self.key, self.iv())
            .expect("the key is 32 bytes and the IV 16")
            .encrypt_padded_mut::<NoPadding>(&mut buf, len)
            .expect("the buffer is a whole number of blocks");
        BASE64.encode(&buf)
    }

    /// [`encrypt`](Self::encrypt) with 16 fresh random bytes.
    pub fn encrypt_random(&self, msg: &[u8]) -> String {
        self.encrypt(msg, rand::random())
    }
}

/// Checks the 32-byte PKCS#7 padding and the app id trailer of a decrypted payload and returns where the
/// message lies in it.
fn split_payload(plain: &[u8], app_id: &[u8]) -> Result<Range<usize>, WechatError> {
    let pad = usize::from(*plain.last().ok_or_else(|| crypto_error("empty payload"))?);
    if pad == 0 || pad > PAD_BLOCK || pad > plain.len() {
        return Err(crypto_error("invalid PKCS#7 padding"));
    }
    let (body, padding) = plain.split_at(plain.len() - pad);
    if padding.iter().any(|&b| usize::from(b) != pad) {
        return Err(crypto_error("invalid PKCS#7 padding"));
    }
    let len_bytes: [u8; 4] = body
        .get(16..HEADER)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| crypto_error("payload shorter than its header"))?;
    let msg_len = usize::try_from(u32::from_be_bytes(len_bytes))
        .map_err(|_| crypto_error("message length"))?;
    let msg_end = HEADER
        .checked_add(msg_len)
        .filter(|&end| end <= body.len())
        .ok_or_else(|| crypto_error("message length exceeds the payload"))?;
    if &body[msg_end..] != app_id {
        return Err(WechatError::AppIdMismatch);
    }
    Ok(HEADER..msg_end)
}

/// Decrypts with the first cipher that accepts the payload, trying them in order (the current key
/// first, then previous ones during an EncodingAESKey rotation), and returns its index with the message.
///
/// When none accepts it, the error is [`WechatError::AppIdMismatch`] if some key decrypted it but found
/// another app id, otherwise the current key's error.
pub fn decrypt_with_any(
    ciphers: &[Cipher],
    encrypt: &str,
) -> Result<(usize, Vec<u8>), WechatError> {
    let mut first_error = None;
    let mut app_id_mismatch = false;
    for (index, cipher) in ciphers.iter().enumerate() {
        match cipher.decrypt(encrypt) {
            Ok(message) => return Ok((index, message)),
            Err(WechatError::AppIdMismatch) => app_id_mismatch = true,
            Err(error) => {
                first_error.get_or_insert(error);
            }
        }
    }
    Err(if app_id_mismatch {
        WechatError::AppIdMismatch
    } else {
        first_error.unwrap_or_else(|| crypto_error("no key configured"))
    })
}

/// Verifies `msg_signature`, decrypts and parses a safe-mode POST body in one step. Returns the index of
/// the cipher that decrypted it (see [`decrypt_with_any`]) and the push.
pub fn open_encrypted_push(
    ciphers: &[Cipher],
    token: &str,
    timestamp: &str,
    nonce: &str,
    msg_signature: &str,
    body: &[u8],
) -> Result<(usize, Push), WechatError> {
    let envelope = if is_json(body) {
        parse_envelope_json(body)?
    } else {
        parse_envelope(body)?
    };
    if !verify_msg_signature(token, timestamp, nonce, &envelope.encrypt, msg_signature) {
        return Err(WechatError::BadSignature);
    }
    let (index, plain) = decrypt_with_any(ciphers, &envelope.encrypt)?;
    let push = if is_json(&plain) {
        parse_push_json(&plain)?
    } else {
        parse_push(&plain)?
    };
    Ok((index, push))
}

/// Builds an encrypted passive reply: `msg` (usually a [`text_reply`](super::text_reply)) encrypted with
/// fresh random bytes, signed with `token`, `timestamp` and `nonce`.
pub fn encrypted_reply(
    cipher: &Cipher,
    token: &str,
    msg: &[u8],
    timestamp: &str,
    nonce: &str,
) -> String {
    encrypted_reply_with(cipher, token, msg, timestamp, nonce, rand::random())
}

/// [`encrypted_reply`] with the given 16 random bytes.
pub fn encrypted_reply_with(
    cipher: &Cipher,
    token: &str,
    msg: &[u8],
    timestamp: &str,
    nonce: &str,
    random16: [u8; 16],
) -> String {
    let encrypt = cipher.encrypt(msg, random16);
    let signature = msg_signature(token, timestamp, nonce, &encrypt);
    let mut out = String::with_capacity(160 + encrypt.len() + timestamp.len() + nonce.len());
    out.push_str("<xml><Encrypt>");
    push_cdata(&mut out, &encrypt);
    out.push_str("</Encrypt><MsgSignature>");
    push_cdata(&mut out, &signature);
    out.push_str("</MsgSignature><TimeStamp>");
    push_escaped(&mut out, timestamp);
    out.push_str("</TimeStamp><Nonce>");
    push_cdata(&mut out, nonce);
    out.push_str("</Nonce></xml>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(msg: &[u8], app_id: &[u8], pad_to: usize) -> Vec<u8> {
        let mut plain = vec![b'r'; 16];
        plain.extend_from_slice(&u32::try_from(msg.len()).unwrap().to_be_bytes());
        plain.extend_from_slice(msg);
        plain.extend_from_slice(app_id);
        let pad = pad_to - plain.len() % pad_to;
        plain.resize(plain.len() + pad, u8::try_from(pad).unwrap());
        plain
    }

    #[test]
    fn split_payload_checks_padding_length_and_trailer() {
        let good = payload(b"hello", b"wxapp", 32);
        assert_eq!(split_payload(&good, b"wxapp"), Ok(20..25));
        assert_eq!(
            split_payload(&good, b"wxother"),
            Err(WechatError::AppIdMismatch)
        );

        let mut zero_pad = good.clone();
        *zero_pad.last_mut().unwrap() = 0;
        assert!(matches!(
            split_payload(&zero_pad, b"wxapp"),
            Err(WechatError::Crypto(_))
        ));

        let mut big_pad = good.clone();
        *big_pad.last_mut().unwrap() = 33;
        assert!(matches!(
            split_payload(&big_pad, b"wxapp"),
            Err(WechatError::Crypto(_))
        ));

        let mut uneven = good.clone();
        let n = uneven.len();
        uneven[n - 2] ^= 1;
        assert!(matches!(
            split_payload(&uneven, b"wxapp"),
            Err(WechatError::Crypto(_))
        ));

        let mut overlong = good;
        overlong[16..20].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            split_payload(&overlong, b"wxapp"),
            Err(WechatError::Crypto(_))
        ));
    }

    #[test]
    fn key_must_be_43_base64_characters() {
        assert!(Cipher::new("abcde", "wx").is_err());
        assert!(Cipher::new(&"!".repeat(43), "wx").is_err());
        let cipher = Cipher::new("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "wx").unwrap();
        assert_eq!(
            format!("{cipher:?}"),
            r#"Cipher { key: "<redacted>", app_id: "wx" }"#
        );
    }

    #[test]
    fn decrypt_refuses_misaligned_or_empty_ciphertext() {
        let cipher = Cipher::new("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "wx").unwrap();
        for bad in [
            "",
            "AAAA",
            &BASE64.encode([0u8; 16]),
            &BASE64.encode([0u8; 48]),
            "not base64!",
        ] {
            assert!(
                matches!(cipher.decrypt(bad), Err(WechatError::Crypto(_))),
                "{bad:?}"
            );
        }
        assert!(matches!(
            decrypt_with_any(&[], "AAAA"),
            Err(WechatError::Crypto(_))
        ));
    }
}
