//! A key file cheap to derive (ADR 0011). restic stretches the password of each key file with
//! scrypt: `restic init` calibrates it to about half a second, rustic's default is about
//! 0.3 s, paid by every process that opens the repository. The repositories' passwords are 256
//! random bits made by the control plane: stretching adds nothing to them. So a repository the
//! writer makes has one key file, with N = 2^10 (about 2 ms); a repository made earlier gets
//! one added for the same password and master key. The writer opens the repository with the
//! master key it decrypts from that file. Stock restic opens it with the password (it tries
//! every key file).

// The cipher's API is generic-array 0.14's, which that crate marks deprecated.
#![allow(deprecated)]

use aes256ctr_poly1305aes::Aes256CtrPoly1305Aes;
use aes256ctr_poly1305aes::aead::AeadInPlace as _;
use aes256ctr_poly1305aes::aead::generic_array::GenericArray;
use rand::RngCore as _;
use rustic_core::repofile::{KeyFile, MasterKey};
use rustic_core::{FileType, Id, WriteBackend};

/// log2 of the cheap key file's scrypt N.
const LOG_N: u8 = 10;
const R: u32 = 8;
const P: u32 = 1;

fn derive(password: &str, salt: &[u8], n: u32, r: u32, p: u32) -> Option<[u8; 64]> {
    if !n.is_power_of_two() {
        return None;
    }
    let log_n = u8::try_from(n.trailing_zeros()).ok()?;
    let params = scrypt::Params::new(log_n, r, p).ok()?;
    let mut key = [0u8; 64];
    scrypt::scrypt(password.as_bytes(), salt, &params, &mut key).ok()?;
    Some(key)
}

/// The master key in `file`, when `password` opens it.
fn open(file: &KeyFile, password: &str) -> Option<MasterKey> {
    let key = derive(password, &file.salt, file.n, file.r, file.p)?;
    let cipher = Aes256CtrPoly1305Aes::new(GenericArray::from_slice(&key));
    let data = &file.data;
    if data.len() < 32 {
        return None;
    }
    let (nonce, rest) = data.split_at(16);
    let (sealed, tag) = rest.split_at(rest.len() - 16);
    let mut plain = sealed.to_vec();
    cipher
        .decrypt_in_place_detached(
            GenericArray::from_slice(nonce),
            &[],
            &mut plain,
            GenericArray::from_slice(tag),
        )
        .ok()?;
    serde_json::from_slice(&plain).ok()
}

/// The master key, from a cheap key file of the repository that `password` opens (`None`:
/// there is none yet, or the repository cannot be listed).
pub(super) fn master_key(be: &dyn WriteBackend, password: &str) -> Option<MasterKey> {
    be.list(FileType::Key).ok()?.into_iter().find_map(|id| {
        let bytes = be.read_full(FileType::Key, &id).ok()?;
        let file: KeyFile = serde_json::from_slice(&bytes).ok()?;
        (file.kdf == "scrypt" && file.n <= 1 << LOG_N)
            .then(|| open(&file, password))
            .flatten()
    })
}

/// Adds a cheap key file for `password` and `master`.
pub(super) fn add(be: &dyn WriteBackend, password: &str, master: &MasterKey) -> Option<()> {
    let mut rng = rand::rng();
    let mut salt = vec![0u8; 64];
    rng.fill_bytes(&mut salt);
    let key = derive(password, &salt, 1 << LOG_N, R, P)?;
    let cipher = Aes256CtrPoly1305Aes::new(GenericArray::from_slice(&key));
    let mut nonce = [0u8; 16];
    rng.fill_bytes(&mut nonce);
    let mut sealed = serde_json::to_vec(master).ok()?;
    let tag = cipher
        .encrypt_in_place_detached(GenericArray::from_slice(&nonce), &[], &mut sealed)
        .ok()?;
    let mut data = nonce.to_vec();
    data.extend_from_slice(&sealed);
    data.extend_from_slice(&tag);
    let file = KeyFile {
        hostname: None,
        username: None,
        created: None,
        kdf: "scrypt".into(),
        n: 1 << LOG_N,
        r: R,
        p: P,
        data,
        salt,
    };
    let bytes = serde_json::to_vec(&file).ok()?;
    let (sha, _) = super::super::manifest::sha256(bytes.as_slice()).ok()?;
    let id = Id::from_hex(&sha).ok()?;
    be.write_bytes(FileType::Key, &id, false, bytes.into()).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_cheap_key_opens_with_its_password_only() {
        let dir = tempfile::tempdir().unwrap();
        let be = rustic_backend::LocalBackend::new(
            dir.path().to_str().unwrap(),
            Vec::<(String, String)>::new(),
        )
        .unwrap();
        be.create().unwrap();
        assert!(master_key(&be, "pw").is_none(), "no key file yet");
        let master = MasterKey::new();
        add(&be, "pw", &master).unwrap();
        let found = master_key(&be, "pw").unwrap();
        assert_eq!(
            serde_json::to_value(&found).unwrap(),
            serde_json::to_value(&master).unwrap()
        );
        assert!(master_key(&be, "another").is_none());
    }
}
