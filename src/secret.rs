//! Secrets (tokens, keys, signing secrets) as the gateway holds them: bytes in
//! a zeroizing buffer whose `Debug` never shows them, compared in constant time;
//! and the rule for the files they are read from ([`check_private_file`]).

use std::fmt;
use std::path::Path;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

#[derive(Clone)]
pub struct Secret(Zeroizing<Vec<u8>>);

impl Secret {
    pub fn new(bytes: Vec<u8>) -> Secret {
        Secret(Zeroizing::new(bytes))
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Constant-time equality that does not leak the length either: both
    /// sides are hashed first, then the digests are compared.
    pub fn ct_eq(&self, presented: &[u8]) -> bool {
        let a = Sha256::digest(self.expose());
        let b = Sha256::digest(presented);
        a.ct_eq(&b).into()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Secret) -> bool {
        self.ct_eq(other.expose())
    }
}

/// Refuses a secret file (token, key, signing secret, TLS private key) that
/// anyone but its owner and adgate's own user may access: `Err` says who
/// (the mode, or the ACL entry), for an error message that names the fix.
///
/// The mode is the rule (`mode & 0o077 == 0`, as OpenSSH requires of private
/// keys), with one refinement: when the group bits are set because the file
/// carries a POSIX ACL, the group bits are the ACL mask, and the ACL itself is
/// read. An ACL entry that grants adgate's own uid and nobody else is what
/// systemd's `LoadCredential=` writes (the file is root's, 0400, plus
/// `user:<service uid>:r`), and it is accepted; any other user or group with
/// an effective permission is refused.
pub fn check_private_file(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(path)
        .map_err(|e| format!("cannot stat it: {}", e.kind()))?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o007 != 0 {
        return Err(format!("mode {mode:04o} gives other users access"));
    }
    if mode & 0o070 == 0 {
        return Ok(());
    }
    match acl::read(path) {
        Some(entries) => match acl::others_with_access(&entries, current_uid()) {
            None => Ok(()),
            Some(who) => Err(format!("its ACL gives {who} access (mode {mode:04o})")),
        },
        None => Err(format!("mode {mode:04o} gives its group access")),
    }
}

/// The fix for a file [`check_private_file`] refused.
pub fn private_file_fix(path: &Path) -> String {
    format!(
        "chmod 600 {} (owner only); on Kubernetes, fsGroup makes a mounted Secret group-readable whatever its defaultMode (0400) says, so copy the files into an emptyDir with mode 0400 as deploy/kubernetes/statefulset.yaml does",
        path.display()
    )
}

fn current_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// POSIX access ACLs as Linux stores them in the `system.posix_acl_access`
/// extended attribute (`linux/posix_acl_xattr.h`): a little-endian u32
/// version (2), then 8-byte entries `tag u16, perm u16, id u32`. Read
/// through the `xattr` crate and decoded here: the format is a stable kernel
/// ABI and the only ACL crates link the C libacl.
mod acl {
    use std::path::Path;

    #[cfg(test)]
    pub const USER_OBJ: u16 = 0x01;
    pub const USER: u16 = 0x02;
    pub const GROUP_OBJ: u16 = 0x04;
    pub const GROUP: u16 = 0x08;
    pub const MASK: u16 = 0x10;
    pub const OTHER: u16 = 0x20;
    const VERSION: u32 = 2;
    const NAME: &str = "system.posix_acl_access";

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Entry {
        pub tag: u16,
        pub perm: u16,
        pub id: u32,
    }

    /// The file's access ACL, or `None` when it has none (or the file
    /// system keeps none).
    pub fn read(path: &Path) -> Option<Vec<Entry>> {
        parse(&xattr::get(path, NAME).ok()??)
    }

    pub fn parse(b: &[u8]) -> Option<Vec<Entry>> {
        if b.len() < 4 || !(b.len() - 4).is_multiple_of(8) {
            return None;
        }
        if u32::from_le_bytes(b[..4].try_into().ok()?) != VERSION {
            return None;
        }
        Some(
            b[4..]
                .chunks_exact(8)
                .map(|e| Entry {
                    tag: u16::from_le_bytes([e[0], e[1]]),
                    perm: u16::from_le_bytes([e[2], e[3]]),
                    id: u32::from_le_bytes([e[4], e[5], e[6], e[7]]),
                })
                .collect(),
        )
    }

    /// Who, besides the owner and `me`, has an effective permission.
    pub fn others_with_access(entries: &[Entry], me: u32) -> Option<String> {
        // Named entries and the owning group are limited by the mask.
        let mask = entries
            .iter()
            .find(|e| e.tag == MASK)
            .map(|e| e.perm)
            .unwrap_or(0o7);
        entries.iter().find_map(|e| match e.tag {
            USER if e.id != me && e.perm & mask != 0 => Some(format!("user {}", e.id)),
            GROUP_OBJ if e.perm & mask != 0 => Some("its group".to_string()),
            GROUP if e.perm & mask != 0 => Some(format!("group {}", e.id)),
            OTHER if e.perm != 0 => Some("other users".to_string()),
            _ => None,
        })
    }

