//! Host key pinning: trusting the key a server presents, on first contact or vouched for by an
//! administrator when re-pinning.

use super::{Fleet, FleetError};
use crate::model::{HostKey, Vps, fingerprint_names};
use crate::ports::GatewayError;
use chom_kernel::VpsId;
use chom_kernel::audit::Actor;

/// How an administrator vouches for the key to pin.
#[derive(Debug, Clone, Default)]
pub struct TrustHostKey {
    /// The key the server must present now (`ssh-ed25519 AAAA…` or its `SHA256:` fingerprint),
    /// compared out of band. Enough on its own to re-pin.
    pub expected_key: Option<String>,
    /// Replace the pinned key by whatever the server presents now; needs `old_fingerprint`.
    pub replace: bool,
    /// With `replace`: the fingerprint of the key pinned now.
    pub old_fingerprint: Option<String>,
}

/// The expected key or fingerprint, parsed.
enum Expected {
    Key(HostKey),
    Fingerprint(String),
}

impl Expected {
    fn matches(&self, presented: &HostKey) -> bool {
        match self {
            Self::Key(k) => k == presented,
            Self::Fingerprint(f) => fingerprint_names(f, presented),
        }
    }
}

fn fingerprint_ok(f: &str) -> bool {
    f.trim().strip_prefix("SHA256:").is_some_and(|b| {
        let b = b.trim_end_matches('=');
        b.len() == 43
            && b.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'+' || c == b'/')
    })
}

fn parse_trust(req: &TrustHostKey) -> Result<Option<Expected>, FleetError> {
    let mut errors = Vec::new();
    let expected = match req.expected_key.as_deref() {
        None => None,
        Some(e) if fingerprint_ok(e) => Some(Expected::Fingerprint(e.trim().to_owned())),
        Some(e) => match HostKey::parse(e) {
            Some(k) => Some(Expected::Key(k)),
            None => {
                errors.push((
                    "expected_key",
                    "an OpenSSH public key (`ssh-ed25519 AAAA…`) or its `SHA256:…` fingerprint"
                        .to_owned(),
                ));
                None
            }
        },
    };
    match (&req.old_fingerprint, req.replace) {
        (None, true) => errors.push((
            "old_fingerprint",
            "replace needs the fingerprint of the key pinned now".to_owned(),
        )),
        (Some(f), _) if !fingerprint_ok(f) => {
            errors.push(("old_fingerprint", "a `SHA256:…` fingerprint".to_owned()));
        }
        (Some(_), false) => errors.push((
            "old_fingerprint",
            "only meaningful with replace: true".to_owned(),
        )),
        _ => {}
    }
    if errors.is_empty() {
        Ok(expected)
    } else {
        Err(FleetError::Invalid(errors))
    }
}

impl Fleet {
    /// Pins the host key the server presents now; every later connection checks it strictly.
    ///
    /// First contact (nothing pinned) trusts what answers unless `expected_key` is given.
    /// Once a key is pinned, re-pinning needs `expected_key` equal to what the server presents
    /// now, or `replace` with `old_fingerprint` equal to the pinned key's fingerprint; a call
    /// with neither succeeds only if the server still presents the pinned key (nothing
    /// changes). The pin is a compare-and-swap on the key that was checked.
    ///
    /// # Errors
    /// `NotFound`, `Invalid` (the request), `HostKeyAlreadyPinned`, `HostKeyUnexpected`,
    /// `Gateway` (unreachable, or it offers no usable key), `Store`.
    #[tracing::instrument(name = "fleet.trust_host_key", skip(self, req))]
    pub async fn trust_host_key(
        &self,
        actor: &Actor,
        id: VpsId,
        req: &TrustHostKey,
    ) -> Result<Vps, FleetError> {
        let expected = parse_trust(req)?;
        let mut vps = self.get(id).await?;
        // `Some(None)`: a key is pinned but unreadable (written outside this service).
        let pinned = vps.host_key.as_deref().map(HostKey::parse);
        let pinned_fingerprint = pinned.as_ref().map(|p| {
            p.as_ref()
                .map_or_else(|| "an unreadable key".to_owned(), HostKey::fingerprint)
        });
        let replace_proven = match (&pinned, &req.old_fingerprint) {
            (Some(p), Some(old)) if req.replace => {
                if !p.as_ref().is_some_and(|p| fingerprint_names(old, p)) {
                    return Err(FleetError::HostKeyAlreadyPinned(format!(
                        "old_fingerprint is not the fingerprint of the pinned key ({}): nothing changed",
                        pinned_fingerprint.unwrap_or_default()
                    )));
                }
                true
            }
            _ => false,
        };
        let scanned = self.gateway.scan_host_key(&vps).await?;
        let presented = HostKey::parse(&scanned).ok_or_else(|| {
            GatewayError::BadAnswer(format!(
                "the server offered an unreadable host key: {scanned}"
            ))
        })?;
        if let Some(want) = &expected
            && !want.matches(&presented)
        {
            return Err(FleetError::HostKeyUnexpected(presented.fingerprint()));
        }
        if let Some(p) = &pinned
            && expected.is_none()
            && !replace_proven
        {
            if p.as_ref() == Some(&presented) {
                return Ok(vps);
            }
            return Err(FleetError::HostKeyAlreadyPinned(format!(
                "a key is pinned ({}) and the server now presents {}: pass expected_key (compared out of band) or replace: true with old_fingerprint",
                pinned_fingerprint.unwrap_or_default(),
                presented.fingerprint()
            )));
        }
        let key = presented.openssh();
        let mut uow = self.store.begin().await?;
        let swapped = self
            .repo
            .pin_host_key(uow.as_mut(), id, vps.host_key.as_deref(), &key)
            .await?;
        if !swapped {
            return Err(FleetError::HostKeyAlreadyPinned(
                "the pinned key changed meanwhile: read the server again".into(),
            ));
        }
        let summary = serde_json::json!({
            "fingerprint": presented.fingerprint(),
            "replaced": pinned_fingerprint,
        });
        self.audit(uow.as_mut(), actor, "vps.trust_host_key", &vps, summary)
            .await?;
        uow.commit().await?;
        tracing::info!(vps = %id, fingerprint = %presented.fingerprint(), replaced = ?pinned_fingerprint, "pinned a host key");
        vps.host_key = Some(key);
        Ok(vps)
    }
}
