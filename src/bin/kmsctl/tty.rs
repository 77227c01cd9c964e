//! The one piece of terminal control: reading a secret without echo (through `stty`, so the
//! command line needs no unsafe code).

use std::io::{BufRead, IsTerminal, Write};
use std::process::{Command, Stdio};

use crate::util::R;

/// Turns terminal echo off for its lifetime (restored when dropped).
struct EchoOff;

impl EchoOff {
    fn new() -> Option<EchoOff> {
        if !std::io::stdin().is_terminal() {
            return None;
        }
        let ok = Command::new("stty")
            .arg("-echo")
            .stdin(Stdio::inherit())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        ok.then_some(EchoOff)
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        let _ = Command::new("stty")
            .arg("echo")
            .stdin(Stdio::inherit())
            .status();
        // The newline the user typed was not echoed.
        eprintln!();
    }
}

/// Prompts on stderr and reads one line from the terminal on stdin without echo.
pub fn prompt_hidden(prompt: &str) -> R<String> {
    let mut e = std::io::stderr();
    write!(e, "{prompt}")?;
    e.flush()?;
    let guard = EchoOff::new();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    drop(guard);
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}
