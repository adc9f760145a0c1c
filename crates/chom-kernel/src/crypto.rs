//! Small cryptographic helpers shared by the contexts (ring underneath): random tokens, SHA-256,
//! constant-time comparison, and `Sealer`, authenticated encryption (AES-256-GCM) of secrets
//! kept at rest (TOTP secrets, site database passwords).

use data_encoding::BASE64URL_NOPAD;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

/// `n` random bytes from the operating system.
///
/// # Errors
/// The system random source failed (it does not on Linux).
pub fn random_bytes(n: usize) -> Result<Vec<u8>, CryptoError> {
    let mut buf = vec![0u8; n];
    SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| CryptoError("the system random source failed"))?;
    Ok(buf)
}

/// A random URL-safe token of `n` bytes of entropy.
///
/// # Errors
/// The system random source failed.
pub fn random_token(n: usize) -> Result<String, CryptoError> {
    Ok(BASE64URL_NOPAD.encode(&random_bytes(n)?))
}

/// SHA-256 of `data`.
#[must_use]
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// Compares two byte strings in time independent of where they differ.
#[must_use]
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A keyed hash (HMAC-SHA256) under a key derived from the application key and a purpose:
/// names identifiers (e-mail addresses in rate-limit keys, recovery codes) without storing them
/// in clear, and without letting someone who reads the store test guesses offline.
pub struct KeyedHash(ring::hmac::Key);

impl std::fmt::Debug for KeyedHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyedHash([redacted])")
    }
}

impl KeyedHash {
    /// A hash keyed by `app_key` for `purpose` (each purpose gets its own derived key).
    #[must_use]
    pub fn new(app_key: &[u8], purpose: &str) -> Self {
        let base = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, app_key);
        let derived = ring::hmac::sign(&base, purpose.as_bytes());
        Self(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, derived.as_ref()))
    }

    /// The 32-byte tag of `data`.
    #[must_use]
    pub fn tag(&self, data: &[u8]) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(ring::hmac::sign(&self.0, data).as_ref());
        out
    }

    /// A short printable name for `data` (128 bits, base64url).
    #[must_use]
    pub fn name(&self, data: &str) -> String {
        BASE64URL_NOPAD.encode(&self.tag(data.as_bytes())[..16])
    }
}

/// A cryptographic operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("crypto: {0}")]
pub struct CryptoError(pub &'static str);

/// AES-256-GCM with a random 96-bit nonce per message. Sealed text is
/// `base64url(nonce || ciphertext || tag)`; tampering makes `open` fail.
pub struct Sealer {
    key: LessSafeKey,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer([redacted])")
    }
}

impl Sealer {
    /// A sealer from a 32-byte key.
    ///
    /// # Errors
    /// The key is not 32 bytes.
    pub fn new(key: &[u8]) -> Result<Self, CryptoError> {
        let unbound = UnboundKey::new(&AES_256_GCM, key)
            .map_err(|_| CryptoError("the encryption key must be 32 bytes"))?;
        Ok(Self {
            key: LessSafeKey::new(unbound),
        })
    }

    /// Encrypts and authenticates `plaintext`.
    ///
    /// # Errors
    /// The random source failed.
    pub fn seal(&self, plaintext: &[u8]) -> Result<String, CryptoError> {
        let nonce_bytes = random_bytes(NONCE_LEN)?;
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&nonce_bytes);
        let mut in_out = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::empty(),
                &mut in_out,
            )
            .map_err(|_| CryptoError("encryption failed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&in_out);
        Ok(BASE64URL_NOPAD.encode(&out))
    }

    /// Decrypts what [`Sealer::seal`] produced with the same key.
    ///
    /// # Errors
    /// Malformed, tampered with, or sealed with another key.
    pub fn open(&self, sealed: &str) -> Result<Vec<u8>, CryptoError> {
        let raw = BASE64URL_NOPAD
            .decode(sealed.as_bytes())
            .map_err(|_| CryptoError("sealed value is not base64url"))?;
        if raw.len() < NONCE_LEN {
            return Err(CryptoError("sealed value is too short"));
        }
        let (nonce_bytes, ciphertext) = raw.split_at(NONCE_LEN);
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(nonce_bytes);
        let mut in_out = ciphertext.to_vec();
        let plain = self
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::empty(),
                &mut in_out,
            )
            .map_err(|_| CryptoError("sealed value failed authentication"))?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_round_trip_and_detect_tampering() {
        let sealer = Sealer::new(&[7u8; 32]).unwrap();
        let sealed = sealer.seal(b"JBSWY3DPEHPK3PXP").unwrap();
        assert!(!sealed.contains("JBSWY3DPEHPK3PXP"));
        assert_eq!(sealer.open(&sealed).unwrap(), b"JBSWY3DPEHPK3PXP");
        assert_ne!(
            sealer.seal(b"x").unwrap(),
            sealer.seal(b"x").unwrap(),
            "nonces repeat"
        );
        let mut bytes = BASE64URL_NOPAD.decode(sealed.as_bytes()).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert!(sealer.open(&BASE64URL_NOPAD.encode(&bytes)).is_err());
        assert!(Sealer::new(&[8u8; 32]).unwrap().open(&sealed).is_err());
        assert!(Sealer::new(&[0u8; 16]).is_err());
    }

    #[test]
    fn keyed_hashes_depend_on_key_and_purpose_and_hide_the_input() {
        let a = KeyedHash::new(&[1u8; 32], "rate-limit");
        assert_eq!(a.name("bob@example.com"), a.name("bob@example.com"));
        assert_ne!(a.name("bob@example.com"), a.name("bob@example.org"));
        assert_ne!(
            a.name("bob@example.com"),
            KeyedHash::new(&[2u8; 32], "rate-limit").name("bob@example.com")
        );
        assert_ne!(
            a.name("bob@example.com"),
            KeyedHash::new(&[1u8; 32], "recovery").name("bob@example.com")
        );
        assert!(!a.name("bob@example.com").contains("bob"));
        assert_eq!(a.name("x").len(), 22);
    }

    #[test]
    fn tokens_are_random_and_comparison_is_exact() {
        assert_ne!(random_token(32).unwrap(), random_token(32).unwrap());
        assert_eq!(random_token(32).unwrap().len(), 43);
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert_eq!(sha256(b"").len(), 32);
    }
}