    #[cfg(test)]
    pub fn encode(entries: &[Entry]) -> Vec<u8> {
        let mut b = VERSION.to_le_bytes().to_vec();
        for e in entries {
            b.extend_from_slice(&e.tag.to_le_bytes());
            b.extend_from_slice(&e.perm.to_le_bytes());
            b.extend_from_slice(&e.id.to_le_bytes());
        }
        b
    }

    /// Sets the file's access ACL (the owner may do this).
    #[cfg(test)]
    pub fn write(path: &Path, entries: &[Entry]) -> std::io::Result<()> {
        xattr::set(path, NAME, &encode(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_and_compare_works() {
        let s = Secret::new(b"hunter2-hunter2".to_vec());
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(s.ct_eq(b"hunter2-hunter2"));
        assert!(!s.ct_eq(b"hunter2"));
        assert!(!s.ct_eq(b""));
    }
}

#[cfg(test)]
mod file_tests {
    use super::acl::{self, Entry, GROUP, GROUP_OBJ, MASK, OTHER, USER, USER_OBJ};
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn file(mode: u32) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::set_permissions(f.path(), std::fs::Permissions::from_mode(mode)).unwrap();
        f
    }

    #[test]
    fn modes_owner_only_pass_group_or_world_access_is_refused() {
        for ok in [0o600, 0o400, 0o700] {
            assert_eq!(check_private_file(file(ok).path()), Ok(()), "{ok:o}");
        }
        for (bad, says) in [
            (0o640, "mode 0640 gives its group access"),
            (0o440, "mode 0440 gives its group access"),
            (0o604, "mode 0604 gives other users access"),
            (0o644, "mode 0644 gives other users access"),
            (0o620, "mode 0620 gives its group access"),
        ] {
            assert_eq!(
                check_private_file(file(bad).path()),
                Err(says.to_string()),
                "{bad:o}"
            );
        }
    }

    fn e(tag: u16, perm: u16, id: u32) -> Entry {
        Entry { tag, perm, id }
    }

    #[test]
    fn acl_of_systemd_credentials_passes_others_are_refused() {
        let me = 1234;
        // root's 0400 file plus user:<me>:r, as LoadCredential= writes it.
        let systemd = [
            e(USER_OBJ, 4, u32::MAX),
            e(USER, 4, me),
            e(GROUP_OBJ, 0, u32::MAX),
            e(MASK, 4, u32::MAX),
            e(OTHER, 0, u32::MAX),
        ];
        let back = acl::parse(&acl::encode(&systemd)).unwrap();
        assert_eq!(back, systemd);
        assert_eq!(acl::others_with_access(&systemd, me), None);
        // The same ACL read by another uid: that named user is someone else.
        assert_eq!(
            acl::others_with_access(&systemd, 999).as_deref(),
            Some("user 1234")
        );
        let mut group = systemd;
        group[2] = e(GROUP_OBJ, 4, u32::MAX);
        assert_eq!(
            acl::others_with_access(&group, me).as_deref(),
            Some("its group")
        );
        let mut named_group = systemd.to_vec();
        named_group.insert(3, e(GROUP, 4, 50));
        assert_eq!(
            acl::others_with_access(&named_group, me).as_deref(),
            Some("group 50")
        );
        // A mask of 0 takes every named permission away.
        let mut masked = named_group.clone();
        masked[4] = e(MASK, 0, u32::MAX);
        assert_eq!(acl::others_with_access(&masked, 999), None);
        assert_eq!(acl::parse(b"\x02\0\0\0\x01"), None, "truncated entry");
        assert_eq!(acl::parse(&[1, 0, 0, 0]), None, "unknown version");
    }

    #[test]
    fn a_real_acl_on_a_file_is_read() {
        let f = file(0o400);
        let me = current_uid();
        let entries = [
            e(USER_OBJ, 4, u32::MAX),
            e(USER, 4, me),
            e(GROUP_OBJ, 0, u32::MAX),
            e(MASK, 4, u32::MAX),
            e(OTHER, 0, u32::MAX),
        ];
        if let Err(err) = acl::write(f.path(), &entries) {
            // tmpfs without ACL support, or a kernel without them: a
            // failure unless a quick run was asked for (as in tests/it/common).
            let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false");
            let quick = std::env::var("ADGATE_TEST_QUICK").is_ok_and(|v| v == "1");
            if ci || !quick {
                panic!(
                    "the ACL test cannot run: the temp dir's file system keeps no ACLs ({err}). \
                     Fix: point TMPDIR at a file system with ACLs (ext4, xfs, btrfs), or run \
                     a quick run (scripts/test.sh --quick; never under CI)"
                );
            }
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: this file system keeps no ACLs ({err})"
            );
            return;
        }
        let mode = std::fs::metadata(f.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o440, "the kernel shows the mask in the group bits");
        assert_eq!(check_private_file(f.path()), Ok(()));
        let mut other = entries;
        other[1] = e(USER, 4, me.wrapping_add(1));
        acl::write(f.path(), &other).unwrap();
        let err = check_private_file(f.path()).unwrap_err();
        assert!(
            err.contains(&format!("user {}", me.wrapping_add(1))),
            "{err}"
        );
    }
}
