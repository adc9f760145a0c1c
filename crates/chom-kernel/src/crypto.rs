//! Small cryptographic helpers shared by the contexts (ring underneath): random tokens, SHA-256,
//! constant-time comparison, `KeyedHash` (HMAC under a key derived from the application key),
//! and `Sealer`, authenticated encryption (AES-256-GCM) of secrets kept at rest (TOTP secrets,
//! site database passwords), with a key id and a context bound as associated data.

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

/// SHA-256 of data given piece by piece.
#[derive(Clone)]
pub struct Sha256Stream(ring::digest::Context);

impl Default for Sha256Stream {
    fn default() -> Self {
        Self(ring::digest::Context::new(&ring::digest::SHA256))
    }
}

impl std::fmt::Debug for Sha256Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sha256Stream")
    }
}

impl Sha256Stream {
    /// Adds `data`.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    /// The digest of everything added.
    #[must_use]
    pub fn finish(self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(self.0.finish().as_ref());
        out
    }
}

/// Compares two byte strings in time independent of where they differ.
#[must_use]
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A keyed hash (HMAC-SHA256) under a key derived from the application key and a purpose:
/// names identifiers (e-mail addresses in rate-limit keys, recovery codes) without storing them
/// in clear, and without letting someone who reads the store test guesses offline.
///
/// After a key rotation it may also hold the keys derived from previous application keys, so
/// stored tags remain recognisable ([`KeyedHash::tags`]); new tags use the current key.
pub struct KeyedHash {
    current: ring::hmac::Key,
    previous: Vec<ring::hmac::Key>,
}

impl std::fmt::Debug for KeyedHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyedHash([redacted])")
    }
}

fn derive(app_key: &[u8], purpose: &str) -> ring::hmac::Key {
    let base = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, app_key);
    let derived = ring::hmac::sign(&base, purpose.as_bytes());
    ring::hmac::Key::new(ring::hmac::HMAC_SHA256, derived.as_ref())
}

fn sign(key: &ring::hmac::Key, data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(ring::hmac::sign(key, data).as_ref());
    out
}

impl KeyedHash {
    /// A hash keyed by `app_key` for `purpose` (each purpose gets its own derived key).
    #[must_use]
    pub fn new(app_key: &[u8], purpose: &str) -> Self {
        Self::with_previous(app_key, &[] as &[&[u8]], purpose)
    }

    /// A hash keyed by `current` for `purpose` that also computes the tags `previous`
    /// application keys gave (see [`KeyedHash::tags`]).
    #[must_use]
    pub fn with_previous<K: AsRef<[u8]>>(current: &[u8], previous: &[K], purpose: &str) -> Self {
        Self {
            current: derive(current, purpose),
            previous: previous
                .iter()
                .map(|k| derive(k.as_ref(), purpose))
                .collect(),
        }
    }

    /// The 32-byte tag of `data` (current key).
    #[must_use]
    pub fn tag(&self, data: &[u8]) -> [u8; 32] {
        sign(&self.current, data)
    }

    /// The tag of `data` under the current key, then under each previous key: what to look
    /// for when checking a stored tag.
    #[must_use]
    pub fn tags(&self, data: &[u8]) -> Vec<[u8; 32]> {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .map(|k| sign(k, data))
            .collect()
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

/// Prefix of the current sealed format (`v1.<key id>.<base64url>`).
const V1: &str = "v1";

/// Associated data of a `v1` value: a fixed label, then the context. The label keeps a `v1`
/// body from opening as a legacy value (legacy values use empty associated data), so stripping
/// the prefix is no way around the context.
fn v1_aad(context: &str) -> Vec<u8> {
    let mut aad = b"chom-sealed/v1\0".to_vec();
    aad.extend_from_slice(context.as_bytes());
    aad
}

/// One AES-256-GCM key and its public id.
struct SealingKey {
    id: String,
    key: LessSafeKey,
}

impl SealingKey {
    fn new(key: &[u8]) -> Result<Self, CryptoError> {
        let unbound = UnboundKey::new(&AES_256_GCM, key)
            .map_err(|_| CryptoError("the encryption key must be 32 bytes"))?;
        let id = sha256(key)[..4]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(Self {
            id,
            key: LessSafeKey::new(unbound),
        })
    }

    fn open(&self, raw: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
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
                Aad::from(aad),
                &mut in_out,
            )
            .map_err(|_| CryptoError("sealed value failed authentication"))?;
        Ok(plain.to_vec())
    }
}

/// AES-256-GCM with a random 96-bit nonce per message, bound to a context.
///
/// Sealed text is `v1.<key id>.<base64url(nonce || ciphertext || tag)>`: the key id (first
/// 8 hex digits of the key's SHA-256) says which key opens it, so keys can be rotated, and the
/// associated data names what is sealed (`"users.totp_secret:<user id>"`), so a value copied to
/// another row or column fails to open. Values written before key ids existed (bare base64url,
/// empty associated data) still open, with the current key or a previous one.
pub struct Sealer {
    current: SealingKey,
    previous: Vec<SealingKey>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("key_id", &self.current.id)
            .field("previous", &self.previous.len())
            .finish_non_exhaustive()
    }
}

