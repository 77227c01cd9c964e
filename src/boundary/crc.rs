//! CRC-32C (Castagnoli) with the CPU's own instruction: SSE 4.2's `crc32` on x86-64, eight
//! bytes per instruction. The core's `crc` module falls back to its table-driven code where
//! this gives `None` (another architecture, or a CPU without SSE 4.2).

/// CRC-32C of `data` (initial value and final complement as in RFC 3720), or `None` when this
/// CPU has no instruction for it.
#[cfg(target_arch = "x86_64")]
pub fn crc32c(data: &[u8]) -> Option<u32> {
    // `is_x86_feature_detected!` asks the CPU once and caches the answer.
    if !std::arch::is_x86_feature_detected!("sse4.2") {
        return None;
    }
    // SAFETY: `sse42` only needs the CPU to have SSE 4.2, checked just above.
    Some(unsafe { sse42(data) })
}

#[cfg(not(target_arch = "x86_64"))]
pub fn crc32c(_data: &[u8]) -> Option<u32> {
    None
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse4.2")]
unsafe fn sse42(data: &[u8]) -> u32 {
    use std::arch::x86_64::{_mm_crc32_u64, _mm_crc32_u8};
    let mut c = 0xFFFF_FFFFu64;
    let mut words = data.chunks_exact(8);
    for w in &mut words {
        let mut b = [0u8; 8];
        b.copy_from_slice(w);
        c = _mm_crc32_u64(c, u64::from_le_bytes(b));
    }
    // The instruction's result is the 32-bit CRC state, zero-extended.
    let mut c = c as u32;
    for b in words.remainder() {
        c = _mm_crc32_u8(c, *b);
    }
    !c
}
