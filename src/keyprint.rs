//! Key ids bound to their secrets: the data dir keeps a keyed fingerprint
//! of every partner key it has served (`data_dir/key_fingerprints`), never
//! the key. A config (at start or on reload) whose secret behind an
//! existing `(partner, key id)` differs is refused: the partner's ad_ids
//! would change under the same key id and its matching would silently
//! break. A new secret needs a new key id (README, "Security").
//!
//! The fingerprint is HMAC-SHA256 keyed by the partner key itself over a
//! fixed label: it reveals nothing usable about the key (keys are 32 random
//! bytes), and needs no other secret, so both backends check alike.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::Config;

pub const FILE: &str = "key_fingerprints";
const LABEL: &[u8] = b"adgate key fingerprint v1";

/// `(partner, key id) -> fingerprint (hex)`.
type Prints = BTreeMap<(String, String), String>;

pub fn fingerprint(secret: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("any key length");
    mac.update(LABEL);
    crate::util::hex(&mac.finalize().into_bytes())
}

fn load(data_dir: &Path) -> Result<Prints, String> {
    let path = data_dir.join(FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Prints::new()),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let mut out = Prints::new();
    for (n, line) in text.lines().enumerate() {
        let mut f = line.split('\t');
        match (f.next(), f.next(), f.next(), f.next()) {
            (Some(p), Some(k), Some(fp), None) if fp.len() == 64 => {
                out.insert((p.to_owned(), k.to_owned()), fp.to_owned());
            }
            _ if line.trim().is_empty() => {}
            _ => {
                return Err(format!(
                    "{} line {}: not \"partner<TAB>key id<TAB>fingerprint\"; restore the file from backup",
                    path.display(),
                    n + 1
                ))
            }
        }
    }
    Ok(out)
}

/// Checks every key of `config` against the fingerprints kept in
/// `data_dir`. `Err` names each partner and key id whose secret changed,
/// and the fix.
pub fn check(data_dir: &Path, config: &Config) -> Result<(), String> {
    let known = load(data_dir)?;
    let mut changed = Vec::new();
    for p in &config.partners {
        for k in &p.keys {
            if let Some(fp) = known.get(&(p.name.clone(), k.id.clone())) {
                if *fp != fingerprint(k.secret.expose()) {
                    changed.push(format!("partner \"{}\" key id \"{}\"", p.name, k.id));
                }
            }
        }
    }
    if changed.is_empty() {
        return Ok(());
    }
    Err(format!(
        "the secret behind an existing key id changed ({}): ad_ids would change under the same key id and break the partner's matching. Keep the old secret under that id and add the new secret under a new key id (a new [[partners.keys]] entry), or restore the old secret",
        changed.join(", ")
    ))
}

/// Records the fingerprints of keys `data_dir` has not seen yet (written
/// to a temporary file, fsync'd, renamed: all or nothing).
pub fn record(data_dir: &Path, config: &Config) -> Result<(), String> {
    let mut prints = load(data_dir)?;
    let mut added = false;
    for p in &config.partners {
        for k in &p.keys {
            prints
                .entry((p.name.clone(), k.id.clone()))
                .or_insert_with(|| {
                    added = true;
                    fingerprint(k.secret.expose())
                });
        }
    }
    if !added {
        return Ok(());
    }
    let path = data_dir.join(FILE);
    let tmp = data_dir.join(format!("{FILE}.tmp"));
    let res = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        for ((p, k), fp) in &prints {
            writeln!(f, "{p}\t{k}\t{fp}")?;
        }
        f.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        std::fs::File::open(data_dir)?.sync_all()
    })();
    res.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("cannot record key fingerprints in {}: {e}", path.display())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_is_keyed_and_never_the_key() {
        let a = fingerprint(&[1u8; 32]);
        assert_eq!(a, fingerprint(&[1u8; 32]));
        assert_ne!(a, fingerprint(&[2u8; 32]));
        assert!(!a.contains(&crate::util::hex(&[1u8; 32])));
    }
}
