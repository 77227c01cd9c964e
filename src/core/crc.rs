//! The checksums of usage-journal entries (see docs/at-rest.md): CRC-32C (Castagnoli), which
//! entries are written with, and CRC-32 (IEEE), which entries written by earlier versions
//! carry and which are still read. Both detect a torn or corrupt tail; neither is a
//! protection against tampering (the hash chain is).
//!
//! CRC-32C runs on the CPU's own instruction where there is one (`boundary::crc`), else on
//! the table-driven code here, which gives the same values.

/// Tables for slicing by 8 of the reflected polynomial `poly`: `t[0]` is the classic byte
/// table, `t[k][b]` the CRC of byte `b` followed by `k` zero bytes.
const fn tables(poly: u32) -> [[u32; 256]; 8] {
    let mut t = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { poly ^ (c >> 1) } else { c >> 1 };
            k += 1;
        }
        t[0][i] = c;
        i += 1;
    }
    let mut s = 1;
    while s < 8 {
        let mut i = 0;
        while i < 256 {
            let prev = t[s - 1][i];
            t[s][i] = (prev >> 8) ^ t[0][(prev & 0xFF) as usize];
            i += 1;
        }
        s += 1;
    }
    t
}

static IEEE: [[u32; 256]; 8] = tables(0xEDB8_8320);
static CASTAGNOLI: [[u32; 256]; 8] = tables(0x82F6_3B78);

/// A reflected CRC-32 with initial value and final complement `!0`, eight bytes per step.
fn sliced(t: &[[u32; 256]; 8], data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let lo = crc ^ u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        let hi = u32::from_le_bytes([c[4], c[5], c[6], c[7]]);
        crc = t[7][(lo & 0xFF) as usize]
            ^ t[6][((lo >> 8) & 0xFF) as usize]
            ^ t[5][((lo >> 16) & 0xFF) as usize]
            ^ t[4][(lo >> 24) as usize]
            ^ t[3][(hi & 0xFF) as usize]
            ^ t[2][((hi >> 8) & 0xFF) as usize]
            ^ t[1][((hi >> 16) & 0xFF) as usize]
            ^ t[0][(hi >> 24) as usize];
    }
    for b in chunks.remainder() {
        crc = t[0][((crc ^ *b as u32) & 0xFF) as usize] ^ (crc >> 8);
    }
    !crc
}

/// CRC-32 (IEEE 802.3), the checksum of journal entries written before CRC-32C.
pub fn crc32_ieee(data: &[u8]) -> u32 {
    sliced(&IEEE, data)
}

/// CRC-32C (Castagnoli).
pub fn crc32c(data: &[u8]) -> u32 {
    crate::boundary::crc::crc32c(data).unwrap_or_else(|| crc32c_tables(data))
}

/// [`crc32c`] without the CPU instruction.
fn crc32c_tables(data: &[u8]) -> u32 {
    sliced(&CASTAGNOLI, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition, one bit at a time.
    fn bitwise(poly: u32, data: &[u8]) -> u32 {
        let mut c = 0xFFFF_FFFFu32;
        for b in data {
            c ^= *b as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 { poly ^ (c >> 1) } else { c >> 1 };
            }
        }
        !c
    }

    #[test]
    fn known_values() {
        // The check values of both catalogued CRCs, and RFC 3720's CRC-32C examples.
        assert_eq!(crc32_ieee(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c_tables(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
        assert_eq!(crc32c(&[0xFFu8; 32]), 0x62A8_AB43);
        let inc: Vec<u8> = (0..32u8).collect();
        assert_eq!(crc32c(&inc), 0x46DD_794E);
        assert_eq!(crc32_ieee(b""), 0);
        assert_eq!(crc32c(b""), 0);
    }

    #[test]
    fn every_length_and_alignment_agrees_with_the_definition() {
        let data: Vec<u8> = (0..300u32).map(|i| (i * 37 + 11) as u8).collect();
        for start in 0..8 {
            for n in 0..data.len() - start {
                let d = &data[start..start + n];
                assert_eq!(crc32_ieee(d), bitwise(0xEDB8_8320, d), "IEEE, {start}+{n}");
                let want = bitwise(0x82F6_3B78, d);
                assert_eq!(crc32c(d), want, "CRC-32C, {start}+{n}");
                assert_eq!(crc32c_tables(d), want, "CRC-32C tables, {start}+{n}");
            }
        }
    }
}