impl Sealer {
    /// A sealer from a 32-byte key.
    ///
    /// # Errors
    /// The key is not 32 bytes.
    pub fn new(key: &[u8]) -> Result<Self, CryptoError> {
        Self::with_previous(key, &[] as &[&[u8]])
    }

    /// A sealer that seals with `current` and also opens what `previous` keys sealed: key
    /// rotation (values move to the current key as they are written again).
    ///
    /// # Errors
    /// A key is not 32 bytes.
    pub fn with_previous<K: AsRef<[u8]>>(
        current: &[u8],
        previous: &[K],
    ) -> Result<Self, CryptoError> {
        Ok(Self {
            current: SealingKey::new(current)?,
            previous: previous
                .iter()
                .map(|k| SealingKey::new(k.as_ref()))
                .collect::<Result<_, _>>()?,
        })
    }

    /// The id of the sealing key, as written in sealed values.
    #[must_use]
    pub fn key_id(&self) -> &str {
        &self.current.id
    }

    /// Encrypts and authenticates `plaintext` for `context` (what is sealed and where it lives,
    /// e.g. `"sites.db_password:<site id>"`); only [`Sealer::open_for`] with the same context
    /// opens it.
    ///
    /// # Errors
    /// The random source failed.
    pub fn seal_for(&self, context: &str, plaintext: &[u8]) -> Result<String, CryptoError> {
        let nonce_bytes = random_bytes(NONCE_LEN)?;
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&nonce_bytes);
        let mut in_out = plaintext.to_vec();
        self.current
            .key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(v1_aad(context)),
                &mut in_out,
            )
            .map_err(|_| CryptoError("encryption failed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&in_out);
        Ok(format!(
            "{V1}.{}.{}",
            self.current.id,
            BASE64URL_NOPAD.encode(&out)
        ))
    }

    /// Decrypts what [`Sealer::seal_for`] produced for the same `context` with a known key, or a
    /// legacy value (no key id, no context).
    ///
    /// # Errors
    /// Malformed, tampered with, sealed for another context, or with an unknown key.
    pub fn open_for(&self, context: &str, sealed: &str) -> Result<Vec<u8>, CryptoError> {
        let mut parts = sealed.splitn(3, '.');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(V1), Some(kid), Some(body)) => {
                let key = std::iter::once(&self.current)
                    .chain(&self.previous)
                    .find(|k| k.id == kid)
                    .ok_or(CryptoError("sealed with an unknown key"))?;
                key.open(&decode(body)?, &v1_aad(context))
            }
            (Some(legacy), None, None) => {
                let raw = decode(legacy)?;
                std::iter::once(&self.current)
                    .chain(&self.previous)
                    .find_map(|k| k.open(&raw, &[]).ok())
                    .ok_or(CryptoError("sealed value failed authentication"))
            }
            _ => Err(CryptoError("sealed value has an unknown format")),
        }
    }

    /// Whether `sealed` should be sealed again: a legacy value, or one under a previous key.
    #[must_use]
    pub fn needs_reseal(&self, sealed: &str) -> bool {
        !sealed.starts_with(&format!("{V1}.{}.", self.current.id))
    }

    /// [`Sealer::seal_for`] with an empty context: for values whose place needs no binding.
    /// Prefer `seal_for`.
    ///
    /// # Errors
    /// The random source failed.
    pub fn seal(&self, plaintext: &[u8]) -> Result<String, CryptoError> {
        self.seal_for("", plaintext)
    }

    /// [`Sealer::open_for`] with an empty context: opens what [`Sealer::seal`] produced.
    ///
    /// # Errors
    /// Malformed, tampered with, sealed for a context, or with an unknown key.
    pub fn open(&self, sealed: &str) -> Result<Vec<u8>, CryptoError> {
        self.open_for("", sealed)
    }
}

