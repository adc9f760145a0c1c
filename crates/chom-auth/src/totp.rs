//! TOTP (RFC 6238): HMAC-SHA1, 6 digits, 30-second steps, ±1 step of clock skew. The caller
//! records the last accepted step, and `verify` refuses any step at or before it, so a code is
//! accepted once.

use chom_kernel::crypto::{CryptoError, random_bytes};
use data_encoding::BASE32_NOPAD;
use ring::hmac;

/// Seconds per step.
pub const STEP: i64 = 30;

/// A TOTP shared secret (20 random bytes).
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret(Vec<u8>);

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret([redacted])")
    }
}

impl TotpSecret {
    /// A new random secret.
    ///
    /// # Errors
    /// The random source failed.
    pub fn generate() -> Result<Self, CryptoError> {
        random_bytes(20).map(Self)
    }

    /// From stored bytes.
    #[must_use]
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The raw bytes (to seal for storage).
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Base32, as authenticator apps take it.
    #[must_use]
    pub fn base32(&self) -> String {
        BASE32_NOPAD.encode(&self.0)
    }

    /// The `otpauth://` URI for a QR code.
    #[must_use]
    pub fn uri(&self, issuer: &str, account: &str) -> String {
        let enc = |s: &str| {
            s.bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect::<String>()
        };
        format!(
            "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits=6&period=30",
            enc(issuer),
            enc(account),
            self.base32(),
            enc(issuer)
        )
    }

    /// The code of `step`.
    #[must_use]
    pub fn code_at_step(&self, step: i64) -> String {
        let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &self.0);
        let tag = hmac::sign(&key, &step.to_be_bytes());
        let h = tag.as_ref();
        let offset = usize::from(h[h.len() - 1] & 0x0f);
        let bin = (u32::from(h[offset] & 0x7f) << 24)
            | (u32::from(h[offset + 1]) << 16)
            | (u32::from(h[offset + 2]) << 8)
            | u32::from(h[offset + 3]);
        format!("{:06}", bin % 1_000_000)
    }

    /// Checks `code` at `unix_time` (±1 step). Returns the matched step, refusing any step not
    /// after `last_step` (replay).
    #[must_use]
    pub fn verify(&self, code: &str, unix_time: i64, last_step: Option<i64>) -> Option<i64> {
        let code = code.trim();
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let now = unix_time.div_euclid(STEP);
        [now - 1, now, now + 1].into_iter().find(|step| {
            last_step.is_none_or(|last| *step > last)
                && chom_kernel::crypto::constant_time_eq(
                    self.code_at_step(*step).as_bytes(),
                    code.as_bytes(),
                )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_rfc_6238_test_vectors() {
        // RFC 6238 appendix B, SHA-1 secret "12345678901234567890", last 6 digits.
        let s = TotpSecret::from_bytes(b"12345678901234567890".to_vec());
        for (t, code) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
        ] {
            assert_eq!(s.code_at_step(t / STEP), code, "t={t}");
        }
    }

    #[test]
    fn a_code_is_accepted_once_and_within_one_step_of_skew() {
        let s = TotpSecret::generate().unwrap();
        let t = 1_700_000_000;
        let code = s.code_at_step(t / STEP);
        let step = s.verify(&code, t, None).unwrap();
        assert_eq!(s.verify(&code, t, Some(step)), None, "replayed");
        assert!(s.verify(&s.code_at_step(t / STEP - 1), t, None).is_some());
        assert!(s.verify(&s.code_at_step(t / STEP - 2), t, None).is_none());
        assert!(s.verify("12345", t, None).is_none());
        assert!(
            s.uri("CHOM", "jane@example.com")
                .starts_with("otpauth://totp/CHOM:jane%40example.com?secret=")
        );
    }
}
