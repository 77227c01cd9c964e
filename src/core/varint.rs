//! LEB128 varints (7 bits a byte, low first) in their shortest form: the numbers of batch
//! bodies and of codec-2 journal records (docs/at-rest.md). One writer and one reader, so
//! both formats refuse the same non-canonical inputs.

/// Appends `v`. Most numbers of a usage record fit in one byte, which is written inline.
#[inline]
pub(crate) fn put(o: &mut Vec<u8>, v: u64) {
    if v < 0x80 {
        o.push(v as u8);
    } else {
        put_long(o, v);
    }
}

fn put_long(o: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        o.push(v as u8 | 0x80);
        v >>= 7;
    }
    o.push(v as u8);
}

/// Why a varint could not be read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Bad {
    Truncated,
    TooLarge,
    NotShortest,
}

/// Reads one varint of `b` at `*at`, moving `*at` past it. A one-byte number is read inline.
#[inline]
pub(crate) fn get(b: &[u8], at: &mut usize) -> Result<u64, Bad> {
    match b.get(*at) {
        Some(&byte) if byte < 0x80 => {
            *at += 1;
            Ok(u64::from(byte))
        }
        _ => get_long(b, at),
    }
}

fn get_long(b: &[u8], at: &mut usize) -> Result<u64, Bad> {
    let mut v = 0u64;
    for i in 0..10 {
        let byte = *b.get(*at).ok_or(Bad::Truncated)?;
        *at += 1;
        if i == 9 && byte > 1 {
            return Err(Bad::TooLarge);
        }
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            if byte == 0 && i > 0 {
                return Err(Bad::NotShortest);
            }
            return Ok(v);
        }
    }
    Err(Bad::TooLarge)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        for v in [0, 1, 127, 128, 300, u32::MAX as u64, u64::MAX - 1, u64::MAX] {
            let mut o = Vec::new();
            put(&mut o, v);
            let mut at = 0;
            assert_eq!(get(&o, &mut at), Ok(v));
            assert_eq!(at, o.len());
            for n in 0..o.len() {
                assert_eq!(get(&o[..n], &mut 0), Err(Bad::Truncated));
            }
        }
        assert_eq!(get(&[0x85, 0x00], &mut 0), Err(Bad::NotShortest));
        let mut eleven = vec![0xff; 9];
        eleven.push(0x02);
        assert_eq!(get(&eleven, &mut 0), Err(Bad::TooLarge));
        assert_eq!(get(&[0x80; 10], &mut 0), Err(Bad::TooLarge));
    }
}