fn decode(body: &str) -> Result<Vec<u8>, CryptoError> {
    BASE64URL_NOPAD
        .decode(body.as_bytes())
        .map_err(|_| CryptoError("sealed value is not base64url"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `Sealer::seal` wrote before key ids and contexts: bare base64url, empty AAD.
    fn legacy_seal(key: &[u8], plaintext: &[u8]) -> String {
        let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).unwrap());
        let nonce = [3u8; NONCE_LEN];
        let mut in_out = plaintext.to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::empty(),
            &mut in_out,
        )
        .unwrap();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&in_out);
        BASE64URL_NOPAD.encode(&out)
    }

    fn flip_last(sealed: &str) -> String {
        let (prefix, body) = sealed.rsplit_once('.').unwrap();
        let mut bytes = BASE64URL_NOPAD.decode(body.as_bytes()).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        format!("{prefix}.{}", BASE64URL_NOPAD.encode(&bytes))
    }

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
        assert!(sealer.open(&flip_last(&sealed)).is_err());
        assert!(Sealer::new(&[8u8; 32]).unwrap().open(&sealed).is_err());
        assert!(Sealer::new(&[0u8; 16]).is_err());
        assert!(sealer.open("v2.abc.def").is_err());
        assert!(sealer.open("").is_err());
    }

    #[test]
    fn l11_sealed_values_name_their_key_and_open_only_in_their_context() {
        let key = [7u8; 32];
        let sealer = Sealer::new(&key).unwrap();
        let kid: String = sha256(&key)[..4]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(sealer.key_id(), kid);
        let alice = "users.totp_secret:0190-alice";
        let sealed = sealer.seal_for(alice, b"JBSWY3DPEHPK3PXP").unwrap();
        assert!(sealed.starts_with(&format!("v1.{kid}.")), "{sealed}");
        assert_eq!(
            sealer.open_for(alice, &sealed).unwrap(),
            b"JBSWY3DPEHPK3PXP"
        );
        // Moved to another row, another column, or read without a context: refused.
        for other in [
            "users.totp_secret:0190-bob",
            "sites.db_password:0190-alice",
            "",
        ] {
            assert!(
                sealer.open_for(other, &sealed).is_err(),
                "opened as {other:?}"
            );
        }
        assert!(sealer.open(&sealed).is_err());
        // Stripping the prefix does not turn it into a legacy value (empty AAD) either.
        let body = sealed.rsplit_once('.').unwrap().1;
        assert!(sealer.open_for(alice, body).is_err());
        assert!(sealer.open_for("", body).is_err());
        let unlabelled = sealer.seal(b"x").unwrap();
        let body = unlabelled.rsplit_once('.').unwrap().1;
        assert!(
            sealer.open_for(alice, body).is_err(),
            "downgraded to legacy"
        );
        // Another key id is not tried with this key.
        let renamed = sealed.replacen(&kid, "00000000", 1);
        assert_eq!(
            sealer.open_for(alice, &renamed),
            Err(CryptoError("sealed with an unknown key"))
        );
    }

    #[test]
    fn l11_legacy_values_still_open_and_rotation_keeps_old_values_readable() {
        let (old, new) = ([7u8; 32], [9u8; 32]);
        let legacy = legacy_seal(&old, b"hunter2");
        let before = Sealer::new(&old).unwrap();
        assert_eq!(
            before.open_for("sites.db_password:1", &legacy).unwrap(),
            b"hunter2"
        );
        assert_eq!(before.open(&legacy).unwrap(), b"hunter2");
        assert!(before.needs_reseal(&legacy));
        let sealed_before = before.seal_for("ctx", b"s3cret").unwrap();
        assert!(!before.needs_reseal(&sealed_before));

        let rotated = Sealer::with_previous(&new, &[old]).unwrap();
        assert_ne!(rotated.key_id(), before.key_id());
        assert_eq!(rotated.open_for("ctx", &sealed_before).unwrap(), b"s3cret");
        assert_eq!(rotated.open(&legacy).unwrap(), b"hunter2");
        assert!(rotated.needs_reseal(&sealed_before));
        let resealed = rotated.seal_for("ctx", b"s3cret").unwrap();
        assert!(resealed.starts_with(&format!("v1.{}.", rotated.key_id())));
        assert!(!rotated.needs_reseal(&resealed));
        assert!(before.open_for("ctx", &resealed).is_err());

        let forgotten = Sealer::new(&new).unwrap();
        assert!(forgotten.open_for("ctx", &sealed_before).is_err());
        assert!(forgotten.open(&legacy).is_err());
        assert!(Sealer::with_previous(&new, &[[1u8; 16]]).is_err());
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
        let rotated = KeyedHash::with_previous(&[2u8; 32], &[[1u8; 32]], "rate-limit");
        assert_eq!(
            rotated.tags(b"x"),
            vec![
                KeyedHash::new(&[2u8; 32], "rate-limit").tag(b"x"),
                a.tag(b"x")
            ]
        );
        assert_eq!(rotated.tag(b"x"), rotated.tags(b"x")[0]);
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
