//! Minimal JSON text helpers (escaping, hex) for the JSON views the core emits.

/// Escapes a string for inclusion between JSON double quotes.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o
}

/// Lower-case hex.
pub fn hexs(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// `"value"` or `null`.
pub fn opt_str(v: Option<&str>) -> String {
    v.map(|s| format!("\"{}\"", esc(s)))
        .unwrap_or_else(|| "null".into())
}

/// A number or `null`.
pub fn opt_num<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map(|n| n.to_string()).unwrap_or_else(|| "null".into())
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes() {
        assert_eq!(super::esc("a\"b\\c\n\u{1}"), "a\\\"b\\\\c\\n\\u0001");
    }
}
