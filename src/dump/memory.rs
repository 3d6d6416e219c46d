//! Reading the crashed machine's virtual memory, as far as a dump captured it.

/// A view of captured memory. Kernel triage dumps implement it over their data blocks, the
/// captured stack and the debugger data block; a stack walker needs nothing more.
pub trait MemoryRead: Sync {
    /// `len` bytes at virtual address `address`, when all of them were captured in one piece.
    fn read_bytes(&self, address: u64, len: usize) -> Option<&[u8]>;

    fn read_u32(&self, address: u64) -> Option<u32> {
        let b = self.read_bytes(address, 4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn read_u64(&self, address: u64) -> Option<u64> {
        let b = self.read_bytes(address, 8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Some(u64::from_le_bytes(a))
    }
}
