//! `cargo xtask check-secrets`: fails when a private key is tracked by git (an armoured
//! `BEGIN … PRIVATE KEY` block anywhere in a tracked file, or a file named like an OpenSSH key).
//! Tests and binaries write keys under temporary or `var/` directories, which are ignored; this
//! catches the day one lands in the tree anyway.

use crate::util::{git, nul_separated, tracked};
use std::path::Path;

/// The armour lines of a private key (`BEGIN [RSA |EC |OPENSSH |ENCRYPTED ]PRIVATE KEY` between
/// dashes), split so this file never matches itself.
const ARMOUR_START: &str = concat!("-----", "BEGIN ");
const ARMOUR_END: &str = concat!("PRIVATE", " KEY-----");
const ARMOUR_END_PGP: &str = concat!("PRIVATE", " KEY BLOCK-----");

/// File names OpenSSH gives private keys (`ssh-keygen` defaults, sshd host keys), and PuTTY's.
fn looks_like_key_file(path: &str) -> bool {
    let name = Path::new(path)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("");
    let user_key = [
        "id_rsa",
        "id_dsa",
        "id_ecdsa",
        "id_ed25519",
        "id_ecdsa_sk",
        "id_ed25519_sk",
    ]
    .contains(&name);
    let host_key = name.starts_with("ssh_host_") && name.ends_with("_key");
    user_key || host_key || name.ends_with(".ppk")
}

/// Whether `text` holds an armoured private key (PEM, OpenSSH, PKCS#8, PGP).
fn holds_private_key(text: &str) -> bool {
    text.lines().any(|line| {
        line.find(ARMOUR_START).is_some_and(|at| {
            let rest = &line[at..];
            rest.contains(ARMOUR_END) || rest.contains(ARMOUR_END_PGP)
        })
    })
}

/// Tracked paths that hold or look like a private key, as git stores them (the index, not the
/// working tree: a key deleted or edited locally but still tracked is found).
fn offenders(root: &Path) -> anyhow::Result<Vec<String>> {
    let mut found: Vec<String> = tracked(root, &[])?
        .into_iter()
        .filter(|p| looks_like_key_file(p))
        .collect();
    // Candidates by a cheap search of the stored contents, then the exact armour check.
    let grep = git(
        root,
        &["grep", "--cached", "-z", "-l", "-F", "-e", "PRIVATE KEY"],
    )?;
    // git grep exits 1 when nothing matches.
    anyhow::ensure!(
        grep.status.success() || grep.status.code() == Some(1),
        "git grep failed: {}",
        String::from_utf8_lossy(&grep.stderr)
    );
    for path in nul_separated(&grep.stdout) {
        let shown = git(root, &["show", &format!(":{path}")])?;
        anyhow::ensure!(shown.status.success(), "git show :{path} failed");
        if holds_private_key(&String::from_utf8_lossy(&shown.stdout)) && !found.contains(&path) {
            found.push(path);
        }
    }
    Ok(found)
}

/// Fails when a private key is tracked.
///
/// # Errors
/// A tracked private key, or git could not list the files.
pub fn check() -> anyhow::Result<()> {
    let root = crate::util::root()?;
    let found = offenders(&root)?;
    anyhow::ensure!(
        found.is_empty(),
        "private keys are tracked by git (remove them with `git rm --cached`, keep keys in \
         temporary or var/ directories):\n  {}",
        found.join("\n  ")
    );
    println!("no private key is tracked");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The check on the tree as committed (this file included: it names the armour without
    /// spelling it).
    #[test]
    fn the_tree_as_committed_holds_no_key() {
        let root = crate::util::root().unwrap();
        assert_eq!(offenders(&root).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn armoured_keys_and_key_file_names_are_caught() {
        let openssh = format!("{ARMOUR_START}OPENSSH {ARMOUR_END}\nb3Blbn...\n");
        let pkcs8 = format!("x\n{ARMOUR_START}{ARMOUR_END}\n");
        let rsa = format!("{ARMOUR_START}RSA {ARMOUR_END}");
        let pgp = format!("{ARMOUR_START}PGP {ARMOUR_END_PGP}");
        for text in [&openssh, &pkcs8, &rsa, &pgp] {
            assert!(holds_private_key(text), "{text}");
        }
        assert!(!holds_private_key("-----BEGIN PUBLIC KEY-----\n"));
        assert!(!holds_private_key("ssh-ed25519 AAAAC3Nz... chom"));
        assert!(looks_like_key_file("apps/api/var/ssh/id_ed25519"));
        assert!(looks_like_key_file("etc/ssh/ssh_host_ed25519_key"));
        assert!(looks_like_key_file("ops/putty.ppk"));
        assert!(!looks_like_key_file("apps/api/var/ssh/id_ed25519.pub"));
        assert!(!looks_like_key_file("etc/ssh/ssh_host_ed25519_key.pub"));
    }
}
