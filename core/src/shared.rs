//! A pointer to one output buffer, shared by the parallel tasks that each write their own
//! disjoint part of it (the matrix kernels and the CPU encoder).

/// `*mut f32` that tasks may share; every user promises disjoint writes.
#[derive(Clone, Copy)]
pub(crate) struct SharedMut(pub(crate) *mut f32);
// SAFETY: the tasks holding copies write disjoint regions (each user's own contract)
unsafe impl Send for SharedMut {}
// SAFETY: as above
unsafe impl Sync for SharedMut {}

impl SharedMut {
    /// The pointer (a method, so that closures capture the whole `Send` wrapper).
    pub(crate) fn get(self) -> *mut f32 {
        self.0
    }
}
