//! FNV hashing for the crate's fixed word lists.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// FNV-1a: fast for the short keys of the dictionaries. The key sets are fixed at build
/// time, so untrusted input can only look keys up, never provoke collisions by inserting.
#[derive(Default)]
pub(crate) struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

/// Hash-map builder using [`Fnv`].
pub(crate) type FnvBuild = BuildHasherDefault<Fnv>;
/// A map with FNV hashing.
pub(crate) type FMap<K, V> = HashMap<K, V, FnvBuild>;
/// A set with FNV hashing.
pub(crate) type FSet<K> = HashSet<K, FnvBuild>;
