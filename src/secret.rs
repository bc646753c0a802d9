//! Secrets (tokens, keys, signing secrets) as the gateway holds them: bytes in
//! a zeroizing buffer whose `Debug` never shows them, compared in constant time.

use std::fmt;

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
